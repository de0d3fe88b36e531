/** GELU and axpby on the GPU, beside their CPU references. */
import type { CommandList, GpuRuntime } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { defineParams, opt } from '../engine/uniform-params';
import { grid1d } from './grid';
import { shader } from './shader-sources';

const PARAMS = defineParams(
  { shaders: ['elementwise'], struct: 'Params' },
  { n: 'u32', row_stride: 'u32', alpha: opt('f32'), beta: opt('f32'), period: opt('u32'), _p0: 'u32', _p1: 'u32', _p2: 'u32' },
);
const BACKWARD_PARAMS = defineParams({ shaders: ['elementwise_backward'], struct: 'Params' }, { n: 'u32', row_stride: 'u32', accumulate: 'u32', _pad: 'u32' });

export function recordGeluForward(rt: GpuRuntime, list: CommandList, x: Tensor, y: Tensor): void {
  if (x.size !== y.size) throw new Error(`gelu: x has ${x.size} elements, y has ${y.size}`);
  const g = grid1d(x.size);
  const u = rt.uniform(PARAMS.pack({ n: x.size, row_stride: g.x }), 'gelu.params');
  list.push(rt.dispatch(`gelu_fwd(${x.name})`, rt.pipeline(shader('elementwise'), 'gelu_forward'), [u, x, y], [g.x, g.y]));
}

export function recordGeluBackward(rt: GpuRuntime, list: CommandList, x: Tensor, dy: Tensor, dx: Tensor, accumulate = false): void {
  const g = grid1d(x.size);
  const u = rt.uniform(BACKWARD_PARAMS.pack({ n: x.size, row_stride: g.x, accumulate }), 'gelu_bwd.params');
  list.push(rt.dispatch(`gelu_bwd(${x.name})`, rt.pipeline(shader('elementwise_backward'), 'gelu_backward'), [u, x, dy, dx], [g.x, g.y]));
}

/** y = alpha·x + beta·y */
export function recordAxpby(rt: GpuRuntime, list: CommandList, x: Tensor, y: Tensor, alpha: number, beta: number): void {
  if (x.size !== y.size) throw new Error(`axpby: x has ${x.size} elements, y has ${y.size}`);
  const g = grid1d(x.size);
  const u = rt.uniform(PARAMS.pack({ n: x.size, row_stride: g.x, alpha, beta }), 'axpby.params');
  list.push(rt.dispatch(`axpby(${x.name}→${y.name})`, rt.pipeline(shader('elementwise'), 'axpby'), [u, x, y], [g.x, g.y]));
}

/** y[r, :] += alpha·x for every row r of y (x has `x.size` elements; y.size must be a multiple). */
export function recordBroadcastAdd(rt: GpuRuntime, list: CommandList, x: Tensor, y: Tensor, alpha = 1): void {
  if (y.size % x.size !== 0) throw new Error(`broadcast_add: ${y.name} (${y.size}) is not a multiple of ${x.name} (${x.size})`);
  const g = grid1d(y.size);
  const u = rt.uniform(PARAMS.pack({ n: y.size, row_stride: g.x, alpha, period: x.size }), 'broadcast_add.params');
  list.push(rt.dispatch(`broadcast_add(${x.name}→${y.name})`, rt.pipeline(shader('elementwise'), 'broadcast_add'), [u, x, y], [g.x, g.y]));
}

// ---------- CPU references (float64) ----------

/** y[i] + alpha·x[i mod x.length], as recordBroadcastAdd. */
export function broadcastAddCpu(x: ArrayLike<number>, y: ArrayLike<number>, alpha = 1): Float64Array {
  const out = new Float64Array(y.length);
  for (let i = 0; i < y.length; i++) out[i] = y[i]! + alpha * x[i % x.length]!;
  return out;
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

export function geluCpu(x: ArrayLike<number>): Float64Array {
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    y[i] = 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v * v * v)));
  }
  return y;
}

export function geluBackwardCpu(x: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  const dx = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    const t = Math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v * v * v));
    const du = SQRT_2_OVER_PI * (1 + 3 * 0.044715 * v * v);
    dx[i] = dy[i]! * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du);
  }
  return dx;
}
