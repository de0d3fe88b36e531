/**
 * The engine's home in the browser: a dedicated Web Worker that owns the GPU device and
 * answers the requests in protocol.ts — one `switch` in `handle`, one handler per request.
 */
import { acquireGpu, type GpuContext } from '../engine/gpu';
import { GpuRuntime } from '../engine/runtime';
import type { InitRequest, ReadyReply, UiToWorker, WorkerToUi } from './protocol';
import { limitsSummary, RELOAD_ADVICE, toErrorReply, WorkerFailure } from './replies';

declare const self: DedicatedWorkerGlobalScope;

/** What the worker holds between requests. */
const state: { runtime: GpuRuntime | null } = { runtime: null };

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

// ---------- dispatch ----------

async function handle(msg: UiToWorker): Promise<WorkerToUi> {
  switch (msg.type) {
    case 'init':
      return handleInit(msg);
    default: {
      // tsc errors here when a request type in protocol.ts has no case above.
      const unhandled: never = msg.type;
      throw new WorkerFailure('bad-request', `Unknown request type ${JSON.stringify(unhandled)}.`, RELOAD_ADVICE);
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
