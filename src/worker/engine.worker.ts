/**
 * The engine's home in the browser: a dedicated Web Worker that owns the GPU device and
 * answers the requests in protocol.ts — one `switch` in `handle`, one handler per request.
 */
import { acquireGpu, type GpuContext } from '../engine/gpu';
import { GpuRuntime } from '../engine/runtime';
import { buildSyntheticRegression, SMALL_REGRESSION, type SyntheticRegression } from '../tasks/synthetic-regression';
import { Trainer } from '../train/trainer';
import type { DemoStartedReply, DemoTrainRequest, InitRequest, PausedReply, ReadyReply, UiToWorker, WorkerToUi } from './protocol';
import { limitsSummary, RELOAD_ADVICE, toErrorReply, WorkerFailure } from './replies';

declare const self: DedicatedWorkerGlobalScope;

/** What the worker holds between requests. */
const state: { runtime: GpuRuntime | null; demo: { task: SyntheticRegression; trainer: Trainer } | null } = { runtime: null, demo: null };

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

async function handleInit(msg: InitRequest): Promise<ReadyReply> {
  if (state.runtime) return readyReply(msg.id, state.runtime.ctx); // idempotent
  const ctx = await acquireGpu({ powerPreference: msg.powerPreference ?? 'high-performance' });
  const runtime = new GpuRuntime(ctx);
  state.runtime = runtime;
  void ctx.lost.then((info) => {
    if (state.runtime !== runtime) return;
    state.runtime = null;
    runtime.destroy();
    post({ type: 'device-lost', reason: String(info.reason), message: info.message });
  });
  return readyReply(msg.id, ctx);
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

function handlePause(id: number): PausedReply {
  state.demo?.trainer.pause();
  return { type: 'paused', id, step: state.demo?.trainer.step ?? 0 };
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
    case 'play':
    case 'step':
    case 'reset':
    case 'view':
    case 'set-mask':
    case 'set-k':
    case 'inspect-latent':
    case 'stats':
    case 'identifiability':
    case 'checkpoint':
    case 'restore':
    case 'cancel':
      // Interim: the protocol is committed ahead of the session (src/playground/session.ts), which routes these.
      throw new WorkerFailure('not-configured', `'${msg.type}' needs the playground session, which this build does not include yet.`, 'Use the training demo for now.');
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
