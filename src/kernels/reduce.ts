/**
 * Deterministic reductions (no float atomics): two-stage tree reductions to a scalar, row sums
 * and column sums (bias gradients). The scratch buffers for partial results are allocated here,
 * at record time, and live as long as the runtime; replaying the recorded list allocates nothing.
 */
import type { CommandList, GpuRuntime } from '../engine/runtime';
import { Tensor } from '../engine/tensor';
import { MAX_GRID_DIM, grid1d } from './grid';
import { shader } from './shader-sources';

export type ReduceOp = 'sum' | 'sumsq' | 'maxabs';

const OP_CODE: Record<ReduceOp, number> = { sum: 0, sumsq: 1, maxabs: 2 };
/** The op that combines partials of a first-stage op. */
const SECOND_STAGE: Record<ReduceOp, number> = { sum: 0, sumsq: 0, maxabs: 3 };

/** Partials per first stage (≤ 256 so one workgroup finishes the job, one value per thread). */
export const MAX_PARTIALS = 256;
/** Below this many elements per workgroup, fewer workgroups are used. */
const MIN_CHUNK = 1024;

export interface ReduceParams {
  n?: number;
  chunk?: number;
  rows?: number;
  cols?: number;
  rowStride?: number;
  accumulate?: boolean;
  rowsPerChunk?: number;
  chunks?: number;
  scaleA?: number;
  scaleB?: number;
  divideByB?: boolean;
}

/** The 48-byte uniform of shaders/reduce.wgsl. */
export function reduceParams(q: ReduceParams): ArrayBuffer {
  const buf = new ArrayBuffer(48);
  const u = new Uint32Array(buf);
  const f = new Float32Array(buf);
  u[0] = q.n ?? 0;
  u[1] = q.chunk ?? 0;
  u[2] = q.rows ?? 0;
  u[3] = q.cols ?? 0;
  u[4] = q.rowStride ?? 0;
  u[5] = q.accumulate ? 1 : 0;
  u[6] = q.rowsPerChunk ?? 0;
  u[7] = q.chunks ?? 0;
  f[8] = q.scaleA ?? 1;
  f[9] = q.scaleB ?? 1;
  u[10] = q.divideByB ? 1 : 0;
  return buf;
}

/** How a 1-D reduction of n items is split: `groups` workgroups of `chunk` items each. */
export function reducePlan(n: number): { groups: number; chunk: number } {
  const groups = Math.max(1, Math.min(MAX_PARTIALS, Math.ceil(n / MIN_CHUNK)));
  return { groups, chunk: Math.ceil(n / groups) };
}

/** A scratch tensor of `n` floats in its own buffer. */
export function scratch(rt: GpuRuntime, n: number, name: string): Tensor {
  return rt.tensor([Math.max(1, n)], name);
}

/**
 * out[0] = op over x[0..n). `out` is any one-element tensor (or a view at an aligned offset).
 * Two dispatches when n > 1024 (one per ≤256 workgroups, then one to fold the partials), else one.
 * maxabs with NaN inputs is implementation-defined (WGSL max); use sumsq to detect non-finite values.
 */
export function recordReduce(rt: GpuRuntime, list: CommandList, a: { x: Tensor; out: Tensor; op: ReduceOp; n?: number }): void {
  const n = a.n ?? a.x.size;
  if (n < 1 || n > a.x.size) throw new Error(`reduce ${a.x.name}: n=${n} outside 1..${a.x.size}`);
  if (a.out.size < 1) throw new Error(`reduce ${a.x.name}: output ${a.out.name} is empty`);
  const out = a.out.size === 1 ? a.out : new Tensor(a.out.buffer, a.out.offset, [1], a.out.name);
  const plan = reducePlan(n);
  const first = rt.pipeline(shader('reduce'), 'reduce', { OP: OP_CODE[a.op] });
  if (plan.groups === 1) {
    const u = rt.uniform(reduceParams({ n, chunk: n }), `reduce.${a.op}.params`);
    list.push(rt.dispatch(`reduce_${a.op}(${a.x.name})`, first, [u, a.x, out], [1]));
    return;
  }
  const partials = scratch(rt, plan.groups, `reduce.${a.op}.partials(${a.x.name})`);
  const u1 = rt.uniform(reduceParams({ n, chunk: plan.chunk }), `reduce.${a.op}.params1`);
  list.push(rt.dispatch(`reduce_${a.op}.1(${a.x.name})`, first, [u1, a.x, partials], [plan.groups]));
  const u2 = rt.uniform(reduceParams({ n: plan.groups, chunk: plan.groups }), `reduce.${a.op}.params2`);
  const second = rt.pipeline(shader('reduce'), 'reduce', { OP: SECOND_STAGE[a.op] });
  list.push(rt.dispatch(`reduce_${a.op}.2(${a.x.name})`, second, [u2, partials, out], [1]));
}

/** Splits `groups` workgroups into an x × y grid within the per-dimension limit. */
function grid2(groups: number): { x: number; y: number } {
  if (groups <= MAX_GRID_DIM) return { x: Math.max(1, groups), y: 1 };
  const y = Math.ceil(groups / MAX_GRID_DIM);
  return { x: Math.ceil(groups / y), y };
}

/** Rows at least this wide get a workgroup each; narrower rows get a thread each. */
const ROW_WG_MIN_COLS = 256;

/** out[r] (+)= Σ_c x[r, c] for x [rows, cols] (row-major), out [rows]. One dispatch. */
export function recordRowSum(
  rt: GpuRuntime,
  list: CommandList,
  a: { x: Tensor; out: Tensor; rows: number; cols: number; accumulate?: boolean },
): void {
  const { rows, cols } = a;
  if (rows * cols > a.x.size) throw new Error(`rowSum ${a.x.name}: ${rows}×${cols} exceeds ${a.x.size} elements`);
  if (a.out.size < rows) throw new Error(`rowSum ${a.x.name}: output ${a.out.name} has ${a.out.size} < ${rows} elements`);
  if (cols >= ROW_WG_MIN_COLS) {
    const g = grid2(rows);
    const u = rt.uniform(reduceParams({ rows, cols, rowStride: g.x, accumulate: a.accumulate }), 'row_sum.params');
    list.push(rt.dispatch(`row_sum(${a.x.name})`, rt.pipeline(shader('reduce'), 'row_sum_wg'), [u, a.x, a.out], [g.x, g.y]));
  } else {
    const g = grid1d(rows);
    const u = rt.uniform(reduceParams({ rows, cols, rowStride: g.x, accumulate: a.accumulate }), 'row_sum.params');
    list.push(rt.dispatch(`row_sum(${a.x.name})`, rt.pipeline(shader('reduce'), 'row_sum_thread'), [u, a.x, a.out], [g.x, g.y]));
  }
}

/** Threads we aim for in the first column-sum pass (enough to fill a GPU, few enough to finish quickly). */
const COL_TARGET_THREADS = 16384;
/** Columns sums over at most this many rows are done in one pass. */
const COL_SINGLE_PASS_ROWS = 64;

/**
 * out[c] (+)= Σ_r x[r, c] for x [rows, cols], out [cols] (bias gradients). One pass when rows
 * are few; otherwise rows are split into chunks summed in parallel, then the chunk partials are
 * summed per column — both in a fixed order, so the result is deterministic.
 */
export function recordColSum(
  rt: GpuRuntime,
  list: CommandList,
  a: { x: Tensor; out: Tensor; rows: number; cols: number; accumulate?: boolean },
): void {
  const { rows, cols } = a;
  if (rows * cols > a.x.size) throw new Error(`colSum ${a.x.name}: ${rows}×${cols} exceeds ${a.x.size} elements`);
  if (a.out.size < cols) throw new Error(`colSum ${a.x.name}: output ${a.out.name} has ${a.out.size} < ${cols} elements`);
  const pipe = rt.pipeline(shader('reduce'), 'col_sum');
  const pass1 = (x: Tensor, out: Tensor, r: number, rowsPerChunk: number, chunks: number, accumulate: boolean, label: string) => {
    const g = grid1d(chunks * cols);
    const u = rt.uniform(reduceParams({ rows: r, cols, rowStride: g.x, accumulate, rowsPerChunk, chunks }), 'col_sum.params');
    list.push(rt.dispatch(label, pipe, [u, x, out], [g.x, g.y]));
  };
  let chunks = 1;
  if (rows > COL_SINGLE_PASS_ROWS) {
    // At least 16 rows per thread, at most ~COL_TARGET_THREADS threads, at most 256 chunks.
    chunks = Math.max(1, Math.min(Math.ceil(rows / 16), Math.ceil(COL_TARGET_THREADS / cols), 256));
  }
  if (chunks === 1) {
    pass1(a.x, a.out, rows, rows, 1, a.accumulate ?? false, `col_sum(${a.x.name})`);
    return;
  }
  const rowsPerChunk = Math.ceil(rows / chunks);
  chunks = Math.ceil(rows / rowsPerChunk);
  const partials = scratch(rt, chunks * cols, `col_sum.partials(${a.x.name})`);
  pass1(a.x, partials, rows, rowsPerChunk, chunks, false, `col_sum.1(${a.x.name})`);
  pass1(partials, a.out, chunks, chunks, 1, a.accumulate ?? false, `col_sum.2(${a.x.name})`);
}

// ---------- CPU references (float64) ----------

export function reduceCpu(x: ArrayLike<number>, op: ReduceOp, n = x.length): number {
  let acc = 0;
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    if (op === 'sum') acc += v;
    else if (op === 'sumsq') acc += v * v;
    else acc = Math.max(acc, Math.abs(v));
  }
  return acc;
}

export function rowSumCpu(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += x[r * cols + c]!;
    out[r] = s;
  }
  return out;
}

export function colSumCpu(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c] += x[r * cols + c]!;
  return out;
}
