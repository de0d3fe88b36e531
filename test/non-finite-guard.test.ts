/**
 * NaN/Inf guard: a poisoned batch at step k pauses training by step k + metric interval with a
 * message naming step k; the last good state (parameters + AdamW moments from before k) equals
 * an unpoisoned run's state at that step bit for bit; the live parameters stayed finite (AdamW
 * skipped the bad update); restoring the last good state with a lower learning rate continues
 * with finite losses.
 */
import { describe, expect, it } from 'vitest';
import type { AdapterSpec } from '../src/adapters/attach';
import type { MetricRow } from '../src/engine/metric-ring';
import { NonFiniteGuard } from '../src/persistence/non-finite-guard';
import { Trainer } from '../src/train/trainer';
import { buildAdaptedModel } from './helpers/adapted-model';
import { testRuntime } from './helpers/gpu';

const SPEC: AdapterSpec = { kind: 'stan', config: { expansion: 2, k: 4 }, targets: ['q_proj', 'fc1'] };
const INTERVAL = 4;
const LR = 1e-2;

const bits = (x: Float32Array) => Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));
const allFinite = (xs: Iterable<Float32Array>) => [...xs].every((x) => x.every(Number.isFinite));

describe('non-finite guard', () => {
  for (const k of [13, 16]) {
    it(`a NaN batch at step ${k} pauses by step ${k} + ${INTERVAL}, names step ${k}, keeps the last good state; restoring with lr/10 continues finite`, async () => {
      const rt = await testRuntime();
      // Reference: the same run without poison, checkpointed at every snapshot step.
      const ref = buildAdaptedModel(rt, SPEC);
      const tr = new Trainer(rt, ref.graph, { lr: LR, metricInterval: INTERVAL });
      const refAt = new Map<number, Awaited<ReturnType<Trainer['checkpoint']>>>();
      for (let s = 0; s <= 16; s += 8) {
        if (s > 0) await tr.run(8);
        refAt.set(s, await tr.checkpoint());
      }

      const m = buildAdaptedModel(rt, SPEC);
      m.poisonStep = k;
      const rows: MetricRow[] = [];
      const t = new Trainer(rt, m.graph, { lr: LR, metricInterval: INTERVAL, onMetrics: (r) => rows.push(...r) });
      const guard = new NonFiniteGuard(t, { snapshotEvery: 8 });
      const res = await guard.run(100);
      expect(res.reason).toBe('non-finite');
      expect(res.trip!.step).toBe(k);
      expect(res.step).toBeGreaterThan(k);
      expect(res.step).toBeLessThanOrEqual(k + INTERVAL);
      expect(res.trip!.message).toMatch(new RegExp(`NaN/Inf at step ${k} `));
      expect(res.trip!.message).toMatch(/Restore the last good state \(step \d+\) with a lower learning rate \(e\.g\. 0\.001\)/);
      // The flag came from the GPU: the poisoned row says non_finite = 1 and only that row does.
      expect(rows.filter((r) => r.values.non_finite !== 0).map((r) => r.step)).toEqual([k]);

      // Last good state: the newest snapshot before k, identical to the clean run's.
      const good = guard.lastGood!;
      expect(good.step).toBe(Math.floor(k / 8) * 8); // the state after steps 0 … good.step−1: all before the bad step
      expect(good.step).toBeLessThanOrEqual(k);
      const want = refAt.get(good.step)!;
      for (const [name, v] of want.params[0]!) expect(bits(good.params[0]!.get(name)!), name).toEqual(bits(v));
      expect(bits(good.optimizer.m[0]!)).toEqual(bits(want.optimizer.m[0]!));
      expect(bits(good.optimizer.v[0]!)).toEqual(bits(want.optimizer.v[0]!));
      // The live state never went non-finite: AdamW skipped the poisoned update.
      const live = await t.checkpoint();
      expect(allFinite(live.params[0]!.values())).toBe(true);
      expect(allFinite([...live.optimizer.m, ...live.optimizer.v])).toBe(true);

      // Restore with a lower learning rate (the poison was one bad batch) and continue.
      m.poisonStep = null;
      expect(guard.restoreLastGood(LR / 10)).toBe(good.step);
      expect(t.step).toBe(good.step);
      rows.length = 0;
      const again = await guard.run(12);
      expect(again.reason).toBe('done');
      expect(again.step).toBe(good.step + 12);
      const after = rows.filter((r) => r.step >= good.step);
      expect(after.length).toBeGreaterThanOrEqual(12);
      expect(after.every((r) => Number.isFinite(r.values.loss) && r.values.non_finite === 0)).toBe(true);
      guard.destroy();
      for (const x of [t, tr]) x.destroy();
      m.destroy();
      ref.destroy();
    });
  }

  it('a clean run is not interrupted and keeps a snapshot every 8 steps', async () => {
    const rt = await testRuntime();
    const m = buildAdaptedModel(rt, SPEC);
    const t = new Trainer(rt, m.graph, { lr: LR, metricInterval: INTERVAL });
    const guard = new NonFiniteGuard(t, { snapshotEvery: 8 });
    const res = await guard.run(20);
    expect(res).toEqual({ reason: 'done', step: 20, trip: null });
    expect(guard.lastGood!.step).toBe(16);
    expect(() => new NonFiniteGuard(t, { snapshotEvery: 6 })).toThrow(/multiple of the metric interval \(4\)/);
    guard.destroy();
    t.destroy();
    m.destroy();
  });
});
