/**
 * The engine's home in the browser: a dedicated Web Worker that owns the GPU device and
 * answers the requests in protocol.ts — one `switch` in `handle`, one handler per request.
 */
import { acquireGpu, type GpuContext } from '../engine/gpu';
import { GpuRuntime } from '../engine/runtime';
import { buildSyntheticRegression, SMALL_REGRESSION, type SyntheticRegression } from '../tasks/synthetic-regression';
import { Trainer } from '../train/trainer';
import { fetchAssets } from '../playground/assets';
import { PlaygroundSession, type SessionOptions } from '../playground/session';
import type { TaskAssets } from '../playground/tasks/task';
import type { ConfiguredReply, ConfigureRequest, DemoStartedReply, DemoTrainRequest, InitRequest, PausedReply, ReadyReply, RestoreRequest, StreamOptions, UiToWorker, WorkerToUi } from './protocol';
import { limitsSummary, RELOAD_ADVICE, toErrorReply, WorkerFailure } from './replies';
import { AutosaveStore } from '../io/autosave-store';
import { decodeAdapter } from '../io/adapter-file';
import { SessionPersistence } from '../persistence/session-persistence';
import type { SessionCheckpoint } from '../playground/types';
import type { SessionLoadedReply } from './protocol';

declare const self: DedicatedWorkerGlobalScope;

/** What the worker holds between requests. */
const state: {
  runtime: GpuRuntime | null;
  demo: { task: SyntheticRegression; trainer: Trainer } | null;
  session: PlaygroundSession | null;
  /** The session build in progress (`cancel` aborts it). */
  building: AbortController | null;
  assets: TaskAssets;
} = { runtime: null, demo: null, session: null, building: null, assets: fetchAssets(new URL(import.meta.env.BASE_URL, self.location.origin).href) };

/** Autosave (IndexedDB, every AUTOSAVE_EVERY steps and on every stop), export/import, device-loss recovery. */
const AUTOSAVE_EVERY = 25;
let persistenceReady: Promise<SessionPersistence> | null = null;
function persistence(): Promise<SessionPersistence> {
  persistenceReady ??= AutosaveStore.open().then((store) => new SessionPersistence(store, state.assets, { every: AUTOSAVE_EVERY, onEvent: post }));
  return persistenceReady;
}

function post(msg: WorkerToUi): void {
  self.postMessage(msg);
}

/** Handlers of requests that need the GPU start with this. */
export function requireRuntime(): GpuRuntime {
  if (!state.runtime) throw new WorkerFailure('not-initialized', 'The engine has no GPU device yet.', 'Send `init` first (the page does this on load).');
  return state.runtime;
}

// ---------- handlers: one per request type ----------

function readyReply(id: number, ctx: GpuContext): ReadyReply {
  return { type: 'ready', id, adapter: { ...ctx.info }, limits: limitsSummary(ctx.limits), features: [...ctx.features].sort() };
}

async function handleInit(msg: InitRequest, acquired?: GpuContext): Promise<ReadyReply> {
  if (state.runtime) return readyReply(msg.id, state.runtime.ctx); // idempotent
  const ctx = acquired ?? (await acquireGpu({ powerPreference: msg.powerPreference ?? 'high-performance' }));
  const runtime = new GpuRuntime(ctx);
  state.runtime = runtime;
  void ctx.lost.then((info) => {
    if (state.runtime !== runtime) return;
    state.runtime = null;
    // The session's buffers died with the device; the page restores it from its last checkpoint after `init`.
    const wasPlaying = state.session?.isPlaying ?? false;
    const hadSession = state.session !== null;
    state.session?.destroy();
    state.session = null;
    runtime.destroy();
    post({ type: 'device-lost', reason: String(info.reason), message: info.message });
    if (hadSession) void recoverAfterDeviceLoss(msg.powerPreference ?? 'high-performance', wasPlaying);
  });
  return readyReply(msg.id, ctx);
}

/** A new device, the last autosave restored, training resumed if it was running. Failures leave the page's retry path. */
async function recoverAfterDeviceLoss(powerPreference: GPUPowerPreference, playing: boolean): Promise<void> {
  try {
    const p = await persistence();
    const bytes = p.lastBytes;
    if (!bytes) return;
    const ctx = await acquireGpu({ powerPreference });
    if (state.runtime) return; // the page re-initialised first
    await handleInit({ type: 'init', id: -1, powerPreference }, ctx);
    const cp = await p.importSession(bytes);
    const session = await buildSession((rt, opts) => PlaygroundSession.fromCheckpoint(rt, cp, opts), undefined);
    if (playing) session.play();
    post({ type: 'device-recovered', session: session.info(), history: session.metricHistory(), playing });
  } catch {
    // The page shows the device-lost error with its retry button.
  }
}

function disposeDemo(): void {
  if (!state.demo) return;
  state.demo.trainer.pause();
  state.demo.trainer.destroy();
  state.demo.task.destroy();
  state.demo = null;
}

async function handleDemoTrain(msg: DemoTrainRequest): Promise<DemoStartedReply> {
  const rt = requireRuntime();
  if (state.session) {
    await state.session.pause();
    state.session.destroy();
    state.session = null;
  }
  if (!(msg.steps >= 1 && msg.steps <= 100_000)) throw new WorkerFailure('bad-request', `steps must be 1…100000, got ${msg.steps}.`, 'Choose a step count in range.');
  if (!(msg.lr > 0 && msg.lr < 1)) throw new WorkerFailure('bad-request', `learning rate must be in (0, 1), got ${msg.lr}.`, 'Choose a learning rate such as 3e-3.');
  disposeDemo();
  const task = buildSyntheticRegression(rt, { ...SMALL_REGRESSION, seed: msg.seed });
  let windowStart = performance.now();
  let stopReason: 'non-finite' | null = null;
  const trainer = new Trainer(rt, task.graph, {
    lr: msg.lr,
    schedule: { kind: 'cosine', warmupSteps: Math.min(20, Math.floor(msg.steps / 10)), totalSteps: msg.steps, minRatio: 0.1 },
    adamw: { clipNorm: 1 },
    metricInterval: 5,
    onMetrics: (rows) => {
      const now = performance.now();
      const msPerStep = (now - windowStart) / Math.max(1, rows.length);
      windowStart = now;
      const out = rows.map((r) => ({ step: r.step, loss: r.values.loss!, gradNorm: r.values.grad_norm!, nonFinite: r.values.non_finite !== 0 || !Number.isFinite(r.values.loss!) }));
      post({ type: 'metrics', rows: out, msPerStep });
      if (out.some((r) => r.nonFinite)) {
        stopReason = 'non-finite';
        trainer.pause();
      }
    },
  });
  state.demo = { task, trainer };
  const steps = msg.steps;
  void (async () => {
    try {
      await trainer.run(steps);
      await trainer.drain();
      const reason = stopReason ?? (trainer.step >= steps ? 'done' : 'paused');
      if (state.demo?.trainer === trainer) post({ type: 'training-stopped', step: trainer.step, reason });
    } catch (e) {
      post({ type: 'training-stopped', step: trainer.step, reason: 'error', message: e instanceof Error ? e.message : String(e) });
    }
  })();
  return { type: 'demo-started', id: msg.id, parameters: task.graph.packs.reduce((a, p) => a + p.params.reduce((b, q) => b + q.size, 0), 0), dispatchesPerStep: trainer.stepList.dispatchCount };
}

async function handlePause(id: number): Promise<PausedReply> {
  state.demo?.trainer.pause();
  if (state.session) return { type: 'paused', id, step: await state.session.pause() };
  return { type: 'paused', id, step: state.demo?.trainer.step ?? 0 };
}

// ---------- the playground session (src/playground/session.ts does the work) ----------

function requireSession(): PlaygroundSession {
  if (!state.session) throw new WorkerFailure('not-configured', 'No playground session yet.', 'Send `configure` with a configuration first (the page does this on load).');
  return state.session;
}

/** Builds a session (replacing the current one only once the new one is built); `cancel` aborts the build. */
async function buildSession(make: (rt: GpuRuntime, opts: SessionOptions) => Promise<PlaygroundSession>, stream: StreamOptions | undefined): Promise<PlaygroundSession> {
  const rt = requireRuntime();
  state.building?.abort();
  const controller = new AbortController();
  state.building = controller;
  const old = state.session;
  if (old) {
    await old.pause();
    old.destroy();
    state.session = null;
  }
  try {
    const saver = await persistence();
    let built: PlaygroundSession | null = null;
    const onEvent: SessionOptions['onEvent'] = (e) => {
      post(e);
      if (built && state.session === built) saver.onSessionEvent(built, e);
    };
    const session = await make(rt, { assets: state.assets, ...(stream ? { stream } : {}), onEvent, signal: controller.signal });
    built = session;
    saver.adopt(session);
    if (controller.signal.aborted) {
      session.destroy();
      throw new WorkerFailure('cancelled', 'Building the session was cancelled.', 'Configure again when ready.');
    }
    state.session = session;
    return session;
  } catch (e) {
    if (controller.signal.aborted && !(e instanceof WorkerFailure)) throw new WorkerFailure('cancelled', 'Building the session was cancelled.', 'Configure again when ready.');
    throw e;
  } finally {
    if (state.building === controller) state.building = null;
  }
}

async function handleConfigure(msg: ConfigureRequest): Promise<ConfiguredReply> {
  disposeDemo();
  const session = await buildSession((rt, opts) => PlaygroundSession.create(rt, msg.config, opts), msg.stream);
  return { type: 'configured', id: msg.id, session: session.info() };
}

async function handleRestore(msg: RestoreRequest): Promise<ConfiguredReply> {
  disposeDemo();
  const session = await buildSession((rt, opts) => PlaygroundSession.fromCheckpoint(rt, msg.checkpoint, opts), msg.stream);
  return { type: 'configured', id: msg.id, session: session.info() };
}

/** Same config, same seed: a fresh build reproduces the run from step 0. */
async function handleReset(id: number): Promise<ConfiguredReply> {
  const cur = requireSession();
  const config = cur.config;
  const stream = cur.streamOptions;
  const session = await buildSession((rt, opts) => PlaygroundSession.create(rt, config, opts), stream);
  return { type: 'configured', id, session: session.info() };
}

// ---------- persistence ----------

function loadedReply(id: number, session: PlaygroundSession): SessionLoadedReply {
  return { type: 'session-loaded', id, session: session.info(), history: session.metricHistory() };
}

async function fromCheckpoint(cp: SessionCheckpoint, stream: StreamOptions | undefined): Promise<PlaygroundSession> {
  disposeDemo();
  return buildSession((rt, opts) => PlaygroundSession.fromCheckpoint(rt, cp, opts), stream);
}

async function handlePersistence(msg: Extract<UiToWorker, { type: 'autosave-info' | 'resume-autosave' | 'discard-autosave' | 'export-session' | 'import-session' | 'export-adapter' | 'import-adapter' }>): Promise<WorkerToUi> {
  const p = await persistence();
  switch (msg.type) {
    case 'autosave-info':
      return { type: 'autosave-info', id: msg.id, summary: await p.summary(), unavailable: p.unavailable };
    case 'discard-autosave':
      await p.discard();
      return { type: 'autosave-info', id: msg.id, summary: null, unavailable: null };
    case 'resume-autosave': {
      const cp = await p.loadAutosave();
      if (!cp) throw new WorkerFailure('bad-request', 'There is no autosaved session to resume.', 'Configure a new session instead.');
      // A lower learning rate after a NaN/Inf stop: the schedule and shapes stay, only lr changes (validated with the rest).
      if (msg.lr !== undefined) cp.config = { ...cp.config, training: { ...cp.config.training, lr: msg.lr } };
      return loadedReply(msg.id, await fromCheckpoint(cp, msg.stream));
    }
    case 'import-session':
      return loadedReply(msg.id, await fromCheckpoint(await p.importSession(msg.bytes), msg.stream));
    case 'export-session': {
      const s = requireSession();
      await s.pause();
      const bytes = await p.encode(s);
      return { type: 'session-file', id: msg.id, bytes, fileName: `session-${s.config.task}-${s.config.adapter.kind}-step${s.step}.safetensors` };
    }
    case 'export-adapter': {
      const files = await p.exportAdapter(requireSession());
      return { type: 'adapter-files', id: msg.id, config: files.config, model: files.model };
    }
    case 'import-adapter': {
      const decoded = decodeAdapter(msg.model, msg.config);
      const current = state.session?.config ?? null;
      if (!current) throw new WorkerFailure('not-configured', 'No playground session yet.', 'Configure a session on the task the adapter was trained for, then import.');
      const config = p.configForAdapter(current, decoded.description);
      disposeDemo();
      const session = await buildSession((rt, opts) => PlaygroundSession.create(rt, config, opts), msg.stream ?? state.session?.streamOptions);
      await p.applyAdapterTo(session, decoded);
      return loadedReply(msg.id, session);
    }
  }
}

// ---------- dispatch ----------

async function handle(msg: UiToWorker): Promise<WorkerToUi> {
  switch (msg.type) {
    case 'init':
      return handleInit(msg);
    case 'demo-train':
      return handleDemoTrain(msg);
    case 'pause':
      return handlePause(msg.id);
    case 'configure':
      return handleConfigure(msg);
    case 'restore':
      return handleRestore(msg);
    case 'reset':
      return handleReset(msg.id);
    case 'play': {
      const r = requireSession().play(msg.steps);
      return { type: 'playing', id: msg.id, step: r.step, until: r.until };
    }
    case 'step':
      return { type: 'stepped', id: msg.id, rows: await requireSession().stepN(msg.n), step: requireSession().step };
    case 'view': {
      const s = requireSession();
      const view = await s.view(msg.overrides);
      return { type: 'view', id: msg.id, step: s.step, overrides: s.currentOverrides, view };
    }
    case 'set-mask': {
      const s = requireSession();
      const view = await s.setMask(msg.group, msg.mask);
      return { type: 'view', id: msg.id, step: s.step, overrides: s.currentOverrides, view };
    }
    case 'set-k': {
      const s = requireSession();
      const view = await s.setK(msg.group, msg.k);
      return { type: 'view', id: msg.id, step: s.step, overrides: s.currentOverrides, view };
    }
    case 'inspect-latent': {
      const s = requireSession();
      return { type: 'latent-inspection', id: msg.id, step: s.step, inspection: await s.inspect(msg.group, msg.unit) };
    }
    case 'stats': {
      const s = requireSession();
      return { type: 'stats', id: msg.id, step: s.step, groups: await s.stats() };
    }
    case 'identifiability': {
      const s = requireSession();
      return { type: 'identifiability', id: msg.id, step: s.step, group: msg.group, report: await s.identifiability(msg.group) };
    }
    case 'checkpoint':
      return { type: 'session-checkpoint', id: msg.id, checkpoint: await requireSession().checkpoint() };
    case 'autosave-info':
    case 'resume-autosave':
    case 'discard-autosave':
    case 'export-session':
    case 'import-session':
    case 'export-adapter':
    case 'import-adapter':
      return handlePersistence(msg);
    case 'cancel': {
      const building = state.building;
      building?.abort();
      return { type: 'cancelled', id: msg.id, cancelled: building !== null };
    }
    default: {
      // tsc errors here when a request type in protocol.ts has no case above.
      const unhandled: never = msg;
      throw new WorkerFailure('bad-request', `Unknown request type ${JSON.stringify((unhandled as { type?: unknown }).type)}.`, RELOAD_ADVICE);
    }
  }
}

function isRequest(data: unknown): data is UiToWorker {
  if (typeof data !== 'object' || data === null) return false;
  const d = data as { type?: unknown; id?: unknown };
  return typeof d.type === 'string' && typeof d.id === 'number';
}

self.addEventListener('message', (ev: MessageEvent<unknown>) => {
  const data = ev.data;
  if (!isRequest(data)) {
    post({ type: 'error', id: null, code: 'bad-request', message: 'Malformed message: needs a string `type` and a numeric `id`.', advice: RELOAD_ADVICE });
    return;
  }
  handle(data).then(post, (e: unknown) => post(toErrorReply(data.id, e)));
});
