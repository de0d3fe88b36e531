/**
 * VeRA (Kopiczko et al. 2024, "VeRA: Vector-based Random Matrix Adaptation"; a baseline in the
 * STAN paper's Table 2) on a frozen Linear:
 *     h = W₀·x + b + Λ_b·B·Λ_d·A·x = W₀·x + b + λ_b ⊙ (B·(λ_d ⊙ (A·x)))
 * A ∈ R^{r×n} and B ∈ R^{m×r} are frozen random matrices shared by every adapted site; only the
 * scaling vectors λ_d ∈ R^r (init d₀ = 0.1) and λ_b ∈ R^m (init 0, so the adapted layer equals
 * the base at step 0) train: r + m parameters per site.
 *
 * Sharing. As in PEFT, one random matrix per role, sliced per site: entry A[i, c] and B[o, j] are
 * pure functions of (projection seed, row, column), so the A of an n-wide site is the first n
 * columns of the A of a wider one. Sites with the same shape share one frozen tensor (declared
 * once, named after the first such site: `${path}.vera_A` [r, n], `${path}.vera_B` [m, r]); each
 * site has its own `${path}.vera_lambda_d` [r] and `${path}.vera_lambda_b` [m] (PEFT's names).
 * Initialisation: Kaiming-uniform with a = √5 as PEFT — A ~ U(±1/√n), B ~ U(±1/√r).
 *
 * GPU work (src/kernels/low-rank.ts column kernels + matmuls), 5 dispatches forward:
 *   g = x·Aᵀ [rows, r];  u = g ⊙ λ_d ⊙ mask;  v = u·Bᵀ [rows, m];  w = v ⊙ λ_b;  y += w
 * backward (≤ 6): dv = dy ⊙ λ_b;  dλ_b = Σ_rows dy ⊙ v;  du = dv·B;  dλ_d = mask ⊙ Σ_rows du ⊙ g;
 *   dg = du ⊙ λ_d ⊙ mask;  dx += dg·A.
 * The mask switches rank dimensions off (unit label 'rank'); unitDirection(j) is what dimension j
 * writes per unit of (A·x)_j: λ_b ⊙ B[:, j]·λ_d[j].
 */
import { ConfigError } from '../engine/errors';
import { mixSeed, Rng } from '../engine/rng';
import type { ParamRef } from '../engine/param-pack';
import type { CommandList } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { recordAxpby } from '../kernels/elementwise';
import { recordColDotGrad, recordScaleCols } from '../kernels/low-rank';
import { recordMatmul } from '../kernels/matmul';
import { declareParam, isTrainable, type BuildContext } from '../nn/module';
import { int, num } from '../settings/fields';
import type { Adapter, AdapterModule, AdapterSite, SharedState } from './adapter';
import { LinearSiteAdapter, validateLinearSite, type LinearSite } from './linear-site';

export interface VeraConfig {
  /** r: rows of the shared A (columns of B). May exceed the layer's widths (A and B are random, not learned). */
  rank: number;
  /** Initial value of every λ_d entry (PEFT's d_initial). */
  dInit: number;
  /** Seed of the shared random projections (PEFT's projection_prng_key). */
  projectionSeed: number;
}

export const VERA_MAX_RANK = 4096;

const TAG_A = 0x76a1;
const TAG_B = 0x76b2;

/** Row `row` of a role's master random matrix, first `width` entries, uniform in (−bound, bound). */
function randomRow(seed: number, tag: number, row: number, width: number, bound: number, out: Float32Array, at: number): void {
  const rng = new Rng(mixSeed(seed, row, tag));
  for (let c = 0; c < width; c++) out[at + c] = rng.uniform(-bound, bound);
}

/** The shared A [r, n]: row i = the first n values of stream (seed, i, A), Kaiming-uniform bound 1/√n. */
export function veraA(seed: number, r: number, n: number): Float32Array {
  const out = new Float32Array(r * n);
  for (let i = 0; i < r; i++) randomRow(seed, TAG_A, i, n, 1 / Math.sqrt(n), out, i * n);
  return out;
}

/** The shared B [m, r]: row o = the first r values of stream (seed, o, B), bound 1/√r. */
export function veraB(seed: number, m: number, r: number): Float32Array {
  const out = new Float32Array(m * r);
  for (let o = 0; o < m; o++) randomRow(seed, TAG_B, o, r, 1 / Math.sqrt(r), out, o * r);
  return out;
}

function validate(config: VeraConfig, site: AdapterSite): asserts site is LinearSite {
  validateLinearSite('vera', config, site);
  const { rank, dInit, projectionSeed } = config;
  if (typeof rank !== 'number' || !Number.isInteger(rank) || rank < 1 || rank > VERA_MAX_RANK) throw new ConfigError('rank', `must be an integer in 1..${VERA_MAX_RANK}, got ${String(rank)}`);
  if (typeof dInit !== 'number' || !Number.isFinite(dInit)) throw new ConfigError('dInit', `must be a finite number, got ${String(dInit)}`);
  if (typeof projectionSeed !== 'number' || !Number.isInteger(projectionSeed) || projectionSeed < 0 || projectionSeed > 2 ** 32 - 1) throw new ConfigError('projectionSeed', `must be an integer in 0..${2 ** 32 - 1}, got ${String(projectionSeed)}`);
}

/** The shared frozen projections of one attach, by shape. */
function sharedProjection(ctx: BuildContext, shared: SharedState, key: string, name: string, shape: [number, number], make: () => Float32Array): ParamRef {
  const k = `vera:${key}:${shape.join('x')}`;
  let p = shared.get(k) as ParamRef | undefined;
  if (!p) {
    p = declareParam(ctx, name, shape, make(), { frozen: true });
    shared.set(k, p);
  }
  return p;
}

export class VeraAdapter extends LinearSiteAdapter {
  readonly kind = 'vera' as const;
  readonly params: ParamRef[];
  /** The shared frozen projections this site uses. */
  readonly A: ParamRef;
  readonly B: ParamRef;
  /** λ_d [r] and λ_b [m]. */
  readonly lambdaD: ParamRef;
  readonly lambdaB: ParamRef;
  private readonly onesM: Tensor;
  private readonly g: Tensor;
  private readonly u: Tensor;
  private readonly v: Tensor;
  private readonly w: Tensor;
  private readonly dv: Tensor;
  private readonly du: Tensor;
  private readonly dg: Tensor;

  constructor(ctx: BuildContext, site: LinearSite, config: VeraConfig, shared: SharedState) {
    const r = config.rank;
    super(ctx, site, r, 'vera');
    const { path, rows, inDim: n, outDim: m } = this;
    const seed = config.projectionSeed;
    this.A = sharedProjection(ctx, shared, `A:${seed}`, `${path}.vera_A`, [r, n], () => veraA(seed, r, n));
    this.B = sharedProjection(ctx, shared, `B:${seed}`, `${path}.vera_B`, [m, r], () => veraB(seed, m, r));
    this.lambdaD = declareParam(ctx, `${path}.vera_lambda_d`, [r], { constant: config.dInit }, { frozen: false, decay: false });
    this.lambdaB = declareParam(ctx, `${path}.vera_lambda_b`, [m], { constant: 0 }, { frozen: false, decay: false });
    this.params = [this.lambdaD, this.lambdaB].filter(isTrainable);
    this.onesM = this.buffer([m], 'ones', new Float32Array(m).fill(1));
    this.g = this.buffer([rows, r], 'g');
    this.u = this.buffer([rows, r], 'u');
    this.v = this.buffer([rows, m], 'v');
    this.w = this.buffer([rows, m], 'w');
    this.dv = this.buffer([rows, m], 'dv');
    this.du = this.buffer([rows, r], 'du');
    this.dg = this.buffer([rows, r], 'dg');
    this.install();
  }

  async unitDirection(unit: number): Promise<Float32Array> {
    this.checkUnit(unit);
    const r = this.latentCount;
    const [B, lb, ld] = await Promise.all([this.rt.read(this.B.value), this.rt.read(this.lambdaB.value), this.rt.read(this.lambdaD.value)]);
    return Float32Array.from({ length: this.outDim }, (_, o) => lb[o]! * B[o * r + unit]! * ld[unit]!);
  }

  recordForward(list: CommandList, x: Tensor, y: Tensor): void {
    const { rt, rows, inDim: n, outDim: m, latentCount: r, path } = this;
    recordMatmul(rt, list, { a: x, b: this.A.value, c: this.g, M: rows, N: r, K: n, transB: true, label: `${path}.vera.A` });
    recordScaleCols(rt, list, { src: this.g, dst: this.u, mask: this.mask, scale: this.lambdaD.value, rows, cols: r, label: `${path}.vera.d` });
    recordMatmul(rt, list, { a: this.u, b: this.B.value, c: this.v, M: rows, N: m, K: r, transB: true, label: `${path}.vera.B` });
    recordScaleCols(rt, list, { src: this.v, dst: this.w, mask: this.onesM, scale: this.lambdaB.value, rows, cols: m, label: `${path}.vera.b` });
    recordAxpby(rt, list, this.w, y, 1, 1);
  }

  recordBackward(list: CommandList, x: Tensor, dy: Tensor, dx: Tensor | null): void {
    const { rt, rows, inDim: n, outDim: m, latentCount: r, path } = this;
    recordScaleCols(rt, list, { src: dy, dst: this.dv, mask: this.onesM, scale: this.lambdaB.value, rows, cols: m, label: `${path}.vera.dv` });
    if (isTrainable(this.lambdaB)) recordColDotGrad(rt, list, { a: dy, b: this.v, mask: this.onesM, out: this.lambdaB.grad, rows, cols: m, label: `${path}.vera.dlambda_b` });
    recordMatmul(rt, list, { a: this.dv, b: this.B.value, c: this.du, M: rows, N: r, K: m, label: `${path}.vera.du` });
    if (isTrainable(this.lambdaD)) recordColDotGrad(rt, list, { a: this.du, b: this.g, mask: this.mask, out: this.lambdaD.grad, rows, cols: r, label: `${path}.vera.dlambda_d` });
    if (dx) {
      recordScaleCols(rt, list, { src: this.du, dst: this.dg, mask: this.mask, scale: this.lambdaD.value, rows, cols: r, label: `${path}.vera.dg` });
      recordMatmul(rt, list, { a: this.dg, b: this.A.value, c: dx, M: rows, N: n, K: r, accumulate: true, label: `${path}.vera.dx` });
    }
  }
}

export const veraAdapter: AdapterModule<VeraConfig> = {
  kind: 'vera',
  label: 'VeRA',
  title: 'VeRA (vector-based random matrix adaptation)',
  formula: 'h = W₀·x + Λ_b·B·Λ_d·A·x',
  explanation: [
    'Frozen random matrices A and B, shared by every adapted layer; only two scaling vectors per layer train (λ_d of length r, λ_b of the output width): far fewer parameters than LoRA at the same rank.',
    "A baseline in the STAN paper's Table 2: compare its loss with LoRA and STAN at similar trainable-parameter counts.",
  ],
  sites: ['linear'],
  unit: 'rank',
  settings: {
    fields: {
      rank: int('rank r', 1, VERA_MAX_RANK, { help: 'Rows of the shared random A; may exceed the layer widths.' }),
      dInit: num('λ_d initial value', -10, 10, { help: 'Every entry of λ_d starts here (λ_b starts at 0, so step 0 equals the base).' }),
      projectionSeed: int('projection seed', 0, 2 ** 32 - 1, { advanced: true, help: 'Seed of the shared random A and B.' }),
    },
    defaults: { rank: 256, dInit: 0.1, projectionSeed: 0 },
  },
  export: { peftType: 'VERA', mirrors: { r: 'rank', d_initial: 'dInit', projection_prng_key: 'projectionSeed' }, tensors: ['vera_A', 'vera_B', 'vera_lambda_d', 'vera_lambda_b'] },
  runLabel: (c) => `r=${c.rank} d₀=${c.dInit}`,
  validate,
  attach(ctx: BuildContext, site: AdapterSite, config: VeraConfig, shared: SharedState = new Map()): Adapter {
    validate(config, site);
    return new VeraAdapter(ctx, site, config, shared);
  },
};

// ---------- float64 references ----------

export interface VeraCpuArgs {
  x: ArrayLike<number>;
  A: ArrayLike<number>;
  B: ArrayLike<number>;
  lambdaD: ArrayLike<number>;
  lambdaB: ArrayLike<number>;
  rows: number;
  n: number;
  m: number;
  r: number;
  mask?: ArrayLike<number>;
}

/** Float64 VeRA delta λ_b ⊙ (B·(λ_d ⊙ mask ⊙ (A·x))) per row, [rows, m]. */
export function veraForwardCpu(a: VeraCpuArgs): Float64Array {
  const { rows, n, m, r } = a;
  const out = new Float64Array(rows * m);
  for (let i = 0; i < rows; i++) {
    const u = new Float64Array(r);
    for (let j = 0; j < r; j++) {
      let s = 0;
      for (let c = 0; c < n; c++) s += a.A[j * n + c]! * a.x[i * n + c]!;
      u[j] = s * a.lambdaD[j]! * (a.mask ? a.mask[j]! : 1);
    }
    for (let o = 0; o < m; o++) {
      let s = 0;
      for (let j = 0; j < r; j++) s += a.B[o * r + j]! * u[j]!;
      out[i * m + o] = a.lambdaB[o]! * s;
    }
  }
  return out;
}

/** Float64 gradients of Σ dy ⊙ Δy: dλ_d [r], dλ_b [m], dx [rows, n] (the delta's part). */
export function veraBackwardCpu(a: VeraCpuArgs & { dy: ArrayLike<number> }): { dLambdaD: Float64Array; dLambdaB: Float64Array; dx: Float64Array } {
  const { rows, n, m, r } = a;
  const dLambdaD = new Float64Array(r);
  const dLambdaB = new Float64Array(m);
  const dx = new Float64Array(rows * n);
  for (let i = 0; i < rows; i++) {
    const g = new Float64Array(r);
    for (let j = 0; j < r; j++) for (let c = 0; c < n; c++) g[j] += a.A[j * n + c]! * a.x[i * n + c]!;
    const s = Array.from({ length: r }, (_, j) => a.lambdaD[j]! * (a.mask ? a.mask[j]! : 1));
    const du = new Float64Array(r);
    for (let o = 0; o < m; o++) {
      let v = 0;
      for (let j = 0; j < r; j++) v += a.B[o * r + j]! * g[j]! * s[j]!;
      const dyo = a.dy[i * m + o]!;
      dLambdaB[o] += dyo * v;
      for (let j = 0; j < r; j++) du[j] += dyo * a.lambdaB[o]! * a.B[o * r + j]!;
    }
    for (let j = 0; j < r; j++) {
      dLambdaD[j] += du[j]! * g[j]! * (a.mask ? a.mask[j]! : 1);
      const dg = du[j]! * s[j]!;
      for (let c = 0; c < n; c++) dx[i * n + c] += dg * a.A[j * n + c]!;
    }
  }
  return { dLambdaD, dLambdaB, dx };
}
