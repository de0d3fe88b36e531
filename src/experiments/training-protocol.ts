/**
 * The decision rules of a training protocol, as pure functions over validation curves (no GPU):
 * when a run has plateaued, which learning rate wins, which runs survive a round of successive
 * halving, what first-task accuracy two methods are matched at, where a curve reaches a level,
 * and retention. The STAN reproductions (stan-*.ts) drive them; any reproduction can.
 *
 * A curve is a list of (step, value) evaluations in increasing step order; values are
 * accuracies in [0, 1] here but nothing depends on it.
 */

export interface CurvePoint {
  step: number;
  value: number;
}

export interface PlateauOptions {
  /** Steps over which the gain is measured (default 100). */
  window?: number;
  /** Smallest gain that counts as progress (default 0.005 = half a point of accuracy). */
  minGain?: number;
  /** The gain must stay below minGain at this many consecutive evaluations (default 1). */
  patience?: number;
}

/**
 * "Validation accuracy gains < minGain over `window` steps": after observing a value at step s
 * (with at least one observation at or before s − window), the gain is
 *     max{ v_t : s − window < t ≤ s } − max{ v_t : t ≤ s − window },
 * and the run has plateaued once the gain has been < minGain at `patience` consecutive
 * evaluations. Maxima rather than end points, so one low evaluation does not stop a run; the
 * patience is for one lucky high evaluation, which otherwise makes the next window look flat
 * (with two evaluations per window, seen in the STAN runs: a run still gaining 2–3 points per
 * 100 steps stopped at half its schedule). `best` is the first evaluation with the highest value
 * seen (the checkpoint to keep).
 */
export class PlateauRule {
  readonly window: number;
  readonly minGain: number;
  readonly patience: number;
  readonly curve: CurvePoint[] = [];
  private bestAt = -1;
  private flat = 0;
  /** The step at which the rule fired (null while it has not). */
  plateauStep: number | null = null;

  constructor(opts: PlateauOptions = {}) {
    this.window = opts.window ?? 100;
    this.minGain = opts.minGain ?? 0.005;
    this.patience = opts.patience ?? 1;
    if (!(this.window > 0)) throw new Error(`plateau rule: window must be > 0 steps, got ${this.window}`);
    if (!Number.isInteger(this.patience) || this.patience < 1) throw new Error(`plateau rule: patience must be an integer ≥ 1, got ${this.patience}`);
    if (!(this.minGain >= 0)) throw new Error(`plateau rule: minGain must be ≥ 0, got ${this.minGain}`);
  }

  /** Records an evaluation; returns true when the run has plateaued (and stays true). */
  observe(step: number, value: number): boolean {
    if (!Number.isFinite(value)) throw new Error(`plateau rule: value at step ${step} is ${value}`);
    const last = this.curve[this.curve.length - 1];
    if (last && !(step > last.step)) throw new Error(`plateau rule: steps must increase (got ${step} after ${last.step})`);
    this.curve.push({ step, value });
    if (this.bestAt < 0 || value > this.curve[this.bestAt]!.value) this.bestAt = this.curve.length - 1;
    if (this.plateauStep === null) {
      const g = this.gain(step);
      this.flat = g !== null && g < this.minGain ? this.flat + 1 : 0;
      if (this.flat >= this.patience) this.plateauStep = step;
    }
    return this.plateauStep !== null;
  }

  /** The gain at step s as defined above (null when nothing was observed at or before s − window). */
  gain(step: number): number | null {
    let before = -Infinity;
    let within = -Infinity;
    for (const p of this.curve) {
      if (p.step > step) break;
      if (p.step <= step - this.window) before = Math.max(before, p.value);
      else within = Math.max(within, p.value);
    }
    if (before === -Infinity || within === -Infinity) return null;
    return within - before;
  }

  get plateaued(): boolean {
    return this.plateauStep !== null;
  }

  get best(): CurvePoint | null {
    return this.bestAt < 0 ? null : this.curve[this.bestAt]!;
  }
}

export interface Candidate<T> {
  key: T;
  /** Validation score (higher is better). */
  score: number;
}

/**
 * The candidate with the highest validation score; ties go to the earlier candidate (list the
 * grid from the most conservative setting, e.g. the smallest learning rate, first). `atEdge`:
 * the winner is the first or last of the grid, so the optimum may lie outside it.
 */
export function selectBest<T>(candidates: readonly Candidate<T>[]): { best: Candidate<T>; index: number; atEdge: boolean; ranking: Candidate<T>[] } {
  if (!candidates.length) throw new Error('selectBest: no candidates');
  candidates.forEach((c, i) => {
    if (!Number.isFinite(c.score)) throw new Error(`selectBest: candidate ${i} (${String(c.key)}) has score ${c.score}`);
  });
  let index = 0;
  candidates.forEach((c, i) => {
    if (c.score > candidates[index]!.score) index = i;
  });
  const ranking = candidates.slice().sort((a, b) => b.score - a.score || candidates.indexOf(a) - candidates.indexOf(b));
  return { best: candidates[index]!, index, atEdge: candidates.length > 1 && (index === 0 || index === candidates.length - 1), ranking };
}

/** Successive halving: the indices of the `keep` best scores (ties to the earlier), in grid order. */
export function halvingKeep(scores: readonly number[], keep: number): number[] {
  if (!Number.isInteger(keep) || keep < 1) throw new Error(`halvingKeep: keep must be an integer ≥ 1, got ${keep}`);
  const order = scores.map((s, i) => ({ s, i })).sort((a, b) => b.s - a.s || a.i - b.i);
  return order
    .slice(0, keep)
    .map((x) => x.i)
    .sort((a, b) => a - b);
}

/**
 * The first-task accuracy every method is trained to before the second task: `below` under the
 * lowest of the methods' plateau values, so each of them reaches it (on the same validation
 * split) and they stop within one evaluation interval's gain of it.
 */
export function sharedTarget(plateaus: readonly number[], below = 0.02): number {
  if (!plateaus.length) throw new Error('sharedTarget: no plateau values');
  plateaus.forEach((p, i) => {
    if (!Number.isFinite(p)) throw new Error(`sharedTarget: plateau ${i} is ${p}`);
  });
  if (!(below >= 0)) throw new Error(`sharedTarget: below must be ≥ 0, got ${below}`);
  return Math.min(...plateaus) - below;
}

/** The first point of `curve` with value ≥ target, or null. */
export function firstReaching(curve: readonly CurvePoint[], target: number): CurvePoint | null {
  return curve.find((p) => p.value >= target) ?? null;
}

/** Are all values within `tolerance` of each other (max − min ≤ tolerance)? */
export function matchedWithin(values: readonly number[], tolerance: number): { spread: number; matched: boolean } {
  if (!values.length) throw new Error('matchedWithin: no values');
  const spread = Math.max(...values) - Math.min(...values);
  return { spread, matched: spread <= tolerance + 1e-12 };
}

export interface TwoTaskPoint {
  step: number;
  /** First-task value. */
  a: number;
  /** Second-task value. */
  b: number;
}

/**
 * The first-task value at the point where the second-task value first reaches `level`, linearly
 * interpolated between the two evaluations around the crossing (the second task's curve is read
 * as rising through `level` between them). Null when `level` is never reached.
 */
export function valueAtLevel(curve: readonly TwoTaskPoint[], level: number): { step: number; a: number } | null {
  for (let i = 0; i < curve.length; i++) {
    const p = curve[i]!;
    if (p.b < level) continue;
    if (i === 0) return { step: p.step, a: p.a };
    const q = curve[i - 1]!;
    const t = p.b === q.b ? 1 : (level - q.b) / (p.b - q.b);
    return { step: q.step + t * (p.step - q.step), a: q.a + t * (p.a - q.a) };
  }
  return null;
}

/** Retention (A − base)/(A₀ − base): 1 = nothing forgotten, 0 = back to the frozen base. */
export function retention(after: number, before: number, base: number): number {
  if (!(before > base)) return NaN;
  return (after - base) / (before - base);
}
