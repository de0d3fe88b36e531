/**
 * The column kernels of shaders/low_rank.wgsl (rank-dimension scaling for the low-rank adapters
 * LoRA, SoRA, VeRA), beside their float64 CPU references. Both work on a row-major
 * [rows, cols] matrix whose column j is one unit (a rank dimension, or an output channel):
 *   recordScaleCols:  dst[i, j] = src[i, j] · mask[j] (· scale[j])
 *   recordColDotGrad: out[j]    = mask[j] · Σ_i a[i, j] · b[i, j]   (the gradient of a per-column scale)
 * No barriers or workgroup memory; the column reduction is one thread per column with a plain
 * loop over rows, so it is deterministic.
 */
import type { CommandList, GpuRuntime } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { defineParams } from '../engine/uniform-params';
import { grid1d } from './grid';
import { shader } from './shader-sources';

const PARAMS = defineParams({ shaders: ['low_rank'], struct: 'Params' }, { n: 'u32', rank: 'u32', rows: 'u32', row_stride: 'u32' });

function check(what: string, t: Tensor, n: number): void {
  if (t.size !== n) throw new Error(`${what}: ${t.name} has ${t.size} elements, expected ${n}`);
}

/** dst = src ⊙ (mask · scale) column-wise; `scale` omitted = mask only. src and dst may not alias. */
export function recordScaleCols(rt: GpuRuntime, list: CommandList, a: { src: Tensor; dst: Tensor; mask: Tensor; scale?: Tensor; rows: number; cols: number; label: string }): void {
  const n = a.rows * a.cols;
  check('scale_cols', a.src, n);
  check('scale_cols', a.dst, n);
  check('scale_cols', a.mask, a.cols);
  if (a.scale) check('scale_cols', a.scale, a.cols);
  const g = grid1d(n);
  const u = rt.uniform(PARAMS.pack({ n, rank: a.cols, rows: a.rows, row_stride: g.x }), `${a.label}.params`);
  const pipe = rt.pipeline(shader('low_rank'), 'scale_cols', { HAS_GATE: a.scale ? 1 : 0 });
  list.push(rt.dispatch(a.label, pipe, [u, a.src, a.scale ?? a.mask, a.mask, a.dst], [g.x, g.y]));
}

/** out[j] = mask[j] · Σ_i a[i, j] · b[i, j] (overwrites out). */
export function recordColDotGrad(rt: GpuRuntime, list: CommandList, a: { a: Tensor; b: Tensor; mask: Tensor; out: Tensor; rows: number; cols: number; label: string }): void {
  const n = a.rows * a.cols;
  check('col_dot', a.a, n);
  check('col_dot', a.b, n);
  check('col_dot', a.mask, a.cols);
  check('col_dot', a.out, a.cols);
  const u = rt.uniform(PARAMS.pack({ n, rank: a.cols, rows: a.rows, row_stride: 0 }), `${a.label}.params`);
  list.push(rt.dispatch(a.label, rt.pipeline(shader('low_rank'), 'gate_grad'), [u, a.a, a.b, a.mask, a.out], [Math.ceil(a.cols / 64)]));
}

export function scaleColsCpu(src: ArrayLike<number>, rows: number, cols: number, mask: ArrayLike<number>, scale?: ArrayLike<number>): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[i * cols + j] = src[i * cols + j]! * mask[j]! * (scale ? scale[j]! : 1);
  return out;
}

export function colDotGradCpu(a: ArrayLike<number>, b: ArrayLike<number>, rows: number, cols: number, mask: ArrayLike<number>): Float64Array {
  const out = new Float64Array(cols);
  for (let j = 0; j < cols; j++) {
    let acc = 0;
    for (let i = 0; i < rows; i++) acc += a[i * cols + j]! * b[i * cols + j]!;
    out[j] = mask[j]! * acc;
  }
  return out;
}
