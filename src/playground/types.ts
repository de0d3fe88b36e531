/**
 * Plain data the playground session hands the page: everything here is structured-cloneable
 * (numbers, strings, plain arrays, typed arrays) and free of GPU objects, so it crosses
 * postMessage as is and can be stored by the persistence layer. The task modules
 * (src/tasks/task.ts) produce the view/inspection parts; the session (src/playground/session.ts)
 * adds metrics, statistics and checkpoints; the worker protocol (src/worker/protocol.ts) carries them.
 */
import type { UnitLabel } from '../adapters/adapter';
import type { SiteMetrics } from '../analysis/latent-metrics';
import type { SiteKind, SiteRef } from '../nn/site';
import type { TrainingSettings } from '../train/settings';

/**
 * Something the page draws: a 1-D signal, a grey image (values in [0, 1]; `signed` images —
 * contribution maps — hold values in [−1, 1], drawn red/blue), or a short vector.
 */
export type Drawable =
  | { kind: 'signal'; values: number[] }
  | { kind: 'image'; side: number; pixels: Float32Array; signed?: boolean }
  | { kind: 'vector'; values: number[] };

/**
 * The whole configuration of a playground session — the page's state, the URL hash, a session
 * file's config. Validated by src/config/schema.ts (derived from the adapter and task registries).
 *  - `tasks.<id>`: each task's own settings; `adapter.<kind>`: each adapter's settings (all kept,
 *    so switching back and forth keeps what was set).
 *  - `adapter.targets`: site patterns; empty = the task's default targets for the adapter's site kind.
 */
export interface PlaygroundConfig {
  version: 1;
  task: string;
  tasks: Record<string, Record<string, unknown>>;
  adapter: AdapterSection;
  training: TrainingSettings;
}

export interface AdapterSection {
  /** A registered adapter kind, or 'none'. */
  kind: string;
  targets: string[];
  /** Per registered kind: its settings. */
  [kind: string]: unknown;
}

/** What the page shows about a task (static: from the module, before anything is built). */
export interface TaskDescription {
  /** Short name for choices and legends: 'Fourier toy'. */
  name: string;
  title: string;
  /** What the task is, in two or three plain sentences. */
  what: string;
  /** What the paper claims about this toy, in a few plain sentences. */
  claim: string;
  /** What to look for in the views, one hint per item. */
  lookFor: string[];
  /** What we measured (numbers from REPRODUCTION.md / docs/base-models.md, with where they come from). */
  measured: string[];
}

/** One adapter site a task's model offers: its PEFT-style path and its kind. */
export type SiteInfo = SiteRef;

/** What SessionInfo says about the built session's task (plain data from its module). */
export interface TaskSummary extends TaskDescription {
  id: string;
  /** Adapter kinds offered (always 'none' first), from the sites and the adapter registry. */
  adapters: string[];
  sites: SiteInfo[];
  defaultTargets: Partial<Record<SiteKind, string[]>>;
  baseCheckpoint: string | null;
}

/**
 * One adapted site's inspectable units: STAN latents, atoms, or LoRA/SoRA rank dimensions.
 * `group` indexes the session's groups (the adapters in site order; the Fourier task's own
 * atoms are one group).
 */
export interface LatentGroupInfo {
  group: number;
  /** Site path, e.g. 'decoder.blocks.1.attn' or 'blocks.0.mlp.fc1'. */
  path: string;
  /** The adapter kind ('stan', 'lora', …), or the task's own group name (the Fourier model's 'fourier-atoms'). */
  kind: string;
  label: UnitLabel;
  count: number;
  /** Configured k of a k-sparse group (the k / ρ slider's maximum); null when there is no top-k. */
  k: number | null;
  /** Whether latent statistics (App. F) are collected for this group. */
  stats: boolean;
  /** Whether the App. A identifiability report applies (STAN groups). */
  identifiability: boolean;
}

/** Inference-time overrides applied to the view batch (never to training). */
export interface InferenceOverrides {
  /** Per group: 1 keeps a unit, 0 switches it off; absent/null = all on. */
  masks?: Record<number, number[] | null>;
  /** Per group: top-k override 1 … configured k; absent/null = configured k. */
  k?: Record<number, number | null>;
}

/**
 * The one number that says how well the task does on its held-out set (the page prints it above
 * the outputs): NMSE of the reconstructions, the share of decoded 3s a judge reads as "3", the
 * accuracy on rotated digits, the regression MSE.
 */
export interface ViewScore {
  /** What is measured, as the page prints it: 'NMSE on 128 held-out high-band signals'. */
  label: string;
  /** 'percent': a share in [0, 1], printed as a percentage; 'number': printed with 3 significant digits. */
  format: 'percent' | 'number';
  better: 'lower' | 'higher';
  /** The frozen base: no adapter, before fine-tuning. */
  base: number;
  /** The adapted model with the inference overrides applied; null when nothing is adapted. */
  adapted: number | null;
  /** The adapted model with every unit on and the configured k — present only while overrides are in effect. */
  allOn?: number;
  /** Simple baselines beside the number ('copy the observations', 'always predict the mean'). */
  baselines?: { label: string; value: number }[];
}

/** One example of a `signals` view: what the output should be, and the models' outputs, over time. */
export interface SignalExample {
  /** Tells the examples apart: 'held-out signal 3'. */
  title: string;
  target: number[];
  /** Samples the model was given (drawn as points), when only some are observed. */
  observed?: { t: number; v: number }[];
  base: number[];
  /** With the overrides applied; null when nothing is adapted. */
  adapted: number[] | null;
  /** The adapted model with every unit on — present only while overrides are in effect. */
  allOn?: number[];
  /** This example's score, in the view score's measure. */
  score?: { base: number; adapted: number | null };
}

/** One example of an `images` view: input, target and the models' outputs as grey images (side × side, values in [0, 1]). */
export interface ImageExample {
  title: string;
  /** The example's index in its data set (the page marks the first image's, e.g. a fixed latent the view opens on). */
  index?: number;
  /** What the model is given, when it differs from the target (the noisy input of a denoiser). */
  input?: Float32Array;
  target: Float32Array;
  base: Float32Array;
  adapted: Float32Array | null;
  allOn?: Float32Array;
  /** What each judge (a frozen classifier, named by `by`) reads in the base's and the adapted model's output, e.g. '8 (91 %)'. */
  judged?: { by: string; base: string; adapted: string | null }[];
}

/** One example of a `classification` view: the input as the model sees it and each model's class probabilities. */
export interface ClassificationExample {
  drawable: Drawable;
  /** True class (index into the view's classes). */
  label: number;
  base: number[];
  adapted: number[] | null;
  allOn?: number[];
}

/** One prediction of a `scalars` view (scalar regression outputs against their targets). */
export interface RegressionPoint {
  target: number;
  base: number;
  adapted: number | null;
  allOn?: number;
}

/**
 * Per-unit pictures under the outputs (atom time profiles, each unit's contribution map), largest
 * value first; a click opens that unit.
 */
export interface UnitGallery {
  title: string;
  /** What the number under each picture means, in one line (shown with the gallery). */
  measure: string;
  format: 'percent' | 'number';
  items: { group: number; unit: number; value: number; drawable: Drawable }[];
}

/**
 * What a task shows of its outputs: one of a few generic kinds, chosen by the task (the page draws
 * each kind the same way for every task). Every kind compares the frozen base (no adapter) with
 * the adapted model (inference overrides applied) on a fixed held-out view batch, and carries the
 * task's one number (`score`).
 *  - signals: series over time (target, observed points, base, adapted);
 *  - images: input / target / base / adapted images, optionally a judge's reading;
 *  - classification: inputs with each model's class probabilities;
 *  - scalars: scalar predictions against their targets (a regression's outputs).
 */
export type TaskViewBody =
  | { kind: 'signals'; xLabel: string; signals: SignalExample[] }
  | { kind: 'images'; side: number; inputLabel?: string; targetLabel: string; images: ImageExample[] }
  | { kind: 'classification'; classes: string[]; examples: ClassificationExample[] }
  | { kind: 'scalars'; targetLabel: string; points: RegressionPoint[] };

export type TaskView = TaskViewBody & {
  score: ViewScore;
  /** Further numbers on the same held-out set, printed under the score (e.g. a second judge's reading). */
  otherScores?: ViewScore[];
  /**
   * Part of the view is still being computed (a unit toggle or a k change re-renders the outputs
   * first): the scores' `adapted` and `allOn` and the unit gallery are left out until the
   * ViewDeferred part (TaskInstance.viewDeferred) fills them in.
   */
  pending?: boolean;
  /** One line about what is shown, for every example at once (e.g. the frequency band). */
  note?: string;
  units?: UnitGallery;
};

/** What a view answered with `pending` left out (same overrides, same step): its scores and unit gallery. */
export interface ViewDeferred {
  score: ViewScore;
  otherScores?: ViewScore[];
  units?: UnitGallery;
}

/** One top-activating example of a unit. */
export interface LatentExample {
  /** Mean activation of the unit on the example (over its rows/tokens where active). */
  activation: number;
  /** Class label, when the task has labels. */
  label: number | null;
  drawable: Drawable;
}

export interface LatentInspection {
  group: number;
  unit: number;
  label: 'latent' | 'atom' | 'rank';
  /** Highest mean activation first. */
  examples: LatentExample[];
  /** Per class: mean activation (0 where it never fires); null without labels. */
  classBars: { label: string; value: number }[] | null;
  /** The unit's decoder direction rendered (a signal, an image through the decoder, or the raw vector). */
  decoder: Drawable;
  /** Activation frequency and mean activation on the examples searched. */
  frequency: number;
  meanActivation: number;
}

/** How an example's positions map onto what is drawn (a unit's dashboard, src/playground/dashboard.ts). */
export type PositionLayout =
  /** Image patches: position p ≥ offset is patch (p − offset) of a grid × grid of patch×patch pixels (side = grid·patch). */
  | { kind: 'patches'; side: number; patch: number; grid: number; offset: number }
  /** Samples of a signal: position p is sample p. */
  | { kind: 'samples' }
  /** Tokens of a sequence. */
  | { kind: 'tokens' };

/** One example on a unit's dashboard. */
export interface DashboardExample {
  example: number;
  /** The example's largest activation of the unit. */
  activation: number;
  label: number | null;
  drawable: Drawable;
  /** The unit's activation at each position of the example. */
  positions: number[];
}

/** A unit's dashboard: statistics, examples, where it fires, what it writes, what switching it off does (src/playground/dashboard.ts). */
export interface LatentDashboard {
  group: number;
  unit: number;
  step: number;
  /** What the examples are ('held-out digits'). */
  set: string;
  examples: number;
  rows: number;
  /** Rows where it fired / rows. */
  frequency: number;
  /** Mean activation over the rows where it fired (0 if none). */
  meanActivation: number;
  /** Label entropy (nats) of its activation mass; null without labels or activation. */
  entropy: number | null;
  /** Activations over the rows where it fired: equal bins from 0 to the largest. */
  histogram: { edges: number[]; counts: number[] };
  top: DashboardExample[];
  /** Lowest group first: each with its share of the ranked firing examples and activation range. */
  quantiles: { from: number; to: number; minActivation: number; maxActivation: number; examples: DashboardExample[] }[];
  layout: PositionLayout;
  classBars: { label: string; value: number }[] | null;
  /** What it writes (decoder direction, rendered). */
  decoder: Drawable;
  /** The units most often active on the same rows: Jaccard overlap, P(other | this), shared rows. */
  coactive: { unit: number; jaccard: number; given: number; rows: number }[];
  effect: {
    lossName: string;
    lossOn: number;
    lossOff: number;
    /** lossOff − lossOn: how much worse the model gets without it (negative: better). */
    deltaLoss: number;
    /** Per view example: output with the unit on − off; `maxAbs` its largest |difference|, the drawable scaled to [−1, 1]. */
    examples: { label: string; maxAbs: number; diff: number[]; drawable: Drawable }[];
  };
}

/** The user's own input: a grey image (values in [0, 1], row-major) or observed samples of a signal. */
export type OwnInput = { kind: 'image'; side: number; pixels: number[] } | { kind: 'observations'; points: { t: number; v: number }[] };

/** What the model makes of the user's input. */
export interface OwnInputResult {
  /** The input as the model sees it. */
  input: Drawable;
  base: Drawable;
  /** With the overrides applied; null without an adapter. */
  adapted: Drawable | null;
  /** One line each, e.g. 'predicts 3 (62 %)'. */
  summary: { base: string; adapted: string | null };
  /** Per group: the units that fire on the input, largest activation first, with where (per position). */
  firing: { group: number; units: { unit: number; activation: number; positions: number[] }[] }[];
  layout: PositionLayout;
}

/** Encode observations with the current atoms (ISTA, min ½‖x − S·D‖² + λ‖S‖₁ over the observed samples). */
export interface EncodeRequest {
  points: { t: number; v: number }[];
  /** λ ≥ 0. */
  lambda: number;
  /** FISTA iterations (default 300, at most 5000). */
  iterations?: number;
}

export interface EncodeResult {
  /** One coefficient per atom. */
  code: number[];
  /** Σ_m code_m · d_m(t) over every sample t. */
  reconstruction: number[];
  /** Units with a non-zero coefficient. */
  active: number;
  /** ½‖x − S·D‖² + λ‖S‖₁ after each iteration. */
  objective: number[];
  /** Root-mean-square error on the observed samples. */
  rmsObserved: number;
  lambda: number;
  iterations: number;
}

/**
 * Latent statistics of one group, summarised (log10 of 0 is reported as null): App. F's
 * per-unit frequency, mean activation and label entropy, and the site's standard metrics.
 * `source` says which rows: the training window (the last N training rows, accumulated on the
 * GPU inside the step) or the task's held-out probe set (computed on demand).
 */
export interface LatentStatsSummary {
  group: number;
  source: 'training' | 'held-out';
  /** Rows the statistics cover (N). */
  samples: number;
  /**
   * Training window: the `steps` steps up to `lastStep` (inclusive), `rowsPerStep` rows each
   * (`steps` = `slots` once the window is full); null for held-out.
   */
  window: { steps: number; slots: number; rowsPerStep: number; lastStep: number } | null;
  log10Freq: (number | null)[];
  log10MeanAct: (number | null)[];
  /** Label entropy per unit (nats); null where a unit never fired or the rows have no labels. */
  entropy: (number | null)[];
  /** Units that never fired in the rows (= metrics.dead). */
  dead: number;
  /** Units firing on more than metrics.denseThreshold of the rows (= metrics.dense). */
  dense: number;
  /** L0, dead/dense fractions, density histogram, output share. */
  metrics: SiteMetrics;
  /**
   * Per unit: mean ‖a_i·d_i‖ per row — what it writes onto the site's output on average (mean
   * activation × frequency × the norm of its direction). Null in streamed events (it needs the
   * decoder read back); filled when the page asks for the statistics.
   */
  effect: (number | null)[] | null;
}

/** Parameter counts shown next to each other in the Adapter panel. */
export interface ParameterCounts {
  trainable: number;
  base: number;
}

/** What `configure` (and `restore`/`reset`) answers: everything static about the built session. */
export interface SessionInfo {
  config: PlaygroundConfig;
  task: TaskSummary;
  step: number;
  parameters: ParameterCounts;
  groups: LatentGroupInfo[];
  /** Site paths the model offers (for the targets control). */
  sites: string[];
  /** Class names when the task has labels (label entropy, class bars); null otherwise. */
  classes: string[] | null;
  dispatchesPerStep: number;
  /** What the inspection views can ask of this session: unit dashboards, your own input (its kind), ISTA encoding with the atoms. */
  inspect: { dashboard: boolean; ownInput: OwnInput['kind'] | null; encode: boolean };
  /** Base checkpoint's metadata summary (steps, recorded metrics), when one was loaded. */
  base: { source: string; metadata: Record<string, string> } | null;
}

// Type aliases (not interfaces) so they are assignable to index-signature types (serialisers).
export type MetricPoint = {
  step: number;
  loss: number;
  gradNorm: number;
  nonFinite: boolean;
  /** Task/adapter extras (e.g. rec, kl, active_atoms). */
  extra?: Record<string, number>;
};

export type ValidationPoint = {
  step: number;
  loss: number;
  metrics: Record<string, number>;
};

/**
 * The whole state of a session, for autosave, export/import and device-loss recovery. Restoring
 * it into a session built from the same config reproduces the run bit-exactly from `step`.
 */
export interface SessionCheckpoint {
  format: 'sparse-adapter-playground/session@1';
  config: PlaygroundConfig;
  step: number;
  /** Trainable parameters by name, per pack (the Trainer's order). */
  params: Record<string, Float32Array>[];
  /** AdamW moments, one array per pack. */
  optimizer: { m: Float32Array[]; v: Float32Array[] };
  history: { train: MetricPoint[]; validation: ValidationPoint[] };
}
export type { IdentifiabilityReport } from '../analysis/identifiability';
