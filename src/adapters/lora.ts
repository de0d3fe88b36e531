/**
 * LoRA (Hu et al. 2022; the STAN paper's eq. 1–2): ΔW = (α/r)·B·A on a frozen Linear,
 *   y = x·W₀ᵀ + b + (α/r)·(x·Aᵀ)·Bᵀ,
 * A ∈ R^{r×n} Kaiming-uniform (PEFT's init: bound 1/√n), B ∈ R^{m×r} zero, so the adapted layer
 * equals the base at step 0. Parameter names follow PEFT: `${path}.lora_A.weight` [r, n],
 * `${path}.lora_B.weight` [m, r]. `setMask` switches rank dimensions off (latentLabel 'rank').
 * The GPU work and the float64 references live in low-rank.ts (shared with SoRA).
 */
import type { BuildContext } from '../nn/module';
import type { Adapter, AdapterModule, AdapterSite } from './adapter';
import { LOW_RANK_FIELDS, LowRankAdapter, lowRankBackwardCpu, lowRankForwardCpu, validateLowRank, type LowRankCpuArgs } from './low-rank';

export interface LoraConfig {
  rank: number;
  alpha: number;
}

export const loraAdapter: AdapterModule<LoraConfig> = {
  kind: 'lora',
  label: 'LoRA',
  title: 'LoRA (low-rank adapter)',
  formula: 'h = W₀·x + (α/r)·B·A·x',
  explanation: ['A dense low-rank update: every one of the r directions is used on every token. The standard baseline — compare its loss curve with the sparse adapters at a similar parameter count.'],
  sites: ['linear'],
  unit: 'rank',
  // validate caps the rank at min(m, n).
  settings: { fields: LOW_RANK_FIELDS, defaults: { rank: 8, alpha: 8 } },
  export: { peftType: 'LORA', mirrors: { r: 'rank', lora_alpha: 'alpha' }, tensors: ['lora_A.weight', 'lora_B.weight'] },
  runLabel: (c) => `r=${c.rank} α=${c.alpha}`,
  validate(config: LoraConfig, site: AdapterSite): void {
    validateLowRank('lora', config, site);
  },
  attach(ctx: BuildContext, site: AdapterSite, config: LoraConfig): Adapter {
    validateLowRank('lora', config, site);
    return new LowRankAdapter(ctx, site, config, { kind: 'lora', prefix: 'lora', gate: false });
  },
};

/** Float64 LoRA delta (α/r)·((x·Aᵀ) ⊙ mask)·Bᵀ, [rows, m]. */
export function loraForwardCpu(a: Omit<LowRankCpuArgs, 'gate' | 'scale'> & { alpha: number }): Float64Array {
  return lowRankForwardCpu({ ...a, scale: a.alpha / a.r }).delta;
}

/** Float64 gradients of Σ dy ⊙ Δy: dA [r, n], dB [m, r], dx [rows, n] (the delta's part). */
export function loraBackwardCpu(a: Omit<LowRankCpuArgs, 'gate' | 'scale'> & { alpha: number; dy: ArrayLike<number> }): { dA: Float64Array; dB: Float64Array; dx: Float64Array } {
  const { dA, dB, dx } = lowRankBackwardCpu({ ...a, scale: a.alpha / a.r });
  return { dA, dB, dx };
}
