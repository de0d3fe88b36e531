/**
 * The standard sparse-dictionary metrics of one site, with the names SAELens and EleutherAI's
 * sparsify use, from counts over N rows (a training window or a held-out set):
 *  - L0: mean number of active units per row, Σ_i count_i / N;
 *  - dead fraction: units that never fired in the N rows;
 *  - dense fraction: units that fired on more than `denseThreshold` of the rows;
 *  - feature density histogram: log10(count_i / N) of the units that fired, in fixed bins from
 *    1e-6 to 1 (dead units are counted apart: log10 0 is −∞), with the numbers of units below
 *    1e-5 and below 1e-6 (dead ones included, as in SAELens' log-density plots). With N rows
 *    the smallest non-zero density is 1/N, so those two counts can only exceed the dead count
 *    once N > 1e5 (resp. 1e6);
 *  - output share ‖ΔO‖ / ‖O‖ = sqrt(Σ‖ΔO‖² / Σ‖O‖²) over the rows: how much of the site's output
 *    the adapter writes (null when not measured).
 * Pure functions; the GPU counts come from src/analysis/latent-window.ts or latent-stats.ts.
 */

/** Default share of rows above which a unit counts as dense (stated in the page). */
export const DEFAULT_DENSE_THRESHOLD = 0.1;
/** The density histogram's bins: log10 density from −6 to 0 in steps of 0.25. */
export const DENSITY_LOG10_MIN = -6;
export const DENSITY_BIN_WIDTH = 0.25;
export const DENSITY_BINS = 24;

export interface DensityHistogram {
  /** Bin edges in log10 density: DENSITY_BINS + 1 values from −6 to 0. */
  edges: number[];
  /** Units per bin (units that fired; density 1 falls in the last bin, below 1e-6 in the first). */
  counts: number[];
  /** Units with density < 1e-5 / < 1e-6, dead ones included. */
  below1e5: number;
  below1e6: number;
}

export interface SiteMetrics {
  /** Rows the counts cover. */
  rows: number;
  units: number;
  l0: number;
  dead: number;
  deadFraction: number;
  dense: number;
  denseFraction: number;
  denseThreshold: number;
  histogram: DensityHistogram;
  /** ‖ΔO‖ / ‖O‖ over the rows, or null. */
  outputShare: number | null;
}

export function densityHistogram(count: ArrayLike<number>, rows: number): DensityHistogram {
  const edges = Array.from({ length: DENSITY_BINS + 1 }, (_, b) => DENSITY_LOG10_MIN + b * DENSITY_BIN_WIDTH);
  const counts = new Array<number>(DENSITY_BINS).fill(0);
  let below1e5 = 0;
  let below1e6 = 0;
  for (let i = 0; i < count.length; i++) {
    const d = rows > 0 ? count[i]! / rows : 0;
    if (d < 1e-5) below1e5++;
    if (d < 1e-6) below1e6++;
    if (!(d > 0)) continue;
    const b = Math.floor((Math.log10(d) - DENSITY_LOG10_MIN) / DENSITY_BIN_WIDTH);
    counts[Math.min(DENSITY_BINS - 1, Math.max(0, b))]!++;
  }
  return { edges, counts, below1e5, below1e6 };
}

export function siteMetrics(s: { count: ArrayLike<number>; rows: number; sqDelta?: number; sqOut?: number }, opts: { denseThreshold?: number } = {}): SiteMetrics {
  const thr = opts.denseThreshold ?? DEFAULT_DENSE_THRESHOLD;
  if (!(thr >= 0 && thr <= 1)) throw new Error(`dense threshold must be in [0, 1], got ${thr}`);
  const units = s.count.length;
  let total = 0;
  let dead = 0;
  let dense = 0;
  for (let i = 0; i < units; i++) {
    const c = s.count[i]!;
    total += c;
    if (!(c > 0)) dead++;
    if (s.rows > 0 && c / s.rows > thr) dense++;
  }
  const share = s.sqOut !== undefined && s.sqOut > 0 && s.sqDelta !== undefined ? Math.sqrt(s.sqDelta / s.sqOut) : null;
  return {
    rows: s.rows,
    units,
    l0: s.rows > 0 ? total / s.rows : 0,
    dead,
    deadFraction: units ? dead / units : 0,
    dense,
    denseFraction: units ? dense / units : 0,
    denseThreshold: thr,
    histogram: densityHistogram(s.count, s.rows),
    outputShare: share,
  };
}
