/**
 * A unit's dashboard (what sae_vis and Neuronpedia show for a feature), computed from the unit
 * activations of a held-out set (per example, per position) and the task's outputs with the unit
 * on and off. Pure functions over plain data; the session (session.ts) gathers the inputs from
 * the task instance (TaskInstance.unitActivations / viewOutputs) under its GPU lock.
 *
 *  - activation histogram over the rows (positions) where the unit fired;
 *  - top-activating examples (by the example's largest activation) and examples sampled from
 *    activation quantiles: the examples where it fired, ranked by activation, cut into
 *    QUANTILE_GROUPS equal-count groups, QUANTILE_SAMPLES evenly spaced examples from each;
 *  - where inside each shown example it fires: its activation at every position (image patch,
 *    signal sample, token);
 *  - per-class bars: mean over the class's examples of the example's largest activation;
 *  - the most co-active units: Jaccard overlap of the rows where each fires with this unit's rows,
 *    with P(other | this);
 *  - the effect of switching it off: Δ of the task's loss and the output difference
 *    (on − off, drawn red/blue) over the view batch.
 */
import type { UnitActivationSet, ViewOutputs } from './tasks/task';
import type { DashboardExample, Drawable, InferenceOverrides, LatentDashboard } from './types';

export type { DashboardExample, LatentDashboard, PositionLayout } from './types';
export type { UnitActivationSet, ViewOutputs } from './tasks/task';

export const TOP_EXAMPLES = 6;
export const QUANTILE_GROUPS = 4;
export const QUANTILE_SAMPLES = 3;
export const HISTOGRAM_BINS = 20;
export const COACTIVE = 5;

function activation(set: UnitActivationSet, e: number, p: number, u: number): number {
  return set.acts[(e * set.positions + p) * set.units + u]!;
}

export interface UnitSummary {
  perExample: Float64Array;
  fired: number;
  sum: number;
  rows: number;
  histogram: { edges: number[]; counts: number[] };
}

/** The unit's per-example maxima, firing count, Σ activation and activation histogram. */
export function summarizeUnit(set: UnitActivationSet, unit: number, bins = HISTOGRAM_BINS): UnitSummary {
  const perExample = new Float64Array(set.examples);
  let fired = 0;
  let sum = 0;
  let max = 0;
  for (let e = 0; e < set.examples; e++) {
    for (let p = 0; p < set.positions; p++) {
      const a = activation(set, e, p, unit);
      if (!(a > 0)) continue;
      fired++;
      sum += a;
      if (a > perExample[e]!) perExample[e] = a;
      if (a > max) max = a;
    }
  }
  const edges = Array.from({ length: bins + 1 }, (_, b) => (max * b) / bins);
  const counts = new Array<number>(bins).fill(0);
  if (max > 0) {
    for (let j = unit; j < set.acts.length; j += set.units) {
      const a = set.acts[j]!;
      if (a > 0) counts[Math.min(bins - 1, Math.floor((a / max) * bins))]!++;
    }
  }
  return { perExample, fired, sum, rows: set.examples * set.positions, histogram: { edges, counts } };
}

/** Examples ranked by their largest activation (firing ones only; ties: lower index first). */
export function rankedExamples(perExample: Float64Array): number[] {
  const idx: number[] = [];
  for (let e = 0; e < perExample.length; e++) if (perExample[e]! > 0) idx.push(e);
  return idx.sort((a, b) => perExample[b]! - perExample[a]! || a - b);
}

/**
 * Quantile groups of the firing examples (ascending): group q holds ranks [q·n/Q, (q+1)·n/Q) of
 * the ascending order; `samples` evenly spaced examples from each (all when fewer).
 */
export function quantileGroups(perExample: Float64Array, groups = QUANTILE_GROUPS, samples = QUANTILE_SAMPLES): { from: number; to: number; members: number[]; picked: number[] }[] {
  const asc = rankedExamples(perExample).reverse();
  const n = asc.length;
  const out: { from: number; to: number; members: number[]; picked: number[] }[] = [];
  if (!n) return out;
  for (let q = 0; q < groups; q++) {
    const lo = Math.floor((q * n) / groups);
    const hi = Math.floor(((q + 1) * n) / groups);
    if (hi <= lo) continue;
    const members = asc.slice(lo, hi);
    const take = Math.min(samples, members.length);
    const picked = Array.from({ length: take }, (_, j) => members[Math.floor(((j + 0.5) * members.length) / take)]!);
    out.push({ from: q / groups, to: (q + 1) / groups, members, picked });
  }
  return out;
}

/** Units most often active on the same rows as `unit` (Jaccard), with P(other | unit). */
export function coactiveUnits(set: UnitActivationSet, unit: number, top = COACTIVE): { unit: number; jaccard: number; given: number; rows: number }[] {
  const U = set.units;
  const both = new Float64Array(U);
  const alone = new Float64Array(U);
  let mine = 0;
  const rows = set.examples * set.positions;
  for (let r = 0; r < rows; r++) {
    const on = set.acts[r * U + unit]! > 0;
    if (on) mine++;
    for (let v = 0; v < U; v++) {
      if (!(set.acts[r * U + v]! > 0)) continue;
      alone[v]++;
      if (on) both[v]++;
    }
  }
  const out: { unit: number; jaccard: number; given: number; rows: number }[] = [];
  for (let v = 0; v < U; v++) {
    if (v === unit || both[v] === 0) continue;
    out.push({ unit: v, jaccard: both[v]! / (mine + alone[v]! - both[v]!), given: both[v]! / mine, rows: both[v]! });
  }
  return out.sort((a, b) => b.jaccard - a.jaccard || a.unit - b.unit).slice(0, top);
}

function entropyOf(mass: Float64Array): number | null {
  let total = 0;
  for (const m of mass) total += m;
  if (!(total > 0)) return null;
  let h = 0;
  for (const m of mass) if (m > 0) h -= (m / total) * Math.log(m / total);
  return h;
}

/** The difference of two outputs, drawn red/blue (scaled to [−1, 1]). */
export function differenceDrawable(diff: ArrayLike<number>, render: ViewOutputs['examples'][number]['render']): { drawable: Drawable; maxAbs: number } {
  let maxAbs = 0;
  for (let i = 0; i < diff.length; i++) maxAbs = Math.max(maxAbs, Math.abs(diff[i]!));
  const scaled = Array.from(diff, (v) => (maxAbs > 0 ? v / maxAbs : 0));
  if (render.kind === 'image') return { drawable: { kind: 'image', side: render.side, pixels: Float32Array.from(scaled), signed: true }, maxAbs };
  if (render.kind === 'signal') return { drawable: { kind: 'signal', values: Array.from(diff) }, maxAbs };
  return { drawable: { kind: 'vector', values: Array.from(diff) }, maxAbs };
}

/** The effect of switching the unit off: outputs with it on and off (same overrides otherwise). */
export function ablationEffect(on: ViewOutputs, off: ViewOutputs): LatentDashboard['effect'] {
  if (on.examples.length !== off.examples.length) throw new Error(`ablation: ${on.examples.length} examples on, ${off.examples.length} off`);
  return {
    lossName: on.lossName,
    lossOn: on.loss,
    lossOff: off.loss,
    deltaLoss: off.loss - on.loss,
    examples: on.examples.map((ex, i) => {
      const o = off.examples[i]!.output;
      const diff = Array.from(ex.output, (v, j) => v - o[j]!);
      const { drawable, maxAbs } = differenceDrawable(diff, ex.render);
      return { label: ex.label, maxAbs, diff, drawable };
    }),
  };
}

/** Assembles the dashboard (everything but the GPU work, which the caller did). */
export function buildDashboard(a: {
  group: number;
  unit: number;
  step: number;
  set: UnitActivationSet;
  decoder: Drawable;
  on: ViewOutputs;
  off: ViewOutputs;
}): LatentDashboard {
  const { set, unit } = a;
  if (!Number.isInteger(unit) || unit < 0 || unit >= set.units) throw new Error(`dashboard: unit must be in 0…${set.units - 1}, got ${unit}`);
  const s = summarizeUnit(set, unit);
  const example = (e: number): DashboardExample => ({
    example: e,
    activation: s.perExample[e]!,
    label: set.labels ? set.labels[e]! : null,
    drawable: set.drawable(e),
    positions: Array.from({ length: set.positions }, (_, p) => activation(set, e, p, unit)),
  });
  const top = rankedExamples(s.perExample).slice(0, TOP_EXAMPLES).map(example);
  const quantiles = quantileGroups(s.perExample).map((g) => ({
    from: g.from,
    to: g.to,
    minActivation: Math.min(...g.members.map((e) => s.perExample[e]!)),
    maxActivation: Math.max(...g.members.map((e) => s.perExample[e]!)),
    examples: g.picked.map(example),
  }));
  let classBars: LatentDashboard['classBars'] = null;
  let entropy: number | null = null;
  if (set.labels && set.classes) {
    const C = set.classes.length;
    const sum = new Float64Array(C);
    const n = new Float64Array(C);
    const mass = new Float64Array(C);
    for (let e = 0; e < set.examples; e++) {
      const c = set.labels[e]!;
      if (!(c >= 0 && c < C)) continue;
      sum[c] += s.perExample[e]!;
      n[c]++;
      for (let p = 0; p < set.positions; p++) {
        const v = activation(set, e, p, unit);
        if (v > 0) mass[c] += v;
      }
    }
    classBars = set.classes.map((label, c) => ({ label, value: n[c]! > 0 ? sum[c]! / n[c]! : 0 }));
    entropy = entropyOf(mass);
  }
  return {
    group: a.group,
    unit,
    step: a.step,
    set: set.set,
    examples: set.examples,
    rows: s.rows,
    frequency: s.rows ? s.fired / s.rows : 0,
    meanActivation: s.fired ? s.sum / s.fired : 0,
    entropy,
    histogram: s.histogram,
    top,
    quantiles,
    layout: set.layout,
    classBars,
    decoder: a.decoder,
    coactive: coactiveUnits(set, unit),
    effect: ablationEffect(a.on, a.off),
  };
}

/** Overrides with `unit` of `group` also off (count: the group's units). */
export function unitOff(o: InferenceOverrides, group: number, unit: number, count: number): InferenceOverrides {
  const mask = (o.masks?.[group] ?? new Array<number>(count).fill(1)).slice();
  mask[unit] = 0;
  return { ...o, masks: { ...(o.masks ?? {}), [group]: mask } };
}
