/**
 * The Fourier toy's data and baselines (CPU only): frequencies stay in their band, exactly 16
 * samples are observed, everything is a pure function of the seed, the 'fixed' reading uses one
 * set of 5 distinct frequencies per band; the least-squares linear floor recovers an exactly
 * linear target, never does worse than copying on its fitting sample, and beats copying on the
 * task.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../src/engine/rng';
import { bandFrequencies, drawFourierSignal, makeFourierSet, mseOf, signalVariance } from '../src/data/fourier-signals';
import { copyBaselineMse, fitLinearFloor, landweberOracleNmse, solveSpd } from '../src/experiments/fourier-baselines';
import { bandEnergyShares, FOURIER_QUICK, usageCounts, type FourierConfig } from '../src/models/fourier';

const cfg = (over: Partial<FourierConfig> = {}): FourierConfig => ({ ...FOURIER_QUICK, ...over });

describe('fourier data', () => {
  for (const basisSet of ['fixed', 'random'] as const) {
    it(`draws frequencies inside the band, 5 distinct per signal, exactly 16 observed (${basisSet})`, () => {
      for (const band of ['low', 'high'] as const) {
        const c = cfg({ basisSet });
        const set = makeFourierSet(c, band, 'train', 200);
        const [lo, hi] = band === 'low' ? c.lowBand : c.highBand;
        expect([lo, hi]).toEqual(band === 'low' ? [0, 24] : [25, 32]);
        for (let s = 0; s < set.n; s++) {
          const f = set.freqs[s]!;
          expect(f).toHaveLength(5);
          expect(new Set(f).size).toBe(5);
          for (const v of f) expect(v >= lo && v <= hi).toBe(true);
          let obs = 0;
          for (let t = 0; t < 64; t++) {
            const m = set.masks[s * 64 + t]!;
            expect(m === 0 || m === 1).toBe(true);
            obs += m;
            expect(set.values[s * 64 + t]).toBe(m ? set.signals[s * 64 + t] : 0);
            if (m) expect(Array.from(set.positions.subarray(s * 16, (s + 1) * 16))).toContain(t);
          }
          expect(obs).toBe(16);
        }
        // The signal really is a sum of those frequencies: its DFT has no energy elsewhere.
        const x = set.signals.subarray(0, 64);
        const inSet = new Set(set.freqs[0]);
        for (let k = 0; k <= 32; k++) {
          let re = 0;
          let im = 0;
          for (let t = 0; t < 64; t++) {
            re += x[t]! * Math.cos((2 * Math.PI * k * t) / 64);
            im -= x[t]! * Math.sin((2 * Math.PI * k * t) / 64);
          }
          if (!inSet.has(k)) expect(Math.hypot(re, im)).toBeLessThan(1e-4);
        }
      }
    });
  }

  it("'fixed' reading: every signal of a band uses the same 5 frequencies, drawn from the seed", () => {
    const c = cfg({ basisSet: 'fixed' });
    const low = bandFrequencies(c, 'low')!;
    const high = bandFrequencies(c, 'high')!;
    expect(low).toHaveLength(5);
    expect(high).toHaveLength(5);
    for (const f of high) expect(f >= 25 && f <= 32).toBe(true);
    const set = makeFourierSet(c, 'low', 'val', 50);
    for (const f of set.freqs) expect(f).toEqual(low);
    expect(bandFrequencies(cfg({ basisSet: 'random' }), 'low')).toBeNull();
    expect(bandFrequencies(cfg({ dataSeed: 99 }), 'low')).not.toEqual(low);
    // The model seed does not change the data.
    expect(bandFrequencies(cfg({ seed: 99 }), 'low')).toEqual(low);
  });

  it('is deterministic by seed and differs across seeds, splits and bands', () => {
    const a = makeFourierSet(cfg(), 'low', 'train', 32);
    const b = makeFourierSet(cfg(), 'low', 'train', 32);
    expect(b.signals).toEqual(a.signals);
    expect(b.masks).toEqual(a.masks);
    expect(makeFourierSet(cfg({ dataSeed: 2 }), 'low', 'train', 32).signals).not.toEqual(a.signals);
    expect(makeFourierSet(cfg({ seed: 2 }), 'low', 'train', 32).signals).toEqual(a.signals);
    expect(makeFourierSet(cfg(), 'low', 'test', 32).signals).not.toEqual(makeFourierSet(cfg(), 'low', 'val', 32).signals);
    // Positions are ascending and exactly the observed samples.
    for (let s = 0; s < 32; s++) for (let j = 1; j < 16; j++) expect(a.positions[s * 16 + j]!).toBeGreaterThan(a.positions[s * 16 + j - 1]!);
    expect(makeFourierSet(cfg(), 'low', 'val', 32).signals).not.toEqual(a.signals);
    expect(makeFourierSet(cfg(), 'high', 'train', 32).signals).not.toEqual(a.signals);
    // A longer set starts with the shorter one.
    expect(makeFourierSet(cfg(), 'low', 'train', 64).signals.subarray(0, 32 * 64)).toEqual(a.signals);
  });

  it('drawFourierSignal with given frequencies draws only phases and amplitudes', () => {
    const out = new Float64Array(64);
    const f = drawFourierSignal(new Rng(3), out, { bases: 2, lowFreq: 0, highFreq: 24, freqs: [3, 7] });
    expect(f).toEqual([3, 7]);
    expect(() => drawFourierSignal(new Rng(3), out, { bases: 3, lowFreq: 0, highFreq: 1, distinct: true })).toThrow(/distinct/);
  });
});

describe('linear floor', () => {
  it('solveSpd solves a small SPD system', () => {
    const A = Float64Array.from([4, 1, 0, 1, 3, 1, 0, 1, 2]);
    const x = [1, -2, 3, 0.5, 0, -1];
    const B = new Float64Array(6);
    for (let i = 0; i < 3; i++) for (let c = 0; c < 2; c++) for (let j = 0; j < 3; j++) B[i * 2 + c] += A[i * 3 + j]! * x[j * 2 + c]!;
    const X = solveSpd(A, B, 3, 2);
    for (let i = 0; i < 6; i++) expect(X[i]).toBeCloseTo(x[i]!, 12);
    expect(() => solveSpd(Float64Array.from([1, 2, 2, 1]), Float64Array.from([1, 1]), 2, 1)).toThrow(/positive definite/);
  });

  it('recovers an exactly linear target (observed values, mask, constant)', () => {
    const set = makeFourierSet(cfg(), 'low', 'floor', 600);
    const rng = new Rng(7);
    const p = 2 * 64 + 1;
    const W = Float64Array.from({ length: p * 64 }, () => rng.uniform(-1, 1));
    const y = new Float32Array(set.n * 64);
    for (let s = 0; s < set.n; s++) {
      for (let t = 0; t < 64; t++) {
        let v = W[128 * 64 + t]!;
        for (let i = 0; i < 64; i++) v += set.values[s * 64 + i]! * W[i * 64 + t]! + set.masks[s * 64 + i]! * W[(64 + i) * 64 + t]!;
        y[s * 64 + t] = v;
      }
    }
    const lin = { ...set, signals: y };
    const floor = fitLinearFloor(lin);
    // float32 targets: the residual is rounding noise.
    expect(floor.trainMse).toBeLessThan(1e-9);
    const pred = floor.predict(lin);
    expect(mseOf(pred, y)).toBeLessThan(1e-9);
    // The observed-value weights are identifiable exactly (the mask weights only up to the constant: Σ mask = 16).
    let err = 0;
    for (let i = 0; i < 64 * 64; i++) err = Math.max(err, Math.abs(floor.weights[i]! - W[i]!));
    expect(err).toBeLessThan(1e-3);
  });

  it('is never worse than copying on its fitting sample (copying is a linear map) and beats it on the task', () => {
    for (const basisSet of ['fixed', 'random'] as const) {
      const c = cfg({ basisSet });
      const fitSet = makeFourierSet(c, 'low', 'floor', 3000);
      const floor = fitLinearFloor(fitSet);
      expect(floor.trainMse).toBeLessThanOrEqual(copyBaselineMse(fitSet) + 1e-12);
      const val = makeFourierSet(c, 'low', 'val', 256);
      const v = signalVariance(val);
      const copy = copyBaselineMse(val) / v;
      const lin = mseOf(floor.predict(val), val.signals) / v;
      console.log(`[fourier] ${basisSet} low band: copy NMSE ${copy.toFixed(3)}, linear floor NMSE ${lin.toFixed(3)} (fit on 3000 signals)`);
      // 16 of 64 observed: copying misses 3/4 of the energy.
      expect(copy).toBeGreaterThan(0.7);
      expect(copy).toBeLessThan(0.8);
      expect(lin).toBeLessThan(copy);
    }
  });

  it('the Landweber oracle: one step is a linear estimator (never better than the linear floor on its own sample by much), more steps are better', () => {
    const c = cfg();
    const set = makeFourierSet(c, 'low', 'val', 256);
    const freqs = bandFrequencies(c, 'low')!;
    const one = landweberOracleNmse(set, freqs, 1).nmse;
    const four = landweberOracleNmse(set, freqs, 4).nmse;
    const eight = landweberOracleNmse(set, freqs, 8).nmse;
    console.log(`[fourier] Landweber oracle NMSE: K=1 ${one.toFixed(3)}, K=4 ${four.toFixed(3)}, K=8 ${eight.toFixed(3)}`);
    expect(four).toBeLessThan(one);
    expect(eight).toBeLessThan(four);
    expect(one).toBeGreaterThan(0.2);
    expect(four).toBeLessThan(0.15);
  });

  it('band-energy shares: a pure sinusoid of the band has share 1, of another frequency 0, a half-half mix 0.5', () => {
    const T = 64;
    const prof = new Float64Array(3 * T);
    for (let t = 0; t < T; t++) {
      prof[t] = Math.cos((2 * Math.PI * 7 * t) / T + 0.3);
      prof[T + t] = Math.sin((2 * Math.PI * 30 * t) / T);
      prof[2 * T + t] = Math.cos((2 * Math.PI * 7 * t) / T) + Math.cos((2 * Math.PI * 30 * t) / T);
    }
    const s = bandEnergyShares(prof, 3, T, [7, 10]);
    expect(s[0]).toBeCloseTo(1, 9);
    expect(s[1]).toBeCloseTo(0, 9);
    expect(s[2]).toBeCloseTo(0.5, 9);
  });

  it('counts used atoms as the fewest covering 95 % of the usage', () => {
    expect(usageCounts(Float64Array.from([1, 1, 1, 1]))).toEqual({ usedAtoms: 4, atomsAbove1pct: 4 });
    expect(usageCounts(Float64Array.from([10, 0.001, 0, 0.5]))).toEqual({ usedAtoms: 1, atomsAbove1pct: 2 });
    expect(usageCounts(new Float64Array(3))).toEqual({ usedAtoms: 0, atomsAbove1pct: 0 });
  });
});
