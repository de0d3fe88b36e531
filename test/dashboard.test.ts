/**
 * A unit's dashboard (src/playground/dashboard.ts) on constructed activations: histogram,
 * ranking, quantile groups, positions, class bars and entropy, co-active units (Jaccard), and the
 * ablation effect as the difference of the two outputs.
 */
import { describe, expect, it } from 'vitest';
import { ablationEffect, buildDashboard, coactiveUnits, quantileGroups, rankedExamples, summarizeUnit, unitOff, type UnitActivationSet, type ViewOutputs } from '../src/playground/dashboard';

/** 6 examples × 2 positions × 3 units. */
function set(): UnitActivationSet {
  // acts[e][p][u]
  const a = [
    [[0, 1, 0], [2, 1, 0]],
    [[0, 0, 0], [0, 0, 1]],
    [[4, 1, 0], [0, 0, 0]],
    [[1, 0, 0], [0, 0, 0]],
    [[0, 0, 0], [3, 1, 0]],
    [[0.5, 0, 1], [0, 0, 0]],
  ];
  return {
    set: 'constructed',
    examples: 6,
    positions: 2,
    units: 3,
    acts: Float32Array.from(a.flat(2)),
    labels: [0, 1, 1, 0, 2, 2],
    classes: ['a', 'b', 'c'],
    layout: { kind: 'tokens' },
    drawable: (e) => ({ kind: 'vector', values: [e] }),
  };
}

const out = (loss: number, values: number[][]): ViewOutputs => ({ lossName: 'MSE', loss, examples: values.map((v, i) => ({ output: Float32Array.from(v), render: { kind: 'signal' }, label: `x${i}` })) });

describe('dashboard pieces', () => {
  it('summary: per-example maxima, firing rows, histogram over active rows', () => {
    const s = summarizeUnit(set(), 0, 4);
    expect(Array.from(s.perExample)).toEqual([2, 0, 4, 1, 3, 0.5]);
    expect(s.fired).toBe(5);
    expect(s.sum).toBeCloseTo(10.5, 12);
    expect(s.histogram.edges).toEqual([0, 1, 2, 3, 4]);
    // 0.5 → bin 0; 1 → 1; 2 → 2; 3 → 3; 4 → last bin.
    expect(s.histogram.counts).toEqual([1, 1, 1, 2]);
  });

  it('ranking and quantile groups (ascending, equal counts, evenly spaced picks)', () => {
    const s = summarizeUnit(set(), 0);
    expect(rankedExamples(s.perExample)).toEqual([2, 4, 0, 3, 5]);
    const q = quantileGroups(s.perExample, 2, 2);
    // Ascending: 5 (0.5), 3 (1), 0 (2), 4 (3), 2 (4); halves: ranks [0, 2) and [2, 5).
    expect(q.map((g) => g.members)).toEqual([[5, 3], [0, 4, 2]]);
    expect(q[1]!.picked).toEqual([0, 2]); // members[floor((j + ½)·3 / 2)] for j = 0, 1
    expect(quantileGroups(new Float64Array(3))).toEqual([]);
  });

  it('co-active units by Jaccard overlap of firing rows', () => {
    // Unit 0 fires on rows 1, 4, 6, 9, 10; unit 1 on 0, 1, 4, 9; unit 2 on 3, 10.
    const c = coactiveUnits(set(), 0);
    expect(c.map((x) => x.unit)).toEqual([1, 2]);
    expect(c[0]!.rows).toBe(3);
    expect(c[0]!.jaccard).toBeCloseTo(3 / (5 + 4 - 3), 12);
    expect(c[0]!.given).toBeCloseTo(3 / 5, 12);
    expect(c[1]!.jaccard).toBeCloseTo(1 / 6, 12);
  });

  it('the effect is the output with the unit on minus off, and the loss difference', () => {
    const e = ablationEffect(out(0.5, [[1, 2, 3], [0, 0, 1]]), out(0.75, [[1, 0, 3], [0, -1, 1]]));
    expect(e.deltaLoss).toBeCloseTo(0.25, 12);
    expect(e.examples[0]!.diff).toEqual([0, 2, 0]);
    expect(e.examples[0]!.maxAbs).toBe(2);
    expect(e.examples[1]!.diff).toEqual([0, 1, 0]);
    expect(() => ablationEffect(out(0, [[1]]), out(0, []))).toThrow(/examples/);
  });

  it('the whole dashboard: positions of shown examples, class bars, entropy', () => {
    const d = buildDashboard({ group: 1, unit: 0, step: 7, set: set(), decoder: { kind: 'vector', values: [1] }, on: out(1, [[1]]), off: out(2, [[0]]) });
    expect(d.frequency).toBeCloseTo(5 / 12, 12);
    expect(d.meanActivation).toBeCloseTo(10.5 / 5, 12);
    expect(d.top.map((x) => x.example)).toEqual([2, 4, 0, 3, 5]);
    expect(d.top[0]!.positions).toEqual([4, 0]);
    expect(d.top[1]!.positions).toEqual([0, 3]);
    // Class a: examples 0, 3 → (2 + 1) / 2; b: 1, 2 → (0 + 4) / 2; c: 4, 5 → (3 + 0.5) / 2.
    expect(d.classBars!.map((b) => b.value)).toEqual([1.5, 2, 1.75]);
    // Mass: a 3, b 4, c 3.5 of 10.5.
    const p = [3, 4, 3.5].map((x) => x / 10.5);
    expect(d.entropy).toBeCloseTo(-p.reduce((h, x) => h + x * Math.log(x), 0), 12);
    expect(d.effect.deltaLoss).toBe(1);
    expect(() => buildDashboard({ group: 0, unit: 3, step: 0, set: set(), decoder: { kind: 'vector', values: [] }, on: out(0, []), off: out(0, []) })).toThrow(/unit must be/);
  });

  it('unitOff keeps the other overrides and switches one more unit off', () => {
    const o = unitOff({ masks: { 0: [1, 0, 1] }, k: { 1: 2 } }, 0, 2, 3);
    expect(o.masks![0]).toEqual([1, 0, 0]);
    expect(o.k![1]).toBe(2);
    expect(unitOff({}, 1, 0, 2).masks![1]).toEqual([0, 1]);
  });
});
