/**
 * The one interface every adapter implements. An adapter attaches to a site of a frozen model —
 * a Linear (STAN, LoRA, SoRA) or an attention block's output (atoms) — declares its parameters
 * in the trainable pack, installs its forward/backward hooks on the layer, and offers
 * inference-time controls that change outputs immediately (a latent/atom mask, a k override).
 *
 * Adding an adapter = one file exporting an AdapterFactory + one line in registry.ts.
 */
import type { ParamRef } from '../engine/param-pack';
import type { CommandList } from '../engine/runtime';
import type { StepParams } from '../engine/step-params';
import type { Tensor } from '../engine/tensor';
import type { BuildContext } from '../nn/module';
import type { Site } from '../nn/site';

export type AdapterKind = 'stan' | 'atoms' | 'lora' | 'sora';

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
  readonly latentLabel: 'latent' | 'atom' | 'rank';
  trainableParameterCount(): number;
  /** 1 keeps, 0 switches a latent/atom off (its contribution becomes exactly 0); null = all on. */
  setMask(mask: Float32Array | null): void;
  /** Top-k override for k-sparse adapters (1 … configured k); throws ConfigError outside. */
  setK?(k: number): void;
  /** The sparse code of the last forward (k-sparse adapters). */
  readonly code?: SparseCode;
  /** Extra per-step work after the optimizer (SoRA's proximal gate step). */
  recordAfterOptimizer?(list: CommandList, stepParams: StepParams): void;
  /** Extra scalar metrics written during the step (e.g. an L1 penalty), each a [1] tensor. */
  readonly metrics?: { name: string; tensor: Tensor }[];
  destroy(): void;
}

export interface AdapterFactory<C> {
  readonly kind: AdapterKind;
  /** Which sites it can attach to. */
  readonly sites: readonly AdapterSite['kind'][];
  readonly defaults: C;
  /** Throws ConfigError (naming the field and the allowed range) for impossible settings. */
  validate(config: C, site: AdapterSite): void;
  /** Declares parameters, allocates buffers, installs the hooks on `site.layer`. */
  attach(ctx: BuildContext, site: AdapterSite, config: C): Adapter;
}
