/** GELU and axpby on the GPU, beside their CPU references. */
import type { CommandList, GpuRuntime } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { grid1d } from './grid';
import { shader } from './shader-sources';

function params(n: number, rowStride: number, a: number, b: number): ArrayBuffer {
  const buf = new ArrayBuffer(16);
  new Uint32Array(buf, 0, 2).set([n, rowStride]);
  new Float32Array(buf, 8, 2).set([a, b]);
  return buf;
}

export function recordGeluForward(rt: GpuRuntime, list: CommandList, x: Tensor, y: Tensor): void {
  if (x.size !== y.size) throw new Error(`gelu: x has ${x.size} elements, y has ${y.size}`);
  const g = grid1d(x.size);
  const u = rt.uniform(params(x.size, g.x, 0, 0), 'gelu.params');
  list.push(rt.dispatch(`gelu_fwd(${x.name})`, rt.pipeline(shader('elementwise'), 'gelu_forward'), [u, x, y], [g.x, g.y]));
}

export function recordGeluBackward(rt: GpuRuntime, list: CommandList, x: Tensor, dy: Tensor, dx: Tensor, accumulate = false): void {
  const g = grid1d(x.size);
  const u = rt.uniform(new Uint32Array([x.size, g.x, accumulate ? 1 : 0, 0]), 'gelu_bwd.params');
  list.push(rt.dispatch(`gelu_bwd(${x.name})`, rt.pipeline(shader('elementwise_backward'), 'gelu_backward'), [u, x, dy, dx], [g.x, g.y]));
}

/** y = alpha·x + beta·y */
export function recordAxpby(rt: GpuRuntime, list: CommandList, x: Tensor, y: Tensor, alpha: number, beta: number): void {
  if (x.size !== y.size) throw new Error(`axpby: x has ${x.size} elements, y has ${y.size}`);
  const g = grid1d(x.size);
  const u = rt.uniform(params(x.size, g.x, alpha, beta), 'axpby.params');
  list.push(rt.dispatch(`axpby(${x.name}→${y.name})`, rt.pipeline(shader('elementwise'), 'axpby'), [u, x, y], [g.x, g.y]));
}

/** y[r, :] += alpha·x for every row r of y (x has `x.size` elements; y.size must be a multiple). */
export function recordBroadcastAdd(rt: GpuRuntime, list: CommandList, x: Tensor, y: Tensor, alpha = 1): void {
  if (y.size % x.size !== 0) throw new Error(`broadcast_add: ${y.name} (${y.size}) is not a multiple of ${x.name} (${x.size})`);
  const g = grid1d(y.size);
  const buf = params(y.size, g.x, alpha, 0);
  new Uint32Array(buf, 12, 1)[0] = x.size; // period, read in WGSL via bitcast
  const u = rt.uniform(buf, 'broadcast_add.params');
  list.push(rt.dispatch(`broadcast_add(${x.name}→${y.name})`, rt.pipeline(shader('elementwise'), 'broadcast_add'), [u, x, y], [g.x, g.y]));
}

// ---------- CPU references (float64) ----------

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
