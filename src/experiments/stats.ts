/**
 * Small-sample statistics for the reproductions: Student-t intervals over seeds, paired
 * differences (same seeds, two settings), and the Wilson interval of one accuracy measured on n
 * test items. Pure functions, float64, no dependencies; checked against scipy in
 * test/experiment-stats.test.ts.
 *
 *   tInterval(xs)          mean ± t_{0.975, n−1} · s/√n  (s: the sample standard deviation, n − 1)
 *   pairedDifference(a, b) the t-interval of the per-seed differences a_i − b_i; `excludesZero`
 *                          is what a claim "a differs from b" needs (a two-sided paired t-test at
 *                          1 − level, equivalently)
 *   wilsonInterval(k, n)   the score interval of a binomial proportion (test-set sampling noise of
 *                          one run's accuracy; not a substitute for seeds)
 *
 * With one value (n = 1) an interval is undefined: halfWidth is Infinity and lo/hi are ±Infinity,
 * so nothing "excludes zero" by accident. Non-finite inputs throw (a NaN accuracy is a bug to see,
 * not a number to average).
 */

export interface Interval {
  /** Values the interval is computed from. */
  n: number;
  mean: number;
  /** Sample standard deviation (n − 1 in the denominator); NaN for n = 1. */
  sd: number;
  /** Standard error sd/√n; NaN for n = 1. */
  se: number;
  /** Degrees of freedom n − 1. */
  df: number;
  level: number;
  /** The t quantile used (t_{(1+level)/2, df}); Infinity for n = 1. */
  t: number;
  halfWidth: number;
  lo: number;
  hi: number;
}

export interface PairedDifference extends Interval {
  /** The per-pair differences a_i − b_i, in input order. */
  diffs: number[];
  /** The interval lies strictly on one side of 0. */
  excludesZero: boolean;
}

function finiteValues(xs: readonly number[], what: string): void {
  if (xs.length === 0) throw new Error(`${what}: needs at least one value`);
  xs.forEach((x, i) => {
    if (!Number.isFinite(x)) throw new Error(`${what}: value ${i} is ${x}; every value must be finite`);
  });
}

export function mean(xs: readonly number[]): number {
  finiteValues(xs, 'mean');
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Sample standard deviation (denominator n − 1); NaN for one value. */
export function sampleSd(xs: readonly number[]): number {
  const m = mean(xs);
  if (xs.length < 2) return NaN;
  let ss = 0;
  for (const x of xs) ss += (x - m) * (x - m);
  return Math.sqrt(ss / (xs.length - 1));
}

// ---------- special functions ----------

const LANCZOS = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];

/** ln Γ(x), x > 0 (Lanczos, g = 7; relative error ~1e-15). */
export function logGamma(x: number): number {
  if (!(x > 0)) throw new Error(`logGamma: x must be > 0, got ${x}`);
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the incomplete beta (modified Lentz), valid for x < (a + 1)/(a + b + 2). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const TINY = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 500; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) return h;
  }
  return h;
}

/** The regularized incomplete beta I_x(a, b), 0 ≤ x ≤ 1, a, b > 0. */
export function regularizedBeta(x: number, a: number, b: number): number {
  if (!(a > 0) || !(b > 0)) throw new Error(`regularizedBeta: a and b must be > 0, got ${a}, ${b}`);
  if (!(x >= 0 && x <= 1)) throw new Error(`regularizedBeta: x must be in [0, 1], got ${x}`);
  if (x === 0 || x === 1) return x;
  const lnFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x);
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(lnFront) * betaContinuedFraction(a, b, x)) / a;
  return 1 - (Math.exp(lnFront) * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** P(T ≤ t) for Student's t with `df` > 0 degrees of freedom. */
export function studentTCdf(t: number, df: number): number {
  if (!(df > 0)) throw new Error(`studentTCdf: df must be > 0, got ${df}`);
  if (t === Infinity) return 1;
  if (t === -Infinity) return 0;
  const tail = 0.5 * regularizedBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/** The p-quantile of Student's t with `df` degrees of freedom (0 < p < 1). */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new Error(`studentTQuantile: p must be in (0, 1), got ${p}`);
  if (!(df > 0)) throw new Error(`studentTQuantile: df must be > 0, got ${df}`);
  if (p === 0.5) return 0;
  if (p < 0.5) return -studentTQuantile(1 - p, df);
  // Bracket, then bisect on the CDF (monotone); 200 halvings reach float64 resolution.
  let lo = 0;
  let hi = 1;
  while (studentTCdf(hi, df) < p) {
    lo = hi;
    hi *= 2;
    if (hi > 1e300) return Infinity;
  }
  for (let i = 0; i < 200 && hi - lo > 1e-15 * hi; i++) {
    const mid = 0.5 * (lo + hi);
    if (studentTCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

/** The standard normal p-quantile (Acklam's rational approximation; relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new Error(`normalQuantile: p must be in (0, 1), got ${p}`);
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const pl = 0.02425;
  let x: number;
  if (p < pl) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  } else if (p > 1 - pl) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x = -(((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  } else {
    const q = p - 0.5;
    const r = q * q;
    x = ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
  }
  return x;
}

// ---------- intervals ----------

/** The two-sided Student-t interval of the mean of `xs` at `level` (default 0.95). */
export function tInterval(xs: readonly number[], level = 0.95): Interval {
  if (!(level > 0 && level < 1)) throw new Error(`tInterval: level must be in (0, 1), got ${level}`);
  const n = xs.length;
  const m = mean(xs);
  if (n < 2) return { n, mean: m, sd: NaN, se: NaN, df: 0, level, t: Infinity, halfWidth: Infinity, lo: -Infinity, hi: Infinity };
  const sd = sampleSd(xs);
  const se = sd / Math.sqrt(n);
  const t = studentTQuantile((1 + level) / 2, n - 1);
  const halfWidth = t * se;
  return { n, mean: m, sd, se, df: n - 1, level, t, halfWidth, lo: m - halfWidth, hi: m + halfWidth };
}

/** The t-interval of the paired differences a_i − b_i (same seeds / same pairing in both lists). */
export function pairedDifference(a: readonly number[], b: readonly number[], level = 0.95): PairedDifference {
  if (a.length !== b.length) throw new Error(`pairedDifference: the two lists must pair up, got ${a.length} and ${b.length} values`);
  finiteValues(a, 'pairedDifference (first)');
  finiteValues(b, 'pairedDifference (second)');
  const diffs = a.map((x, i) => x - b[i]!);
  const iv = tInterval(diffs, level);
  return { ...iv, diffs, excludesZero: iv.lo > 0 || iv.hi < 0 };
}

/** Wilson score interval of a proportion k/n at `level` (default 0.95). */
export function wilsonInterval(successes: number, n: number, level = 0.95): { p: number; lo: number; hi: number; halfWidth: number } {
  if (!Number.isInteger(n) || n < 1) throw new Error(`wilsonInterval: n must be an integer ≥ 1, got ${n}`);
  if (!(successes >= 0 && successes <= n)) throw new Error(`wilsonInterval: successes must be in [0, ${n}], got ${successes}`);
  const z = normalQuantile((1 + level) / 2);
  const p = successes / n;
  const z2n = (z * z) / n;
  const centre = (p + z2n / 2) / (1 + z2n);
  const half = (z / (1 + z2n)) * Math.sqrt((p * (1 - p)) / n + z2n / (4 * n));
  return { p, lo: centre - half, hi: centre + half, halfWidth: half };
}

/** "m ± h" in the given units (scale multiplies both; digits after the point). */
export function formatInterval(iv: Pick<Interval, 'mean' | 'halfWidth'>, opts: { scale?: number; digits?: number } = {}): string {
  const s = opts.scale ?? 1;
  const d = opts.digits ?? 1;
  const h = Number.isFinite(iv.halfWidth) ? (s * iv.halfWidth).toFixed(d) : '∞';
  return `${(s * iv.mean).toFixed(d)} ± ${h}`;
}

// ---------- checks (results.json) ----------

/** One line of a reproduction's `checks` list in results.json. */
export interface Check {
  id: string;
  /** The paper's claim, in a few words. */
  claim: string;
  /** Our number (or a short verdict when the claim is not a number). */
  measured: number | string;
  /** What would count as reproducing the claim. */
  goal: string;
  /** true: reproduced; false: contradicted; null: the data cannot decide (the interval straddles the boundary). */
  pass: boolean | null;
  /** 95 % interval of `measured` across seeds (null when there is none). */
  ci95: [number, number] | null;
  seeds: number[];
  note?: string;
}

/**
 * The sign verdict of an interval: `expect` 'positive' → pass when the whole interval is > 0,
 * fail when it is < 0, null when it contains 0 (and always null with a single seed).
 */
export function signVerdict(iv: Pick<Interval, 'lo' | 'hi'>, expect: 'positive' | 'negative'): boolean | null {
  const pos = iv.lo > 0;
  const neg = iv.hi < 0;
  if (!pos && !neg) return null;
  return expect === 'positive' ? pos : neg;
}

/** Equivalence verdict: pass when the interval lies inside ±margin, fail when it lies wholly outside, else null. */
export function withinVerdict(iv: Pick<Interval, 'lo' | 'hi'>, margin: number): boolean | null {
  if (iv.lo >= -margin && iv.hi <= margin) return true;
  if (iv.lo > margin || iv.hi < -margin) return false;
  return null;
}
