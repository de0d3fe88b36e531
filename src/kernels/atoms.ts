/**
 * The non-matmul kernels of the dictionary-atoms adapter (shaders/atoms.wgsl), beside float64
 * CPU references: head mean of attention maps and its backward, sparse (top-k) decoding S·D,
 * dense scattering of a top-k code, the top-k code gradient, the ‖D_m‖-weighted L1 penalty
 * (statistics, value, atom gradient) and one atom's rank-1 contribution S[:, m]·D_m.
 * Layouts: codes S [rows, M]; dictionary D [M, C]; top-k indices (u32) / values [rows, k].
 *
 * Work per invocation, measured on SwiftShader (2 cores, other jobs running; rows 2048, M 128,
 * C 128, k 8, one run): with a thread per output element the sparse decode took 281 ms, the
 * code gradient 466 ms and the scatter 66 ms; with a thread per (row, 16 columns) / per slot
 * (and a clearBuffer instead of writing the zeros) 19–31, 22–27 and 2–3 ms, against 44–46 ms for
 * a dense 2048×128×128 regblock matmul in the same run. A sparse Sᵀ·G that skips zero codes
 * (thread per atom walking the rows) was ~5× slower than the dense matmul: SwiftShader's SIMD
 * lanes run both sides of the data-dependent branch. The top-k adapter's Sᵀ·G and dW_s are
 * instead gathered per atom over bucketed (row, slot) pairs (src/kernels/stan-sparse.ts,
 * recordBucketGather), which has no such branch.
 */
import type { CommandList, GpuRuntime } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { defineParams, opt, type ParamsValues } from '../engine/uniform-params';
import { grid1d } from './grid';
import { shader } from './shader-sources';

const WG = 64;
const ACCUMULATE = 1;
const HAS_MASK = 2;
const HAS_WEIGHTS = 4;
const SLOTS = 8;

const SPEC = {
  rows: opt('u32'), atoms: opt('u32'), cols: opt('u32'), k: opt('u32'), heads: opt('u32'), tt: opt('u32'),
  n: opt('u32'), row_stride: opt('u32'), flags: opt('u32'), atom: opt('u32'), coef: opt('f32'), _pad: 'u32',
} as const;
const PARAMS = defineParams({ shaders: ['atoms'], struct: 'Params' }, SPEC);
type P = ParamsValues<typeof SPEC>;

function pos(what: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${what}: ${name}=${v} must be a positive integer`);
}

function need(what: string, role: string, t: Tensor, n: number): void {
  if (t.size < n) throw new Error(`${what}: ${role} ${t.name} has ${t.size} < ${n} elements`);
}

function distinct(what: string, out: Tensor, inputs: (Tensor | undefined)[]): void {
  for (const t of inputs) if (t && t.buffer === out.buffer) throw new Error(`${what}: output ${out.name} shares a buffer with input ${t.name}`);
}

function push(rt: GpuRuntime, list: CommandList, what: string, entry: string, q: P, n: number, resources: Tensor[]): void {
  const g = grid1d(n, WG);
  const u = rt.uniform(PARAMS.pack({ ...q, n, row_stride: g.x }), `${entry}.params`);
  list.push(rt.dispatch(what, rt.pipeline(shader('atoms'), entry), [u, ...resources], [g.x, g.y]));
}

/** Ā [batch, seq, seq] = mean over heads of probs [batch, heads, seq, seq]. */
export function recordHeadMean(rt: GpuRuntime, list: CommandList, a: { probs: Tensor; abar: Tensor; batch: number; heads: number; seq: number }): void {
  const what = `head_mean(${a.probs.name})`;
  for (const k of ['batch', 'heads', 'seq'] as const) pos(what, k, a[k]);
  const tt = a.seq * a.seq;
  need(what, 'probs', a.probs, a.batch * a.heads * tt);
  need(what, 'abar', a.abar, a.batch * tt);
  distinct(what, a.abar, [a.probs]);
  push(rt, list, what, 'head_mean', { heads: a.heads, tt }, a.batch * tt, [a.probs, a.abar]);
}

/** dprobs [batch, heads, seq, seq] = dĀ [batch, seq, seq] / heads (overwrite): the backward of recordHeadMean. */
export function recordHeadBroadcast(rt: GpuRuntime, list: CommandList, a: { dabar: Tensor; dprobs: Tensor; batch: number; heads: number; seq: number }): void {
  const what = `head_broadcast(${a.dabar.name})`;
  for (const k of ['batch', 'heads', 'seq'] as const) pos(what, k, a[k]);
  const tt = a.seq * a.seq;
  need(what, 'dabar', a.dabar, a.batch * tt);
  need(what, 'dprobs', a.dprobs, a.batch * a.heads * tt);
  distinct(what, a.dprobs, [a.dabar]);
  push(rt, list, what, 'head_broadcast', { heads: a.heads, tt, coef: 1 / a.heads }, a.batch * a.heads * tt, [a.dabar, a.dprobs]);
}

/** Columns per invocation of sparse_decode (CH in atoms.wgsl). */
const CH = 16;

/** out [rows, C] (+)= Σ_j values[r, j]·D[indices[r, j], :] — a top-k code times the dictionary. */
export function recordSparseDecode(
  rt: GpuRuntime,
  list: CommandList,
  a: { indices: Tensor; values: Tensor; dict: Tensor; out: Tensor; rows: number; atoms: number; cols: number; k: number; accumulate?: boolean },
): void {
  const what = `sparse_decode(${a.values.name})`;
  for (const k of ['rows', 'atoms', 'cols', 'k'] as const) pos(what, k, a[k]);
  need(what, 'indices', a.indices, a.rows * a.k);
  need(what, 'values', a.values, a.rows * a.k);
  need(what, 'dict', a.dict, a.atoms * a.cols);
  need(what, 'out', a.out, a.rows * a.cols);
  distinct(what, a.out, [a.indices, a.values, a.dict]);
  push(rt, list, what, 'sparse_decode', { atoms: a.atoms, cols: a.cols, k: a.k, flags: a.accumulate ? ACCUMULATE : 0 }, a.rows * Math.ceil(a.cols / CH), [a.indices, a.values, a.dict, a.out]);
}

function clear(list: CommandList, t: Tensor, n: number, label: string): void {
  list.push({ kind: 'clear', label, buffer: t.buffer, offset: t.offset, size: n * 4 });
}

/** dense [rows, M] = the top-k code scattered into zeros (a clear, then one thread per slot; indices within a row are distinct). */
export function recordScatterCode(rt: GpuRuntime, list: CommandList, a: { indices: Tensor; values: Tensor; dense: Tensor; rows: number; atoms: number; k: number }): void {
  const what = `scatter_code(${a.values.name})`;
  for (const k of ['rows', 'atoms', 'k'] as const) pos(what, k, a[k]);
  need(what, 'indices', a.indices, a.rows * a.k);
  need(what, 'values', a.values, a.rows * a.k);
  need(what, 'dense', a.dense, a.rows * a.atoms);
  distinct(what, a.dense, [a.indices, a.values]);
  clear(list, a.dense, a.rows * a.atoms, `${what}.clear`);
  push(rt, list, what, 'scatter_code', { atoms: a.atoms, k: a.k }, a.rows * a.k, [a.indices, a.values, a.dense]);
}

/**
 * Gradient of a top-k code w.r.t. the pre-selection activations U [rows, M] (overwritten):
 * dU[r, m] = dZ[r, :]·D[m, :] + w[m]·sign(value) where m fills a live slot of row r (slot
 * j < k' read from `kOverride`'s first u32, and mask[m] ≠ 0), else 0. dZ [rows, C] is the
 * gradient w.r.t. the decoded output; `weights` [M] adds a weighted-L1 penalty's gradient.
 * A clear, then one thread per slot (a C-long dot product each).
 * `slots`: du is [rows, k] instead, du[r, j] = the gradient of slot j (0 for dead slots), in
 * the code's own layout (no clear): what the per-atom gathers of src/kernels/stan-sparse.ts read.
 */
export function recordCodeGrad(
  rt: GpuRuntime,
  list: CommandList,
  a: { indices: Tensor; values: Tensor; dz: Tensor; dict: Tensor; du: Tensor; rows: number; atoms: number; cols: number; k: number; kOverride: Tensor; mask?: Tensor; weights?: Tensor; slots?: boolean },
): void {
  const what = `code_grad(${a.values.name})`;
  for (const k of ['rows', 'atoms', 'cols', 'k'] as const) pos(what, k, a[k]);
  need(what, 'indices', a.indices, a.rows * a.k);
  need(what, 'values', a.values, a.rows * a.k);
  need(what, 'dz', a.dz, a.rows * a.cols);
  need(what, 'dict', a.dict, a.atoms * a.cols);
  need(what, 'du', a.du, a.rows * (a.slots ? a.k : a.atoms));
  need(what, 'kOverride', a.kOverride, 1);
  if (a.mask) need(what, 'mask', a.mask, a.atoms);
  if (a.weights) need(what, 'weights', a.weights, a.atoms);
  distinct(what, a.du, [a.indices, a.values, a.dz, a.dict, a.kOverride, a.mask, a.weights]);
  const flags = (a.mask ? HAS_MASK : 0) | (a.weights ? HAS_WEIGHTS : 0) | (a.slots ? SLOTS : 0);
  if (!a.slots) clear(list, a.du, a.rows * a.atoms, `${what}.clear`);
  push(rt, list, what, 'code_grad', { atoms: a.atoms, cols: a.cols, k: a.k, flags }, a.rows * a.k, [
    a.indices,
    a.values,
    a.dz,
    a.dict,
    a.mask ?? a.values,
    a.kOverride,
    a.weights ?? a.values,
    a.du,
  ]);
}

/**
 * Per-atom statistics for the ‖D_m‖-weighted L1 penalty coef·Σ_m Σ_r |S[r, m]|·‖D_m‖:
 * absSum[m] = Σ_r |S[r, m]|, norms[m] = ‖D_m‖, weights[m] = coef·‖D_m‖ (the penalty's gradient
 * scale for S). One thread per atom, rows summed in order.
 */
export function recordAtomStats(
  rt: GpuRuntime,
  list: CommandList,
  a: { codes: Tensor; dict: Tensor; absSum: Tensor; norms: Tensor; weights: Tensor; rows: number; atoms: number; cols: number; coef: number },
): void {
  const what = `atom_stats(${a.codes.name})`;
  for (const k of ['rows', 'atoms', 'cols'] as const) pos(what, k, a[k]);
  need(what, 'codes', a.codes, a.rows * a.atoms);
  need(what, 'dict', a.dict, a.atoms * a.cols);
  for (const [r, t] of [['absSum', a.absSum], ['norms', a.norms], ['weights', a.weights]] as const) {
    need(what, r, t, a.atoms);
    distinct(what, t, [a.codes, a.dict]);
  }
  push(rt, list, what, 'atom_stats', { rows: a.rows, atoms: a.atoms, cols: a.cols, coef: a.coef }, a.atoms, [a.codes, a.dict, a.absSum, a.norms, a.weights]);
}

/** out[0] = coef·Σ_m absSum[m]·norms[m] (one thread). */
export function recordAtomPenalty(rt: GpuRuntime, list: CommandList, a: { absSum: Tensor; norms: Tensor; out: Tensor; atoms: number; coef: number }): void {
  const what = `atom_penalty(${a.absSum.name})`;
  pos(what, 'atoms', a.atoms);
  need(what, 'absSum', a.absSum, a.atoms);
  need(what, 'norms', a.norms, a.atoms);
  need(what, 'out', a.out, 1);
  distinct(what, a.out, [a.absSum, a.norms]);
  const u = rt.uniform(PARAMS.pack({ atoms: a.atoms, coef: a.coef }), 'atom_penalty.params');
  list.push(rt.dispatch(what, rt.pipeline(shader('atoms'), 'atom_penalty'), [u, a.absSum, a.norms, a.out], [1]));
}

/** ddict[m, :] += coef·absSum[m]·D[m, :]/‖D_m‖ (0 where ‖D_m‖ = 0): the penalty's atom gradient. */
export function recordAtomPenaltyGrad(
  rt: GpuRuntime,
  list: CommandList,
  a: { absSum: Tensor; norms: Tensor; dict: Tensor; ddict: Tensor; atoms: number; cols: number; coef: number },
): void {
  const what = `atom_penalty_dd(${a.dict.name})`;
  for (const k of ['atoms', 'cols'] as const) pos(what, k, a[k]);
  need(what, 'dict', a.dict, a.atoms * a.cols);
  need(what, 'ddict', a.ddict, a.atoms * a.cols);
  distinct(what, a.ddict, [a.absSum, a.norms, a.dict]);
  push(rt, list, what, 'atom_penalty_dd', { atoms: a.atoms, cols: a.cols, coef: a.coef }, a.atoms * a.cols, [a.absSum, a.norms, a.dict, a.ddict]);
}

/** out [rows, C] = S[:, atom] ⊗ D[atom, :] — atom `atom`'s rank-1 term of S·D. */
export function recordOuterAtom(
  rt: GpuRuntime,
  list: CommandList,
  a: { codes: Tensor; dict: Tensor; out: Tensor; rows: number; atoms: number; cols: number; atom: number },
): void {
  const what = `outer_atom(${a.codes.name}, ${a.atom})`;
  for (const k of ['rows', 'atoms', 'cols'] as const) pos(what, k, a[k]);
  if (!Number.isInteger(a.atom) || a.atom < 0 || a.atom >= a.atoms) throw new Error(`${what}: atom=${a.atom} outside 0..${a.atoms - 1}`);
  need(what, 'codes', a.codes, a.rows * a.atoms);
  need(what, 'dict', a.dict, a.atoms * a.cols);
  need(what, 'out', a.out, a.rows * a.cols);
  distinct(what, a.out, [a.codes, a.dict]);
  push(rt, list, what, 'outer_atom', { atoms: a.atoms, cols: a.cols, atom: a.atom }, a.rows * a.cols, [a.codes, a.dict, a.out]);
}

// ---------- CPU references (float64) ----------

type Arr = ArrayLike<number>;

export function headMeanCpu(probs: Arr, batch: number, heads: number, seq: number): Float64Array {
  const tt = seq * seq;
  const out = new Float64Array(batch * tt);
  for (let b = 0; b < batch; b++) {
    for (let e = 0; e < tt; e++) {
      let s = 0;
      for (let h = 0; h < heads; h++) s += probs[(b * heads + h) * tt + e]!;
      out[b * tt + e] = s / heads;
    }
  }
  return out;
}

export function headBroadcastCpu(dabar: Arr, batch: number, heads: number, seq: number): Float64Array {
  const tt = seq * seq;
  const out = new Float64Array(batch * heads * tt);
  for (let b = 0; b < batch; b++) for (let h = 0; h < heads; h++) for (let e = 0; e < tt; e++) out[(b * heads + h) * tt + e] = dabar[b * tt + e]! / heads;
  return out;
}

export function sparseDecodeCpu(indices: ArrayLike<number>, values: Arr, dict: Arr, a: { rows: number; atoms: number; cols: number; k: number }): Float64Array {
  const out = new Float64Array(a.rows * a.cols);
  for (let r = 0; r < a.rows; r++) {
    for (let j = 0; j < a.k; j++) {
      const m = indices[r * a.k + j]!;
      if (m >= a.atoms) continue;
      const v = values[r * a.k + j]!;
      for (let c = 0; c < a.cols; c++) out[r * a.cols + c] += v * dict[m * a.cols + c]!;
    }
  }
  return out;
}

export function scatterCodeCpu(indices: ArrayLike<number>, values: Arr, a: { rows: number; atoms: number; k: number }): Float64Array {
  const out = new Float64Array(a.rows * a.atoms);
  for (let r = 0; r < a.rows; r++) {
    for (let j = 0; j < a.k; j++) {
      const m = indices[r * a.k + j]!;
      if (m < a.atoms) out[r * a.atoms + m] = values[r * a.k + j]!;
    }
  }
  return out;
}

export function codeGradCpu(
  indices: ArrayLike<number>,
  values: Arr,
  dz: Arr,
  dict: Arr,
  a: { rows: number; atoms: number; cols: number; k: number; kOverride: number; mask?: Arr; weights?: Arr; slots?: boolean },
): Float64Array {
  const du = new Float64Array(a.rows * (a.slots ? a.k : a.atoms));
  const kk = Math.min(a.kOverride, a.k);
  for (let r = 0; r < a.rows; r++) {
    for (let j = 0; j < kk; j++) {
      const m = indices[r * a.k + j]!;
      if (m >= a.atoms || (a.mask && a.mask[m] === 0)) continue;
      let g = 0;
      for (let c = 0; c < a.cols; c++) g += dz[r * a.cols + c]! * dict[m * a.cols + c]!;
      if (a.weights) g += a.weights[m]! * Math.sign(values[r * a.k + j]!);
      du[a.slots ? r * a.k + j : r * a.atoms + m] = g;
    }
  }
  return du;
}

/** absSum, norms, penalty = coef·Σ absSum·norms, and the penalty's gradients (codes: coef·‖D_m‖·sign(S); dict). */
export function atomPenaltyCpu(codes: Arr, dict: Arr, a: { rows: number; atoms: number; cols: number; coef: number }) {
  const absSum = new Float64Array(a.atoms);
  const norms = new Float64Array(a.atoms);
  for (let m = 0; m < a.atoms; m++) {
    for (let r = 0; r < a.rows; r++) absSum[m] += Math.abs(codes[r * a.atoms + m]!);
    let q = 0;
    for (let c = 0; c < a.cols; c++) q += dict[m * a.cols + c]! ** 2;
    norms[m] = Math.sqrt(q);
  }
  let penalty = 0;
  for (let m = 0; m < a.atoms; m++) penalty += absSum[m]! * norms[m]!;
  penalty *= a.coef;
  const weights = norms.map((n) => a.coef * n);
  const ddict = new Float64Array(a.atoms * a.cols);
  for (let m = 0; m < a.atoms; m++) {
    if (norms[m]! > 0) for (let c = 0; c < a.cols; c++) ddict[m * a.cols + c] = (a.coef * absSum[m]! * dict[m * a.cols + c]!) / norms[m]!;
  }
  return { absSum, norms, weights, penalty, ddict };
}

export function outerAtomCpu(codes: Arr, dict: Arr, a: { rows: number; atoms: number; cols: number; atom: number }): Float64Array {
  const out = new Float64Array(a.rows * a.cols);
  for (let r = 0; r < a.rows; r++) for (let c = 0; c < a.cols; c++) out[r * a.cols + c] = codes[r * a.atoms + a.atom]! * dict[a.atom * a.cols + c]!;
  return out;
}
