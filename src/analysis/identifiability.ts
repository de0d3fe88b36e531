/**
 * STAN App. A: post-hoc checks of the sufficient conditions for interpretability and
 * identifiability, in float64 on the CPU from E [l, n] and D [m, l] (row-major, as stored in the
 * parameter pack; read them back with `readStanMatrices`).
 *
 *  Assumption 1, singleton margin (eq. 9): for each input coordinate p the carrier
 *    i*(p) = argmax_i |E_{i,p}| (ties → lower index) and the margin
 *    γ_p = |E_{i*,p}| − max_{j≠i*} |E_{j,p}|  (= |E_{i*,p}| when l = 1); need γ_p > 0 for all p.
 *  Assumption 2, blockwise identity on singletons (eq. 10):
 *    err_p = ‖D_{:,i*} · E_{i*,p} − e_p‖₂  (needs m = n: ΔW maps R^n → R^m); need err_p = 0.
 *  Assumption 3, row orthonormality (eq. 11): ‖E·Eᵀ − I_l‖_F = 0. Only possible when l ≤ n;
 *    for l > n it is at least √(l − n) (E·Eᵀ has rank ≤ n).
 *
 * Note on scale: the paper's operator is D·S(x)·E; this engine's forward multiplies by 1/k
 * (eq. 3), so with k > 1 the blockwise identity of the forward holds for D/k. `blockScale`
 * lets callers fold that in (blockScale = 1/k); the default 1 checks eq. 10 as written.
 */
import type { StanAdapter } from '../adapters/stan';
import type { GpuRuntime } from '../engine/runtime';

type Arr = ArrayLike<number>;

export interface SingletonMargins {
  /** i*(p) for each p ∈ [n]. */
  carrier: Int32Array;
  /** γ_p (eq. 9). */
  margin: Float64Array;
}

export function singletonMargins(E: Arr, l: number, n: number): SingletonMargins {
  checkShape('E', E, l * n);
  const carrier = new Int32Array(n);
  const margin = new Float64Array(n);
  for (let p = 0; p < n; p++) {
    let best = -1;
    let bestAbs = -Infinity;
    let second = -Infinity;
    for (let i = 0; i < l; i++) {
      const a = Math.abs(E[i * n + p]!);
      if (a > bestAbs) {
        second = bestAbs;
        bestAbs = a;
        best = i;
      } else if (a > second) {
        second = a;
      }
    }
    carrier[p] = best;
    margin[p] = bestAbs - (l > 1 ? second : 0);
  }
  return { carrier, margin };
}

/** err_p = ‖blockScale · D_{:,i*(p)} · E_{i*(p),p} − e_p‖₂ (eq. 10); requires m = n. */
export function blockIdentityErrors(E: Arr, D: Arr, l: number, n: number, m: number, opts: { carrier?: ArrayLike<number>; blockScale?: number } = {}): Float64Array {
  checkShape('E', E, l * n);
  checkShape('D', D, m * l);
  if (m !== n) throw new Error(`blockwise identity (eq. 10) compares ΔW·e_p ∈ R^m with e_p ∈ R^n: needs m = n, got m = ${m}, n = ${n}`);
  const carrier = opts.carrier ?? singletonMargins(E, l, n).carrier;
  const s = opts.blockScale ?? 1;
  const err = new Float64Array(n);
  for (let p = 0; p < n; p++) {
    const i = carrier[p]!;
    const e = E[i * n + p]!;
    let ss = 0;
    for (let c = 0; c < m; c++) {
      const d = s * D[c * l + i]! * e - (c === p ? 1 : 0);
      ss += d * d;
    }
    err[p] = Math.sqrt(ss);
  }
  return err;
}

/** ‖E·Eᵀ − I_l‖_F (eq. 11). */
export function rowOrthonormalityError(E: Arr, l: number, n: number): number {
  checkShape('E', E, l * n);
  let ss = 0;
  for (let i = 0; i < l; i++) {
    for (let j = i; j < l; j++) {
      let g = 0;
      for (let c = 0; c < n; c++) g += E[i * n + c]! * E[j * n + c]!;
      const d = g - (i === j ? 1 : 0);
      ss += i === j ? d * d : 2 * d * d;
    }
  }
  return Math.sqrt(ss);
}

export interface IdentifiabilityReport extends SingletonMargins {
  l: number;
  n: number;
  m: number;
  /** err_p per input coordinate; null when m ≠ n (eq. 10 undefined). */
  blockError: Float64Array | null;
  orthoError: number;
  summary: {
    minMargin: number;
    /** Coordinates with γ_p > 0. */
    positiveMargins: number;
    /** Whether the carriers i*(p) are n distinct latents (each coordinate has its own). */
    distinctCarriers: boolean;
    maxBlockError: number | null;
    meanBlockError: number | null;
    /** The three assumptions, with tolerance `tol` for eqs. 10 and 11. */
    assumption1: boolean;
    assumption2: boolean | null;
    assumption3: boolean;
  };
}

export function identifiabilityReport(E: Arr, D: Arr, dims: { l: number; n: number; m: number }, opts: { tol?: number; blockScale?: number } = {}): IdentifiabilityReport {
  const { l, n, m } = dims;
  const tol = opts.tol ?? 1e-6;
  const sm = singletonMargins(E, l, n);
  const blockError = m === n ? blockIdentityErrors(E, D, l, n, m, { carrier: sm.carrier, ...(opts.blockScale !== undefined ? { blockScale: opts.blockScale } : {}) }) : null;
  const orthoError = rowOrthonormalityError(E, l, n);
  let minMargin = Infinity;
  let positiveMargins = 0;
  for (const g of sm.margin) {
    minMargin = Math.min(minMargin, g);
    if (g > 0) positiveMargins++;
  }
  let maxBlockError: number | null = null;
  let meanBlockError: number | null = null;
  if (blockError) {
    maxBlockError = 0;
    let s = 0;
    for (const e of blockError) {
      maxBlockError = Math.max(maxBlockError, e);
      s += e;
    }
    meanBlockError = s / n;
  }
  return {
    l,
    n,
    m,
    ...sm,
    blockError,
    orthoError,
    summary: {
      minMargin,
      positiveMargins,
      distinctCarriers: new Set(sm.carrier).size === n,
      maxBlockError,
      meanBlockError,
      assumption1: positiveMargins === n,
      assumption2: maxBlockError === null ? null : maxBlockError <= tol,
      assumption3: orthoError <= tol,
    },
  };
}

/** E and D of a STAN adapter, read back from the GPU (two readbacks). */
export async function readStanMatrices(rt: GpuRuntime, adapter: Pick<StanAdapter, 'E' | 'D'>): Promise<{ E: Float32Array; D: Float32Array }> {
  return { E: await rt.read(adapter.E.value), D: await rt.read(adapter.D.value) };
}

function checkShape(name: string, a: Arr, need: number): void {
  if (a.length !== need) throw new Error(`${name} has ${a.length} values, expected ${need}`);
}
