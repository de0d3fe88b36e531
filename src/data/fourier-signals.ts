/**
 * The atoms paper's App. C.1 signals: sums of Fourier bases with random phases and amplitudes,
 * observed at a random subset of positions. Pure functions of a seeded Rng.
 */
import type { Rng } from '../engine/rng';

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
