/**
 * The benchmark as a list of items with progress and cancellation: the same code runs in Node
 * (`npm run bench`, bench/run.ts, which adds the peers TF.js and jax-js) and in the page's worker
 * ("Benchmark this GPU"). Items: matmul shapes (both variants), other kernels, STAN's sparse
 * kernels, whole train steps (src/bench/steps.ts).
 */
import type { GpuRuntime } from '../engine/runtime';
import { benchKernels } from './kernels';
import type { MatmulVariant } from '../kernels/matmul';
import { benchMatmulShape, MATMUL_SHAPES, matmulReps, type MatmulShape } from './matmul';
import { benchSparse, type TopkPeer } from './sparse';
import { benchStepCase, STEP_CASES } from './steps';
import { timeList } from './time-list';
import { benchGoals } from './report';
import type { BenchAdapterInfo, BenchResult, BenchRow, TrainStepRow } from './types';

export type BenchGroup = 'matmul' | 'kernels' | 'sparse' | 'steps';
export const BENCH_GROUPS: readonly BenchGroup[] = ['matmul', 'kernels', 'sparse', 'steps'];

/** Peers timed beside ours in the same run (Node only; the page has none). */
export interface BenchPeers {
  matmul?: { name: string; ms(M: number, N: number, K: number, reps: number): Promise<number> }[];
  topk?: TopkPeer;
  /** ms per train step of a step case (by id), or null where this peer has no version of it. */
  steps?: { name: string; ms(caseId: string, quick: boolean): Promise<number | null> }[];
}

export interface BenchOptions {
  quick: boolean;
  groups?: readonly BenchGroup[];
  /** Step case ids (default all). */
  steps?: readonly string[];
  matmulShapes?: readonly MatmulShape[];
  /** Matmul variants to time (default both). */
  matmulVariants?: readonly Exclude<MatmulVariant, 'auto'>[];
  peers?: BenchPeers;
  /** Called before each item and once at the end (done = total). */
  onProgress?: (p: { done: number; total: number; label: string }) => void;
  /** Called with each finished row as soon as it is measured. */
  onRow?: (r: { kind: 'kernel'; row: BenchRow } | { kind: 'step'; row: TrainStepRow }) => void;
  signal?: AbortSignal;
}

/**
 * Ready-made subsets for the page: 'smoke' (seconds: two small matmuls, the smallest step),
 * 'quick' (everything, fewer repetitions), 'full' (everything, as `npm run bench` without peers).
 */
export type BenchPreset = 'smoke' | 'quick' | 'full';
export const BENCH_PRESETS: Record<BenchPreset, Pick<BenchOptions, 'quick' | 'groups' | 'steps' | 'matmulShapes'>> = {
  smoke: { quick: true, groups: ['matmul', 'steps'], matmulShapes: [[64, 64, 64], [256, 128, 128]], steps: ['regression-small'] },
  quick: { quick: true },
  full: { quick: false },
};

/** The result object of a run (latest.json's shape), with the goals of issue 11 checked. */
export function benchResult(adapter: BenchAdapterInfo, runtime: string, quick: boolean, r: { rows: BenchRow[]; trainStep: TrainStepRow[] }, note?: string): BenchResult {
  const res: BenchResult = {
    adapter: { vendor: adapter.vendor, architecture: adapter.architecture, description: adapter.description },
    date: new Date().toISOString(),
    runtime,
    quick,
    rows: r.rows,
    trainStep: r.trainStep,
    ...(note ? { note } : {}),
  };
  res.goals = benchGoals(res);
  return res;
}

export class BenchCancelled extends Error {
  constructor() {
    super('benchmark cancelled');
    this.name = 'BenchCancelled';
  }
}

interface Item {
  label: string;
  run(): Promise<void>;
}

function addPeer(row: { ms: number; peers?: Record<string, { ms: number; ratio: number }> }, name: string, ms: number): void {
  row.peers = { ...(row.peers ?? {}), [name]: { ms, ratio: ms / row.ms } };
}

export async function runBench(rt: GpuRuntime, opts: BenchOptions): Promise<{ rows: BenchRow[]; trainStep: TrainStepRow[] }> {
  const groups = new Set(opts.groups ?? BENCH_GROUPS);
  const rows: BenchRow[] = [];
  const trainStep: TrainStepRow[] = [];
  const pushRow = (row: BenchRow) => {
    rows.push(row);
    opts.onRow?.({ kind: 'kernel', row });
  };
  const items: Item[] = [];
  if (groups.has('matmul')) {
    for (const shape of opts.matmulShapes ?? MATMUL_SHAPES) {
      items.push({
        label: `matmul ${shape.join('×')}`,
        run: async () => {
          const ours = await benchMatmulShape(rt, shape, { quick: opts.quick, ...(opts.matmulVariants ? { variants: opts.matmulVariants } : {}) });
          for (const peer of opts.peers?.matmul ?? []) {
            const ms = await peer.ms(...shape, matmulReps(shape, opts.quick));
            for (const r of ours) addPeer(r, peer.name, ms);
          }
          for (const r of ours) {
            const first = Object.entries(r.peers ?? {})[0];
            if (first) {
              r.baseline = { name: first[0], ms: first[1].ms };
              r.ratio = first[1].ratio;
            }
            pushRow(r);
          }
        },
      });
    }
  }
  if (groups.has('kernels')) items.push({ label: 'layernorm, GELU, attention, losses, AdamW', run: async () => (await benchKernels(rt, { quick: opts.quick, timeList })).forEach(pushRow) });
  if (groups.has('sparse')) items.push({ label: 'top-k, sparse decode, latent statistics', run: async () => (await benchSparse(rt, { quick: opts.quick, timeList, ...(opts.peers?.topk ? { topkPeer: opts.peers.topk } : {}) })).forEach(pushRow) });
  if (groups.has('steps')) {
    for (const c of STEP_CASES.filter((s) => !opts.steps || opts.steps.includes(s.id))) {
      items.push({
        label: `train step ${c.id}`,
        run: async () => {
          const row = await benchStepCase(rt, c, { quick: opts.quick, ...(opts.signal ? { signal: opts.signal } : {}) });
          for (const peer of opts.peers?.steps ?? []) {
            const ms = await peer.ms(c.id, opts.quick);
            if (ms !== null) addPeer(row, peer.name, ms);
          }
          trainStep.push(row);
          opts.onRow?.({ kind: 'step', row });
        },
      });
    }
  }
  for (const [i, item] of items.entries()) {
    if (opts.signal?.aborted) throw new BenchCancelled();
    opts.onProgress?.({ done: i, total: items.length, label: item.label });
    await item.run();
  }
  if (opts.signal?.aborted) throw new BenchCancelled();
  opts.onProgress?.({ done: items.length, total: items.length, label: 'done' });
  return { rows, trainStep };
}
