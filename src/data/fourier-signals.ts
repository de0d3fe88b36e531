/**
 * The atoms paper's App. C.1 signals: sums of Fourier bases with random phases and amplitudes,
 * observed at a random subset of positions. Pure functions of a seeded Rng.
 */
import { mixSeed, Rng } from '../engine/rng';

export interface FourierSignalOptions {
  /** Number of Fourier bases summed (paper: 5). */
  bases: number;
  /** Frequencies (cycles per sequence) are drawn from lowFreq … highFreq, inclusive. */
  lowFreq: number;
  highFreq: number;
  /** Use exactly these frequencies (one per basis) instead of drawing them; the rng then draws only phases and amplitudes. */
  freqs?: readonly number[];
  /** Draw distinct frequencies (no repeats within a signal). Default false (independent draws). */
  distinct?: boolean;
}

/**
 * One App. C.1 signal into `out` (length seq): Σ_j amp_j·cos(2π(f_j·t/seq + phase_j)), amp_j ~
 * U(0.5, 1)/bases, phase_j ~ U(0, 1), per basis in the order (f, phase, amp). Returns the
 * frequencies used. Shared by the attention-fit bench data (src/tasks/attention-fit.ts) and the Fourier toy (src/models/fourier.ts).
 */
export function drawFourierSignal(rng: Rng, out: Float64Array, o: FourierSignalOptions): number[] {
  const seq = out.length;
  const { bases, lowFreq: lo, highFreq: hi } = o;
  if (o.freqs && o.freqs.length !== bases) throw new Error(`drawFourierSignal: ${o.freqs.length} frequencies given for ${bases} bases`);
  if (o.distinct && !o.freqs && hi - lo + 1 < bases) throw new Error(`drawFourierSignal: ${bases} distinct frequencies do not fit in ${lo}…${hi}`);
  out.fill(0);
  const used: number[] = [];
  for (let j = 0; j < bases; j++) {
    let f: number;
    if (o.freqs) f = o.freqs[j]!;
    else {
      do f = lo + rng.int(hi - lo + 1);
      while (o.distinct && used.includes(f));
    }
    used.push(f);
    const phase = rng.next();
    const amp = rng.uniform(0.5, 1) / bases;
    for (let t = 0; t < seq; t++) out[t] += amp * Math.cos(2 * Math.PI * (f * t / seq + phase));
  }
  return used;
}

/** keep[t] = 1 for `observed` positions picked by a seeded shuffle of `positions` (0 … seq−1), 0 elsewhere. */
export function drawObservedMask(rng: Rng, keep: Uint8Array, observed: number, positions: readonly number[]): void {
  keep.fill(0);
  for (const t of rng.shuffle(positions.slice()).slice(0, observed)) keep[t] = 1;
}

// ---------- the Fourier toy's data sets ----------

export type FourierBasisSet = 'fixed' | 'random';
export type FourierBand = 'low' | 'high';
export type FourierSplit = 'train' | 'val' | 'test' | 'floor';

/** What a data set of the Fourier toy depends on (a subset of the model's FourierConfig). */
export interface FourierDataConfig {
  seq: number;
  bases: number;
  /** Signals are drawn with per-basis amplitude U(0.5, 1)/bases (drawFourierSignal) and multiplied by this. */
  amplitude: number;
  observed: number;
  lowBand: readonly [number, number];
  highBand: readonly [number, number];
  /**
   * 'fixed': one set of `bases` distinct frequencies per band, drawn once from the seed; every
   * signal combines those bases with its own amplitudes and phases (the paper's App. C.1: the
   * signals "randomly combine 5 Fourier bases, shown in Figure 8", its sparse model needs 9 atoms
   * and its atoms "resemble the Fourier bases used to synthesize the data"). 'random': the
   * frequencies are drawn per signal.
   */
  basisSet: FourierBasisSet;
  /** Seeds every data set and the 'fixed' frequencies (the model's own seed is separate). */
  dataSeed: number;
}

const BAND_TAG: Record<FourierBand, number> = { low: 1, high: 2 };
const SPLIT_TAG: Record<FourierSplit, number> = { train: 11, val: 12, floor: 13, test: 14 };

export function bandRange(cfg: FourierDataConfig, band: FourierBand): readonly [number, number] {
  return band === 'low' ? cfg.lowBand : cfg.highBand;
}

/** 'fixed' reading: the band's `bases` distinct frequencies (sorted), drawn from the seed; 'random': null. */
export function bandFrequencies(cfg: FourierDataConfig, band: FourierBand): number[] | null {
  if (cfg.basisSet === 'random') return null;
  const [lo, hi] = bandRange(cfg, band);
  const all = Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
  if (all.length < cfg.bases) throw new Error(`fourier: band ${lo}…${hi} has fewer than ${cfg.bases} frequencies`);
  return new Rng(mixSeed(cfg.dataSeed, 0xf4e9, BAND_TAG[band])).shuffle(all).slice(0, cfg.bases).sort((a, b) => a - b);
}

export interface FourierSet {
  n: number;
  seq: number;
  /** Observed samples per signal (the same for every signal). */
  observed: number;
  /** [n, seq] the full signals (the targets). */
  signals: Float32Array;
  /** [n, seq] 1 = observed. */
  masks: Float32Array;
  /** [n, seq] signals·masks (zeros where unobserved). */
  values: Float32Array;
  /** [n, observed] the observed positions of each signal, ascending. */
  positions: Int32Array;
  /** The frequencies of each signal. */
  freqs: number[][];
  band: FourierBand;
}

/** A seeded set of `n` signals of a band; a pure function of (config, band, split, n). */
export function makeFourierSet(cfg: FourierDataConfig, band: FourierBand, split: FourierSplit, n: number): FourierSet {
  const { seq, observed } = cfg;
  if (!Number.isInteger(observed) || observed < 1 || observed >= seq) throw new Error(`fourier: observed=${observed} must be an integer in 1…${seq - 1}`);
  if (!Number.isInteger(n) || n < 1) throw new Error(`fourier: a set needs a positive number of signals, got ${n}`);
  const rng = new Rng(mixSeed(cfg.dataSeed, BAND_TAG[band], SPLIT_TAG[split]));
  const [lo, hi] = bandRange(cfg, band);
  const fixed = bandFrequencies(cfg, band);
  const signals = new Float32Array(n * seq);
  const masks = new Float32Array(n * seq);
  const values = new Float32Array(n * seq);
  const positions = new Int32Array(n * observed);
  const freqs: number[][] = [];
  const sig = new Float64Array(seq);
  const keep = new Uint8Array(seq);
  const all = Array.from({ length: seq }, (_, i) => i);
  for (let s = 0; s < n; s++) {
    freqs.push(drawFourierSignal(rng, sig, { bases: cfg.bases, lowFreq: lo, highFreq: hi, distinct: true, ...(fixed ? { freqs: fixed } : {}) }));
    drawObservedMask(rng, keep, observed, all);
    let j = 0;
    for (let t = 0; t < seq; t++) {
      const v = cfg.amplitude * sig[t]!;
      signals[s * seq + t] = v;
      masks[s * seq + t] = keep[t]!;
      values[s * seq + t] = keep[t] ? v : 0;
      if (keep[t]) positions[s * observed + j++] = t;
    }
  }
  return { n, seq, observed, signals, masks, values, positions, freqs, band };
}

export function mseOf(pred: ArrayLike<number>, target: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < target.length; i++) s += (pred[i]! - target[i]!) ** 2;
  return s / target.length;
}

/** Variance of every sample of the set (the NMSE denominator: predicting the set's mean gives 1). */
export function signalVariance(set: FourierSet): number {
  let m = 0;
  for (const v of set.signals) m += v;
  m /= set.signals.length;
  let s = 0;
  for (const v of set.signals) s += (v - m) ** 2;
  return s / set.signals.length;
}

/** MSE / signal variance of predictions [n, seq] of the whole set. */
export function nmseOf(pred: ArrayLike<number>, set: FourierSet): number {
  return mseOf(pred, set.signals) / signalVariance(set);
}
