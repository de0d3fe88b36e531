import { describe, expect, it } from 'vitest';
import type { MetricRow } from '../src/engine/metric-ring';
import { buildSyntheticRegression, SMALL_REGRESSION } from '../src/tasks/synthetic-regression';
import { checkpointToSafetensors, safetensorsToCheckpoint } from '../src/io/checkpoint-io';
import { lrScale } from '../src/train/schedule';
import { Trainer } from '../src/train/trainer';
import { testRuntime } from './helpers/gpu';

describe('trainer on the synthetic regression task (Node/Dawn)', () => {
  it('reduces the loss ≥ 5× in 100 steps with 1 submit and 0 readbacks per step', async () => {
    const rt = await testRuntime();
    const task = buildSyntheticRegression(rt, SMALL_REGRESSION);
    const rows: MetricRow[] = [];
    const trainer = new Trainer(rt, task.graph, {
      lr: 3e-3,
      schedule: { kind: 'cosine', warmupSteps: 10, totalSteps: 100, minRatio: 0.1 },
      adamw: { clipNorm: 1 },
      metricInterval: 10,
      onMetrics: (r) => rows.push(...r),
    });
    const perStep: NonNullable<typeof trainer.lastStepCounters>[] = [];
    await trainer.run(100, { onStep: () => perStep.push(trainer.lastStepCounters!) });
    await trainer.drain();
    expect(rows.map((r) => r.step)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    const first = rows.slice(0, 5).reduce((a, r) => a + r.values.loss!, 0) / 5;
    const last = rows.slice(-5).reduce((a, r) => a + r.values.loss!, 0) / 5;
    expect(Number.isFinite(last)).toBe(true);
    expect(first / last).toBeGreaterThanOrEqual(5);
    expect(rows.every((r) => r.values.non_finite === 0)).toBe(true);
    // Steady state: every step after the first is exactly one submit, no readbacks, no new buffers or pipelines.
    for (const c of perStep.slice(1)) {
      expect(c.submits).toBe(1);
      expect(c.readbacks).toBe(0);
      expect(c.buffers).toBe(0);
      expect(c.pipelines).toBe(0);
      expect(c.dispatches).toBe(trainer.stepList.dispatchCount);
    }
    // Metric maps are asynchronous, one per interval.
    expect(perStep.filter((c) => c.metricReadbacks === 1).length).toBe(10);
    trainer.destroy();
    task.destroy();
  });

  it('checkpoint → safetensors → restore continues bit-exactly', async () => {
    const rt = await testRuntime();
    const cfg = { ...SMALL_REGRESSION, seed: 5 };
    const runA = buildSyntheticRegression(rt, cfg);
    const lossesA: number[] = [];
    const a = new Trainer(rt, runA.graph, { lr: 2e-3, metricInterval: 5, onMetrics: (r) => lossesA.push(...r.map((x) => x.values.loss!)) });
    await a.run(10);
    const bytes = checkpointToSafetensors(await a.checkpoint(), runA.graph.packs, { note: 'test' });
    await a.run(10);
    await a.drain();

    const runB = buildSyntheticRegression(rt, cfg);
    const lossesB: number[] = [];
    const b = new Trainer(rt, runB.graph, { lr: 2e-3, metricInterval: 5, onMetrics: (r) => lossesB.push(...r.map((x) => x.values.loss!)) });
    const { checkpoint, metadata } = safetensorsToCheckpoint(bytes, runB.graph.packs);
    expect(metadata.note).toBe('test');
    expect(checkpoint.step).toBe(10);
    b.restore(checkpoint);
    await b.run(10);
    await b.drain();
    expect(lossesB).toEqual(lossesA.slice(10, 20));
    for (const t of [a, b]) t.destroy();
    runA.destroy();
    runB.destroy();
  });

  it('a checkpoint for another shape is rejected naming the tensor', async () => {
    const rt = await testRuntime();
    const small = buildSyntheticRegression(rt, SMALL_REGRESSION);
    const t = new Trainer(rt, small.graph, { lr: 1e-3 });
    const bytes = checkpointToSafetensors(await t.checkpoint(), small.graph.packs);
    const wide = buildSyntheticRegression(rt, { ...SMALL_REGRESSION, dim: 16 });
    expect(() => safetensorsToCheckpoint(bytes, wide.graph.packs)).toThrow(/model\.embed\.weight.*shape \[32,4\].*\[16,4\]/);
    t.destroy();
    small.destroy();
    wide.destroy();
  });

  it('learning-rate schedules: warmup then linear/cosine decay to minRatio', () => {
    const s = { kind: 'cosine' as const, warmupSteps: 10, totalSteps: 110, minRatio: 0.1 };
    expect(lrScale(s, 0)).toBeCloseTo(0.1);
    expect(lrScale(s, 9)).toBeCloseTo(1);
    expect(lrScale(s, 10)).toBeCloseTo(1);
    expect(lrScale(s, 60)).toBeCloseTo(0.55);
    expect(lrScale(s, 110)).toBeCloseTo(0.1);
    expect(lrScale({ ...s, kind: 'linear' }, 60)).toBeCloseTo(0.55);
    expect(lrScale({ ...s, kind: 'linear' }, 35)).toBeCloseTo(0.1 + 0.9 * 0.75);
    expect(lrScale({ ...s, kind: 'constant' }, 100)).toBe(1);
  });
});

describe('GPU memory', () => {
  it('building and destroying a task + trainer 3 times returns every buffer to the pool', async () => {
    const rt = await testRuntime();
    const cycle = async () => {
      const task = buildSyntheticRegression(rt, SMALL_REGRESSION);
      const t = new Trainer(rt, task.graph, { lr: 1e-3, metricInterval: 2 });
      await t.run(3);
      await t.drain();
      t.destroy();
      task.destroy();
    };
    await cycle();
    const live = rt.pool.liveBytes;
    const allocated = rt.pool.allocatedBytes;
    await cycle();
    await cycle();
    expect(rt.pool.liveBytes).toBe(live);
    // The second and third builds reuse the first build's buffers.
    expect(rt.pool.allocatedBytes).toBe(allocated);
  });
});
