/** Whole training steps: ms per step (steady state) and per-step GPU traffic counts. */
import type { GpuRuntime } from '../src/engine/runtime';
import { buildSyntheticRegression, SMALL_REGRESSION, type SyntheticRegressionConfig } from '../src/tasks/synthetic-regression';
import { Trainer, type TrainGraph } from '../src/train/trainer';
import type { TrainStepRow } from './run';

const MODELS: { name: string; cfg: SyntheticRegressionConfig }[] = [
  { name: 'regression-small (b8 s8 d32 L1)', cfg: SMALL_REGRESSION },
  { name: 'regression-medium (b32 s32 d128 h4 L2)', cfg: { batch: 32, seq: 32, inDim: 8, outDim: 4, dim: 128, heads: 4, layers: 2, samples: 256, seed: 1 } },
];

/**
 * Steady-state ms per training step of `graph` (after a warm-up window), with the step's
 * dispatch/submit/readback counts and per-step creations (all expected 0 but dispatches/submits).
 */
export async function measureTrainStep(rt: GpuRuntime, graph: TrainGraph, model: string, opts: { quick: boolean; windows?: number }, extra: Record<string, unknown> = {}): Promise<TrainStepRow> {
  const interval = 10;
  const trainer = new Trainer(rt, graph, { lr: 1e-3, metricInterval: interval });
  await trainer.run(interval); // warm-up: pipelines, first metric flush
  await trainer.drain();
  const steps = opts.quick ? interval : (opts.windows ?? 3) * interval;
  const before = rt.counters;
  const t0 = performance.now();
  await trainer.run(steps);
  await rt.idle();
  const ms = (performance.now() - t0) / steps;
  await trainer.drain();
  const after = rt.counters;
  const c = trainer.lastStepCounters!;
  trainer.destroy();
  return {
    model,
    ms,
    dispatches: c.dispatches,
    submits: c.submits,
    readbacks: c.readbacks,
    metricReadbacksPerStep: (after.metricReadbacks - before.metricReadbacks) / steps,
    buffersCreatedPerStep: (after.buffers - before.buffers) / steps,
    pipelinesCreatedPerStep: (after.pipelines - before.pipelines) / steps,
    ...extra,
  };
}

export async function benchTrainSteps(rt: GpuRuntime, opts: { quick: boolean }): Promise<TrainStepRow[]> {
  const rows: TrainStepRow[] = [];
  for (const m of MODELS) {
    const task = buildSyntheticRegression(rt, m.cfg);
    rows.push(await measureTrainStep(rt, task.graph, m.name, { ...opts, windows: 5 }));
    task.destroy();
  }
  return rows;
}
