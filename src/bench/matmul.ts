/**
 * Matmul cases of the benchmark (Node bench and the page): both variants behind recordMatmul at
 * the toy models' shapes and at 512³ (and 4096³ where the adapter is a real GPU, see
 * scripts/gpu-check.sh). GFLOP/s = 2·M·N·K / time.
 */
import { CommandList, type GpuRuntime } from '../engine/runtime';
import { matmulFlops, recordMatmul, type MatmulVariant } from '../kernels/matmul';
import { timeList } from './time-list';
import type { BenchRow } from './types';

export type MatmulShape = readonly [M: number, N: number, K: number];

export const MATMUL_SHAPES: MatmulShape[] = [
  [64, 64, 64],
  [2048, 128, 128],
  [2048, 512, 128],
  [2048, 128, 512],
  [4096, 128, 128],
  [4096, 256, 256],
  [512, 512, 512],
];

export const MATMUL_VARIANTS: Exclude<MatmulVariant, 'auto'>[] = ['regblock', 'tiled'];

export function benchData(n: number, seed = 12345): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = s / 4294967296 - 0.5;
  }
  return out;
}

/** Repetitions per timing: about 2 GFLOP of work, 1 … 20 (3 with quick). */
export function matmulReps(shape: MatmulShape, quick: boolean): number {
  return Math.max(1, Math.min(quick ? 3 : 20, Math.round(2e9 / matmulFlops(...shape))));
}

/** Times each variant at one shape; rows carry ms and GFLOP/s. */
export async function benchMatmulShape(rt: GpuRuntime, shape: MatmulShape, opts: { quick: boolean; variants?: readonly Exclude<MatmulVariant, 'auto'>[] }): Promise<BenchRow[]> {
  const [M, N, K] = shape;
  const a = rt.tensor([M, K], 'a', benchData(M * K, 1));
  const b = rt.tensor([K, N], 'b', benchData(K * N, 2));
  const c = rt.tensor([M, N], 'c');
  const flops = matmulFlops(M, N, K);
  const reps = matmulReps(shape, opts.quick);
  const rows: BenchRow[] = [];
  try {
    for (const variant of opts.variants ?? MATMUL_VARIANTS) {
      const list = new CommandList(`matmul.${variant}`);
      recordMatmul(rt, list, { a, b, c, M, N, K, variant });
      const ms = await timeList(rt, list, reps);
      // kernelEntry: the kernel the variant's rule chose (e.g. matmul_regblock_wide), from the dispatch label.
      rows.push({ kernel: `matmul.${variant}`, shape: `${M}×${N}×${K}`, ms, gflops: flops / ms / 1e6, kernelEntry: list.ops[0]!.label.split('(')[0] });
    }
  } finally {
    for (const t of [a, b, c]) rt.release(t);
  }
  return rows;
}
