/**
 * LayerNorm over the last dimension of a [rows, dim] matrix (biased variance, as PyTorch),
 * forward and backward on the GPU, beside float64 CPU references.
 *
 * Any dim ≥ 1 works; dim = 1 gives y = beta and dx = 0 (the row is its own mean).
 */
import type { CommandList, GpuRuntime } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { defineParams, opt } from '../engine/uniform-params';
import { grid1d } from './grid';
import { shader } from './shader-sources';

/**
 * 'row': one thread per row, no barriers (best on SwiftShader, where barriers are coroutine
 * yields). 'workgroup': one 64-thread workgroup per row with a shared-memory sum (coalesced loads
 * on real GPUs). Both compute the same thing; tests run both.
 */
export type LayerNormLayout = 'row' | 'workgroup';

/** Rows per partial sum of dgamma/dbeta; more rows than this use the two-stage reduction. */
export const LAYERNORM_PARAM_CHUNK_ROWS = 32;

export interface LayerNormForwardArgs {
  x: Tensor;
  gamma: Tensor;
  beta: Tensor;
  y: Tensor;
  /** [rows]: saved for backward. */
  mean: Tensor;
  /** [rows]: 1/sqrt(var + eps), saved for backward. */
  rstd: Tensor;
  rows: number;
  dim: number;
  /** default 1e-5 */
  eps?: number;
  /** default: 'row' on SwiftShader or when dim < 64, else 'workgroup' */
  layout?: LayerNormLayout;
}

export interface LayerNormBackwardArgs {
  x: Tensor;
  gamma: Tensor;
  mean: Tensor;
  rstd: Tensor;
  dy: Tensor;
  /** Must not alias dy. */
  dx: Tensor;
  /** Omit both for a frozen norm: then only dx is computed. */
  dgamma?: Tensor;
  dbeta?: Tensor;
  rows: number;
  dim: number;
  /** dx += … instead of dx = … */
  accumulateDx?: boolean;
  /** dgamma += …, dbeta += … instead of = … */
  accumulateParams?: boolean;
  layout?: LayerNormLayout;
  /**
   * Scratch for the two-stage dgamma/dbeta sum, ≥ 2·ceil(rows/32)·dim elements; acquired from
   * the pool when omitted (and returned by recordLayerNormBackward so the owner can release it).
   */
  partials?: Tensor;
}

const PARAMS = defineParams(
  { shaders: ['layernorm'], struct: 'Params' },
  { rows: 'u32', dim: 'u32', row_stride: 'u32', accumulate: 'u32', eps: opt('f32'), chunk_rows: opt('u32'), chunks: opt('u32'), flags: opt('u32') },
);

function checkSize(what: string, t: Tensor, n: number): void {
  if (t.size !== n) throw new Error(`layernorm: ${what} (${t.name}) has ${t.size} elements, expected ${n}`);
}

function checkDims(rows: number, dim: number): void {
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(dim) || dim < 1) throw new Error(`layernorm: rows=${rows}, dim=${dim} must be positive integers`);
}

function pickLayout(rt: GpuRuntime, dim: number, layout?: LayerNormLayout): LayerNormLayout {
  if (layout) return layout;
  // A 64-thread workgroup on a short row leaves most lanes idle; SwiftShader pays per barrier.
  return rt.isSwiftShader || dim < 64 ? 'row' : 'workgroup';
}

/** Dispatch shape for a row kernel: 64 rows per workgroup ('row') or one row per workgroup. */
function rowGrid(rows: number, layout: LayerNormLayout): { x: number; y: number } {
  return layout === 'row' ? grid1d(rows, 64) : grid1d(rows, 1);
}

export function recordLayerNormForward(rt: GpuRuntime, list: CommandList, a: LayerNormForwardArgs): void {
  const { rows, dim } = a;
  checkDims(rows, dim);
  checkSize('x', a.x, rows * dim);
  checkSize('y', a.y, rows * dim);
  checkSize('gamma', a.gamma, dim);
  checkSize('beta', a.beta, dim);
  checkSize('mean', a.mean, rows);
  checkSize('rstd', a.rstd, rows);
  const layout = pickLayout(rt, dim, a.layout);
  const g = rowGrid(rows, layout);
  const u = rt.uniform(PARAMS.pack({ rows, dim, row_stride: g.x, accumulate: false, eps: a.eps ?? 1e-5 }), 'layernorm_fwd.params');
  const entry = layout === 'row' ? 'forward_row' : 'forward_wg';
  list.push(rt.dispatch(`layernorm_fwd(${a.x.name})`, rt.pipeline(shader('layernorm'), entry), [u, a.x, a.gamma, a.beta, a.y, a.mean, a.rstd], [g.x, g.y]));
}

/**
 * dx (always) and, when given, dgamma/dbeta. Returns the scratch tensors it acquired from the
 * pool (empty when none were needed or `partials` was passed); release them with the list.
 */
export function recordLayerNormBackward(rt: GpuRuntime, list: CommandList, a: LayerNormBackwardArgs): Tensor[] {
  const { rows, dim } = a;
  checkDims(rows, dim);
  for (const [n, t] of [['x', a.x], ['dy', a.dy], ['dx', a.dx]] as const) checkSize(n, t, rows * dim);
  checkSize('gamma', a.gamma, dim);
  checkSize('mean', a.mean, rows);
  checkSize('rstd', a.rstd, rows);
  if (a.dgamma) checkSize('dgamma', a.dgamma, dim);
  if (a.dbeta) checkSize('dbeta', a.dbeta, dim);
  if (a.dx.buffer === a.dy.buffer && a.dx.offset === a.dy.offset) throw new Error('layernorm backward: dx must not alias dy');

  const sh = shader('layernorm');
  const layout = pickLayout(rt, dim, a.layout);
  const g = rowGrid(rows, layout);
  const u = rt.uniform(PARAMS.pack({ rows, dim, row_stride: g.x, accumulate: !!a.accumulateDx }), 'layernorm_bwd.params');
  const entry = layout === 'row' ? 'backward_dx_row' : 'backward_dx_wg';
  list.push(rt.dispatch(`layernorm_bwd_dx(${a.x.name})`, rt.pipeline(sh, entry), [u, a.x, a.mean, a.rstd, a.dy, a.gamma, a.dx], [g.x, g.y]));

  const scratch: Tensor[] = [];
  if (!a.dgamma && !a.dbeta) return scratch;
  const flags = (a.dgamma ? 1 : 0) | (a.dbeta ? 2 : 0);
  // The kernels bind both outputs; a missing one is replaced by a 1-element sink never written.
  let sink: Tensor | null = null;
  const sinkFor = (t: Tensor | undefined): Tensor => {
    if (t) return t;
    if (!sink) scratch.push((sink = rt.tensor([1], 'layernorm.sink')));
    return sink;
  };
  const dgamma = sinkFor(a.dgamma);
  const dbeta = sinkFor(a.dbeta);
  const accumulate = !!a.accumulateParams;
  const cg = grid1d(dim, 64);

  if (rows <= LAYERNORM_PARAM_CHUNK_ROWS) {
    const up = rt.uniform(PARAMS.pack({ rows, dim, row_stride: cg.x, accumulate, flags }), 'layernorm_params.params');
    list.push(rt.dispatch(`layernorm_bwd_params(${a.x.name})`, rt.pipeline(sh, 'param_grads'), [up, a.x, a.mean, a.rstd, a.dy, dgamma, dbeta], [cg.x, cg.y]));
    return scratch;
  }
  // Two stages: every (chunk, column) sums ≤ 32 rows, then every column sums its chunks in order.
  const chunkRows = LAYERNORM_PARAM_CHUNK_ROWS;
  const chunks = Math.ceil(rows / chunkRows);
  let partials = a.partials;
  if (partials) {
    if (partials.size < 2 * chunks * dim) throw new Error(`layernorm backward: partials has ${partials.size} elements, needs ${2 * chunks * dim}`);
  } else {
    partials = rt.tensor([2 * chunks * dim], 'layernorm.partials');
    scratch.push(partials);
  }
  const pg = grid1d(chunks * dim, 64);
  const u1 = rt.uniform(PARAMS.pack({ rows, dim, row_stride: pg.x, accumulate: false, chunk_rows: chunkRows, chunks }), 'layernorm_partial.params');
  list.push(rt.dispatch(`layernorm_bwd_partial(${a.x.name})`, rt.pipeline(sh, 'param_partial'), [u1, a.x, a.mean, a.rstd, a.dy, partials], [pg.x, pg.y]));
  const u2 = rt.uniform(PARAMS.pack({ rows, dim, row_stride: cg.x, accumulate, chunk_rows: chunkRows, chunks, flags }), 'layernorm_reduce.params');
  list.push(rt.dispatch(`layernorm_bwd_reduce(${a.x.name})`, rt.pipeline(sh, 'param_reduce'), [u2, partials, dgamma, dbeta], [cg.x, cg.y]));
  return scratch;
}

// ---------- CPU references (float64) ----------

export function layerNormForwardCpu(a: { x: ArrayLike<number>; gamma: ArrayLike<number>; beta: ArrayLike<number>; rows: number; dim: number; eps?: number }): {
  y: Float64Array;
  mean: Float64Array;
  rstd: Float64Array;
} {
  const { rows, dim, x } = a;
  const eps = a.eps ?? 1e-5;
  const y = new Float64Array(rows * dim);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let s = 0;
    for (let c = 0; c < dim; c++) s += x[o + c]!;
    const mu = s / dim;
    let v = 0;
    for (let c = 0; c < dim; c++) v += (x[o + c]! - mu) ** 2;
    const rs = 1 / Math.sqrt(v / dim + eps);
    for (let c = 0; c < dim; c++) y[o + c] = (x[o + c]! - mu) * rs * a.gamma[c]! + a.beta[c]!;
    mean[r] = mu;
    rstd[r] = rs;
  }
  return { y, mean, rstd };
}

/** Gradients of Σ dy·y for y = layerNorm(x); mean/rstd are recomputed from x in float64. */
export function layerNormBackwardCpu(a: { x: ArrayLike<number>; gamma: ArrayLike<number>; dy: ArrayLike<number>; rows: number; dim: number; eps?: number }): {
  dx: Float64Array;
  dgamma: Float64Array;
  dbeta: Float64Array;
} {
  const { rows, dim, x, dy, gamma } = a;
  const { mean, rstd } = layerNormForwardCpu({ x, gamma, beta: new Float64Array(dim), rows, dim, eps: a.eps });
  const dx = new Float64Array(rows * dim);
  const dgamma = new Float64Array(dim);
  const dbeta = new Float64Array(dim);
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    const mu = mean[r]!;
    const rs = rstd[r]!;
    let sg = 0;
    let sgx = 0;
    for (let c = 0; c < dim; c++) {
      const xh = (x[o + c]! - mu) * rs;
      const g = dy[o + c]! * gamma[c]!;
      sg += g;
      sgx += g * xh;
      dgamma[c] += dy[o + c]! * xh;
      dbeta[c] += dy[o + c]!;
    }
    for (let c = 0; c < dim; c++) {
      const xh = (x[o + c]! - mu) * rs;
      dx[o + c] = rs * (dy[o + c]! * gamma[c]! - sg / dim - (xh * sgx) / dim);
    }
  }
  return { dx, dgamma, dbeta };
}
