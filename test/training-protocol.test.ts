/**
 * The protocol's decision rules (src/experiments/training-protocol.ts) on hand-made curves whose
 * answers can be read off: when the plateau rule fires (and when one noisy point must not make
 * it fire), learning-rate selection and its grid-edge flag, successive halving, the shared
 * first-task target, the first-task value at a matched second-task level (interpolated), and
 * retention.
 */
import { describe, expect, it } from 'vitest';
import { firstReaching, halvingKeep, matchedWithin, PlateauRule, retention, selectBest, sharedTarget, valueAtLevel } from '../src/experiments/training-protocol';

describe('plateau rule: gains < minGain over `window` steps', () => {
  it('fires on the first evaluation whose window gained less than half a point, not before', () => {
    const r = new PlateauRule({ window: 100, minGain: 0.005 });
    // rising 2 points per 25 steps until step 200, then +0.1 point per 25 steps
    const v = (s: number) => (s <= 200 ? 0.2 + 0.0008 * s : 0.36 + 0.00004 * (s - 200));
    const fired: number[] = [];
    for (let s = 0; s <= 500; s += 25) if (r.observe(s, v(s))) fired.push(s);
    // at s: max within (s−100, s] = v(s), max before = v(s−100); gain < 0.005 first when s − 100 ≥ 200 − 6.25·… → s = 300
    expect(r.gain(275)).toBeCloseTo(v(275) - v(175), 12);
    expect(r.gain(275)! > 0.005).toBe(true);
    expect(r.plateauStep).toBe(300);
    expect(fired[0]).toBe(300);
    expect(r.best).toEqual({ step: 500, value: v(500) });
  });

  it('needs an observation at or before s − window; a single high noisy point does not end a rising run early', () => {
    const r = new PlateauRule({ window: 100, minGain: 0.005 });
    expect(r.observe(0, 0.1)).toBe(false);
    expect(r.gain(50)).toBe(null);
    expect(r.observe(50, 0.5)).toBe(false); // a lucky spike
    expect(r.observe(100, 0.3)).toBe(false); // before = {0.1}, within = {0.5, 0.3}
    expect(r.observe(150, 0.45)).toBe(true); // before = max(0.1, 0.5) = 0.5 > within max 0.45 → no gain
    // with end points instead of maxima, 0.45 − 0.5 would also stop; a flat-but-rising run does not:
    const q = new PlateauRule({ window: 100, minGain: 0.005 });
    for (let s = 0; s <= 300; s += 20) expect(q.observe(s, 0.01 * (s / 20)), `step ${s}`).toBe(false);
    expect(q.best!.step).toBe(300);
  });

  it('with patience 2, one lucky evaluation does not stop a rising run (the STAN run that stopped at step 300)', () => {
    // LoRA r = 64, seed 2 on rot90, validation every 50 steps: 88.8 at step 200 was lucky
    const curve = [14.6, 67.0, 77.4, 83.2, 88.8, 86.6, 89.2, 90.4, 90.6, 90.8].map((v, i) => ({ step: 50 * i, value: v / 100 }));
    const one = new PlateauRule({ window: 100, minGain: 0.005 });
    const two = new PlateauRule({ window: 100, minGain: 0.005, patience: 2 });
    for (const p of curve) {
      one.observe(p.step, p.value);
      two.observe(p.step, p.value);
    }
    expect(one.plateauStep).toBe(300); // 89.2 − 88.8 < 0.5
    // 350: max(89.2, 90.4) − 88.8 = 1.6; 400: 90.6 − 89.2 = 1.4; 450: max(90.6, 90.8) − 90.4 = 0.4; then it needs one more flat evaluation
    expect(two.plateauStep).toBe(null);
    two.observe(500, 0.909); // gain 0.909 − 0.906 = 0.3 → second flat evaluation in a row
    expect(two.plateauStep).toBe(500);
    expect(() => new PlateauRule({ patience: 0 })).toThrow(/patience/);
  });

  it('rejects non-increasing steps and non-finite values', () => {
    const r = new PlateauRule();
    r.observe(10, 0.5);
    expect(() => r.observe(10, 0.6)).toThrow(/steps must increase/);
    expect(() => r.observe(20, NaN)).toThrow(/value at step 20 is NaN/);
  });
});

describe('selection', () => {
  it('picks the highest validation score, ties to the earlier (smaller lr), flags the grid edge', () => {
    const lrs = [1e-3, 3e-3, 1e-2, 3e-2];
    const s = selectBest(lrs.map((lr, i) => ({ key: lr, score: [0.8, 0.85, 0.85, 0.7][i]! })));
    expect(s.best.key).toBe(3e-3);
    expect(s.atEdge).toBe(false);
    expect(s.ranking.map((c) => c.key)).toEqual([3e-3, 1e-2, 1e-3, 3e-2]);
    expect(selectBest(lrs.map((lr, i) => ({ key: lr, score: i }))).atEdge).toBe(true);
    expect(() => selectBest([{ key: 1, score: NaN }])).toThrow(/score NaN/);
  });
  it('successive halving keeps the best half in grid order', () => {
    expect(halvingKeep([0.5, 0.7, 0.6, 0.1], 2)).toEqual([1, 2]);
    expect(halvingKeep([0.5, 0.5, 0.5], 1)).toEqual([0]);
  });
});

describe('matching and forgetting', () => {
  it('shared target: below the lowest plateau; first point reaching it; spread check', () => {
    const t = sharedTarget([0.9, 0.86, 0.88], 0.02);
    expect(t).toBeCloseTo(0.84, 12);
    const curve = [0, 20, 40, 60].map((step, i) => ({ step, value: [0.2, 0.83, 0.845, 0.86][i]! }));
    expect(firstReaching(curve, t)).toEqual({ step: 40, value: 0.845 });
    expect(firstReaching(curve, 0.95)).toBe(null);
    expect(matchedWithin([0.845, 0.851, 0.862], 0.02)).toEqual({ spread: expect.closeTo(0.017, 12), matched: true });
    expect(matchedWithin([0.845, 0.87], 0.02).matched).toBe(false);
  });
  it('first-task value at a matched second-task level, interpolated between evaluations', () => {
    const curve = [
      { step: 0, a: 0.9, b: 0.3 },
      { step: 40, a: 0.7, b: 0.6 },
      { step: 80, a: 0.6, b: 0.8 },
    ];
    // b crosses 0.7 halfway between 40 and 80 → a = 0.65 at step 60
    const v = valueAtLevel(curve, 0.7)!;
    expect(v.step).toBeCloseTo(60, 12);
    expect(v.a).toBeCloseTo(0.65, 12);
    expect(valueAtLevel(curve, 0.2)).toEqual({ step: 0, a: 0.9 });
    expect(valueAtLevel(curve, 0.81)).toBe(null);
  });
  it('retention (A − base)/(A₀ − base)', () => {
    expect(retention(0.6, 0.8, 0.2)).toBeCloseTo(2 / 3, 12);
    expect(retention(0.2, 0.8, 0.2)).toBe(0);
    expect(retention(0.5, 0.2, 0.2)).toBeNaN();
  });
});
