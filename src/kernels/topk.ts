/**
 * Per-row top-k selection (shaders/topk.wgsl): x [rows, l] → indices (u32) [rows, k] and
 * values (f32) [rows, k], one dispatch.
 *
 * Output order: slot 0 is the best entry; entries descend by key — the value in 'signed' mode,
 * |value| in 'abs' mode (the value itself keeps its sign) — and equal keys put the lower index
 * first. The same rule breaks selection ties at the k-th key (lower indices win), so results are
 * deterministic. +0 and −0 are equal; NaNs order by their bit pattern.
 *
 * Masks and k override (inference-time controls, read by the kernel each time it runs):
 *  - `mask` [l] (f32, 0 = off): selection ignores the mask; afterwards a selected latent whose
 *    mask is 0 gets value 0 (it is never replaced by the next-best latent).
 *  - `kOverride`: a buffer whose first u32 is k' (clamped to k). The top k entries are still
 *    selected and ordered; slots ≥ k' get value 0 and keep their (valid) index.
 *
 * Variants: 'thread' (one invocation per row, no barriers or workgroup memory: fast on
 * SwiftShader; for k ≤ 64 a chunk-max lower bound of the k-th key plus one filtered insertion
 * pass, vec4 loads when l % 4 == 0; above 64, and for 48 ≤ k ≤ 64 with 4k ≤ l ≤ 8k (radixPays),
 * a radix select + LSD radix sort) and 'workgroup'
 * (one 256-wide workgroup per row with a shared histogram and a bitonic sort in workgroup
 * memory: for real GPUs; k ≤ 1024). 'auto' picks 'thread' on SwiftShader and for k > 1024,
 * else 'workgroup'. Measured on SwiftShader (2 cores, busy machine): 2048 rows × l = 512, k = 16:
 * insertion ~30 ms vs radix select ~70 ms; 64 × 4096, k = 64: ~11 ms vs ~23 ms; the workgroup
 * variant is 10–100× slower there (barriers).
 */
import type { CommandList, GpuRuntime } from '../engine/runtime';
import { Tensor } from '../engine/tensor';
import { defineParams } from '../engine/uniform-params';
import { grid1d } from './grid';
import { shader } from './shader-sources';

export type TopKMode = 'signed' | 'abs';

const PARAMS = defineParams(
  { shaders: ['topk'], struct: 'Params' },
  { rows: 'u32', l: 'u32', k: 'u32', flags: 'u32', row_stride: 'u32', _p0: 'u32', _p1: 'u32', _p2: 'u32' },
);
export type TopKVariant = 'auto' | 'thread' | 'workgroup';

/** Largest k the 'workgroup' variant sorts in workgroup memory. */
export const TOPK_WORKGROUP_MAX_K = 1024;
/** Invocations per workgroup of the 'thread' variant (small: SwiftShader spreads workgroups over cores). */
export const TOPK_THREAD_WG = 16;

export interface TopKArgs {
  x: Tensor;
  rows: number;
  l: number;
  /** Slots per row (the allocated k); 1 ≤ k ≤ l. */
  k: number;
  /** u32 [rows, k] (a Tensor view over a buffer holding u32 bits). */
  indices: Tensor;
  /** f32 [rows, k]. */
  values: Tensor;
  mode?: TopKMode;
  /** f32 [l]: 0 switches a latent off after selection. */
  mask?: Tensor;
  /** First u32 = k' (1 … k; larger values are clamped to k). Written with queue.writeBuffer. */
  kOverride?: GPUBuffer | Tensor;
  variant?: TopKVariant;
  label?: string;
}

/** Which variant `auto` resolves to for this runtime and k. */
export function resolveTopKVariant(rt: GpuRuntime, k: number, variant: TopKVariant = 'auto'): 'thread' | 'workgroup' {
  if (variant === 'thread' || variant === 'workgroup') return variant;
  return rt.isSwiftShader || k > TOPK_WORKGROUP_MAX_K ? 'thread' : 'workgroup';
}

/** A one-u32 storage buffer holding k (for `kOverride`); change it with `writeTopKOverride`. */
export function createTopKOverride(rt: GpuRuntime, k: number, name = 'topk.k'): Tensor {
  const t = rt.tensor([1], name);
  writeTopKOverride(rt, t, k);
  return t;
}

export function writeTopKOverride(rt: GpuRuntime, buf: GPUBuffer | Tensor, k: number): void {
  if (!Number.isInteger(k) || k < 0) throw new Error(`topk override: k must be a non-negative integer, got ${k}`);
  const data = new Uint32Array([k]);
  if (buf instanceof Tensor) rt.device.queue.writeBuffer(buf.buffer, buf.offset, data);
  else rt.device.queue.writeBuffer(buf, 0, data);
}

/** Largest k of the insertion kernels (their sorted list lives in private memory). */
export const TOPK_INSERT_MAX_K = 64;

/** Entry points of the 'thread' variant (shaders/topk.wgsl). */
export type TopKThreadKernel = 'topk_insert4' | 'topk_insert' | 'topk_thread';

/**
 * Where radix select beats insertion although k ≤ 64: k ≥ 48 and 4k ≤ l ≤ 8k, i.e. when the
 * insertion list is long and most of the row passes its first threshold, so nearly every element
 * shifts a long private list. bench/topk-kernels.ts on SwiftShader (2 cores, ms insert4 / radix):
 *   64 rows:   l 256 k 64: 8.2 / 6.0;  l 512 k 64: 11.6 / 9.3;  l 256 k 48: 6.9 / 6.7;
 *              l 128 k 64: 5.3 / 5.9;  l 1024 k 64: 11.1 / 14.6;  l 512 k 48: 9.6 / 9.7
 *   2048 rows: l 256 k 64: 208 / 157;  l 512 k 64: 291 / 228;  l 128 k 64: 101 / 116;
 *              l 1024 k 64: 283 / 325;  l 256 k 32: 86 / 116
 */
export function radixPays(k: number, l: number): boolean {
  return k > TOPK_INSERT_MAX_K || (k >= 48 && l >= 4 * k && l <= 8 * k);
}

/** The entry point the 'thread' variant uses: insertion (vec4 loads when rows are 16-byte aligned) up to k = 64, radix select above and where radixPays. */
export function threadKernel(k: number, l: number, x: Tensor): TopKThreadKernel {
  if (radixPays(k, l)) return 'topk_thread';
  return l % 4 === 0 && x.offset % 16 === 0 ? 'topk_insert4' : 'topk_insert';
}

function checkInt(tag: string, name: string, v: number, min: number, max = Infinity): void {
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`${tag}: ${name} must be an integer in [${min}, ${max}], got ${v}`);
}

export function recordTopK(
  rt: GpuRuntime,
  list: CommandList,
  args: {
    x: Tensor;
    rows: number;
    l: number;
    k: number;
    indices: Tensor;
    values: Tensor;
    mode?: TopKMode;
    mask?: Tensor;
    kOverride?: GPUBuffer | Tensor;
    variant?: TopKVariant;
    /** The 'thread' variant's entry point (default: threadKernel's rule); for tests and bench/topk-kernels.ts. */
    threadKernel?: TopKThreadKernel;
    label?: string;
  },
): void {
  const { x, rows, l, k, indices, values } = args;
  const tag = `topk ${args.label ?? x.name}`;
  checkInt(tag, 'rows', rows, 1);
  checkInt(tag, 'l', l, 1);
  checkInt(tag, 'k', k, 1, l);
  if (rows * l > 2 ** 32 - 1) throw new Error(`${tag}: rows·l = ${rows * l} exceeds 32-bit indexing`);
  if (x.size < rows * l) throw new Error(`${tag}: x '${x.name}' has ${x.size} elements, needs rows·l = ${rows * l}`);
  if (indices.size < rows * k) throw new Error(`${tag}: indices '${indices.name}' has ${indices.size} elements, needs rows·k = ${rows * k}`);
  if (values.size < rows * k) throw new Error(`${tag}: values '${values.name}' has ${values.size} elements, needs rows·k = ${rows * k}`);
  if (args.mask && args.mask.size < l) throw new Error(`${tag}: mask '${args.mask.name}' has ${args.mask.size} elements, needs l = ${l}`);
  const mode = args.mode ?? 'signed';
  if (mode !== 'signed' && mode !== 'abs') throw new Error(`${tag}: mode must be 'signed' or 'abs', got '${String(mode)}'`);
  for (const [role, t] of [
    ['indices', indices],
    ['values', values],
  ] as const) {
    if (t.buffer === x.buffer) throw new Error(`${tag}: ${role} '${t.name}' shares a GPU buffer with x; a dispatch cannot read and write one buffer`);
    if (args.mask && t.buffer === args.mask.buffer) throw new Error(`${tag}: ${role} '${t.name}' shares a GPU buffer with the mask`);
  }
  const variant = resolveTopKVariant(rt, k, args.variant ?? 'auto');
  if (variant === 'workgroup' && k > TOPK_WORKGROUP_MAX_K) throw new Error(`${tag}: the 'workgroup' variant sorts at most k = ${TOPK_WORKGROUP_MAX_K} in workgroup memory, got k = ${k}; use 'thread' or 'auto'`);

  const kbuf = args.kOverride ?? createTopKOverride(rt, k, `${tag}.k`);
  const mask = args.mask ?? rt.sharedTensor('topk.nomask', [1]);
  const flags = (mode === 'abs' ? 1 : 0) | (args.mask ? 2 : 0);
  const g = variant === 'thread' ? grid1d(rows, TOPK_THREAD_WG) : grid1d(rows, 1);
  const u = rt.uniform(PARAMS.pack({ rows, l, k, flags, row_stride: g.x }), `${tag}.params`);
  if (variant === 'thread') {
    const kernel = args.threadKernel ?? threadKernel(k, l, x);
    if (kernel !== 'topk_thread' && k > TOPK_INSERT_MAX_K) throw new Error(`${tag}: ${kernel} keeps at most k = ${TOPK_INSERT_MAX_K}, got k = ${k}`);
    if (kernel === 'topk_insert4' && (l % 4 !== 0 || x.offset % 16 !== 0)) throw new Error(`${tag}: topk_insert4 needs l % 4 == 0 and x 16-byte aligned`);
    const pipe = rt.pipeline(shader('topk'), kernel, { THREAD_WG: TOPK_THREAD_WG });
    const res = [u, x, indices, values, mask, kbuf];
    if (kernel === 'topk_thread') res.push(rt.tensor([2 * rows * k], `${tag}.scratch`));
    list.push(rt.dispatch(`${kernel}(${x.name})`, pipe, res, [g.x, g.y]));
  } else {
    const pipe = rt.pipeline(shader('topk'), 'topk_wg');
    list.push(rt.dispatch(`topk_wg(${x.name})`, pipe, [u, x, indices, values, mask, kbuf], [g.x, g.y]));
  }
}

// ---------- CPU reference (exact) ----------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The kernel's order-preserving u32 key of a value (after rounding it to f32). */
export function topkKey(v: number, mode: TopKMode = 'signed'): number {
  f32[0] = v;
  if (f32[0] === 0) return mode === 'abs' ? 0 : 0x80000000;
  const b = u32[0]!;
  if (mode === 'abs') return (b & 0x7fffffff) >>> 0;
  return b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
}

/**
 * Reference top-k with the kernel's exact semantics (order, ties, mask, k override). `values`
 * are the inputs rounded to f32 (what the kernel copies), zeroed where masked or beyond k'.
 */
export function topkCpu(
  x: ArrayLike<number>,
  a: { rows: number; l: number; k: number; mode?: TopKMode; mask?: ArrayLike<number>; kOverride?: number },
): { indices: Uint32Array; values: Float64Array } {
  const { rows, l, k } = a;
  const mode = a.mode ?? 'signed';
  const kk = Math.min(a.kOverride ?? k, k);
  const indices = new Uint32Array(rows * k);
  const values = new Float64Array(rows * k);
  const order = Array.from({ length: l }, (_, i) => i);
  const keys = new Float64Array(l);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < l; i++) keys[i] = topkKey(x[r * l + i]!, mode);
    order.sort((i, j) => keys[j]! - keys[i]! || i - j);
    for (let s = 0; s < k; s++) {
      const i = order[s]!;
      f32[0] = x[r * l + i]!;
      indices[r * k + s] = i;
      const off = s >= kk || (a.mask !== undefined && a.mask[i] === 0);
      values[r * k + s] = off ? 0 : f32[0];
    }
    for (let i = 0; i < l; i++) order[i] = i;
  }
  return { indices, values };
}
