/**
 * Seeded PRNG (mulberry32). Initialisation uses only integer ops and one float multiply per value,
 * so the same seed gives bit-identical weights in Node, Chromium, Firefox and Safari (no
 * transcendental functions, whose last bits differ between engines).
 */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Restarts the stream at `seed` (reuse one generator per step without allocating). */
  reseed(seed: number): this {
    this.s = seed >>> 0;
    return this;
  }
  /** Uniform u32. */
  nextU32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }
  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** Approximately standard normal: sum of 4 uniforms, rescaled (Irwin–Hall; no Math.log/cos, so bit-exact everywhere). */
  normal(): number {
    return (this.next() + this.next() + this.next() + this.next() - 2) * Math.sqrt(3);
  }
  /** A child generator for a named sub-stream (e.g. one per parameter), stable under reordering. */
  fork(label: string): Rng {
    let h = this.s ^ 0x9e3779b9;
    for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
    return new Rng(h);
  }
  /** Fisher–Yates shuffle in place. */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  }
}

/**
 * The one seed mixer: a 32-bit hash of (seed, counter, stream tag), giving independent streams
 * per step (counter) and purpose (tag) — batch order per epoch, noise per step, a data split.
 * Every seeded stream in the project derives its seed here.
 */
export function mixSeed(seed: number, counter: number, tag: number): number {
  let h = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ (counter >>> 0), 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ Math.imul(tag, 0x27d4eb2f), 0x165667b1);
  return (h ^ (h >>> 15)) >>> 0;
}

/** Uniform(-bound, bound) values: PyTorch's default Linear init uses bound = 1/sqrt(fanIn). */
export function uniformInit(n: number, bound: number, rng: Rng): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.uniform(-bound, bound);
  return out;
}

export function constantInit(n: number, value: number): Float32Array {
  return new Float32Array(n).fill(value);
}
