/**
 * SoRA (Ding et al. 2023; the STAN paper's App. B, eq. 16–17): LoRA with a gate between the down
 * and up projections, z = (α/r)·W_u(g ⊙ (W_d x)), pruned to an adaptive rank by a proximal step.
 *   - W_d ∈ R^{r×n} Kaiming-uniform (bound 1/√n), W_u ∈ R^{m×r} zero, g ∈ R^r ones: the adapted
 *     layer equals the base at step 0. The α/r scale is LoRA's (SoRA's code builds on LoRA's).
 *   - Names: `${path}.sora_A.weight` (W_d) [r, n], `${path}.sora_B.weight` (W_u) [m, r],
 *     `${path}.sora_gate` [r] (no weight decay).
 *
 * The gate update — what we do, and how it differs from eq. 17. Eq. 17 is a proximal SGD step,
 * g ← T_{η·λ}(g − η·∇g). Here the gate is a parameter of the trainable pack like any other, so
 * the trainer's AdamW moves it first (g ← g − η·m̂/(√v̂ + ε)), and then `recordAfterOptimizer`
 * applies g ← T_{η·λ}(g) with η = lr·lr_scale of the step (StepParams) and λ from the config
 * (src/kernels/sora-prox.ts). That is the proximal operator of η·λ‖g‖₁ applied after an Adam step,
 * as in the SoRA authors' `sparse_optimizer_multiply_lr.py` (their default optimizer thresholds by
 * λ alone, not η·λ). Two consequences:
 *   - Adam's step is about η per coordinate whatever the gradient's size, while the threshold is
 *     η·λ: with λ ≳ 1 the shrinkage outruns any gradient and every gate reaches 0; useful λ are
 *     below 1, and a gate survives when Adam pushes it away from 0 by more than η·λ per step.
 *   - We apply T exactly (|g| ≤ ξ → 0, else shrink by ξ). The authors' in-place version
 *     (subtract, then zero |g| < ξ on the already-shrunk values) also zeroes ξ < |g| < 2ξ.
 * A NaN gate becomes 0. When AdamW skips a non-finite step the threshold still applies. A gate
 * frozen through BuildContext.freeze is left alone (no proximal step).
 *
 * Metric: `${path}.nonzero_gates`, the number of gates ≠ 0 after the proximal step, counted on
 * the GPU ([1] f32; rank until the first step). The rank mask (`setMask`) multiplies the gate in
 * the forward and leaves the gate values — and this count — alone.
 */
import { ConfigError } from '../engine/errors';
import type { CommandList } from '../engine/runtime';
import type { StepParams } from '../engine/step-params';
import type { Tensor } from '../engine/tensor';
import { recordSoraProx } from '../kernels/sora-prox';
import { isTrainable, type BuildContext } from '../nn/module';
import { num } from '../settings/fields';
import type { Adapter, AdapterModule, AdapterSite } from './adapter';
import { LOW_RANK_FIELDS, LowRankAdapter, lowRankBackwardCpu, lowRankForwardCpu, validateLowRank, type LowRankCpuArgs } from './low-rank';

export interface SoraConfig {
  rank: number;
  alpha: number;
  /** L1 strength on the gate: the threshold per step is lr·lr_scale·lambda. */
  lambda: number;
}

function validateSora(config: SoraConfig, site: AdapterSite): void {
  validateLowRank('sora', config, site);
  const { lambda } = config;
  if (typeof lambda !== 'number' || !Number.isFinite(lambda) || lambda < 0) {
    throw new ConfigError('lambda', `must be a finite number ≥ 0 (the gate threshold per step is lr·lambda), got ${String(lambda)}`);
  }
}

export class SoraAdapter extends LowRankAdapter {
  /** Gates ≠ 0 after the last proximal step, [1] f32. */
  readonly nonzeroGates: Tensor;
  readonly metrics: { name: string; tensor: Tensor }[];
  readonly lambda: number;

  constructor(ctx: BuildContext, site: Extract<AdapterSite, { kind: 'linear' }>, config: SoraConfig) {
    super(ctx, site, config, { kind: 'sora', prefix: 'sora', gate: true });
    this.lambda = config.lambda;
    this.nonzeroGates = ctx.rt.tensor([1], `${site.path}.sora.nonzero_gates`, [config.rank]);
    this.metrics = [{ name: `${site.path}.nonzero_gates`, tensor: this.nonzeroGates }];
  }

  /** g ← T_{lr·lr_scale·λ}(g), then counts the non-zero gates. One dispatch. */
  recordAfterOptimizer(list: CommandList, stepParams: StepParams): void {
    if (!isTrainable(this.gate!)) return; // a frozen gate (BuildContext.freeze) is never thresholded
    recordSoraProx(this.rt, list, { stepParams, gate: this.gate!.value, nonzero: this.nonzeroGates, rank: this.latentCount, lambda: this.lambda, label: `${this.path}.sora_prox` });
  }

  override destroy(): void {
    super.destroy();
    this.rt.release(this.nonzeroGates);
  }
}

export const soraAdapter: AdapterModule<SoraConfig> = {
  kind: 'sora',
  label: 'SoRA',
  title: 'SoRA (sparse-rank LoRA)',
  formula: 'h = W₀·x + (α/r)·B·(g ⊙ A·x)',
  explanation: ['LoRA with a gate vector g pushed to zero by a proximal L1 step (λ): ranks that are not needed switch off during training, so the effective rank shrinks on its own.'],
  sites: ['linear'],
  unit: 'rank',
  settings: {
    fields: { ...LOW_RANK_FIELDS, lambda: num('λ (gate L1)', 0, 100, { help: 'The gate is soft-thresholded by lr·λ after every step.' }) },
    defaults: { rank: 8, alpha: 8, lambda: 0.1 },
  },
  export: { peftType: 'SORA', mirrors: { r: 'rank', lora_alpha: 'alpha' }, tensors: ['sora_A.weight', 'sora_B.weight', 'sora_gate'] },
  runLabel: (c) => `r=${c.rank} λ=${c.lambda}`,
  validate: validateSora,
  attach(ctx: BuildContext, site: AdapterSite, config: SoraConfig): Adapter {
    validateSora(config, site);
    return new SoraAdapter(ctx, site as Extract<AdapterSite, { kind: 'linear' }>, config);
  },
};

/** Float64 SoRA delta (α/r)·((x·W_dᵀ) ⊙ g ⊙ mask)·W_uᵀ, [rows, m]. */
export function soraForwardCpu(a: Omit<LowRankCpuArgs, 'scale' | 'gate'> & { gate: ArrayLike<number>; alpha: number }): Float64Array {
  return lowRankForwardCpu({ ...a, scale: a.alpha / a.r }).delta;
}

/** Float64 gradients of Σ dy ⊙ Δy: dA (W_d), dB (W_u), dgate, dx (the delta's part). */
export function soraBackwardCpu(
  a: Omit<LowRankCpuArgs, 'scale' | 'gate'> & { gate: ArrayLike<number>; alpha: number; dy: ArrayLike<number> },
): { dA: Float64Array; dB: Float64Array; dgate: Float64Array; dx: Float64Array } {
  const g = lowRankBackwardCpu({ ...a, scale: a.alpha / a.r });
  return { dA: g.dA, dB: g.dB, dgate: g.dgate!, dx: g.dx };
}
