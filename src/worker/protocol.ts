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
import type { IdentifiabilityReport } from '../analysis/identifiability';
import type { GpuErrorCode } from '../engine/errors';
import type { AdapterSummary } from '../engine/gpu';
import type { InferenceOverrides, LatentInspection, LatentStatsSummary, MetricPoint, SessionCheckpoint, SessionInfo, TaskView, ValidationPoint } from '../playground/types';

export type { AdapterSummary };
export type * from '../playground/types';
export type * from '../playground/events';
import type { LatentStatsEvent, MetricsEvent, ProgressEvent, StreamOptions, TrainingStoppedEvent, ValidationEvent } from '../playground/events';
import type { AutosaveSummary } from '../io/autosave-store';
export type { AutosaveSummary };

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

// ---------- the playground session (src/playground/session.ts) ----------
// One session at a time. `configure` builds task + base + adapter from a PlaygroundConfig
// (validated again in the worker); every other session request needs a configured session
// (error code 'not-configured' otherwise). `pause` (above) also pauses the session's play loop.


/** Builds (or rebuilds, freeing the old one) the session. `config` is parsed with parseConfig. */
export interface ConfigureRequest {
  type: 'configure';
  id: number;
  config: unknown;
  stream?: StreamOptions;
}

/** Trains until `steps` more steps (default: until config.training.steps) or a pause. Replies at once; events stream. */
export interface PlayRequest {
  type: 'play';
  id: number;
  steps?: number;
}

/** Runs `n` steps (1…1000) and replies when their metrics are in. */
export interface StepRequest {
  type: 'step';
  id: number;
  n: number;
}

/** Rebuilds the session from its config: same seed → the same run. */
export interface ResetRequest {
  type: 'reset';
  id: number;
}

/** Base and adapted outputs on the fixed view batch, with the session's current overrides (or these, which then become current). */
export interface ViewRequest {
  type: 'view';
  id: number;
  overrides?: InferenceOverrides;
}

/** Switches units of a group on/off for inference (null: all on); replies with the new view. */
export interface SetMaskRequest {
  type: 'set-mask';
  id: number;
  group: number;
  mask: number[] | null;
}

/** Top-k (density ρ = k / count) override of a group for inference (null: configured k); replies with the new view. */
export interface SetKRequest {
  type: 'set-k';
  id: number;
  group: number;
  k: number | null;
}

export interface InspectLatentRequest {
  type: 'inspect-latent';
  id: number;
  group: number;
  unit: number;
}

/** The latest latent statistics of every group that collects them. */
export interface StatsRequest {
  type: 'stats';
  id: number;
}

export interface IdentifiabilityRequest {
  type: 'identifiability';
  id: number;
  group: number;
}

/** The whole session state (config, params, optimizer, step, history) for autosave/export. */
export interface CheckpointRequest {
  type: 'checkpoint';
  id: number;
}

/** Rebuilds the session from a checkpoint's config and loads its state. */
export interface RestoreRequest {
  type: 'restore';
  id: number;
  checkpoint: SessionCheckpoint;
  stream?: StreamOptions;
}

/** Cancels long work in progress (a configure that is loading or pre-training); playing is stopped with `pause`. */
export interface CancelRequest {
  type: 'cancel';
  id: number;
}

export type SessionRequest =
  | ConfigureRequest
  | PlayRequest
  | StepRequest
  | ResetRequest
  | ViewRequest
  | SetMaskRequest
  | SetKRequest
  | InspectLatentRequest
  | StatsRequest
  | IdentifiabilityRequest
  | CheckpointRequest
  | RestoreRequest
  | CancelRequest;

export type UiToWorker = InitRequest | DemoTrainRequest | PauseRequest | SessionRequest | PersistenceRequest;

// ---------- persistence (src/persistence/session-persistence.ts, src/io/*) ----------
// The worker autosaves the session to IndexedDB every few steps and whenever training stops
// (event `autosave`); the page offers to resume it on load.

/** Whether an autosave exists (for the "Resume previous session?" prompt). */
export interface AutosaveInfoRequest {
  type: 'autosave-info';
  id: number;
}

/** Builds the session from the autosave (bit-exact: the next step is the uninterrupted run's). */
export interface ResumeAutosaveRequest {
  type: 'resume-autosave';
  id: number;
  stream?: StreamOptions;
  /** Resume with this learning rate instead of the saved one (after a NaN/Inf stop). */
  lr?: number;
}

export interface DiscardAutosaveRequest {
  type: 'discard-autosave';
  id: number;
}

/** The whole session (config, base reference, parameters, optimizer, step, history) as one file. */
export interface ExportSessionRequest {
  type: 'export-session';
  id: number;
}

/** Builds the session from a session file (strictly validated). */
export interface ImportSessionRequest {
  type: 'import-session';
  id: number;
  bytes: Uint8Array;
  stream?: StreamOptions;
}

/** The session's adapters as adapter_config.json + adapter_model.safetensors. */
export interface ExportAdapterRequest {
  type: 'export-adapter';
  id: number;
}

/** Rebuilds the session with the file's adapter settings and loads its weights (`config`: the adapter_config.json text, optional). */
export interface ImportAdapterRequest {
  type: 'import-adapter';
  id: number;
  model: Uint8Array;
  config?: string;
  stream?: StreamOptions;
}

export type PersistenceRequest = AutosaveInfoRequest | ResumeAutosaveRequest | DiscardAutosaveRequest | ExportSessionRequest | ImportSessionRequest | ExportAdapterRequest | ImportAdapterRequest;

export interface AutosaveInfoReply {
  type: 'autosave-info';
  id: number;
  summary: AutosaveSummary | null;
  /** Why nothing is autosaved here (no IndexedDB), or null. */
  unavailable: string | null;
}

/** Answers resume-autosave / import-session / import-adapter: the built session and the history it carries. */
export interface SessionLoadedReply {
  type: 'session-loaded';
  id: number;
  session: SessionInfo;
  history: { train: MetricPoint[]; validation: ValidationPoint[] };
}

export interface SessionFileReply {
  type: 'session-file';
  id: number;
  bytes: Uint8Array;
  fileName: string;
}

export interface AdapterFilesReply {
  type: 'adapter-files';
  id: number;
  config: string;
  model: Uint8Array;
}

/** Event: an autosave was written (ok) or skipped (quota full, no IndexedDB): training continues either way. */
export interface AutosaveEvent {
  type: 'autosave';
  ok: boolean;
  step: number;
  message: string | null;
  code: 'quota' | 'unavailable' | 'failed' | null;
  summary: AutosaveSummary | null;
}

/** Event: after a device loss the worker acquired a new device and restored the last autosave. */
export interface DeviceRecoveredEvent {
  type: 'device-recovered';
  session: SessionInfo;
  history: { train: MetricPoint[]; validation: ValidationPoint[] };
  /** Whether training was resumed (it was playing when the device was lost). */
  playing: boolean;
}

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
  | 'not-configured' // a session request before a successful `configure`
  | 'bad-config' // the configuration is invalid (ErrorReply.field names the field)
  | 'busy' // the session is playing or preparing; pause (or cancel) first
  | 'cancelled' // long work was cancelled by `cancel`
  | 'bad-file' // an imported or autosaved file is malformed or does not fit this model (the message names what)
  | 'internal'; // an unexpected exception in a handler

export interface ErrorReply {
  type: 'error';
  /** The request this answers; null for errors not tied to a request. */
  id: number | null;
  code: WorkerErrorCode;
  message: string;
  /** What the user can do about it. */
  advice: string;
  /** For 'bad-config': the config field at fault (dot path, e.g. 'adapter.stan.k'). */
  field?: string;
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



// ---------- session replies and events ----------

/** Answers configure / reset / restore: the built session. */
export interface ConfiguredReply {
  type: 'configured';
  id: number;
  session: SessionInfo;
}

export interface PlayingReply {
  type: 'playing';
  id: number;
  /** Step the play started from, and the step it will stop at unless paused. */
  step: number;
  until: number;
}

export interface SteppedReply {
  type: 'stepped';
  id: number;
  step: number;
  rows: MetricPoint[];
}

export interface ViewReply {
  type: 'view';
  id: number;
  step: number;
  overrides: InferenceOverrides;
  view: TaskView;
}

export interface LatentInspectionReply {
  type: 'latent-inspection';
  id: number;
  step: number;
  inspection: LatentInspection;
}

export interface StatsReply {
  type: 'stats';
  id: number;
  step: number;
  groups: LatentStatsSummary[];
}

export interface IdentifiabilityReply {
  type: 'identifiability';
  id: number;
  step: number;
  group: number;
  report: IdentifiabilityReport;
}

export interface CheckpointReply {
  type: 'session-checkpoint';
  id: number;
  checkpoint: SessionCheckpoint;
}

export interface CancelledReply {
  type: 'cancelled';
  id: number;
  /** Whether there was long work to cancel. */
  cancelled: boolean;
}




export type WorkerToUi =
  | ReadyReply
  | DemoStartedReply
  | PausedReply
  | ErrorReply
  | DeviceLostEvent
  | MetricsEvent
  | TrainingStoppedEvent
  | ConfiguredReply
  | PlayingReply
  | SteppedReply
  | ViewReply
  | LatentInspectionReply
  | StatsReply
  | IdentifiabilityReply
  | CheckpointReply
  | CancelledReply
  | ValidationEvent
  | LatentStatsEvent
  | ProgressEvent
  | AutosaveInfoReply
  | SessionLoadedReply
  | SessionFileReply
  | AdapterFilesReply
  | AutosaveEvent
  | DeviceRecoveredEvent;

// ---------- derived types ----------

/** Which reply each request type gets (an `error` is always possible too). */
export interface ReplyTo {
  init: ReadyReply;
  'demo-train': DemoStartedReply;
  pause: PausedReply;
  configure: ConfiguredReply;
  play: PlayingReply;
  step: SteppedReply;
  reset: ConfiguredReply;
  view: ViewReply;
  'set-mask': ViewReply;
  'set-k': ViewReply;
  'inspect-latent': LatentInspectionReply;
  stats: StatsReply;
  identifiability: IdentifiabilityReply;
  checkpoint: CheckpointReply;
  restore: ConfiguredReply;
  cancel: CancelledReply;
  'autosave-info': AutosaveInfoReply;
  'resume-autosave': SessionLoadedReply;
  'discard-autosave': AutosaveInfoReply;
  'export-session': SessionFileReply;
  'import-session': SessionLoadedReply;
  'export-adapter': AdapterFilesReply;
  'import-adapter': SessionLoadedReply;
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
