/**
 * What every base model's pre-training shares (the CLI's `pretrain vae|classifier|digits`): the
 * timed Trainer run, the mean of the last metric rows, and the checkpoint metadata fields every
 * shipped base records (steps, lr, schedule, seconds, final training metrics, adapter, size).
 */
import type { MetricRow } from '../engine/metric-ring';
import type { ParamRef } from '../engine/param-pack';
import type { GpuRuntime } from '../engine/runtime';
import type { LrSchedule } from './schedule';
import { Trainer, type TrainGraph } from './trainer';

export interface PretrainOptions {
  steps: number;
  lr: number;
  seed: number;
  /** Evaluate only the check subset (smoke runs). */
  quick: boolean;
  /** Progress callback (steps done, last metric row). */
  onProgress?: (done: number, last: MetricRow | null) => void;
}

export interface PretrainResult {
  bytes: Uint8Array;
  metadata: Record<string, string>;
}

export interface PretrainRun {
  rows: MetricRow[];
  seconds: number;
  trainer: Trainer;
  schedule: LrSchedule;
}

/** Trains `o.steps` steps (metrics every 10), waits for the GPU, and times the whole run. */
export async function runPretraining(rt: GpuRuntime, graph: TrainGraph, o: PretrainOptions, schedule: LrSchedule): Promise<PretrainRun> {
  const rows: MetricRow[] = [];
  const trainer = new Trainer(rt, graph, { lr: o.lr, schedule, metricInterval: 10, onMetrics: (r) => rows.push(...r) });
  const t0 = performance.now();
  await trainer.run(o.steps, { onStep: (s) => o.onProgress?.(s, rows[rows.length - 1] ?? null) });
  await trainer.drain();
  await rt.idle();
  return { rows, seconds: (performance.now() - t0) / 1000, trainer, schedule };
}

export function meanOf(rows: MetricRow[], field: string): number {
  return rows.length ? rows.reduce((a, r) => a + r.values[field]!, 0) / rows.length : NaN;
}

export const round = (v: number, d = 5) => Number(v.toPrecision(d));
/** `o` with every number rounded to 5 significant digits (for readable metadata). */
export function rounded<T extends object>(o: T): T {
  return JSON.parse(JSON.stringify(o, (_, v) => (typeof v === 'number' ? round(v) : v))) as T;
}

/** The run's fields of a base checkpoint's metadata: steps, lr, schedule, seconds, final training metrics. */
export function runMetadata(run: PretrainRun, o: PretrainOptions, trainFinal: object): Record<string, string> {
  return {
    steps: String(run.trainer.step),
    lr: String(o.lr),
    schedule: JSON.stringify(run.schedule),
    seconds: run.seconds.toFixed(1),
    train_final: JSON.stringify(rounded(trainFinal)),
  };
}

/** Where it ran and how big the model is. */
export function provenanceMetadata(rt: GpuRuntime, params: readonly ParamRef[]): Record<string, string> {
  return {
    adapter: `${rt.ctx.info.vendor} ${rt.ctx.info.architecture} ${rt.ctx.info.description}`.trim(),
    parameters: String(params.reduce((a, p) => a + p.size, 0)),
  };
}
