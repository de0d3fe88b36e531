/**
 * The UI's side of the worker protocol: starts the engine worker, numbers requests, and
 * resolves each with its typed reply (or rejects with a `WorkerError` carrying code + advice).
 * Events (messages without an id) go to `onEvent` listeners.
 */
import type { ErrorReply, ReplyOf, RequestBody, RequestType, WorkerErrorCode, WorkerEvent, WorkerToUi } from './protocol';
import { isWorkerEvent } from './protocol';

export class WorkerError extends Error {
  readonly code: WorkerErrorCode;
  readonly advice: string;
  /** For 'bad-config': the config field at fault. */
  readonly field: string | undefined;
  constructor(reply: Pick<ErrorReply, 'code' | 'message' | 'advice' | 'field'>) {
    super(reply.message);
    this.name = 'WorkerError';
    this.code = reply.code;
    this.advice = reply.advice;
    this.field = reply.field;
  }
}

/** The part of `Worker` the client uses (lets tests pass a fake). */
export interface WorkerLike {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (ev: MessageEvent) => void): void;
  addEventListener(type: 'error', listener: (ev: ErrorEvent) => void): void;
  terminate(): void;
}

interface Pending {
  resolve(reply: unknown): void;
  reject(error: WorkerError): void;
}

export class EngineClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Set<(event: WorkerEvent) => void>();
  private failed: WorkerError | null = null;

  constructor(private readonly worker: WorkerLike) {
    worker.addEventListener('message', (ev: MessageEvent) => this.receive(ev.data as WorkerToUi));
    worker.addEventListener('error', (ev: ErrorEvent) => {
      // The worker script failed to load or threw at top level: nothing pending will be answered.
      this.fail(
        new WorkerError({
          code: 'worker-failed',
          message: `The engine worker failed${ev.message ? `: ${ev.message}` : ' to start'}.`,
          advice: 'Reload the page. If it persists, check the browser console; the browser must support module workers.',
        }),
      );
    });
  }

  /** Starts the engine worker bundled with the page. */
  static start(): EngineClient {
    const worker = new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module', name: 'engine' });
    return new EngineClient(worker);
  }

  /** Sends a request; resolves with its reply, rejects with a WorkerError. */
  request<T extends RequestType>(body: RequestBody<T>): Promise<ReplyOf<T>> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    return new Promise<ReplyOf<T>>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (reply: unknown) => void, reject });
      this.worker.postMessage({ ...body, id });
    });
  }

  /** Subscribes to events (messages that answer no request). Returns an unsubscribe function. */
  onEvent(listener: (event: WorkerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  terminate(): void {
    this.worker.terminate();
    this.fail(new WorkerError({ code: 'worker-failed', message: 'The engine worker was stopped.', advice: 'Reload the page.' }));
  }

  private receive(msg: WorkerToUi): void {
    if (isWorkerEvent(msg)) {
      for (const l of this.listeners) l(msg);
      return;
    }
    if (msg.id === null) {
      // An error not tied to a request (a malformed message): nobody is waiting for it.
      if (msg.type === 'error') console.error(`engine worker: ${msg.code}: ${msg.message}`);
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (msg.type === 'error') p.reject(new WorkerError(msg));
    else p.resolve(msg.reply);
  }

  private fail(error: WorkerError): void {
    this.failed = error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }
}
