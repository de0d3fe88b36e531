/**
 * src/experiments/stats.ts against numbers computed with scipy 1.x (python3):
 *   stats.t.ppf / stats.t.cdf / stats.norm.ppf, stats.t.interval(0.95, n−1, loc=mean, scale=sem),
 *   stats.ttest_rel, stats.binomtest(k, n).proportion_ci(method='wilson').
 * Plus the hand-checkable cases: one value has no interval, identical pairs have a zero-width
 * interval that does not exclude 0, bad input throws with the offending value named.
 */
import { describe, expect, it } from 'vitest';
import { formatInterval, logGamma, mean, normalQuantile, pairedDifference, regularizedBeta, sampleSd, studentTCdf, studentTQuantile, tInterval, wilsonInterval } from '../src/experiments/stats';

describe('Student t distribution (scipy.stats.t)', () => {
  const quantiles: [number, number, number][] = [
    [0.975, 1, 12.706204736174694],
    [0.975, 2, 4.302652729749462],
    [0.975, 3, 3.1824463052837078],
    [0.975, 4, 2.7764451051977934],
    [0.975, 9, 2.262157162798205],
    [0.995, 5, 4.032142983555228],
    [0.9, 30, 1.3104150253913955],
    [0.975, 1000, 1.9623390808264083],
    [0.6, 2.5, 0.2814595127485477],
  ];
  for (const [p, df, want] of quantiles) {
    it(`t.ppf(${p}, ${df}) = ${want}`, () => {
      expect(Math.abs(studentTQuantile(p, df) - want)).toBeLessThan(1e-9 * Math.max(1, want));
      expect(Math.abs(studentTQuantile(1 - p, df) + want)).toBeLessThan(1e-9 * Math.max(1, want));
    });
  }
  it('t.cdf at a few points', () => {
    const cdfs: [number, number, number][] = [
      [0.5, 1, 0.6475836176504333],
      [-1.3, 3, 0.14223375436394853],
      [2.0, 7.5, 0.9585515023509168],
      [10, 2, 0.9950737714883372],
    ];
    for (const [t, df, want] of cdfs) expect(Math.abs(studentTCdf(t, df) - want), `${t}, ${df}`).toBeLessThan(1e-12);
    expect(studentTCdf(0, 4)).toBe(0.5);
  });
  it('special functions: ln Γ and I_x(a, b) at known values', () => {
    expect(Math.abs(logGamma(5) - Math.log(24))).toBeLessThan(1e-13);
    expect(Math.abs(logGamma(0.5) - 0.5 * Math.log(Math.PI))).toBeLessThan(1e-13);
    expect(Math.abs(regularizedBeta(0.3, 1, 1) - 0.3)).toBeLessThan(1e-14); // uniform
    expect(Math.abs(regularizedBeta(0.3, 2, 1) - 0.09)).toBeLessThan(1e-14); // x²
    expect(Math.abs(regularizedBeta(0.7, 2, 3) - (1 - regularizedBeta(0.3, 3, 2)))).toBeLessThan(1e-14); // symmetry
  });
  it('normal quantile (scipy.stats.norm.ppf)', () => {
    expect(Math.abs(normalQuantile(0.975) - 1.959963984540054)).toBeLessThan(1e-8);
    expect(Math.abs(normalQuantile(0.001) + 3.090232306167813)).toBeLessThan(1e-8);
  });
});

describe('intervals', () => {
  it('t-interval of three accuracies equals scipy.stats.t.interval(0.95, 2, mean, sem)', () => {
    const iv = tInterval([0.612, 0.634, 0.598]);
    expect(Math.abs(iv.mean - 0.6146666666666666)).toBeLessThan(1e-15);
    expect(Math.abs(iv.lo - 0.5695856696025343)).toBeLessThan(1e-12);
    expect(Math.abs(iv.hi - 0.6597476637307989)).toBeLessThan(1e-12);
    expect(iv.df).toBe(2);
    // by hand: s = sd of the three, se = s/√3, half-width = t_{0.975,2}·se
    expect(Math.abs(iv.halfWidth - 4.302652729749462 * (sampleSd([0.612, 0.634, 0.598]) / Math.sqrt(3)))).toBeLessThan(1e-14);
  });
  it('paired difference equals scipy (t.interval of the differences; ttest_rel p = 0.0156 < 0.05 ⇔ excludes 0)', () => {
    const d = pairedDifference([0.71, 0.69, 0.74, 0.7], [0.66, 0.67, 0.7, 0.64]);
    expect(Math.abs(d.mean - 0.0425)).toBeLessThan(1e-12);
    expect(Math.abs(d.lo - 0.015324691162039786)).toBeLessThan(1e-12);
    expect(Math.abs(d.hi - 0.06967530883796012)).toBeLessThan(1e-12);
    expect(d.excludesZero).toBe(true);
    // t statistic = mean/se = 4.9770903720375115 (ttest_rel)
    expect(Math.abs(d.mean / d.se - 4.9770903720375115)).toBeLessThan(1e-9);
    // swapping the pairing of one list changes the answer: pairing matters
    const unpaired = pairedDifference([0.71, 0.69, 0.74, 0.7], [0.7, 0.64, 0.66, 0.67]);
    expect(unpaired.excludesZero).toBe(false);
  });
  it('one value: no interval; identical pairs: width 0, does not exclude 0', () => {
    const one = tInterval([0.5]);
    expect(one.halfWidth).toBe(Infinity);
    expect(pairedDifference([0.5], [0.4]).excludesZero).toBe(false);
    const same = pairedDifference([0.3, 0.4], [0.3, 0.4]);
    expect(same.halfWidth).toBe(0);
    expect(same.excludesZero).toBe(false);
    expect(formatInterval(one, { scale: 100 })).toBe('50.0 ± ∞');
    expect(formatInterval(tInterval([0.5, 0.52]), { scale: 100 })).toBe('51.0 ± 12.7');
  });
  it('Wilson interval equals scipy.stats.binomtest(k, n).proportion_ci(method="wilson")', () => {
    const a = wilsonInterval(1234, 2000);
    expect(Math.abs(a.lo - 0.5954902722303789)).toBeLessThan(1e-8);
    expect(Math.abs(a.hi - 0.638061138705808)).toBeLessThan(1e-8);
    const b = wilsonInterval(3, 10);
    expect(Math.abs(b.lo - 0.10779126740630102)).toBeLessThan(1e-8);
    expect(Math.abs(b.hi - 0.6032218525388546)).toBeLessThan(1e-8);
  });
  it('bad input throws, naming the value', () => {
    expect(() => mean([])).toThrow(/at least one value/);
    expect(() => tInterval([1, NaN])).toThrow(/value 1 is NaN/);
    expect(() => pairedDifference([1, 2], [1])).toThrow(/pair up, got 2 and 1/);
    expect(() => studentTQuantile(1, 3)).toThrow(/p must be in \(0, 1\)/);
    expect(() => wilsonInterval(5, 4)).toThrow(/successes must be in \[0, 4\]/);
  });
});

describe('verdicts', () => {
  it('sign and equivalence verdicts: decided only when the interval is on one side', async () => {
    const { signVerdict, withinVerdict } = await import('../src/experiments/stats');
    expect(signVerdict({ lo: 0.1, hi: 2 }, 'positive')).toBe(true);
    expect(signVerdict({ lo: 0.1, hi: 2 }, 'negative')).toBe(false);
    expect(signVerdict({ lo: -0.1, hi: 2 }, 'positive')).toBe(null);
    expect(signVerdict(tInterval([1]), 'positive')).toBe(null);
    expect(withinVerdict({ lo: -0.5, hi: 0.8 }, 1)).toBe(true);
    expect(withinVerdict({ lo: 1.2, hi: 3 }, 1)).toBe(false);
    expect(withinVerdict({ lo: 0.5, hi: 3 }, 1)).toBe(null);
  });
});
