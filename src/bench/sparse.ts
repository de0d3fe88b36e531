/**
 * STAN's sparse kernels (the Node bench and the page's benchmark):
 *  - topk for k ∈ {1, 8, 64} × l ∈ {256, 1024, 4096} (64 rows), against a peer (TF.js's tf.topk in
 *    the Node bench) on the same adapter when one is given;
 *  - sparse decode (y += (1/k)·D·code, m = 128, 256 rows) over the same grid, with the dense
 *    matmul that computes the same output without sparsity ([256, l]·[l, 128]) for reference:
 *    the sparse decode's time follows k, the dense one follows l;
 *  - latent-stats accumulation of one 2048-row code (the `stan-linear` step's shape; the step
 *    itself is a case in src/bench/steps.ts).
 */
import { LatentStats } from '../analysis/latent-stats';
import { CommandList, type GpuRuntime } from '../engine/runtime';
import { StepParams } from '../engine/step-params';
import { recordMatmul } from '../kernels/matmul';
import { recordSparseDecode, recordTranspose } from '../kernels/stan-sparse';
import { recordTopK, resolveTopKVariant, threadKernel } from '../kernels/topk';
import type { BenchRow } from './types';
import { STAN_LINEAR } from './steps';

type TimeList = (rt: GpuRuntime, list: CommandList, reps: number) => Promise<number>;

const KS = [1, 8, 64] as const;
const LS = [256, 1024, 4096] as const;

function fill(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = s / 4294967296 - 0.5;
  }
  return out;
}

/** A peer's top-k of the same shape (ms), e.g. TF.js's tf.topk in the Node bench. */
export type TopkPeer = { name: string; ms(rows: number, l: number, k: number, reps: number): Promise<number> };

export async function benchSparse(rt: GpuRuntime, opts: { quick: boolean; timeList: TimeList; topkPeer?: TopkPeer }): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const reps = opts.quick ? 2 : 10;

  // ---- top-k ----
  const topkRows = 64;
  for (const l of LS) {
    const x = rt.tensor([topkRows, l], 'topk.x', fill(topkRows * l, l));
    for (const k of KS) {
      const indices = rt.tensor([topkRows, k], 'topk.idx');
      const values = rt.tensor([topkRows, k], 'topk.val');
      const list = new CommandList('topk');
      recordTopK(rt, list, { x, rows: topkRows, l, k, indices, values });
      const ms = await opts.timeList(rt, list, reps);
      const variant = resolveTopKVariant(rt, k);
      const row: BenchRow = { kernel: 'topk', shape: `rows=${topkRows} l=${l} k=${k}`, ms, kernelEntry: variant === 'thread' ? threadKernel(k, l, x) : 'topk_wg' };
      if (opts.topkPeer) {
        const base = await opts.topkPeer.ms(topkRows, l, k, opts.quick ? 1 : 3);
        row.baseline = { name: opts.topkPeer.name, ms: base };
        row.ratio = base / ms;
        row.peers = { [opts.topkPeer.name]: { ms: base, ratio: base / ms } }; // the report's peer columns
      }
      rows.push(row);
      rt.release(indices);
      rt.release(values);
    }
    rt.release(x);
  }

  // ---- sparse decode vs the dense product ----
  const decRows = 256;
  const m = 128;
  for (const l of LS) {
    const D = rt.tensor([m, l], 'dec.D', fill(m * l, 3 * l));
    const Dt = rt.tensor([l, m], 'dec.Dt');
    const y = rt.tensor([decRows, m], 'dec.y');
    const setup = new CommandList('dec.setup');
    recordTranspose(rt, setup, { src: D, dst: Dt, rows: m, cols: l });
    rt.submit([setup]);
    // Dense reference: y = A·Dᵀ with A [256, l] (what the decode computes when the code is dense).
    const A = rt.tensor([decRows, l], 'dec.A', fill(decRows * l, 5 * l));
    const dense = new CommandList('dec.dense');
    recordMatmul(rt, dense, { a: A, b: D, c: y, M: decRows, N: m, K: l, transB: true, accumulate: true });
    const denseMs = await opts.timeList(rt, dense, reps);
    for (const k of KS) {
      const idx = new Uint32Array(decRows * k);
      for (let r = 0; r < decRows; r++) for (let j = 0; j < k; j++) idx[r * k + j] = (r * 131 + j * 977) % l;
      const indices = rt.tensor([decRows, k], 'dec.idx', new Float32Array(idx.buffer));
      const values = rt.tensor([decRows, k], 'dec.val', fill(decRows * k, k));
      const list = new CommandList('decode');
      recordSparseDecode(rt, list, { indices, values, rows: decRows, l, k, m, D, Dt, y });
      const ms = await opts.timeList(rt, list, reps);
      rows.push({ kernel: 'stan.sparse_decode', shape: `rows=${decRows} m=${m} l=${l} k=${k}`, ms, denseMatmulMs: denseMs });
      rt.release(indices);
      rt.release(values);
    }
    for (const t of [D, Dt, y, A]) rt.release(t);
  }

  // ---- latent statistics of one 2048-row code ----
  {
    const { rows: r, l, k } = STAN_LINEAR;
    const idx = new Uint32Array(r * k);
    for (let i = 0; i < r; i++) for (let j = 0; j < k; j++) idx[i * k + j] = (i * 37 + j * 101) % l;
    const indices = rt.tensor([r, k], 'stats.idx', new Float32Array(idx.buffer));
    const values = rt.tensor([r, k], 'stats.val', fill(r * k, 9));
    const labels = rt.tensor([r], 'stats.labels', Float32Array.from({ length: r }, (_, i) => i % 10));
    const stats = new LatentStats(rt, { l, classes: 10 });
    const sp = new StepParams(rt);
    sp.set({ step: 0, slot: 0, lr: 0 });
    const list = new CommandList('stats');
    stats.record(list, { indices, values, rows: r, k }, labels, sp);
    rows.push({ kernel: 'latent_stats.record', shape: `rows=${r} l=${l} k=${k} classes=10`, ms: await opts.timeList(rt, list, reps) });
    stats.destroy();
    for (const t of [indices, values, labels]) rt.release(t);
  }
  return rows;
}
