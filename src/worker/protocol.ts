/**
 * The typed protocol between the page (UI) and the engine worker. The UI never touches WebGPU:
 * everything GPU-related happens in the worker and comes back as plain, structured-cloneable
 * data described here.
 *
 * Requests carry an `id`; the worker answers each request with exactly one message carrying
 * the same `id`: its reply type (see `ReplyTo`) or an `error`. Messages without an `id` from
 * the worker are events (e.g. `device-lost`).
 *
 * Adding a message:
 *   1. add a request variant to `UiToWorker` (with `id: number`),
 *   2. add its reply variant to `WorkerToUi` (with `id: number`) and map it in `ReplyTo`,
 *   3. add one `case` and one handler in engine.worker.ts (the switch is checked for
 *      exhaustiveness, so tsc points at the missing case),
 *   4. call it from the UI with `client.request({ type: '…', … })` — the reply is typed.
 */
import type { GpuErrorCode } from '../engine/errors';
import type { AdapterSummary } from '../engine/gpu';

export type { AdapterSummary };

/** The handful of device limits the UI shows (sizes in bytes). */
export interface LimitsSummary {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxStorageBuffersPerShaderStage: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
}

// ---------- UI → worker ----------

export interface InitRequest {
  type: 'init';
  id: number;
  powerPreference?: GPUPowerPreference;
}

/** Train the synthetic-regression demo model for `steps` steps; metrics stream as events. */
export interface DemoTrainRequest {
  type: 'demo-train';
  id: number;
  steps: number;
  lr: number;
  seed: number;
}

/** Stop the running training loop after the step in flight. */
export interface PauseRequest {
  type: 'pause';
  id: number;
}

export type UiToWorker = InitRequest | DemoTrainRequest | PauseRequest;

// ---------- worker → UI ----------

export interface ReadyReply {
  type: 'ready';
  id: number;
  adapter: AdapterSummary;
  limits: LimitsSummary;
  features: string[];
}

/** Failure codes: the engine's GPU codes plus the worker's own. */
export type WorkerErrorCode =
  | GpuErrorCode
  | 'not-initialized' // a request that needs the GPU arrived before a successful init
  | 'bad-request' // unknown or malformed message
  | 'worker-failed' // the worker script did not load or crashed (raised by the client)
  | 'internal'; // an unexpected exception in a handler

export interface ErrorReply {
  type: 'error';
  /** The request this answers; null for errors not tied to a request. */
  id: number | null;
  code: WorkerErrorCode;
  message: string;
  /** What the user can do about it. */
  advice: string;
}

/** Event: the GPU device went away (driver reset, destroyed). Re-send `init` to recover. */
export interface DeviceLostEvent {
  type: 'device-lost';
  reason: string;
  message: string;
}

export interface DemoStartedReply {
  type: 'demo-started';
  id: number;
  /** Trainable parameters of the demo model. */
  parameters: number;
  dispatchesPerStep: number;
}

export interface PausedReply {
  type: 'paused';
  id: number;
  step: number;
}

/** Event: metric rows as they come back from the GPU (every few steps). */
export interface MetricsEvent {
  type: 'metrics';
  rows: { step: number; loss: number; gradNorm: number; nonFinite: boolean }[];
  /** Wall-clock ms per step over the rows' window. */
  msPerStep: number;
}

/** Event: the training loop stopped. */
export interface TrainingStoppedEvent {
  type: 'training-stopped';
  step: number;
  reason: 'done' | 'paused' | 'non-finite' | 'error';
  message?: string;
}

export type WorkerToUi = ReadyReply | DemoStartedReply | PausedReply | ErrorReply | DeviceLostEvent | MetricsEvent | TrainingStoppedEvent;

// ---------- derived types ----------

/** Which reply each request type gets (an `error` is always possible too). */
export interface ReplyTo {
  init: ReadyReply;
  'demo-train': DemoStartedReply;
  pause: PausedReply;
}

export type RequestType = UiToWorker['type'];
export type RequestOf<T extends RequestType> = Extract<UiToWorker, { type: T }>;
export type ReplyOf<T extends RequestType> = ReplyTo[T];
/** A request as the caller writes it: the client assigns the id. */
export type RequestBody<T extends RequestType> = Omit<RequestOf<T>, 'id'>;
/** Messages from the worker that are not replies. */
export type WorkerEvent = Exclude<WorkerToUi, { id: unknown }>;

// Compile-time checks: every request type has a reply type, and every reply has an id.
type EveryRequestHasReply = [RequestType] extends [keyof ReplyTo] ? true : never;
type EveryReplyHasId = ReplyTo[keyof ReplyTo] extends { id: number } ? true : never;
true satisfies EveryRequestHasReply;
true satisfies EveryReplyHasId;

export function isWorkerEvent(msg: WorkerToUi): msg is WorkerEvent {
  return !('id' in msg);
}
