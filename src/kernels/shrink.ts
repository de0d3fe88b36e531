/**
 * Sparsity non-linearities on the GPU (shaders/shrink.wgsl), beside float64 CPU references:
 *  - soft-threshold σ_λ(x) = sign(x)·max(|x| − λ, 0) and ReLU-λ σ_λ(x) = max(x − λ, 0),
 *    forward and backward, λ read from a one-element storage tensor (so a schedule can change it
 *    between steps with a queue.writeBuffer), an optional per-column mask (1 keeps, 0 zeroes the
 *    column exactly) and, in the backward, an optional weighted-L1 term w[col]·sign(x);
 *  - the number of non-zeros per row and their mean over rows (the atoms adapter's "active
 *    atoms per token"), by a fixed-order two-stage sum: deterministic and exact.
 * The derivative at the kink (|x| = λ, resp. x = λ) is taken as 0.
 */
import type { CommandList, GpuRuntime } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { defineParams, opt } from '../engine/uniform-params';
import { grid1d } from './grid';
import { shader } from './shader-sources';

export type ShrinkKind = 'soft' | 'relu';

const WG = 64;
const RELU = 1;
const HAS_MASK = 2;
const HAS_WEIGHTS = 4;
const ACCUMULATE = 8;
const WRITE_COUNTS = 16;
/** Rows summed by one thread in the first counting stage. */
export const COUNT_CHUNK = 16;

const PARAMS = defineParams(
  { shaders: ['shrink'], struct: 'Params' },
  { n: opt('u32'), cols: 'u32', row_stride: opt('u32'), flags: 'u32', rows: opt('u32'), chunk: opt('u32'), parts: opt('u32'), _pad: 'u32' },
);

function checkKind(kind: ShrinkKind): void {
  if (kind !== 'soft' && kind !== 'relu') throw new Error(`shrink: unknown kind '${String(kind)}' (soft | relu)`);
}

function checkCommon(what: string, a: { x: Tensor; cols: number; lambda: Tensor; mask?: Tensor | undefined; n: number }): void {
  if (!Number.isInteger(a.cols) || a.cols < 1) throw new Error(`${what}: cols=${a.cols} must be a positive integer`);
  if (!Number.isInteger(a.n) || a.n < 1 || a.n > a.x.size) throw new Error(`${what}: n=${a.n} outside 1..${a.x.size}`);
  if (a.n % a.cols !== 0) throw new Error(`${what}: n=${a.n} is not a multiple of cols=${a.cols}`);
  if (a.lambda.size < 1) throw new Error(`${what}: lambda tensor ${a.lambda.name} is empty`);
  if (a.mask && a.mask.size < a.cols) throw new Error(`${what}: mask ${a.mask.name} has ${a.mask.size} < cols=${a.cols} elements`);
}

/** y = mask[col]·σ_λ(x) over the first n elements (default x.size), rows of `cols`. y must be another buffer than x. */
export function recordShrinkForward(
  rt: GpuRuntime,
  list: CommandList,
  a: { kind: ShrinkKind; x: Tensor; y: Tensor; lambda: Tensor; cols: number; n?: number; mask?: Tensor; label?: string },
): void {
  checkKind(a.kind);
  const n = a.n ?? a.x.size;
  const what = `shrink forward(${a.label ?? a.x.name})`;
  checkCommon(what, { ...a, n });
  if (a.y.size < n) throw new Error(`${what}: y ${a.y.name} has ${a.y.size} < ${n} elements`);
  if (a.y.buffer === a.x.buffer || a.y.buffer === a.lambda.buffer || (a.mask && a.mask.buffer === a.y.buffer)) {
    throw new Error(`${what}: y ${a.y.name} shares a buffer with an input`);
  }
  const g = grid1d(n, WG);
  const flags = (a.kind === 'relu' ? RELU : 0) | (a.mask ? HAS_MASK : 0);
  const u = rt.uniform(PARAMS.pack({ n, cols: a.cols, row_stride: g.x, flags }), 'shrink_forward.params');
  // An absent mask binds x (read-only aliases are allowed); the flag keeps it unread.
  list.push(rt.dispatch(what, rt.pipeline(shader('shrink'), 'shrink_forward'), [u, a.lambda, a.x, a.mask ?? a.x, a.y], [g.x, g.y]));
}

/**
 * dx (+)= mask[col]·σ'_λ(x)·(dy + w[col]·sign(x)), x being the forward's input. With `weights`
 * this adds the gradient of Σ w[col]·|σ_λ(x)| (a weighted L1 penalty on the output).
 */
export function recordShrinkBackward(
  rt: GpuRuntime,
  list: CommandList,
  a: { kind: ShrinkKind; x: Tensor; dy: Tensor; dx: Tensor; lambda: Tensor; cols: number; n?: number; mask?: Tensor; weights?: Tensor; accumulate?: boolean; label?: string },
): void {
  checkKind(a.kind);
  const n = a.n ?? a.x.size;
  const what = `shrink backward(${a.label ?? a.x.name})`;
  checkCommon(what, { ...a, n });
  if (a.dy.size < n) throw new Error(`${what}: dy ${a.dy.name} has ${a.dy.size} < ${n} elements`);
  if (a.dx.size < n) throw new Error(`${what}: dx ${a.dx.name} has ${a.dx.size} < ${n} elements`);
  if (a.weights && a.weights.size < a.cols) throw new Error(`${what}: weights ${a.weights.name} has ${a.weights.size} < cols=${a.cols} elements`);
  for (const t of [a.x, a.dy, a.lambda, a.mask, a.weights]) {
    if (t && t.buffer === a.dx.buffer) throw new Error(`${what}: dx ${a.dx.name} shares a buffer with input ${t.name}`);
  }
  const g = grid1d(n, WG);
  const flags = (a.kind === 'relu' ? RELU : 0) | (a.mask ? HAS_MASK : 0) | (a.weights ? HAS_WEIGHTS : 0) | (a.accumulate ? ACCUMULATE : 0);
  const u = rt.uniform(PARAMS.pack({ n, cols: a.cols, row_stride: g.x, flags }), 'shrink_backward.params');
  list.push(rt.dispatch(what, rt.pipeline(shader('shrink'), 'shrink_backward'), [u, a.lambda, a.x, a.dy, a.mask ?? a.x, a.weights ?? a.x, a.dx], [g.x, g.y]));
}

/**
 * Non-zeros per row of x [rows, cols]: `counts[r]` (optional, f32) and their mean over rows in
 * `mean[0]`. Two dispatches (COUNT_CHUNK rows per thread, then one thread); a partials scratch
 * is allocated here, at record time.
 */
export function recordRowNonzeros(
  rt: GpuRuntime,
  list: CommandList,
  a: { x: Tensor; rows: number; cols: number; mean: Tensor; counts?: Tensor; label?: string },
): { scratch: Tensor[] } {
  const { rows, cols } = a;
  const what = `row_nonzeros(${a.label ?? a.x.name})`;
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(cols) || cols < 1) throw new Error(`${what}: rows=${rows}, cols=${cols} must be positive integers`);
  if (rows * cols > a.x.size) throw new Error(`${what}: ${rows}×${cols} exceeds ${a.x.size} elements`);
  if (a.counts && a.counts.size < rows) throw new Error(`${what}: counts ${a.counts.name} has ${a.counts.size} < ${rows} elements`);
  if (a.mean.size < 1) throw new Error(`${what}: mean ${a.mean.name} is empty`);
  for (const t of [a.counts, a.mean]) if (t && t.buffer === a.x.buffer) throw new Error(`${what}: output ${t.name} shares x's buffer`);
  const parts = Math.ceil(rows / COUNT_CHUNK);
  const partials = rt.tensor([parts], `${what}.partials`);
  const scratch = [partials];
  // Without per-row output a shared placeholder is bound (the flag keeps it unwritten).
  const counts = a.counts ?? rt.sharedTensor('shrink.nocounts', [1]);
  const g = grid1d(parts, WG);
  const u1 = rt.uniform(PARAMS.pack({ cols, row_stride: g.x, flags: a.counts ? WRITE_COUNTS : 0, rows, chunk: COUNT_CHUNK, parts }), 'count_partial.params');
  list.push(rt.dispatch(`${what}.partial`, rt.pipeline(shader('shrink'), 'count_partial'), [u1, a.x, counts, partials], [g.x, g.y]));
  const u2 = rt.uniform(PARAMS.pack({ cols, flags: 0, rows, parts }), 'count_final.params');
  list.push(rt.dispatch(`${what}.final`, rt.pipeline(shader('shrink'), 'count_final'), [u2, partials, a.mean], [1]));
  return { scratch };
}

// ---------- CPU references (float64) ----------

export function shrinkScalar(kind: ShrinkKind, v: number, lambda: number): number {
  if (kind === 'relu') return Math.max(v - lambda, 0);
  return Math.sign(v) * Math.max(Math.abs(v) - lambda, 0);
}

export function shrinkActive(kind: ShrinkKind, v: number, lambda: number): boolean {
  return kind === 'relu' ? v > lambda : Math.abs(v) > lambda;
}

export function shrinkCpu(kind: ShrinkKind, x: ArrayLike<number>, lambda: number, cols: number, mask?: ArrayLike<number>): Float64Array {
  checkKind(kind);
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = shrinkScalar(kind, x[i]!, lambda);
    y[i] = mask ? v * mask[i % cols]! : v;
  }
  return y;
}

export function shrinkBackwardCpu(
  kind: ShrinkKind,
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  lambda: number,
  cols: number,
  opts: { mask?: ArrayLike<number>; weights?: ArrayLike<number>; dxOld?: ArrayLike<number> } = {},
): Float64Array {
  checkKind(kind);
  const dx = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    let g = 0;
    if (shrinkActive(kind, v, lambda)) {
      g = dy[i]!;
      if (opts.weights) g += opts.weights[i % cols]! * Math.sign(v);
      if (opts.mask) g *= opts.mask[i % cols]!;
    }
    dx[i] = g + (opts.dxOld ? opts.dxOld[i]! : 0);
  }
  return dx;
}

export function rowNonzerosCpu(x: ArrayLike<number>, rows: number, cols: number): { counts: Float64Array; mean: number } {
  const counts = new Float64Array(rows);
  let total = 0;
  for (let r = 0; r < rows; r++) {
    let c = 0;
    for (let j = 0; j < cols; j++) if (x[r * cols + j] !== 0) c++;
    counts[r] = c;
    total += c;
  }
  return { counts, mean: total / rows };
}
