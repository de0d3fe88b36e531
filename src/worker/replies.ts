/**
 * Building worker → UI messages: the dispatch of a request to its handler (`answer`), failures
 * with codes the UI can act on, and the plain-data summaries of GPU objects (which cannot cross
 * postMessage themselves).
 */
import { ConfigError, GpuUnavailableError } from '../engine/errors';
import { AdapterFileError } from '../io/adapter-file';
import { SessionFileError } from '../io/session-file';
import { SessionBusyError } from '../playground/session';
import type { ErrorReply, Handlers, LimitsSummary, ReplyMessage, RequestType, UiToWorker, WorkerErrorCode } from './protocol';

/** An error a handler raises on purpose, with a code the UI can act on. */
export class WorkerFailure extends Error {
  constructor(
    readonly code: WorkerErrorCode,
    message: string,
    readonly advice: string,
  ) {
    super(message);
    this.name = 'WorkerFailure';
  }
}

export const RELOAD_ADVICE = 'The page and the worker are out of step: reload the page.';

/**
 * Answers one message from the page: its handler's reply under the request's type and id, or an
 * ErrorReply (id null when the message is not a request at all). Never rejects.
 */
export async function answer(handlers: Handlers, data: unknown): Promise<ReplyMessage | ErrorReply> {
  if (typeof data !== 'object' || data === null || typeof (data as { type?: unknown }).type !== 'string' || typeof (data as { id?: unknown }).id !== 'number') {
    return { type: 'error', id: null, code: 'bad-request', message: 'Malformed message: needs a string `type` and a numeric `id`.', advice: RELOAD_ADVICE };
  }
  const msg = data as UiToWorker;
  try {
    if (!Object.hasOwn(handlers, msg.type)) throw new WorkerFailure('bad-request', `Unknown request type ${JSON.stringify(msg.type)}.`, RELOAD_ADVICE);
    // One handler per type (Handlers is derived from the protocol map); the cast only joins the union back up.
    const handler = handlers[msg.type] as (request: UiToWorker) => unknown;
    const reply = await handler(msg);
    return { type: msg.type, id: msg.id, reply } as ReplyMessage<RequestType>;
  } catch (e) {
    return toErrorReply(msg.id, e);
  }
}

export function toErrorReply(id: number | null, e: unknown): ErrorReply {
  if (e instanceof GpuUnavailableError) {
    // GpuUnavailableError's message ends with its advice; keep the two apart for the UI.
    const message = e.message.endsWith(e.advice) ? e.message.slice(0, -e.advice.length).trim() : e.message;
    return { type: 'error', id, code: e.code, message, advice: e.advice };
  }
  if (e instanceof WorkerFailure) return { type: 'error', id, code: e.code, message: e.message, advice: e.advice };
  if (e instanceof ConfigError) return { type: 'error', id, code: 'bad-config', field: e.field, message: e.message, advice: `Change ${e.field} as the message says, or reset to the default configuration.` };
  if (e instanceof SessionFileError || e instanceof AdapterFileError) {
    return { type: 'error', id, code: 'bad-file', message: e.message, advice: 'The file is damaged, not from this playground, or made for another model: check that it is the right file, or export it again.' };
  }
  if (e instanceof SessionBusyError) return { type: 'error', id, code: 'busy', message: e.message, advice: 'Pause training (or wait for it to stop), then try again.' };
  const err = e instanceof Error ? e : new Error(String(e));
  return {
    type: 'error',
    id,
    code: 'internal',
    message: `${err.name}: ${err.message}`,
    advice: 'This is a bug: please report it with the browser console log.',
  };
}

export function limitsSummary(limits: GPUSupportedLimits): LimitsSummary {
  return {
    maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
    maxBufferSize: limits.maxBufferSize,
    maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage,
    maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
  };
}
