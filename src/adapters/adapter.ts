/**
 * The one contract every adapter implements (an AdapterModule, one file per adapter, listed in
 * registry.ts). A module holds everything about its adapter: the math (attach installs
 * forward/backward hooks on a model's site and declares parameters), its settings (fields with
 * ranges, labels and help, defaults, cross-field checks — src/settings/fields.ts), which site
 * kinds it attaches to, what its inspectable units are called, its formula and explanation for
 * the page, its export names (PEFT type, adapter_config mirrors, tensor names) and its run label.
 * The config schema, defaults, URL, the page's Adapter panel, export/import, the interop CLI and
 * the registry-driven tests all derive from the registry.
 *
 * Adding an adapter = one file exporting an AdapterModule + one line in registry.ts.
 */
import type { ParamRef } from '../engine/param-pack';
import type { CommandList } from '../engine/runtime';
import type { StepParams } from '../engine/step-params';
import type { Tensor } from '../engine/tensor';
import type { BuildContext } from '../nn/module';
import type { Site, SiteKind } from '../nn/site';
import type { SettingsSpec } from '../settings/fields';

/** An adapter's registered name ('stan', 'lora', …). */
export type AdapterKind = string;

/** What one inspectable unit of an adapter is called. */
export type UnitLabel = 'latent' | 'atom' | 'rank';

/** Where an adapter attaches (a model's site, src/nn/site.ts). `path` is the module path used in PEFT-style export names. */
export type AdapterSite = Site;

/** The sparse code of the last forward pass, for statistics and inspection. */
export interface SparseCode {
  /** Selected latent indices, u32, [rows, k] (a Tensor view over a u32 storage buffer). */
  indices: Tensor;
  /** Their activations (after masking), f32, [rows, k]. */
  values: Tensor;
  rows: number;
  /** Allocated k (the override may use fewer; unused slots hold value 0). */
  k: number;
}

export interface Adapter {
  readonly kind: AdapterKind;
  readonly path: string;
  /** Trainable parameters (declared in ctx.trainable; frozen parts, e.g. atoms-only mode, in ctx.frozen). */
  readonly params: ParamRef[];
  /** Latents (STAN), atoms, or rank dimensions (LoRA/SoRA): what the mask indexes. */
  readonly latentCount: number;
  readonly latentLabel: UnitLabel;
  trainableParameterCount(): number;
  /** 1 keeps, 0 switches a latent/atom off (its contribution becomes exactly 0); null = all on. */
  setMask(mask: Float32Array | null): void;
  /** Top-k override for k-sparse adapters (1 … configured k); throws ConfigError outside. */
  setK?(k: number): void;
  /** The sparse code of the last forward (k-sparse adapters). */
  readonly code?: SparseCode;
  /** What unit `unit` writes onto the output (STAN: column i of D; atoms: atom m; LoRA: column r of B, scaled as in the forward), read back. */
  unitDirection?(unit: number): Promise<Float32Array>;
  /**
   * ‖what unit i writes per unit of activation‖ for every unit (STAN ‖D[:, i]‖/k, atoms ‖D_m‖),
   * read back once: the page's "effect" column (mean ‖a_i·d_i‖ per row = Σa_i/N × this).
   */
  unitNorms?(): Promise<Float32Array>;
  /**
   * Records into `list` the adapter's contribution ΔO [rows, width] for the last forward into a
   * scratch tensor it owns (allocated here, once) and returns it with the site's output O (after
   * the adapter): the output share ‖ΔO‖/‖O‖ of the latent window. Record it before the optimizer
   * (the parameters the forward used). Optional.
   */
  recordDelta?(list: CommandList): { delta: Tensor; out: Tensor; width: number };
  /** Extra per-step work after the optimizer (SoRA's proximal gate step). */
  recordAfterOptimizer?(list: CommandList, stepParams: StepParams): void;
  /** Extra scalar metrics written during the step (e.g. an L1 penalty), each a [1] tensor. */
  readonly metrics?: { name: string; tensor: Tensor }[];
  destroy(): void;
}

/** How an adapter is written to a PEFT-like adapter file (src/io/adapter-file.ts). */
export interface AdapterExportFormat<C> {
  /** `peft_type` in adapter_config.json, e.g. 'LORA'; unique among adapters. */
  peftType: string;
  /** Settings PEFT keeps at the top level of adapter_config.json (LoRA's `r`, `lora_alpha`), mirrored from ours. */
  mirrors?: { [peftKey: string]: keyof C & string };
  /**
   * The adapter's tensors relative to its module path (`<module>.<name>`), in declaration order:
   * what the README's interop table and the interop CLI list. Every parameter an adapter declares
   * is named `<module path>.<kind>_…`, which is how export and import find them.
   */
  tensors: readonly string[];
}

/** State an adapter kind keeps across the sites of one attach (e.g. VeRA's shared random projections). */
export type SharedState = Map<string, unknown>;

export interface AdapterModule<C extends object = Record<string, unknown>> {
  readonly kind: AdapterKind;
  /** Short name for choices and labels: 'STAN', 'LoRA'. */
  readonly label: string;
  /** Full name: 'STAN (sparse top-k adapter)'. */
  readonly title: string;
  /** The update in one line, e.g. 'h = W₀·x + (α/r)·B·A·x'. */
  readonly formula: string;
  /** A few plain sentences the page shows under the formula. */
  readonly explanation: readonly string[];
  /** Which site kinds it attaches to: it is offered on every task with such a site. */
  readonly sites: readonly SiteKind[];
  /** What one unit of it is called (the mask and the inspection index units). */
  readonly unit: UnitLabel;
  /** Its hyperparameters: fields (type, range, label, help), defaults, cross-field checks. */
  readonly settings: SettingsSpec<C>;
  readonly export: AdapterExportFormat<C>;
  /** The settings that tell runs apart in a legend, e.g. 'k=16 ×2'. */
  runLabel(config: C): string;
  /** Throws ConfigError (naming the field and the allowed range) for settings this site cannot take (k > l, rank > min(m, n)). */
  validate(config: C, site: Site): void;
  /** Declares parameters, allocates buffers, installs the hooks on `site.layer`. `shared` lives for one attach over several sites (a fresh map when omitted). */
  attach(ctx: BuildContext, site: Site, config: C, shared?: SharedState): Adapter;
}

/** The math part of a module: what tasks and tests that attach one adapter by hand need. */
export type AdapterMath<C extends object> = Pick<AdapterModule<C>, 'kind' | 'sites' | 'validate' | 'attach'>;
