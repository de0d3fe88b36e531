import { Rng } from '../../src/engine/rng';

/**
 * Central finite differences in float64, the yardstick for every backward pass.
 * Returns max |numeric - analytic| / max(1, max|numeric|) over all coordinates checked.
 */
export function checkGradient(f: (x: Float64Array) => number, x: Float64Array, analytic: ArrayLike<number>, eps = 1e-6, indices?: number[]): number {
  if (analytic.length !== x.length) throw new Error(`gradient length ${analytic.length} vs input ${x.length}`);
  const idx = indices ?? Array.from(x, (_, i) => i);
  let maxDiff = 0;
  let maxRef = 0;
  for (const i of idx) {
    const orig = x[i]!;
    x[i] = orig + eps;
    const fp = f(x);
    x[i] = orig - eps;
    const fm = f(x);
    x[i] = orig;
    const numeric = (fp - fm) / (2 * eps);
    const d = Math.abs(numeric - analytic[i]!);
    maxDiff = Number.isNaN(d) ? Infinity : Math.max(maxDiff, d);
    maxRef = Math.max(maxRef, Math.abs(numeric));
  }
  return maxDiff / Math.max(1, maxRef);
}

/** Deterministic standard-normal-ish float64 values (Box–Muller over a mulberry32 stream). */
export function randn64(n: number, seed: number, scale = 1): Float64Array {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next());
  return out;
}

/** Σ a_i·b_i in float64: turns an output into the scalar loss Σ dy ⊙ y whose gradient a backward gives. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Indices to check in 0…n−1: all when n ≤ max, else a seeded sample of max of them. */
export function sample(n: number, max: number, seed: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  return new Rng(seed).shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, max);
}
