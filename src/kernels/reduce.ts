/**
 * Deterministic reductions (no float atomics, no barriers): multi-stage reductions to a scalar
 * (a strided first stage, then fixed-span folds), row sums and column sums (bias gradients).
 * Scratch buffers for partial results are allocated here, at record time, and live as long as
 * the runtime; replaying the recorded list allocates nothing.
 */
import type { CommandList, GpuRuntime } from '../engine/runtime';
import { Tensor } from '../engine/tensor';
import { defineParams, opt } from '../engine/uniform-params';
import { MAX_GRID_DIM, grid1d } from './grid';
import { shader } from './shader-sources';

export type ReduceOp = 'sum' | 'sumsq' | 'maxabs';

const OP_CODE: Record<ReduceOp, number> = { sum: 0, sumsq: 1, maxabs: 2 };
/** The op that combines partials of a first-stage op. */
const LATER_STAGE: Record<ReduceOp, number> = { sum: 0, sumsq: 0, maxabs: 3 };

/** Workgroup width of the barrier-free kernels in reduce.wgsl. */
export const REDUCE_WG = 64;
/** First-stage threads: one per this many inputs … */
export const STRIDED_PER_THREAD = 256;
/** … but at most this many (measured fastest on SwiftShader for 1M inputs; plenty for GPUs). */
export const STRIDED_MAX_THREADS = 4096;
/** A single thread finishes at most this many partials; above it, folds of FOLD_SPAN each. */
export const FINAL_MAX = 256;
export const FOLD_SPAN = 64;

/** The uniform of shaders/reduce.wgsl. */
const PARAMS = defineParams(
  { shaders: ['reduce'], struct: 'Params' },
  {
    n: opt('u32'), threads: opt('u32'), span: opt('u32'), row_stride: opt('u32'), rows: opt('u32'), cols: opt('u32'),
    accumulate: opt('u32'), rows_per_chunk: opt('u32'), chunks: opt('u32'), scale_a: opt('f32', 1), scale_b: opt('f32', 1), divide_by_b: opt('u32'),
  },
);

/** Threads of a strided first stage over n inputs (1 for n ≤ 256). */
export function stridedThreads(n: number, perThread = STRIDED_PER_THREAD, maxThreads = STRIDED_MAX_THREADS): number {
  return Math.max(1, Math.min(maxThreads, Math.ceil(n / perThread)));
}

/**
 * Fold passes that bring m partials down to at most `finalMax` (each pass: threads × span).
 * With finalMax = 1 the last pass is the one that produces the single result.
 */
export function foldPasses(m: number, finalMax: number): { n: number; threads: number; span: number }[] {
  const passes: { n: number; threads: number; span: number }[] = [];
  while (m > finalMax) {
    const span = m <= FINAL_MAX ? m : FOLD_SPAN;
    const threads = Math.ceil(m / span);
    passes.push({ n: m, threads, span });
    m = threads;
  }
  return passes;
}

/** Workgroups (of `wg` threads) for `threads` threads as an x × y grid within the limit. */
export function threadGrid(threads: number, wg = REDUCE_WG): { x: number; y: number } {
  return grid1d(threads, wg);
}

/** A scratch tensor of `n` floats in its own buffer. */
export function scratch(rt: GpuRuntime, n: number, name: string): Tensor {
  return rt.tensor([Math.max(1, n)], name);
}

/**
 * out[0] = op over x[0..n). `out` is any one-element tensor (or a view at an aligned offset) in
 * a buffer other than x's. 1 dispatch for n ≤ 256, 2 up to 65536, 3 beyond (up to 4096·256·64).
 * maxabs of NaN inputs is implementation-defined (WGSL max); use sumsq to detect non-finite values.
 */
export function recordReduce(rt: GpuRuntime, list: CommandList, a: { x: Tensor; out: Tensor; op: ReduceOp; n?: number }): void {
  const n = a.n ?? a.x.size;
  if (!(n >= 1 && n <= a.x.size)) throw new Error(`reduce ${a.x.name}: n=${n} outside 1..${a.x.size}`);
  if (a.out.size < 1) throw new Error(`reduce ${a.x.name}: output ${a.out.name} is empty`);
  if (a.out.buffer === a.x.buffer) throw new Error(`reduce ${a.x.name}: output ${a.out.name} shares the input's buffer`);
  const out = a.out.size === 1 ? a.out : new Tensor(a.out.buffer, a.out.offset, [1], a.out.name);
  const T = stridedThreads(n);
  const folds = foldPasses(T, 1);
  const bufs = [T > 1 ? scratch(rt, T, `reduce.${a.op}.partials(${a.x.name})`) : out];
  if (folds.length > 1) bufs.push(scratch(rt, folds[0]!.threads, `reduce.${a.op}.partials2(${a.x.name})`));
  const g = threadGrid(T);
  const u1 = rt.uniform(PARAMS.pack({ n, threads: T, row_stride: g.x }), `reduce.${a.op}.params`);
  const first = rt.pipeline(shader('reduce'), 'reduce_strided', { OP: OP_CODE[a.op] });
  list.push(rt.dispatch(`reduce_${a.op}(${a.x.name})`, first, [u1, a.x, bufs[0]!], [g.x, g.y]));
  const fold = rt.pipeline(shader('reduce'), 'reduce_fold', { OP: LATER_STAGE[a.op] });
  folds.forEach((f, k) => {
    const src = bufs[k % 2]!;
    const dst = k === folds.length - 1 ? out : bufs[(k + 1) % 2]!;
    const gf = threadGrid(f.threads);
    const u = rt.uniform(PARAMS.pack({ n: f.n, threads: f.threads, span: f.span, row_stride: gf.x }), `reduce.${a.op}.fold${k}`);
    list.push(rt.dispatch(`reduce_${a.op}.fold${k}(${a.x.name})`, fold, [u, src, dst], [gf.x, gf.y]));
  });
}

/**
 * Folds `count` (a, b) pairs in `pairs` into y = A·scaleA (÷B when divideByB), y2 = B·scaleB:
 * fold passes while more than 256 pairs remain, then one thread. Scratch for the folds is
 * allocated here. y and y2 must not share a buffer with `pairs`.
 */
export function recordPairFinal(
  rt: GpuRuntime,
  list: CommandList,
  label: string,
  pairs: Tensor,
  count: number,
  y: Tensor,
  y2: Tensor,
  q: { scaleA: number; scaleB: number; divideByB: boolean },
): void {
  const folds = foldPasses(count, FINAL_MAX);
  const bufs = folds.map((f, k) => scratch(rt, 2 * f.threads, `${label}.pairs${k}`));
  let src = pairs;
  folds.forEach((f, k) => {
    const g = threadGrid(f.threads);
    const u = rt.uniform(PARAMS.pack({ n: f.n, threads: f.threads, span: f.span, row_stride: g.x }), `${label}.fold${k}`);
    list.push(rt.dispatch(`${label}.fold${k}`, rt.pipeline(shader('reduce'), 'pair_fold'), [u, src, bufs[k]!], [g.x, g.y]));
    src = bufs[k]!;
  });
  const n = folds.length ? folds[folds.length - 1]!.threads : count;
  const u = rt.uniform(PARAMS.pack({ n, scale_a: q.scaleA, scale_b: q.scaleB, divide_by_b: q.divideByB }), `${label}.final.params`);
  list.push(rt.dispatch(`${label}.final`, rt.pipeline(shader('reduce'), 'pair_final'), [u, src, y, y2], [1]));
}

/** Splits `groups` workgroups into an x × y grid within the per-dimension limit. */
function grid2(groups: number): { x: number; y: number } {
  if (groups <= MAX_GRID_DIM) return { x: Math.max(1, groups), y: 1 };
  const y = Math.ceil(groups / MAX_GRID_DIM);
  return { x: Math.ceil(groups / y), y };
}

export type RowSumVariant = 'thread' | 'workgroup';

/**
 * out[r] (+)= Σ_c x[r, c] for x [rows, cols] (row-major), out [rows]. One dispatch. Variant:
 * a thread per row, or (default on real GPUs for rows ≥ 256 wide) a workgroup per row.
 */
export function recordRowSum(
  rt: GpuRuntime,
  list: CommandList,
  a: { x: Tensor; out: Tensor; rows: number; cols: number; accumulate?: boolean; variant?: RowSumVariant },
): void {
  const { rows, cols } = a;
  if (rows * cols > a.x.size) throw new Error(`rowSum ${a.x.name}: ${rows}×${cols} exceeds ${a.x.size} elements`);
  if (a.out.size < rows) throw new Error(`rowSum ${a.x.name}: output ${a.out.name} has ${a.out.size} < ${rows} elements`);
  const variant = a.variant ?? (!rt.isSwiftShader && cols >= 256 ? 'workgroup' : 'thread');
  if (variant === 'workgroup') {
    const g = grid2(rows);
    const u = rt.uniform(PARAMS.pack({ rows, cols, row_stride: g.x, accumulate: a.accumulate }), 'row_sum.params');
    list.push(rt.dispatch(`row_sum(${a.x.name})`, rt.pipeline(shader('reduce'), 'row_sum_wg'), [u, a.x, a.out], [g.x, g.y]));
  } else {
    const g = threadGrid(rows);
    const u = rt.uniform(PARAMS.pack({ rows, cols, row_stride: g.x, accumulate: a.accumulate }), 'row_sum.params');
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
  const pass = (x: Tensor, out: Tensor, r: number, rowsPerChunk: number, chunks: number, accumulate: boolean, label: string) => {
    const g = threadGrid(chunks * cols);
    const u = rt.uniform(PARAMS.pack({ rows: r, cols, row_stride: g.x, accumulate, rows_per_chunk: rowsPerChunk, chunks }), 'col_sum.params');
    list.push(rt.dispatch(label, pipe, [u, x, out], [g.x, g.y]));
  };
  let chunks = 1;
  if (rows > COL_SINGLE_PASS_ROWS) {
    // At least 16 rows per thread, at most ~COL_TARGET_THREADS threads, at most 256 chunks.
    chunks = Math.max(1, Math.min(Math.ceil(rows / 16), Math.ceil(COL_TARGET_THREADS / cols), 256));
  }
  if (chunks === 1) {
    pass(a.x, a.out, rows, rows, 1, a.accumulate ?? false, `col_sum(${a.x.name})`);
    return;
  }
  const rowsPerChunk = Math.ceil(rows / chunks);
  chunks = Math.ceil(rows / rowsPerChunk);
  const partials = scratch(rt, chunks * cols, `col_sum.partials(${a.x.name})`);
  pass(a.x, partials, rows, rowsPerChunk, chunks, false, `col_sum.1(${a.x.name})`);
  pass(partials, a.out, chunks, chunks, 1, a.accumulate ?? false, `col_sum.2(${a.x.name})`);
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
