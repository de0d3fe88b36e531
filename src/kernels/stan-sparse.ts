/**
 * STAN's sparse decode and backward (shaders/stan_sparse.wgsl), with float64 references.
 *
 * A sparse code is what recordTopK writes: idx (u32) and val (f32), both [rows, k], with slots
 * ≥ k' and masked latents already at value 0. With s = 1/k' (k' = min(kOverride, k)):
 *   decode:    y[r, :] += s · Σ_j val[r,j] · D[:, idx[r,j]]           — reads k columns of D per row
 *   backward:  dz[r,j] = s · ⟨dy[r,:], D[:, idx[r,j]]⟩ for live slots (j < k', latent not masked), else 0
 *              dx[r,:] += Σ_j dz[r,j] · E[idx[r,j], :]
 *              dE[i,:]  = Σ_{(r,j): idx=i} dz[r,j] · x[r,:]
 *              dD[:,i]  = s · Σ_{(r,j): idx=i} val[r,j] · dy[r,:]
 * dE and dD are gathered per latent without float atomics: live (row, slot) pairs are counting-
 * sorted by latent (per-row-block counts, a column scan over blocks, a scan over latents, a
 * stable scatter), so every latent's pairs are summed in increasing pair order — deterministic.
 * Cost is ∝ rows·k·(n + m) plus O(blocks·l) for the counts; nothing is ∝ rows·l·(n + m).
 * dE and dD are overwritten (every latent, including unselected ones, which get 0).
 *
 * Dispatches: decode 1; backward 7 (+1 for dx): dz, [dx], count, colscan, scan, scatter, dE, dD.
 * Widths divisible by 4 use vec4 kernels with 32 columns per invocation (~3× faster on
 * SwiftShader); decode and dz then read D through Dt = Dᵀ [l, m] (recordTranspose, once per
 * forward), so a selected latent's decoder column is one contiguous row. Other widths use scalar
 * kernels reading D directly.
 */
import type { CommandList, GpuRuntime } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { defineParams, opt } from '../engine/uniform-params';
import { grid1d } from './grid';
import { shader } from './shader-sources';
import { createTopKOverride, type TopKMode } from './topk';

const WG = 64;

const PARAMS = defineParams(
  { shaders: ['stan_sparse'], struct: 'Params' },
  { rows: 'u32', l: 'u32', k: 'u32', n: opt('u32'), m: opt('u32'), flags: 'u32', block_rows: opt('u32'), blocks: opt('u32'), row_stride: 'u32', _p0: 'u32', _p1: 'u32', _p2: 'u32' },
);
const DENSE_PARAMS = defineParams({ shaders: ['stan_dense'], struct: 'Params' }, { n: 'u32', l: 'u32', row_stride: 'u32', _pad: 'u32' });

interface ParamsIn {
  rows: number;
  l: number;
  k: number;
  n?: number;
  m?: number;
  mask?: boolean;
  blockRows?: number;
  blocks?: number;
}

function paramsFor(rt: GpuRuntime, q: ParamsIn, threads: number, label: string): { u: GPUBuffer; g: { x: number; y: number } } {
  const g = grid1d(threads, WG);
  const u = rt.uniform(PARAMS.pack({ rows: q.rows, l: q.l, k: q.k, n: q.n, m: q.m, flags: !!q.mask, block_rows: q.blockRows, blocks: q.blocks, row_stride: g.x }), label);
  return { u, g };
}

function checkInt(tag: string, name: string, v: number, min: number, max = Infinity): void {
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`${tag}: ${name} must be an integer in [${min}, ${max}], got ${v}`);
}

function checkSize(tag: string, role: string, t: Tensor, need: number): void {
  if (t.size < need) throw new Error(`${tag}: ${role} '${t.name}' has ${t.size} elements, needs ${need}`);
}

function checkDistinct(tag: string, writer: [string, Tensor], readers: [string, Tensor | undefined | null][]): void {
  for (const [role, t] of readers) {
    if (t && t.buffer === writer[1].buffer) throw new Error(`${tag}: ${role} '${t.name}' shares a GPU buffer with ${writer[0]} '${writer[1].name}'; a dispatch cannot read and write one buffer`);
  }
}

export interface SparseDecodeArgs {
  indices: Tensor;
  values: Tensor;
  rows: number;
  l: number;
  k: number;
  /** Output width (D's rows). */
  m: number;
  /** [m, l] */
  D: Tensor;
  /** [rows, m], accumulated into. */
  y: Tensor;
  /** Dᵀ [l, m] (see recordTranspose): enables the vec4 kernel when m % 4 == 0. */
  Dt?: Tensor;
  kOverride?: GPUBuffer | Tensor;
  label?: string;
}

/** vec4 bindings need 16-byte-aligned views. */
function aligned16(...ts: Tensor[]): boolean {
  return ts.every((t) => t.offset % 16 === 0);
}

/** dst [cols, rows] = srcᵀ for src [rows, cols] (one dispatch; 4×4 vec4 blocks when both are multiples of 4). */
export function recordTranspose(rt: GpuRuntime, list: CommandList, a: { src: Tensor; dst: Tensor; rows: number; cols: number; label?: string }): void {
  const tag = `transpose ${a.label ?? a.src.name}`;
  checkInt(tag, 'rows', a.rows, 1);
  checkInt(tag, 'cols', a.cols, 1);
  checkSize(tag, 'src', a.src, a.rows * a.cols);
  checkSize(tag, 'dst', a.dst, a.rows * a.cols);
  checkDistinct(tag, ['dst', a.dst], [['src', a.src]]);
  const blocks = a.rows % 4 === 0 && a.cols % 4 === 0 && aligned16(a.src, a.dst);
  const entry = blocks ? 'transpose4' : 'transpose';
  const { u, g } = paramsFor(rt, { rows: a.rows, l: 0, k: 0, m: a.cols }, blocks ? (a.rows * a.cols) / 16 : a.rows * a.cols, `${tag}.params`);
  list.push(rt.dispatch(`stan.${entry}(${a.src.name})`, rt.pipeline(shader('stan_sparse'), entry), [u, a.src, a.dst], [g.x, g.y]));
}

/** Vec4 columns per invocation in the vec4 kernels (as in the shader). */
const V = 8;

/** y += (1/k')·D·code, one dispatch, reading only the selected columns of D. */
export function recordSparseDecode(rt: GpuRuntime, list: CommandList, a: SparseDecodeArgs): void {
  const tag = `sparse decode ${a.label ?? a.y.name}`;
  const { rows, l, k, m } = a;
  checkInt(tag, 'rows', rows, 1);
  checkInt(tag, 'l', l, 1);
  checkInt(tag, 'k', k, 1, l);
  checkInt(tag, 'm', m, 1);
  checkSize(tag, 'indices', a.indices, rows * k);
  checkSize(tag, 'values', a.values, rows * k);
  checkSize(tag, 'D', a.D, m * l);
  checkSize(tag, 'y', a.y, rows * m);
  checkDistinct(tag, ['y', a.y], [['indices', a.indices], ['values', a.values], ['D', a.D], ['Dt', a.Dt]]);
  if (a.Dt) checkSize(tag, 'Dt', a.Dt, l * m);
  const kbuf = a.kOverride ?? createTopKOverride(rt, k, `${tag}.k`);
  if (a.Dt && m % 4 === 0 && aligned16(a.Dt, a.y)) {
    const { u, g } = paramsFor(rt, { rows, l, k, m }, rows * Math.ceil(m / 4 / V), `${tag}.params`);
    list.push(rt.dispatch(`stan.decode4(${a.y.name})`, rt.pipeline(shader('stan_sparse'), 'decode4'), [u, a.values, a.indices, a.Dt, a.y, kbuf], [g.x, g.y]));
    return;
  }
  const { u, g } = paramsFor(rt, { rows, l, k, m }, rows * Math.ceil(m / 4), `${tag}.params`);
  list.push(rt.dispatch(`stan.decode(${a.y.name})`, rt.pipeline(shader('stan_sparse'), 'decode'), [u, a.values, a.indices, a.D, a.y, kbuf], [g.x, g.y]));
}

export interface SparseBackwardArgs {
  /** Layer input [rows, n]. */
  x: Tensor;
  /** Output gradient [rows, m]. */
  dy: Tensor;
  /** [l, n] */
  E: Tensor;
  /** [m, l] */
  D: Tensor;
  /** Dᵀ [l, m] as of the forward (see recordTranspose): enables the vec4 dz kernel when m % 4 == 0. */
  Dt?: Tensor;
  indices: Tensor;
  values: Tensor;
  rows: number;
  n: number;
  m: number;
  l: number;
  k: number;
  mask?: Tensor;
  kOverride?: GPUBuffer | Tensor;
  /** dx += contribution (skipped when null/absent). */
  dx?: Tensor | null;
  /** Overwritten [l, n] / [m, l] (skipped when null/absent). */
  dE?: Tensor | null;
  dD?: Tensor | null;
  label?: string;
}

/** Rows per block of the counting sort: ~256 pairs per block thread, capped memory for the counts. */
export function bucketBlockRows(rows: number, l: number, k: number): number {
  const byWork = Math.ceil(256 / k);
  const byMemory = Math.ceil((rows * l) / (1 << 22)); // counts ≤ 16 MiB
  return Math.max(1, Math.min(rows, Math.max(byWork, byMemory)));
}

/**
 * Counting sort of the live (row, slot) pairs of a sparse code by latent, deterministic and
 * stable: afterwards bucket i is pairs[start[i] .. start[i+1]) (pair id = row·k + slot, in
 * increasing order). Live = slot < k' and the latent not masked off. 4 dispatches; the scratch
 * (counts, start [l+1], pairs [rows·k]) is allocated here, at record time.
 */
export function recordBucketSort(
  rt: GpuRuntime,
  list: CommandList,
  a: { indices: Tensor; rows: number; l: number; k: number; mask?: Tensor; kOverride?: GPUBuffer | Tensor; label?: string },
): { start: Tensor; pairs: Tensor; blockRows: number; blocks: number; dispatches: number } {
  const { rows, l, k } = a;
  const tag = `bucket sort ${a.label ?? a.indices.name}`;
  checkInt(tag, 'rows', rows, 1);
  checkInt(tag, 'l', l, 1);
  checkInt(tag, 'k', k, 1, l);
  checkSize(tag, 'indices', a.indices, rows * k);
  if (a.mask) checkSize(tag, 'mask', a.mask, l);
  const kbuf = a.kOverride ?? createTopKOverride(rt, k, `${tag}.k`);
  const mask = a.mask ?? rt.sharedTensor('stan_sparse.nomask', [1]);
  const blockRows = bucketBlockRows(rows, l, k);
  const blocks = Math.ceil(rows / blockRows);
  const q: ParamsIn = { rows, l, k, mask: !!a.mask, blockRows, blocks };
  const cnt = rt.tensor([blocks * l], `${tag}.counts`);
  const total = rt.tensor([l], `${tag}.total`);
  const start = rt.tensor([l + 1], `${tag}.start`);
  const pairs = rt.tensor([rows * k], `${tag}.pairs`);
  const pipe = (entry: string) => rt.pipeline(shader('stan_sparse'), entry);
  const push = (entry: string, threads: number, res: (Tensor | GPUBuffer)[]) => {
    const { u, g } = paramsFor(rt, q, threads, `${tag}.${entry}.params`);
    list.push(rt.dispatch(`stan.${entry}(${a.indices.name})`, pipe(entry), [u, ...res], [g.x, g.y]));
  };
  push('bucket_count', blocks, [a.indices, mask, kbuf, cnt]);
  push('bucket_colscan', l, [cnt, total]);
  push('bucket_scan', 1, [total, start]);
  push('bucket_scatter', blocks, [a.indices, mask, kbuf, cnt, start, pairs]);
  return { start, pairs, blockRows, blocks, dispatches: 4 };
}

/**
 * out [l, width] = per latent i, Σ over bucket i's pairs (recordBucketSort) of w[pair]·src[row(pair), :]
 * (row = pair / k), every latent written (0 for an empty bucket). w is [rows, k] in the code's
 * slot layout, src [rows, width]. One dispatch (vec4 kernel when width % 4 == 0).
 * STAN's dE is this with w = dz, src = x; the atoms adapter's dD (w = values, src = ∂L/∂ΔO) and
 * W_sᵀ gradient (w = dU, src = P or X).
 */
export function recordBucketGather(
  rt: GpuRuntime,
  list: CommandList,
  a: { start: Tensor; pairs: Tensor; w: Tensor; src: Tensor; out: Tensor; rows: number; l: number; k: number; width: number; label?: string },
): void {
  const tag = `bucket gather ${a.label ?? a.out.name}`;
  const { rows, l, k, width } = a;
  checkInt(tag, 'rows', rows, 1);
  checkInt(tag, 'l', l, 1);
  checkInt(tag, 'k', k, 1, l);
  checkInt(tag, 'width', width, 1);
  if (rows * Math.max(k, width) > 2 ** 32 - 1 || l * width > 2 ** 32 - 1) throw new Error(`${tag}: sizes exceed 32-bit indexing`);
  checkSize(tag, 'start', a.start, l + 1);
  checkSize(tag, 'pairs', a.pairs, rows * k);
  checkSize(tag, 'w', a.w, rows * k);
  checkSize(tag, 'src', a.src, rows * width);
  checkSize(tag, 'out', a.out, l * width);
  checkDistinct(tag, ['out', a.out], [['start', a.start], ['pairs', a.pairs], ['w', a.w], ['src', a.src]]);
  const vec = width % 4 === 0 && aligned16(a.src, a.out);
  const entry = vec ? 'grad_e4' : 'grad_e';
  const { u, g } = paramsFor(rt, { rows, l, k, n: width }, l * Math.ceil(width / 4 / (vec ? V : 1)), `${tag}.params`);
  list.push(rt.dispatch(`stan.${entry}(${a.out.name})`, rt.pipeline(shader('stan_sparse'), entry), [u, a.start, a.pairs, a.w, a.src, a.out], [g.x, g.y]));
}

/** Records STAN's backward from a sparse code. Returns dz ([rows, k], for inspection and tests). */
export function recordSparseBackward(rt: GpuRuntime, list: CommandList, a: SparseBackwardArgs): { dz: Tensor; dispatches: number } {
  const tag = `sparse backward ${a.label ?? a.dy.name}`;
  const { rows, n, m, l, k } = a;
  checkInt(tag, 'rows', rows, 1);
  checkInt(tag, 'n', n, 1);
  checkInt(tag, 'm', m, 1);
  checkInt(tag, 'l', l, 1);
  checkInt(tag, 'k', k, 1, l);
  if (rows * Math.max(k, n, m) > 2 ** 32 - 1 || l * Math.max(n, m) > 2 ** 32 - 1) throw new Error(`${tag}: sizes exceed 32-bit indexing`);
  checkSize(tag, 'x', a.x, rows * n);
  checkSize(tag, 'dy', a.dy, rows * m);
  checkSize(tag, 'E', a.E, l * n);
  checkSize(tag, 'D', a.D, m * l);
  checkSize(tag, 'indices', a.indices, rows * k);
  checkSize(tag, 'values', a.values, rows * k);
  if (a.mask) checkSize(tag, 'mask', a.mask, l);
  if (a.dx) checkSize(tag, 'dx', a.dx, rows * n);
  if (a.dE) checkSize(tag, 'dE', a.dE, l * n);
  if (a.dD) checkSize(tag, 'dD', a.dD, m * l);
  if (a.dx) checkDistinct(tag, ['dx', a.dx], [['indices', a.indices], ['E', a.E]]);
  if (a.dE) checkDistinct(tag, ['dE', a.dE], [['x', a.x]]);
  if (a.dD) checkDistinct(tag, ['dD', a.dD], [['values', a.values], ['dy', a.dy]]);
  if (a.Dt) checkSize(tag, 'Dt', a.Dt, l * m);

  const pipe = (entry: string) => rt.pipeline(shader('stan_sparse'), entry);
  const kbuf = a.kOverride ?? createTopKOverride(rt, k, `${tag}.k`);
  const mask = a.mask ?? rt.sharedTensor('stan_sparse.nomask', [1]);
  const hasMask = !!a.mask;
  const base: ParamsIn = { rows, l, k, n, m, mask: hasMask };
  const dz = rt.tensor([rows, k], `${tag}.dz`);
  let dispatches = 0;
  const push = (label: string, entry: string, q: ParamsIn, threads: number, res: (Tensor | GPUBuffer)[]) => {
    const { u, g } = paramsFor(rt, q, threads, `${tag}.${label}.params`);
    list.push(rt.dispatch(`stan.${label}(${a.dy.name})`, pipe(entry), [u, ...res], [g.x, g.y]));
    dispatches++;
  };

  const vecM = m % 4 === 0 && aligned16(a.dy);
  const vecN = n % 4 === 0 && aligned16(a.x, a.E);
  const needPairs = !!(a.dx || a.dE);
  if (needPairs) {
    if (a.Dt && vecM && aligned16(a.Dt)) push('dz4', 'dz4', base, rows * Math.ceil(k / 4), [a.dy, a.Dt, a.indices, mask, kbuf, dz]);
    else push('dz', 'dz', base, rows * k, [a.dy, a.D, a.indices, mask, kbuf, dz]);
  }
  if (a.dx) {
    if (vecN && aligned16(a.dx)) push('dx4', 'dx4', base, rows * Math.ceil(n / 4 / V), [dz, a.indices, a.E, a.dx, kbuf]);
    else push('dx', 'dx', base, rows * Math.ceil(n / 4), [dz, a.indices, a.E, a.dx, kbuf]);
  }
  if (a.dE || a.dD) {
    const b = recordBucketSort(rt, list, { indices: a.indices, rows, l, k, kOverride: kbuf, ...(a.mask ? { mask: a.mask } : {}), label: tag });
    dispatches += b.dispatches;
    const { start, pairs } = b;
    const q: ParamsIn = { ...base, blockRows: b.blockRows, blocks: b.blocks };
    if (a.dE) {
      recordBucketGather(rt, list, { start, pairs, w: dz, src: a.x, out: a.dE, rows, l, k, width: n, label: `${tag}.dE` });
      dispatches++;
    }
    if (a.dD) {
      if (vecM) push('grad_d4', 'grad_d4', q, l * Math.ceil(m / 4 / V), [start, pairs, a.values, a.dy, a.dD, kbuf]);
      else push('grad_d', 'grad_d', q, l * Math.ceil(m / 4), [start, pairs, a.values, a.dy, a.dD, kbuf]);
    }
  }
  return { dz, dispatches };
}

// ---------- float64 references ----------

type Arr = ArrayLike<number>;

/** y[r,:] += (1/k')·Σ_j val[r,j]·D[:, idx[r,j]] over j < k' (returns a new array). */
export function sparseDecodeCpu(a: { indices: Arr; values: Arr; D: Arr; y?: Arr; rows: number; l: number; k: number; m: number; kActive?: number }): Float64Array {
  const { rows, l, k, m } = a;
  const kk = Math.max(1, Math.min(a.kActive ?? k, k));
  const y = a.y ? Float64Array.from(a.y) : new Float64Array(rows * m);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < kk; j++) {
      const v = a.values[r * k + j]!;
      const i = a.indices[r * k + j]!;
      for (let c = 0; c < m; c++) y[r * m + c]! += (v * a.D[c * l + i]!) / kk;
    }
  }
  return y;
}

/** The backward of the sparse decode + selected-latent encoder, for a fixed code. */
export function sparseBackwardCpu(a: {
  x: Arr;
  dy: Arr;
  E: Arr;
  D: Arr;
  indices: Arr;
  values: Arr;
  rows: number;
  n: number;
  m: number;
  l: number;
  k: number;
  mask?: Arr;
  kActive?: number;
}): { dz: Float64Array; dx: Float64Array; dE: Float64Array; dD: Float64Array } {
  const { rows, n, m, l, k } = a;
  const kk = Math.max(1, Math.min(a.kActive ?? k, k));
  const dz = new Float64Array(rows * k);
  const dx = new Float64Array(rows * n);
  const dE = new Float64Array(l * n);
  const dD = new Float64Array(m * l);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < kk; j++) {
      const i = a.indices[r * k + j]!;
      if (a.mask && a.mask[i] === 0) continue;
      let g = 0;
      for (let c = 0; c < m; c++) g += a.dy[r * m + c]! * a.D[c * l + i]!;
      g /= kk;
      dz[r * k + j] = g;
      for (let c = 0; c < n; c++) {
        dx[r * n + c]! += g * a.E[i * n + c]!;
        dE[i * n + c]! += g * a.x[r * n + c]!;
      }
      const v = a.values[r * k + j]!;
      for (let c = 0; c < m; c++) dD[c * l + i]! += (v * a.dy[r * m + c]!) / kk;
    }
  }
  return { dz, dx, dE, dD };
}

export interface StanCpuArgs {
  /** [rows, n] */
  x: Arr;
  /** [l, n] */
  E: Arr;
  /** [m, l] */
  D: Arr;
  rows: number;
  n: number;
  m: number;
  l: number;
  k: number;
  mode?: TopKMode;
  mask?: Arr;
  kActive?: number;
}

/**
 * The STAN delta in float64: Δ = (1/k')·D·topk(E·x), top-k on float64 pre-activations with the
 * kernels' rules (signed or |·| keys, ties to the lower index, mask zeroes after selection).
 */
export function stanForwardCpu(a: StanCpuArgs): { delta: Float64Array; z: Float64Array; indices: Uint32Array; values: Float64Array } {
  const { rows, n, l, k, m } = a;
  const z = new Float64Array(rows * l);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < l; i++) {
      let s = 0;
      for (let c = 0; c < n; c++) s += a.E[i * n + c]! * a.x[r * n + c]!;
      z[r * l + i] = s;
    }
  }
  const mode = a.mode ?? 'signed';
  const kk = Math.max(1, Math.min(a.kActive ?? k, k));
  // Selection in float64 (topkCpu's key rounds to f32, which could create ties the float64 path does not have).
  const indices = new Uint32Array(rows * k);
  const values = new Float64Array(rows * k);
  const order = Array.from({ length: l }, (_, i) => i);
  for (let r = 0; r < rows; r++) {
    const key = (i: number) => (mode === 'abs' ? Math.abs(z[r * l + i]!) : z[r * l + i]!);
    order.sort((i, j) => key(j) - key(i) || i - j);
    for (let s = 0; s < k; s++) {
      const i = order[s]!;
      indices[r * k + s] = i;
      values[r * k + s] = s >= kk || (a.mask !== undefined && a.mask[i] === 0) ? 0 : z[r * l + i]!;
    }
    for (let i = 0; i < l; i++) order[i] = i;
  }
  const delta = sparseDecodeCpu({ indices, values, D: a.D, rows, l, k, m, kActive: kk });
  return { delta, z, indices, values };
}

/** Analytic float64 gradients of ⟨dy, Δ(x)⟩ w.r.t. x, E and D (selection held fixed). */
export function stanBackwardCpu(a: StanCpuArgs & { dy: Arr }): { dx: Float64Array; dE: Float64Array; dD: Float64Array } {
  const f = stanForwardCpu(a);
  const { dx, dE, dD } = sparseBackwardCpu({ ...a, indices: f.indices, values: f.values, ...(a.kActive !== undefined ? { kActive: a.kActive } : {}) });
  return { dx, dE, dD };
}

// ---------- dense n-latents path (k = l): no selection ----------

/**
 * out[r, j] = x[r, j]·mask[j] (shaders/stan_dense.wgsl): STAN's dense code at k = l, and the
 * masked code gradient. x and out must be different buffers.
 */
export function recordMaskColumns(rt: GpuRuntime, list: CommandList, a: { x: Tensor; mask: Tensor; out: Tensor; rows: number; l: number; label?: string }): void {
  const tag = `mask columns ${a.label ?? a.x.name}`;
  checkInt(tag, 'rows', a.rows, 1);
  checkInt(tag, 'l', a.l, 1);
  checkSize(tag, 'x', a.x, a.rows * a.l);
  checkSize(tag, 'out', a.out, a.rows * a.l);
  checkSize(tag, 'mask', a.mask, a.l);
  if (a.out.buffer === a.x.buffer || a.out.buffer === a.mask.buffer) throw new Error(`${tag}: out '${a.out.name}' must not share a buffer with x or mask`);
  const n = a.rows * a.l;
  const g = grid1d(n, 64);
  const u = rt.uniform(DENSE_PARAMS.pack({ n, l: a.l, row_stride: g.x }), 'stan_dense.params');
  list.push(rt.dispatch(`stan.mask_cols(${a.label ?? a.x.name})`, rt.pipeline(shader('stan_dense'), 'mask_cols'), [u, a.x, a.mask, a.out], [g.x, g.y]));
}

/** Float64 reference of recordMaskColumns. */
export function maskColumnsCpu(x: Arr, mask: Arr, rows: number, l: number): Float64Array {
  const out = new Float64Array(rows * l);
  for (let i = 0; i < rows * l; i++) out[i] = x[i]! * mask[i % l]!;
  return out;
}
