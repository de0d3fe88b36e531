/**
 * Non-learned references for the Fourier toy (CPU, float64), reported beside every number:
 *  - copy: the observed values, zeros elsewhere (NMSE ≈ 1 − observed/seq);
 *  - linear floor: the best linear map from [x_obs (seq), mask (seq), 1] to the signal, fitted by
 *    least squares on a large sample of the band and evaluated on the validation set;
 *  - FISTA: per signal, ℓ1 sparse coding of the observations over the band's whole real Fourier
 *    dictionary (knows the band, not the signal's frequencies): what compressed sensing gets.
 *  - oracle Landweber / ISTA: K steps of x ← x + γ·P(m ⊙ (x_obs − x)) with P the projector onto
 *    the span of the band's (fixed) frequencies, γ best on the set — the ceiling of a K-step
 *    block with uniform attention and a perfect dictionary.
 */
import { mseOf, signalVariance, type FourierSet } from '../data/fourier-signals';

/** MSE of predicting the observed values and zero elsewhere. */
export function copyBaselineMse(set: FourierSet): number {
  return mseOf(set.values, set.signals);
}

/** Features of the linear floor: [x_obs (seq), mask (seq), 1]. */
function floorFeatures(set: FourierSet, s: number, z: Float64Array): void {
  const { seq } = set;
  for (let t = 0; t < seq; t++) {
    z[t] = set.values[s * seq + t]!;
    z[seq + t] = set.masks[s * seq + t]!;
  }
  z[2 * seq] = 1;
}

/** Solves the symmetric positive-definite system A·X = B in place (Cholesky), A [n, n], B [n, k]. */
export function solveSpd(A: Float64Array, B: Float64Array, n: number, k: number): Float64Array {
  const L = Float64Array.from(A);
  for (let j = 0; j < n; j++) {
    let d = L[j * n + j]!;
    for (let p = 0; p < j; p++) d -= L[j * n + p]! ** 2;
    if (!(d > 0)) throw new Error(`solveSpd: matrix is not positive definite (pivot ${j}: ${d})`);
    const ljj = Math.sqrt(d);
    L[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let v = L[i * n + j]!;
      for (let p = 0; p < j; p++) v -= L[i * n + p]! * L[j * n + p]!;
      L[i * n + j] = v / ljj;
    }
  }
  const X = Float64Array.from(B);
  for (let c = 0; c < k; c++) {
    for (let i = 0; i < n; i++) {
      let v = X[i * k + c]!;
      for (let p = 0; p < i; p++) v -= L[i * n + p]! * X[p * k + c]!;
      X[i * k + c] = v / L[i * n + i]!;
    }
    for (let i = n - 1; i >= 0; i--) {
      let v = X[i * k + c]!;
      for (let p = i + 1; p < n; p++) v -= L[p * n + i]! * X[p * k + c]!;
      X[i * k + c] = v / L[i * n + i]!;
    }
  }
  return X;
}

export interface LinearFloor {
  /** W [2·seq + 1, seq]: ŷ = [x_obs, mask, 1]·W. */
  weights: Float64Array;
  /** MSE of the fitted map on its own training sample. */
  trainMse: number;
  predict(set: FourierSet): Float64Array;
}

/**
 * The best linear map from [x_obs, mask, 1] to the signal, by least squares on `set` (normal
 * equations in float64 with a ridge of 1e-9·mean diagonal, which only guards the constant
 * columns of the mask features, e.g. a mask entry that is never 0).
 */
export function fitLinearFloor(set: FourierSet): LinearFloor {
  const { seq, n } = set;
  const p = 2 * seq + 1;
  const ztz = new Float64Array(p * p);
  const zty = new Float64Array(p * seq);
  const z = new Float64Array(p);
  for (let s = 0; s < n; s++) {
    floorFeatures(set, s, z);
    for (let i = 0; i < p; i++) {
      const zi = z[i]!;
      if (zi === 0) continue;
      for (let j = i; j < p; j++) ztz[i * p + j] += zi * z[j]!;
      for (let t = 0; t < seq; t++) zty[i * seq + t] += zi * set.signals[s * seq + t]!;
    }
  }
  let diag = 0;
  for (let i = 0; i < p; i++) {
    for (let j = 0; j < i; j++) ztz[i * p + j] = ztz[j * p + i]!;
    diag += ztz[i * p + i]! / p;
  }
  for (let i = 0; i < p; i++) ztz[i * p + i] += 1e-9 * diag;
  const weights = solveSpd(ztz, zty, p, seq);
  const predict = (q: FourierSet): Float64Array => {
    if (q.seq !== seq) throw new Error(`linear floor: fitted for seq ${seq}, got ${q.seq}`);
    const out = new Float64Array(q.n * seq);
    const zz = new Float64Array(p);
    for (let s = 0; s < q.n; s++) {
      floorFeatures(q, s, zz);
      for (let i = 0; i < p; i++) {
        const zi = zz[i]!;
        if (zi === 0) continue;
        for (let t = 0; t < seq; t++) out[s * seq + t] += zi * weights[i * seq + t]!;
      }
    }
    return out;
  };
  return { weights, trainMse: mseOf(predict(set), set.signals), predict };
}

/**
 * A non-learned reference: per signal, FISTA on min_s ½‖m ⊙ (x − Φᵀs)‖² + λ‖s‖₁ over the band's
 * whole real Fourier dictionary Φ (cos and sin of every frequency of the band, unit-norm rows),
 * reconstruction Φᵀs. It knows the band, not the signal's frequencies: what compressed sensing
 * gets from the 16 samples. λ is relative to the largest |Φ_O·x_obs| of each signal.
 */
export function fistaReferenceNmse(set: FourierSet, band: readonly [number, number], o: { lambdaRel?: number; iterations?: number } = {}): number {
  const { seq: T } = set;
  const atoms: Float64Array[] = [];
  for (let f = band[0]; f <= band[1]; f++) {
    for (const fn of [Math.cos, Math.sin]) {
      const a = Float64Array.from({ length: T }, (_, t) => fn((2 * Math.PI * f * t) / T));
      const n = Math.hypot(...a);
      if (n > 1e-9) atoms.push(a.map((v) => v / n));
    }
  }
  const K = atoms.length;
  const lambdaRel = o.lambdaRel ?? 0.02;
  const iters = o.iterations ?? 300;
  const pred = new Float64Array(set.n * T);
  for (let s = 0; s < set.n; s++) {
    const obs: number[] = [];
    for (let t = 0; t < T; t++) if (set.masks[s * T + t]) obs.push(t);
    const A = atoms.map((a) => obs.map((t) => a[t]!));
    const y = obs.map((t) => set.values[s * T + t]!);
    // L = ‖A‖₂² by power iteration.
    let v = new Float64Array(K).fill(1);
    let L = 1;
    for (let it = 0; it < 50; it++) {
      const w = new Float64Array(obs.length);
      for (let k = 0; k < K; k++) for (let j = 0; j < obs.length; j++) w[j] += A[k]![j]! * v[k]!;
      const u = new Float64Array(K);
      for (let k = 0; k < K; k++) for (let j = 0; j < obs.length; j++) u[k] += A[k]![j]! * w[j]!;
      L = Math.hypot(...u) / Math.max(Math.hypot(...v), 1e-30);
      v = u;
    }
    L *= 1.01;
    let corr = 0;
    for (let k = 0; k < K; k++) {
      let c = 0;
      for (let j = 0; j < obs.length; j++) c += A[k]![j]! * y[j]!;
      corr = Math.max(corr, Math.abs(c));
    }
    const lam = lambdaRel * corr;
    let x = new Float64Array(K);
    let z = new Float64Array(K);
    let tk = 1;
    for (let it = 0; it < iters; it++) {
      const r = y.slice();
      for (let k = 0; k < K; k++) if (z[k] !== 0) for (let j = 0; j < obs.length; j++) r[j] = r[j]! - A[k]![j]! * z[k]!;
      const xn = new Float64Array(K);
      for (let k = 0; k < K; k++) {
        let g = 0;
        for (let j = 0; j < obs.length; j++) g += A[k]![j]! * r[j]!;
        const u = z[k]! + g / L;
        xn[k] = Math.sign(u) * Math.max(Math.abs(u) - lam / L, 0);
      }
      const tn = (1 + Math.sqrt(1 + 4 * tk * tk)) / 2;
      z = xn.map((val, k) => val + ((tk - 1) / tn) * (val - x[k]!));
      x = xn;
      tk = tn;
    }
    for (let k = 0; k < K; k++) if (x[k] !== 0) for (let t = 0; t < T; t++) pred[s * T + t] += x[k]! * atoms[k]![t]!;
  }
  return mseOf(pred, set.signals) / signalVariance(set);
}

/**
 * The oracle Landweber reference: K steps of ŷ ← ŷ + γ·Π(m ⊙ (x − ŷ)), ŷ⁰ = 0, with Π the
 * orthogonal projector onto the span of cos/sin of `freqs` (the band's fixed frequencies), γ the
 * best of a grid on this set. What a K-step block with uniform attention and a perfect, tied
 * dictionary reaches without thresholds (the "ceiling of the block").
 */
export function landweberOracleNmse(set: FourierSet, freqs: readonly number[], iterations: number): { nmse: number; step: number } {
  const { seq: T, n } = set;
  const basis: Float64Array[] = [];
  for (const f of freqs) {
    for (const fn of [Math.cos, Math.sin]) {
      const a = Float64Array.from({ length: T }, (_, t) => fn((2 * Math.PI * f * t) / T));
      for (const u of basis) {
        let d = 0;
        for (let t = 0; t < T; t++) d += a[t]! * u[t]!;
        for (let t = 0; t < T; t++) a[t] = a[t]! - d * u[t]!;
      }
      const norm = Math.hypot(...a);
      if (norm > 1e-9) basis.push(a.map((v) => v / norm));
    }
  }
  const variance = signalVariance(set);
  const run = (gamma: number): number => {
    let se = 0;
    const y = new Float64Array(T);
    const r = new Float64Array(T);
    for (let s = 0; s < n; s++) {
      y.fill(0);
      for (let k = 0; k < iterations; k++) {
        for (let t = 0; t < T; t++) r[t] = set.masks[s * T + t]! * (set.values[s * T + t]! - y[t]!);
        for (const u of basis) {
          let d = 0;
          for (let t = 0; t < T; t++) d += u[t]! * r[t]!;
          for (let t = 0; t < T; t++) y[t] = y[t]! + gamma * d * u[t]!;
        }
      }
      for (let t = 0; t < T; t++) se += (y[t]! - set.signals[s * T + t]!) ** 2;
    }
    return se / (n * T) / variance;
  };
  let best = { nmse: Infinity, step: 0 };
  for (let g = 0.25; g <= 6; g += 0.125) {
    const e = run(g);
    if (e < best.nmse) best = { nmse: e, step: g };
  }
  return best;
}
