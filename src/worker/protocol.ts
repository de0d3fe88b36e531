/**
 * The typed protocol between the page (UI) and the engine worker. The UI never touches WebGPU:
 * everything GPU-related happens in the worker and comes back as plain, structured-cloneable
 * data described here.
 *
 * One map, `Protocol`, says for each request type what the page sends (`body`) and what the
 * worker answers (`reply`). Everything else is derived from it: the messages on the wire
 * (`UiToWorker`, `WorkerToUi`), `RequestOf` / `ReplyOf`, and the worker's handler table
 * (`Handlers`: tsc flags a missing handler, an unknown one and a wrong reply type).
 *
 * On the wire: a request is `{ type, id, ...body }`; the worker answers each with exactly one
 * message carrying the same `id` — `{ type, id, reply }` or an `ErrorReply` (`type: 'error'`,
 * with a code). Messages without an `id` are events; their types belong to whoever emits them
 * (the session: src/playground/events.ts; persistence: src/persistence; the worker: device-lost).
 *
 * Adding a message: one entry in `Protocol` and one handler in engine.worker.ts; the UI calls
 * `client.request({ type: '…', …body })` and gets the reply typed.
 */
import type { IdentifiabilityReport } from '../analysis/identifiability';
import type { BenchPreset } from '../bench/run-bench';
import type { BenchEvent, BenchResult, BenchRow, TrainStepRow } from '../bench/types';
import type { GpuErrorCode } from '../engine/errors';
import type { AdapterSummary } from '../engine/gpu';
import type { AutosaveSummary } from '../io/autosave-store';
import type { DeviceRecoveredEvent } from '../persistence/device-recovery';
import type { AutosaveEvent } from '../persistence/session-persistence';
import type { StreamOptions } from '../playground/events';
import type { SessionEvent } from '../playground/session';
import type { EncodeRequest, EncodeResult, InferenceOverrides, LatentDashboard, LatentInspection, LatentStatsSummary, MetricPoint, OwnInput, OwnInputResult, SessionCheckpoint, SessionInfo, TaskView, ValidationPoint, ViewDeferred } from '../playground/types';

export type { AdapterSummary, AutosaveSummary, AutosaveEvent, BenchEvent, BenchPreset, BenchResult, BenchRow, DeviceRecoveredEvent, SessionEvent, TrainStepRow };
export type * from '../playground/types';
export type * from '../playground/events';

/** The handful of device limits the UI shows (sizes in bytes). */
export interface LimitsSummary {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxStorageBuffersPerShaderStage: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
}

/** A request with nothing besides its type. */
type NoBody = Record<never, never>;

/** Answers configure / reset / restore: the built session. */
interface Configured {
  session: SessionInfo;
}

/** Answers view / set-mask / set-k: the outputs with the overrides now current. */
interface ViewResult {
  step: number;
  overrides: InferenceOverrides;
  view: TaskView;
}

/** Answers resume-autosave / import-session / import-adapter: the built session and the history it carries. */
interface SessionLoaded {
  session: SessionInfo;
  history: { train: MetricPoint[]; validation: ValidationPoint[] };
  /** The outputs at once, with the overrides that were saved (resume-autosave), so the page shows them without another request. */
  view?: ViewResult;
}

interface AutosaveInfo {
  /** This tab's autosave (its slot's), or null. */
  summary: AutosaveSummary | null;
  /** Other tabs' autosaves, newest first (offered as theirs; resuming one copies it into this tab's slot). */
  others: AutosaveSummary[];
  /** Why nothing is autosaved here (no IndexedDB), or null. */
  unavailable: string | null;
}

/**
 * THE protocol: request type → { body the page sends, reply the worker answers }.
 *
 * The playground session (src/playground/session.ts) is one at a time: `configure` builds task +
 * base + adapter from a PlaygroundConfig (validated again in the worker); every other session
 * request needs a configured session (error code 'not-configured' otherwise). Persistence
 * (src/persistence/session-persistence.ts): the worker autosaves to IndexedDB every few steps and
 * whenever training stops or a Step / +10 ends, into this tab's slot, and keeps the overrides
 * (masks, k) saved with it (event `autosave`); the page offers to resume it on load.
 */
export interface Protocol {
  /** Acquires the GPU device (idempotent). `tab`: this tab's autosave slot (kept in the tab's sessionStorage, so a reload finds its own run). */
  init: { body: { powerPreference?: GPUPowerPreference; tab?: string }; reply: { adapter: AdapterSummary; limits: LimitsSummary; features: string[] } };
  /** Stops the play loop after the step in flight. */
  pause: { body: NoBody; reply: { step: number } };
  /** Builds (or rebuilds, freeing the old one) the session. `config` is parsed with parseConfig. */
  configure: { body: { config: unknown; stream?: StreamOptions }; reply: Configured };
  /** Trains until `steps` more steps (default: until config.training.steps) or a pause. Replies at once with the step it started from and the one it stops at; events stream. */
  play: { body: { steps?: number }; reply: { step: number; until: number } };
  /** Runs `n` steps (1…1000) and replies when their metrics are in. */
  step: { body: { n: number }; reply: { step: number; rows: MetricPoint[] } };
  /** Rebuilds the session from its config: same seed → the same run. */
  reset: { body: NoBody; reply: Configured };
  /** Base and adapted outputs on the fixed view batch, with the session's current overrides (or these, which then become current). */
  view: { body: { overrides?: InferenceOverrides }; reply: ViewResult };
  /** Switches units of a group on/off for inference (null: all on); replies with the new view. */
  'set-mask': { body: { group: number; mask: number[] | null }; reply: ViewResult };
  /** Top-k (density ρ = k / count) override of a group for inference (null: configured k); replies with the new view. */
  'set-k': { body: { group: number; k: number | null }; reply: ViewResult };
  /**
   * What a `pending` view (set-mask, set-k) left out — scores, unit gallery — under the current
   * overrides; null when a newer view was asked for meanwhile.
   */
  'view-deferred': { body: NoBody; reply: { step: number; overrides: InferenceOverrides; rest: ViewDeferred } | null };
  'inspect-latent': { body: { group: number; unit: number }; reply: { step: number; inspection: LatentInspection } };
  /** Latent statistics of every group that collects them: the training window (default) or the held-out probe set. */
  stats: { body: { source?: 'training' | 'held-out' }; reply: { step: number; groups: LatentStatsSummary[] } };
  identifiability: { body: { group: number }; reply: { step: number; group: number; report: IdentifiabilityReport } };
  /** A unit's dashboard over the held-out probe, with the current overrides (src/playground/dashboard.ts). */
  dashboard: { body: { group: number; unit: number }; reply: { step: number; dashboard: LatentDashboard } };
  /** The user's own input (a drawn digit, placed observations) through base and adapted model. */
  'own-input': { body: { input: OwnInput }; reply: { step: number; result: OwnInputResult } };
  /** Encodes placed observations with the task's current atoms (ISTA on the GPU). */
  encode: { body: { request: EncodeRequest }; reply: { step: number; result: EncodeResult } };
  /** The whole session state (config, params, optimizer, step, history). */
  checkpoint: { body: NoBody; reply: { checkpoint: SessionCheckpoint } };
  /** Rebuilds the session from a checkpoint's config and loads its state. */
  restore: { body: { checkpoint: SessionCheckpoint; stream?: StreamOptions }; reply: Configured };
  /** Cancels long work in progress (a configure that is loading or pre-training); playing is stopped with `pause`. */
  cancel: { body: NoBody; reply: { cancelled: boolean } };
  /** Whether an autosave exists for this tab, and other tabs' (for the "Resume previous session?" prompt). */
  'autosave-info': { body: NoBody; reply: AutosaveInfo };
  /**
   * Builds the session from this tab's autosave — or from another tab's (`slot`), which is only
   * read — with the overrides saved with it (bit-exact: the next step is the uninterrupted run's);
   * `lr`: resume with this learning rate instead (after a NaN/Inf stop).
   */
  'resume-autosave': { body: { stream?: StreamOptions; lr?: number; slot?: string }; reply: SessionLoaded };
  /** Deletes this tab's autosave, or another slot's. */
  'discard-autosave': { body: { slot?: string }; reply: AutosaveInfo };
  /** The whole session (config, base reference, parameters, optimizer, step, history) as one file. */
  'export-session': { body: NoBody; reply: { bytes: Uint8Array; fileName: string } };
  /** Builds the session from a session file (strictly validated). */
  'import-session': { body: { bytes: Uint8Array; stream?: StreamOptions }; reply: SessionLoaded };
  /** The session's adapters as adapter_config.json + adapter_model.safetensors. */
  'export-adapter': { body: NoBody; reply: { config: string; model: Uint8Array } };
  /** Rebuilds the session with the file's adapter settings and loads its weights (`config`: the adapter_config.json text, optional). */
  'import-adapter': { body: { model: Uint8Array; config?: string; stream?: StreamOptions }; reply: SessionLoaded };
  /**
   * "Benchmark this GPU" (src/bench/run-bench.ts on this device): kernel and train-step timings
   * with events `bench-progress` / `bench-row` while it runs; the reply has latest.json's shape.
   * Refused ('busy') while a session plays; `bench-cancel` stops it (error code 'cancelled').
   */
  bench: { body: { preset: BenchPreset }; reply: BenchResult };
  'bench-cancel': { body: NoBody; reply: { cancelled: boolean } };
}

// ---------- derived: the messages ----------

export type RequestType = keyof Protocol;
/** A request as the caller writes it (the client assigns the id). */
export type RequestBody<T extends RequestType> = { type: T } & Protocol[T]['body'];
/** A request on the wire. */
export type RequestOf<T extends RequestType> = { type: T; id: number } & Protocol[T]['body'];
export type ReplyOf<T extends RequestType> = Protocol[T]['reply'];
/** A successful answer on the wire: the request's type and id, and its reply. */
export type ReplyMessage<T extends RequestType = RequestType> = { [K in T]: { type: K; id: number; reply: ReplyOf<K> } }[T];

export type UiToWorker = { [K in RequestType]: RequestOf<K> }[RequestType];

/**
 * The worker's table: one handler per request type, given the request (type, id and body),
 * answering its reply. Build replies field by field: tsc rejects a missing or mistyped field but
 * not an extra one, and anything that is not plain data (a promise) fails at postMessage.
 */
export type Handlers = { [K in RequestType]: (request: RequestOf<K>) => ReplyOf<K> | Promise<ReplyOf<K>> };

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

/** Messages from the worker that answer no request; each type is declared by its emitter. */
export type WorkerEvent = SessionEvent | AutosaveEvent | DeviceRecoveredEvent | DeviceLostEvent | BenchEvent;

export type WorkerToUi = ReplyMessage | ErrorReply | WorkerEvent;

// Compile-time checks of the map: bodies and replies are plain objects that cannot shadow the
// envelope, no request is named like the error reply, and events carry no id.
type Keys<T> = T extends unknown ? keyof T : never;
type NoEnvelopeKeys = Extract<Keys<Protocol[RequestType]['body']>, 'type' | 'id'> extends never ? true : never;
type NoErrorRequest = 'error' extends RequestType ? never : true;
type EventsHaveNoId = Extract<Keys<WorkerEvent>, 'id'> extends never ? true : never;
true satisfies NoEnvelopeKeys;
true satisfies NoErrorRequest;
true satisfies EventsHaveNoId;

export function isWorkerEvent(msg: WorkerToUi): msg is WorkerEvent {
  return !('id' in msg);
}
