/**
 * The machinery LoRA and SoRA share: a rank-r bottleneck added to a frozen Linear's output,
 *   y += c · ((x·Aᵀ) ⊙ s) · Bᵀ,   c = α / r,
 * with A ∈ R^{r×n} (down), B ∈ R^{m×r} (up), and s ∈ R^r the per-rank scale: the rank mask for
 * LoRA, gate ⊙ mask for SoRA. A Linear of in-dimension n, out-dimension m, `rows` rows.
 *
 * GPU work (recorded once; buffers allocated at attach time, never per step):
 *   forward   h = x·Aᵀ (matmul) → u = h ⊙ s (low_rank.wgsl scale_cols) → y += c·u·Bᵀ (matmul, fused α/accumulate)
 *   backward  du = c·dy·B → dB = c·dyᵀ·u → [dg_j = mask_j·Σ_i du_ij·h_ij] → dh = du ⊙ s
 *             → dA = dhᵀ·x → dx += dh·A                                     (5 matmuls, 1–2 small kernels)
 * Masking rank j sets s_j = 0, so u[:, j] = 0 exactly and the output is the base's plus the
 * other ranks' contributions; all ranks masked gives back the base output bit for bit.
 *
 * Float64 CPU references for the forward, the backward and the soft-threshold are below.
 */
import { ConfigError } from '../engine/errors';
import type { ParamRef } from '../engine/param-pack';
import type { CommandList } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { recordMatmul } from '../kernels/matmul';
import { recordColDotGrad, recordScaleCols } from '../kernels/low-rank';
import { declareParam, isTrainable, type BuildContext } from '../nn/module';
import { int, num } from '../settings/fields';
import type { AdapterKind, AdapterSite } from './adapter';
import { LinearSiteAdapter, validateLinearSite, type LinearSite } from './linear-site';

/** Settings shared by the low-rank adapters (LoRA, SoRA). PEFT's LoraConfig defaults: r = 8, lora_alpha = 8. */
export const LOW_RANK_FIELDS = {
  rank: int('rank r', 1, 1024, { help: 'The update has rank r; validated against min(out, in) of each site.' }),
  alpha: num('α', 0, 1e4, { exclusiveMin: true, help: 'The update is scaled by α / r.' }),
};

/** Fields every low-rank config has. */
export interface LowRankConfig {
  rank: number;
  alpha: number;
}

/** Checks the site (a Linear without a fused activation and without an adapter) and rank/alpha. */
export function validateLowRank(kind: AdapterKind, config: LowRankConfig, site: AdapterSite): asserts site is LinearSite {
  validateLinearSite(kind, config, site);
  const { inDim: n, outDim: m } = site.layer.opts;
  const maxRank = Math.min(m, n);
  const { rank, alpha } = config;
  if (typeof rank !== 'number' || !Number.isInteger(rank) || rank < 1 || rank > maxRank) {
    throw new ConfigError('rank', `must be an integer in 1..${maxRank} (= min(out ${m}, in ${n}) of ${site.path}), got ${String(rank)}`);
  }
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha <= 0) {
    throw new ConfigError('alpha', `must be a finite number > 0 (the delta is scaled by alpha/rank), got ${String(alpha)}`);
  }
}

export interface LowRankSpec {
  kind: AdapterKind;
  /** Parameter-name infix: `${path}.${prefix}_A.weight`, `${path}.${prefix}_B.weight`. */
  prefix: string;
  /** SoRA: a trainable gate g ∈ R^r (init 1), named `${path}.${prefix}_gate`. */
  gate: boolean;
}

/** A rank-r adapter on a Linear; installs itself as the layer's adapter hook. */
export class LowRankAdapter extends LinearSiteAdapter {
  readonly kind: AdapterKind;
  /** The trainable ones among down, up, gate (a BuildContext.freeze predicate may freeze some, e.g. A as in LoRA-FA). */
  readonly params: ParamRef[];
  /** Down projection A [r, n] (PEFT's lora_A). */
  readonly down: ParamRef;
  /** Up projection B [m, r] (PEFT's lora_B), zero-initialised. */
  readonly up: ParamRef;
  /** SoRA's gate [r], or null. */
  readonly gate: ParamRef | null;
  /** c = α / r. */
  readonly scale: number;
  // Activations [rows, r]: h = x·Aᵀ, u = h ⊙ s, and their gradients.
  private readonly h: Tensor;
  private readonly u: Tensor;
  private readonly du: Tensor;
  private readonly dh: Tensor;

  constructor(ctx: BuildContext, site: LinearSite, config: LowRankConfig, spec: LowRankSpec) {
    const r = config.rank;
    super(ctx, site, r, spec.prefix);
    const { path, rows, inDim: n, outDim: m } = this;
    this.kind = spec.kind;
    this.scale = config.alpha / r;
    // Kaiming-uniform with a = √5, as PEFT initialises lora_A: bound = √(6 / ((1 + 5)·n)) = 1/√n.
    this.down = declareParam(ctx, `${path}.${spec.prefix}_A.weight`, [r, n], { uniform: 1 / Math.sqrt(n) }, { frozen: false });
    this.up = declareParam(ctx, `${path}.${spec.prefix}_B.weight`, [m, r], { constant: 0 }, { frozen: false });
    this.gate = spec.gate ? declareParam(ctx, `${path}.${spec.prefix}_gate`, [r], { constant: 1 }, { frozen: false, decay: false }) : null;
    this.params = [this.down, this.up, ...(this.gate ? [this.gate] : [])].filter(isTrainable);
    this.h = this.buffer([rows, r], 'h');
    this.u = this.buffer([rows, r], 'u');
    this.du = this.buffer([rows, r], 'du');
    this.dh = this.buffer([rows, r], 'dh');
    this.install();
  }

  /** h = x·Aᵀ of the last forward, [rows, r] (before the rank scale s): the rank directions' activations, for statistics. */
  get hidden(): Tensor {
    return this.h;
  }

  /** Column r of B times α/r (and the gate g_r for SoRA): what rank dimension r writes per unit of A·x. */
  async unitDirection(unit: number): Promise<Float32Array> {
    this.checkUnit(unit);
    const r = this.latentCount;
    const B = await this.rt.read(this.up.value);
    const g = this.gate ? (await this.rt.read(this.gate.value))[unit]! : 1;
    return Float32Array.from({ length: this.outDim }, (_, o) => B[o * r + unit]! * this.scale * g);
  }

  /** dst = src ⊙ s (s = mask, or gate ⊙ mask). */
  private recordScale(list: CommandList, src: Tensor, dst: Tensor, label: string): void {
    recordScaleCols(this.rt, list, { src, dst, mask: this.mask, ...(this.gate ? { scale: this.gate.value } : {}), rows: this.rows, cols: this.latentCount, label: `${this.path}.${label}` });
  }

  /** y += c·((x·Aᵀ) ⊙ s)·Bᵀ */
  recordForward(list: CommandList, x: Tensor, y: Tensor): void {
    const { rt, rows, inDim: n, outDim: m, latentCount: r, path } = this;
    recordMatmul(rt, list, { a: x, b: this.down.value, c: this.h, M: rows, N: r, K: n, transB: true, label: `${path}.${this.kind}.down` });
    this.recordScale(list, this.h, this.u, `${this.kind}.scale`);
    recordMatmul(rt, list, { a: this.u, b: this.up.value, c: y, M: rows, N: m, K: r, transB: true, alpha: this.scale, accumulate: true, label: `${path}.${this.kind}.up` });
  }

  recordBackward(list: CommandList, x: Tensor, dy: Tensor, dx: Tensor | null): void {
    const { rt, rows, inDim: n, outDim: m, latentCount: r, path, kind } = this;
    // du = c·dy·B   [rows, m]·[m, r]
    recordMatmul(rt, list, { a: dy, b: this.up.value, c: this.du, M: rows, N: r, K: m, alpha: this.scale, label: `${path}.${kind}.du` });
    // dB = c·dyᵀ·u  [m, rows]·[rows, r]
    if (isTrainable(this.up)) recordMatmul(rt, list, { a: dy, b: this.u, c: this.up.grad, M: m, N: r, K: rows, transA: true, alpha: this.scale, label: `${path}.${kind}.dB` });
    if (this.gate && isTrainable(this.gate)) {
      // dg_j = mask_j · Σ_i du_ij · h_ij
      recordColDotGrad(rt, list, { a: this.du, b: this.h, mask: this.mask, out: this.gate.grad, rows, cols: r, label: `${path}.${kind}.dgate` });
    }
    this.recordScale(list, this.du, this.dh, `${kind}.dh`);
    // dA = dhᵀ·x   [r, rows]·[rows, n]
    if (isTrainable(this.down)) recordMatmul(rt, list, { a: this.dh, b: x, c: this.down.grad, M: r, N: n, K: rows, transA: true, label: `${path}.${kind}.dA` });
    // dx += dh·A   [rows, r]·[r, n]
    if (dx) recordMatmul(rt, list, { a: this.dh, b: this.down.value, c: dx, M: rows, N: n, K: r, accumulate: true, label: `${path}.${kind}.dx` });
  }
}

// ---------- CPU references (float64) ----------

export interface LowRankCpuArgs {
  /** [rows, n] */
  x: ArrayLike<number>;
  /** [r, n] */
  A: ArrayLike<number>;
  /** [m, r] */
  B: ArrayLike<number>;
  /** [r]; omitted = all ones (LoRA) */
  gate?: ArrayLike<number>;
  /** [r]; omitted = all ones */
  mask?: ArrayLike<number>;
  rows: number;
  n: number;
  m: number;
  r: number;
  /** c = α / r */
  scale: number;
}

function perRankScale(a: LowRankCpuArgs): Float64Array {
  const s = new Float64Array(a.r);
  for (let j = 0; j < a.r; j++) s[j] = (a.mask ? a.mask[j]! : 1) * (a.gate ? a.gate[j]! : 1);
  return s;
}

/** The delta alone: Δy = c·((x·Aᵀ) ⊙ s)·Bᵀ, [rows, m]; also h and u. */
export function lowRankForwardCpu(a: LowRankCpuArgs): { delta: Float64Array; h: Float64Array; u: Float64Array } {
  const { rows, n, m, r } = a;
  const s = perRankScale(a);
  const h = new Float64Array(rows * r);
  const u = new Float64Array(rows * r);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < r; j++) {
      let acc = 0;
      for (let k = 0; k < n; k++) acc += a.x[i * n + k]! * a.A[j * n + k]!;
      h[i * r + j] = acc;
      u[i * r + j] = acc * s[j]!;
    }
  }
  const delta = new Float64Array(rows * m);
  for (let i = 0; i < rows; i++) {
    for (let o = 0; o < m; o++) {
      let acc = 0;
      for (let j = 0; j < r; j++) acc += u[i * r + j]! * a.B[o * r + j]!;
      delta[i * m + o] = a.scale * acc;
    }
  }
  return { delta, h, u };
}

/** Gradients of Σ dy ⊙ Δy: dA [r, n], dB [m, r], dgate [r] (when a gate is given), dx [rows, n] (the delta's part only). */
export function lowRankBackwardCpu(a: LowRankCpuArgs & { dy: ArrayLike<number> }): { dA: Float64Array; dB: Float64Array; dgate: Float64Array | null; dx: Float64Array } {
  const { rows, n, m, r, scale } = a;
  const s = perRankScale(a);
  const { h, u } = lowRankForwardCpu(a);
  const du = new Float64Array(rows * r);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < r; j++) {
      let acc = 0;
      for (let o = 0; o < m; o++) acc += a.dy[i * m + o]! * a.B[o * r + j]!;
      du[i * r + j] = scale * acc;
    }
  }
  const dB = new Float64Array(m * r);
  for (let o = 0; o < m; o++) {
    for (let j = 0; j < r; j++) {
      let acc = 0;
      for (let i = 0; i < rows; i++) acc += a.dy[i * m + o]! * u[i * r + j]!;
      dB[o * r + j] = scale * acc;
    }
  }
  let dgate: Float64Array | null = null;
  if (a.gate) {
    dgate = new Float64Array(r);
    for (let j = 0; j < r; j++) {
      let acc = 0;
      for (let i = 0; i < rows; i++) acc += du[i * r + j]! * h[i * r + j]!;
      dgate[j] = (a.mask ? a.mask[j]! : 1) * acc;
    }
  }
  const dA = new Float64Array(r * n);
  const dx = new Float64Array(rows * n);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < r; j++) {
      const dh = du[i * r + j]! * s[j]!;
      for (let k = 0; k < n; k++) {
        dA[j * n + k]! += dh * a.x[i * n + k]!;
        dx[i * n + k]! += dh * a.A[j * n + k]!;
      }
    }
  }
  return { dA, dB, dgate, dx };
}

