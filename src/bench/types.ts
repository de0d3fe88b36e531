/**
 * The benchmark's row shapes, shared by `npm run bench` (bench/run.ts → bench/results/latest.json)
 * and the page's "Benchmark this GPU" (src/ui/components/BenchmarkPage.tsx, run in the worker):
 * the page's copied JSON has the same shape as latest.json.
 */

/** One kernel timing. */
export interface BenchRow {
  kernel: string;
  shape: string;
  ms: number;
  gflops?: number;
  /** A peer's time for the same work on the same adapter in the same run. */
  baseline?: { name: string; ms: number };
  /** baseline.ms / ms (how many times faster ours is). */
  ratio?: number;
  /** More peers (e.g. TF.js and jax-js both): name → ms, and ratio = their ms / ours. */
  peers?: Record<string, { ms: number; ratio: number }>;
  [extra: string]: unknown;
}

/** One whole training step. */
export interface TrainStepRow {
  model: string;
  ms: number;
  dispatches: number;
  submits: number;
  readbacks: number;
  metricReadbacksPerStep: number;
  gflops?: number;
  peers?: Record<string, { ms: number; ratio: number }>;
  [extra: string]: unknown;
}

export interface BenchAdapterInfo {
  vendor: string;
  architecture: string;
  description: string;
}

export interface BenchResult {
  adapter: BenchAdapterInfo;
  date: string;
  /** 'node <version>' or the browser's user agent. */
  runtime: string;
  quick: boolean;
  rows: BenchRow[];
  trainStep: TrainStepRow[];
  /** Free text: machine load, what was skipped. */
  note?: string;
  [extra: string]: unknown;
}

/** Worker events while the page's benchmark runs (src/worker/engine.worker.ts emits them). */
export type BenchEvent =
  | { type: 'bench-progress'; done: number; total: number; label: string }
  | { type: 'bench-row'; kind: 'kernel'; row: BenchRow }
  | { type: 'bench-row'; kind: 'step'; row: TrainStepRow };
