/**
 * The engine's home in the browser: a dedicated Web Worker that owns the GPU device and
 * answers the requests in protocol.ts — one handler per request type in `handlers` (typed by
 * the protocol map: tsc flags a missing handler or a wrong reply).
 */
import { acquireGpu, type GpuContext } from '../engine/gpu';
import { GpuRuntime } from '../engine/runtime';
import { fetchAssets } from '../playground/assets';
import { PlaygroundSession, type SessionOptions } from '../playground/session';
import type { TaskAssets } from '../playground/tasks/task';
import type { Handlers, ReplyOf, StreamOptions, WorkerToUi } from './protocol';
import { answer, limitsSummary, toErrorReply, WorkerFailure } from './replies';
import { AutosaveStore } from '../io/autosave-store';
import { SessionPersistence } from '../persistence/session-persistence';
import { BENCH_PRESETS, BenchCancelled, benchResult, runBench } from '../bench/run-bench';
import type { SessionCheckpoint } from '../playground/types';

declare const self: DedicatedWorkerGlobalScope;

/** What the worker holds between requests. */
const state: {
  runtime: GpuRuntime | null;
  session: PlaygroundSession | null;
  /** The session build in progress (`cancel` aborts it). */
  building: AbortController | null;
  /** The benchmark in progress (`bench-cancel` aborts it). */
  benching: AbortController | null;
  assets: TaskAssets;
} = { runtime: null, session: null, building: null, benching: null, assets: fetchAssets(new URL(import.meta.env.BASE_URL, self.location.origin).href) };

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

// ---------- the device ----------

function readyReply(ctx: GpuContext): ReplyOf<'init'> {
  return { adapter: { ...ctx.info }, limits: limitsSummary(ctx.limits), features: [...ctx.features].sort() };
}

async function init(powerPreference: GPUPowerPreference, acquired?: GpuContext): Promise<ReplyOf<'init'>> {
  if (state.runtime) return readyReply(state.runtime.ctx); // idempotent
  const ctx = acquired ?? (await acquireGpu({ powerPreference }));
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
    if (hadSession) void recoverAfterDeviceLoss(powerPreference, wasPlaying);
  });
  return readyReply(ctx);
}

/** A new device, the last autosave restored, training resumed if it was running. Failures leave the page's retry path. */
async function recoverAfterDeviceLoss(powerPreference: GPUPowerPreference, playing: boolean): Promise<void> {
  try {
    const p = await persistence();
    const bytes = p.lastBytes;
    if (!bytes) return;
    const ctx = await acquireGpu({ powerPreference });
    if (state.runtime) return; // the page re-initialised first
    await init(powerPreference, ctx);
    const cp = await p.importSession(bytes);
    const session = await buildSession((rt, opts) => PlaygroundSession.fromCheckpoint(rt, cp, opts), undefined);
    if (playing) session.play();
    post({ type: 'device-recovered', session: session.info(), history: session.metricHistory(), playing });
  } catch {
    // The page shows the device-lost error with its retry button.
  }
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
    // A view or inspection of the old session may still be running: its buffers are freed only after it.
    await old.settle();
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

function fromCheckpoint(cp: SessionCheckpoint, stream: StreamOptions | undefined): Promise<PlaygroundSession> {
  return buildSession((rt, opts) => PlaygroundSession.fromCheckpoint(rt, cp, opts), stream);
}

function viewResult(s: PlaygroundSession, view: Awaited<ReturnType<PlaygroundSession['view']>>): ReplyOf<'view'> {
  return { step: s.step, overrides: s.currentOverrides, view };
}

function loaded(session: PlaygroundSession): ReplyOf<'resume-autosave'> {
  return { session: session.info(), history: session.metricHistory() };
}

// ---------- handlers: one per request type ----------

const handlers: Handlers = {
  init: async (msg) => {
    if (msg.tab !== undefined) {
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(msg.tab)) throw new WorkerFailure('bad-request', `tab id '${String(msg.tab).slice(0, 70)}' must be 1–64 letters, digits, '-' or '_'`, 'The page makes this id; reload the page.');
      (await persistence()).slot = msg.tab;
    }
    return init(msg.powerPreference ?? 'high-performance');
  },
  pause: async () => ({ step: state.session ? await state.session.pause() : 0 }),
  configure: async (msg) => ({ session: (await buildSession((rt, opts) => PlaygroundSession.create(rt, msg.config, opts), msg.stream)).info() }),
  restore: async (msg) => ({ session: (await fromCheckpoint(msg.checkpoint, msg.stream)).info() }),
  /** Same config, same seed: a fresh build reproduces the run from step 0. */
  reset: async () => {
    const cur = requireSession();
    const config = cur.config;
    const session = await buildSession((rt, opts) => PlaygroundSession.create(rt, config, opts), cur.streamOptions);
    return { session: session.info() };
  },
  play: (msg) => {
    const r = requireSession().play(msg.steps);
    return { step: r.step, until: r.until }; // not `done` (a promise cannot cross postMessage)
  },
  step: async (msg) => {
    const s = requireSession();
    const rows = await s.stepN(msg.n);
    // Every step control autosaves (in the background: the reply does not wait for the write).
    void persistence().then((p) => {
      if (!p.tainted && !rows.some((r) => r.nonFinite)) void p.autosave(s);
    });
    return { rows, step: s.step };
  },
  view: async (msg) => {
    const s = requireSession();
    return viewResult(s, await s.view(msg.overrides));
  },
  'set-mask': async (msg) => {
    const s = requireSession();
    const r = viewResult(s, await s.setMask(msg.group, msg.mask));
    void persistence().then((p) => p.overridesChanged(s));
    return r;
  },
  'set-k': async (msg) => {
    const s = requireSession();
    const r = viewResult(s, await s.setK(msg.group, msg.k));
    void persistence().then((p) => p.overridesChanged(s));
    return r;
  },
  'view-deferred': () => requireSession().viewDeferred(),
  'inspect-latent': async (msg) => {
    const s = requireSession();
    const inspection = await s.inspect(msg.group, msg.unit);
    return { step: s.step, inspection };
  },
  stats: async (msg) => {
    const s = requireSession();
    const groups = await s.stats({ source: msg.source ?? 'training' });
    return { step: s.step, groups };
  },
  identifiability: async (msg) => {
    const s = requireSession();
    const report = await s.identifiability(msg.group);
    return { step: s.step, group: msg.group, report };
  },
  dashboard: async (msg) => {
    const s = requireSession();
    const dashboard = await s.dashboard(msg.group, msg.unit);
    return { step: s.step, dashboard };
  },
  'own-input': async (msg) => {
    const s = requireSession();
    const result = await s.ownInput(msg.input);
    return { step: s.step, result };
  },
  encode: async (msg) => {
    const s = requireSession();
    const result = await s.encode(msg.request);
    return { step: s.step, result };
  },
  checkpoint: async () => ({ checkpoint: await requireSession().checkpoint() }),
  cancel: () => {
    const building = state.building;
    building?.abort();
    return { cancelled: building !== null };
  },

  // ---------- "Benchmark this GPU" (src/bench/run-bench.ts does the work) ----------
  bench: async (msg) => {
    const rt = requireRuntime();
    const preset = BENCH_PRESETS[msg.preset];
    if (!preset) throw new WorkerFailure('bad-request', `Unknown benchmark preset '${String(msg.preset)}'.`, `Use one of ${Object.keys(BENCH_PRESETS).join(', ')}.`);
    if (state.session?.isPlaying || state.building || state.benching) {
      throw new WorkerFailure('busy', 'The GPU is busy (training, building a session or another benchmark).', 'Pause training (or wait for the other run) and start the benchmark again.');
    }
    const abort = new AbortController();
    state.benching = abort;
    try {
      const r = await runBench(rt, {
        ...preset,
        signal: abort.signal,
        onProgress: (p) => post({ type: 'bench-progress', ...p }),
        onRow: (e) => post(e.kind === 'kernel' ? { type: 'bench-row', kind: 'kernel', row: e.row } : { type: 'bench-row', kind: 'step', row: e.row }),
      });
      return benchResult(rt.ctx.info, self.navigator.userAgent, preset.quick, r, `Run in the page's worker ("Benchmark this GPU", preset ${msg.preset}).`);
    } catch (e) {
      if (e instanceof BenchCancelled) throw new WorkerFailure('cancelled', 'The benchmark was cancelled.', 'Start it again to get numbers.');
      throw e;
    } finally {
      state.benching = null;
    }
  },
  'bench-cancel': () => {
    const b = state.benching;
    b?.abort();
    return { cancelled: b !== null };
  },

  // ---------- persistence (src/persistence/session-persistence.ts does the work) ----------
  'autosave-info': async () => {
    const p = await persistence();
    return { summary: await p.summary(), others: await p.others(), unavailable: p.unavailable };
  },
  'discard-autosave': async (msg) => {
    const p = await persistence();
    await p.discard(msg.slot);
    return { summary: await p.summary(), others: await p.others(), unavailable: p.unavailable };
  },
  'resume-autosave': async (msg) => {
    const p = await persistence();
    const saved = await p.loadAutosave(msg.slot);
    if (!saved) throw new WorkerFailure('bad-request', 'There is no autosaved session to resume.', 'Configure a new session instead.');
    const cp = saved.checkpoint;
    // A lower learning rate after a NaN/Inf stop: the schedule and shapes stay, only lr changes (validated with the rest).
    if (msg.lr !== undefined) cp.config = { ...cp.config, training: { ...cp.config.training, lr: msg.lr } };
    const session = await fromCheckpoint(cp, msg.stream);
    // The outputs as they were left: with the saved overrides (an override that no longer fits is dropped).
    let view;
    try {
      view = viewResult(session, await session.view(saved.overrides ?? {}));
    } catch {
      view = viewResult(session, await session.view({}));
    }
    // Another tab's run resumed here goes on in this tab's own slot (that tab's save stays as it is).
    if (msg.slot !== undefined && msg.slot !== p.slot) void p.autosave(session);
    return { ...loaded(session), view };
  },
  'import-session': async (msg) => {
    const p = await persistence();
    return loaded(await fromCheckpoint(await p.importSession(msg.bytes), msg.stream));
  },
  'export-session': async () => {
    const p = await persistence();
    const s = requireSession();
    await s.pause();
    const bytes = await p.encode(s);
    return { bytes, fileName: `session-${s.config.task}-${s.config.adapter.kind}-step${s.step}.safetensors` };
  },
  'export-adapter': async () => {
    const files = await (await persistence()).exportAdapter(requireSession());
    return { config: files.config, model: files.model };
  },
  'import-adapter': async (msg) => {
    const p = await persistence();
    const decoded = p.decodeAdapterFiles(msg.model, msg.config);
    const current = state.session?.config ?? null;
    if (!current) throw new WorkerFailure('not-configured', 'No playground session yet.', 'Configure a session on the task the adapter was trained for, then import.');
    const config = p.configForAdapter(current, decoded.description);
    const session = await buildSession((rt, opts) => PlaygroundSession.create(rt, config, opts), msg.stream ?? state.session?.streamOptions);
    await p.applyAdapterTo(session, decoded);
    return loaded(session);
  },
};

self.addEventListener('message', (ev: MessageEvent<unknown>) => {
  void answer(handlers, ev.data).then((reply) => {
    try {
      post(reply);
    } catch (e) {
      // A reply that is not plain data (DataCloneError): the request still gets its answer.
      post(toErrorReply(reply.id, e));
    }
  });
});
