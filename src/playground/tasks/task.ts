/**
 * The contract every playground task implements (see registry.ts for the list). A task module
 * is static (description, settings, the sites its model offers, its base checkpoint) and
 * `build`s an instance from a TaskBuildConfig: the frozen base (loaded from the shipped
 * checkpoint's bytes), the adapter attached to the selected sites, and a TrainGraph for the
 * Trainer. The instance then answers the page's questions with plain data (src/playground/types.ts):
 * validation loss on a held-out batch, views of the outputs (base vs adapted, with inference
 * overrides), a unit's inspection, latent statistics, and the App. A report where it applies.
 *
 * Rules for implementations:
 *  - No readback inside the training step: `graph` is recorded once.
 *  - Everything else (validate, view, inspect, stats) runs between steps, may read back, and must
 *    leave the training state untouched (it may overwrite activations: the next step recomputes them).
 *  - Inference overrides (mask, k) are applied for a view/inspection and restored afterwards, so
 *    training always runs with all units on and the configured k.
 *  - Assets come through `TaskAssets.bytes(path)` (paths under public/), so the same code runs in
 *    the page (fetch) and in Node (fs).
 *  - `destroy` frees every GPU allocation of the instance (build inside rt.scoped/AllocationScope).
 */
import type { Adapter } from '../../adapters/adapter';
import type { AdapterSpec } from '../../adapters/attach';
import type { GpuRuntime } from '../../engine/runtime';
import type { SiteKind } from '../../nn/site';
import type { SettingsSpec } from '../../settings/fields';
import type { TrainingSettings } from '../../train/settings';
import type { Drawable, EncodeRequest, EncodeResult, InferenceOverrides, LatentGroupInfo, LatentInspection, OwnInput, OwnInputResult, ParameterCounts, PositionLayout, SiteInfo, TaskDescription, TaskView, ViewDeferred } from '../types';
import type { ActivationMode, LatentStatsSnapshot } from '../../analysis/latent-stats';
import type { WindowCode } from '../../analysis/latent-window';
import type { Tensor } from '../../engine/tensor';
import type { IdentifiabilityReport } from '../../analysis/identifiability';
import type { TrainGraph } from '../../train/trainer';

/** Where a task's files come from: `bytes('checkpoints/fourier-sparse.safetensors')`, `bytes('data/mnist-10k.bin')`. */
export interface TaskAssets {
  bytes(path: string): Promise<Uint8Array>;
}

/** Build-time options that are not part of the user's configuration. */
export interface TaskBuildOptions {
  /**
   * Smaller held-out / view sets (tests and CI). The model's shapes come from the base
   * checkpoint and the batch from config.training.batch either way.
   */
  small?: boolean;
  /** Reports progress of long preparation (loading, pre-training a base); `done` of `total`. */
  onProgress?: (label: string, done: number, total: number) => void;
  /** Aborts long preparation. */
  signal?: AbortSignal;
}

/**
 * What the session's training window records for one group (src/analysis/latent-window.ts):
 * the code the training forward writes, how a value becomes an activation, the per-row labels of
 * the training batch, and the adapter (its ΔO for the output share, its unit norms).
 */
export interface GroupStatsSource {
  group: number;
  code: WindowCode;
  mode: ActivationMode;
  /** f32 class id per code row of the training batch (written by graph.loadBatch), or null. */
  labels: Tensor | null;
  /** Classes of `labels` (0 without). */
  classes: number;
  adapter?: Adapter;
}

/**
 * A group's activations over a set of examples (plain arrays; `drawable` renders example e): what
 * a unit's dashboard is built from (src/playground/dashboard.ts).
 */
export interface UnitActivationSet {
  /** What the examples are ('held-out digits', 'validation signals'). */
  set: string;
  examples: number;
  positions: number;
  units: number;
  /** [examples, positions, units]: the activation (0 = inactive; the group's activation rule applied). */
  acts: Float32Array;
  /** Class per example, or null. */
  labels: readonly number[] | null;
  classes: readonly string[] | null;
  layout: PositionLayout;
  drawable(example: number): Drawable;
}

/** The task's outputs on the view batch with some overrides, for the effect of switching a unit off. */
export interface ViewOutputs {
  /** The loss the task trains with, on the view batch ('cross-entropy', 'MSE', 'NMSE'). */
  lossName: string;
  loss: number;
  /** Per shown example: its output (flat) and how to draw a difference of two of them. */
  examples: { output: Float32Array; render: { kind: 'image'; side: number } | { kind: 'signal' } | { kind: 'vector' }; label: string }[];
}

export interface TaskInstance {
  readonly graph: TrainGraph;
  /** The groups whose statistics the session accumulates over training (absent: none). */
  readonly statsSources?: readonly GroupStatsSource[];
  /** The attached adapters in site order (empty for 'none' and for the Fourier task's own atoms). */
  readonly adapters: readonly Adapter[];
  /** Inspectable unit groups (one per adapter; the Fourier task's atoms form one group). */
  readonly groups: readonly LatentGroupInfo[];
  readonly parameters: ParameterCounts;
  /** Site paths the model offers (for the targets control). */
  readonly sites: readonly string[];
  /** Class names for label entropy and class bars; null when the task has no labels. */
  readonly classes: readonly string[] | null;
  /** Base checkpoint metadata, when one was loaded. */
  readonly base: { source: string; metadata: Record<string, string> } | null;
  /** Loss and task metrics on the held-out batch (outside the step; reads back). */
  validate(): Promise<{ loss: number; metrics: Record<string, number> }>;
  /**
   * Base and adapted outputs on the fixed view batch, with `overrides` applied to the adapted model only.
   * `defer` (only asked of tasks with `viewDeferred`): answer the outputs first and leave what
   * costs more (the score over the held-out set, the unit gallery) to `viewDeferred` — the view
   * then says `pending`.
   */
  view(overrides: InferenceOverrides, opts?: { defer?: boolean }): Promise<TaskView>;
  /**
   * What a deferred view left out, under the same overrides; null when `stale()` turned true on
   * the way (a newer view was asked for: its answer comes first).
   */
  viewDeferred?(overrides: InferenceOverrides, stale: () => boolean): Promise<ViewDeferred | null>;
  /** A unit's top-activating examples, class bars and rendered decoder direction. */
  inspect(group: number, unit: number, overrides: InferenceOverrides): Promise<LatentInspection>;
  /**
   * App. F statistics of a group at the current parameters, over the task's fixed probe set
   * (held-out, labelled where the task has labels): null when the group collects none.
   * `step` is stamped as the probe's step (lastFired).
   */
  latentStats(group: number, step: number): Promise<LatentStatsSnapshot | null>;
  /**
   * The trainable parameters were overwritten outside training (a restored checkpoint): drop
   * anything cached from the old values. Optional; training steps invalidate on their own
   * (every step calls graph.loadBatch).
   */
  invalidate?(): void;
  /** App. A report of a STAN group (null where it does not apply). */
  identifiability(group: number): Promise<IdentifiabilityReport | null>;
  /** Group `group`'s activations over the held-out probe set, per example and position (overrides applied). */
  unitActivations?(group: number, overrides: InferenceOverrides): Promise<UnitActivationSet>;
  /** What unit `unit` writes, drawn (an atom's time profile, a contribution map); absent: the raw decoder direction. */
  unitDecoder?(group: number, unit: number, overrides: InferenceOverrides): Promise<Drawable>;
  /** The adapted model's outputs and loss on the view batch (overrides applied): a unit's effect is on − off. */
  viewOutputs?(overrides: InferenceOverrides): Promise<ViewOutputs>;
  /** What `ownInput` takes (absent: no input of the user's own). */
  readonly ownInputKind?: OwnInput['kind'];
  /** The user's own input (a drawn digit, placed observations): base and adapted outputs and the units that fire. */
  ownInput?(input: OwnInput, overrides: InferenceOverrides): Promise<OwnInputResult>;
  /** Encodes observations with the current atoms by ISTA on the GPU (tasks whose units are atoms over a signal). */
  encodeWithAtoms?(request: EncodeRequest): Promise<EncodeResult>;
  destroy(): void;
}

/** What a task is built from: its own settings, the adapter to attach (resolved), the training settings. */
export interface TaskBuildConfig<S extends object = Record<string, unknown>> {
  settings: S;
  /**
   * The adapter: kind, its full settings, and target patterns (never empty: the session fills in
   * the task's defaults). null = no adapter ('none'; what then trains is the task's choice).
   */
  adapter: AdapterSpec | null;
  training: TrainingSettings;
}

/**
 * A playground task: one module (one file) holds everything about it — what the page says about
 * it, its settings, the adapter sites its model offers, and how to build it. Registered with one
 * line in registry.ts; the page reads the module before anything is built.
 */
export interface TaskModule<S extends object = Record<string, unknown>> {
  /** The id in the config and the URL (`#task=digits`). */
  readonly id: string;
  readonly description: TaskDescription;
  /** The task's own options (config `tasks.<id>.<field>`, URL `tasks.<id>.<field>=…`). */
  readonly settings: SettingsSpec<S>;
  /**
   * The adapter sites its model offers, in forward order: path and kind, known without building
   * (a test checks them against the built model). An adapter is offered wherever its site kind exists.
   */
  readonly sites: readonly SiteInfo[];
  /** Target patterns used when the config's targets are empty, per site kind (e.g. linear → q and v projections). */
  readonly defaultTargets: Partial<Readonly<Record<SiteKind, readonly string[]>>>;
  /** The shipped base checkpoint (path under public/), or null when the base is built in the page. */
  readonly baseCheckpoint: string | null;
  /** The base checkpoint a configuration of the task's settings loads (absent: always `baseCheckpoint`). */
  baseCheckpointFor?(settings: S): string | null;
  /** Legend text for the task's own settings (e.g. 'train atoms'); empty when they don't tell runs apart. */
  runLabel?(settings: S): string;
  /**
   * Builds the instance. Throws ConfigError naming the field for anything the schema could not
   * check (k > l on this model, a target that matches no site, a batch above the task's cap …);
   * the session maps adapter fields to their config path.
   */
  build(rt: GpuRuntime, config: TaskBuildConfig<S>, assets: TaskAssets, opts?: TaskBuildOptions): Promise<TaskInstance>;
}
