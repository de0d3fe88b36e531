/**
 * Pieces the playground task modules share: groups from attached adapters, inference overrides
 * applied around one submit, parameter counts, and turning a snapshot of codes into App. F
 * statistics.
 */
import type { Adapter } from '../../adapters/adapter';
import type { LatentStatsSnapshot } from '../../analysis/latent-stats';
import { identifiabilityReport, readStanMatrices, type IdentifiabilityReport } from '../../analysis/identifiability';
import type { Tensor } from '../../engine/tensor';
import { ConfigError } from '../../engine/errors';
import type { ParamRef } from '../../engine/param-pack';
import type { GpuRuntime } from '../../engine/runtime';
import type { InferenceOverrides, LatentGroupInfo } from '../types';
import type { GroupStatsSource } from './task';

export function parameterCount(params: readonly ParamRef[]): number {
  return params.reduce((s, p) => s + p.size, 0);
}

/** The configured k of a k-sparse adapter (STAN; atoms with σ = top-k), else null. */
export function configuredK(a: Adapter): number | null {
  if (!a.setK) return null;
  const k = (a as { k?: number; config?: { k?: number } }).k ?? (a as { config?: { k?: number } }).config?.k;
  return typeof k === 'number' ? k : null;
}

/** One group per adapter, in site order. */
export function adapterGroups(adapters: readonly Adapter[]): LatentGroupInfo[] {
  return adapters.map((a, group) => ({
    group,
    path: a.path,
    kind: a.kind,
    label: a.latentLabel,
    count: a.latentCount,
    k: configuredK(a),
    stats: a.code !== undefined || denseCodes(a) !== null,
    identifiability: a.kind === 'stan',
  }));
}

/** An adapter's dense codes [rows, units] (atoms' S, every σ), or null. */
function denseCodes(a: Adapter): { values: Tensor; rows: number } | null {
  const d = a as Adapter & { codes?: Tensor; rows?: number };
  return a.kind === 'atoms' && d.codes && typeof d.rows === 'number' ? { values: d.codes, rows: d.rows } : null;
}

/**
 * The training-window sources of the adapters' groups: STAN's sparse code (active = value > 0, or
 * |value| > 0 with top-k on |E·x|), atoms' dense S (active = non-zero). `labels`: f32 class id per
 * code row of the training batch (same rows for every adapter), or null.
 */
export function adapterStatsSources(adapters: readonly Adapter[], labels: Tensor | null = null, classes = 0): GroupStatsSource[] {
  const out: GroupStatsSource[] = [];
  adapters.forEach((a, group) => {
    const dense = denseCodes(a);
    const lab = labels && classes > 0 ? { labels, classes } : { labels: null, classes: 0 };
    if (dense) out.push({ group, code: { kind: 'dense', values: dense.values, rows: dense.rows }, mode: 'abs', ...lab, adapter: a });
    else if (a.code) out.push({ group, code: { kind: 'sparse', code: a.code }, mode: (a as { mode?: string }).mode === 'abs' ? 'abs' : 'signed', ...lab, adapter: a });
  });
  return out;
}

/** Checks overrides against the groups (ConfigError naming the field). */
export function checkOverrides(groups: readonly LatentGroupInfo[], o: InferenceOverrides): void {
  for (const [g, mask] of Object.entries(o.masks ?? {})) {
    const info = groups[Number(g)];
    if (!info) throw new ConfigError('mask.group', `group ${g} does not exist (groups 0…${groups.length - 1})`);
    if (mask && mask.length !== info.count) throw new ConfigError('mask', `group ${g} (${info.path}) has ${info.count} ${info.label}s, the mask has ${mask.length} entries`);
  }
  for (const [g, k] of Object.entries(o.k ?? {})) {
    const info = groups[Number(g)];
    if (!info) throw new ConfigError('k.group', `group ${g} does not exist (groups 0…${groups.length - 1})`);
    if (k === null || k === undefined) continue;
    if (info.k === null) throw new ConfigError('k', `group ${g} (${info.path}, ${info.kind}) has no top-k to override`);
    if (!Number.isInteger(k) || k < 1 || k > info.k) throw new ConfigError('k', `must be an integer in 1…${info.k} for group ${g}, got ${k}`);
  }
}

/** Masks every unit of every group (the base's output through the adapted graph). */
/** Whether `o` changes anything (a unit switched off or a k below the configured one, in some group). */
export function hasOverrides(o: InferenceOverrides): boolean {
  return Object.values(o.masks ?? {}).some((m) => m !== null && m !== undefined) || Object.values(o.k ?? {}).some((k) => k !== null && k !== undefined);
}

export function allOffOverrides(groups: readonly LatentGroupInfo[]): InferenceOverrides {
  const masks: Record<number, number[]> = {};
  for (const g of groups) masks[g.group] = new Array<number>(g.count).fill(0);
  return { masks };
}

/** Overrides `o` with unit `unit` of `group` also switched off. */
export function withUnitOff(groups: readonly LatentGroupInfo[], o: InferenceOverrides, group: number, unit: number): InferenceOverrides {
  const info = groups[group]!;
  const mask = (o.masks?.[group] ?? new Array<number>(info.count).fill(1)).slice();
  mask[unit] = 0;
  return { ...o, masks: { ...(o.masks ?? {}), [group]: mask } };
}

/**
 * App. F statistics from read-back codes (CPU): per unit, rows where |activation| > 0 (or > 0 for
 * 'signed'), Σ activation over them, per-class sums, lastFired = `step` when it fired.
 * `rowCodes(r)` yields (unit, activation) pairs of row r.
 */
export function snapshotFromCodes(
  l: number,
  rows: number,
  rowCodes: (r: number, emit: (unit: number, a: number) => void) => void,
  opts: { step: number; labels?: ArrayLike<number> | null; classes?: number; mode?: 'signed' | 'abs' },
): LatentStatsSnapshot {
  const C = opts.labels ? (opts.classes ?? 0) : 0;
  const count = new Float64Array(l);
  const sum = new Float64Array(l);
  const classSums = new Float64Array(l * C);
  const lastFired = new Float64Array(l).fill(-1);
  const abs = (opts.mode ?? 'abs') === 'abs';
  for (let r = 0; r < rows; r++) {
    const label = opts.labels ? opts.labels[r]! : -1;
    rowCodes(r, (i, v) => {
      const a = abs ? Math.abs(v) : v;
      if (!(a > 0)) return;
      count[i]++;
      sum[i] += a;
      if (C > 0 && label >= 0 && label < C) classSums[i * C + label] += a;
      lastFired[i] = opts.step;
    });
  }
  return { l, classes: C, samples: rows, count, sum, classSums, lastFired };
}

/** The k largest entries' indices (ties: lower index first). */
export function topIndices(values: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: values.length }, (_, i) => i)
    .sort((a, b) => values[b]! - values[a]! || a - b)
    .slice(0, k);
}

/** A group's activations of the last forward, read back: per row, the (unit, activation) pairs. */
export interface UnitCodes {
  rows: number;
  units: number;
  forEachRow(r: number, emit: (unit: number, a: number) => void): void;
}

/** Reads an adapter's last code: STAN's sparse (indices, values), atoms' dense S. Null for LoRA/SoRA. */
export async function readUnitCodes(rt: GpuRuntime, a: Adapter): Promise<UnitCodes | null> {
  if (a.kind === 'atoms') {
    const at = a as Adapter & { codes: import('../../engine/tensor').Tensor; rows: number };
    const S = await rt.read(at.codes);
    const M = a.latentCount;
    return {
      rows: at.rows,
      units: M,
      forEachRow(r, emit) {
        for (let m = 0; m < M; m++) {
          const v = S[r * M + m]!;
          if (v !== 0) emit(m, v);
        }
      },
    };
  }
  if (a.code) {
    const { rows, k } = a.code;
    const idx = new Uint32Array((await rt.read(a.code.indices)).buffer);
    const val = await rt.read(a.code.values);
    return {
      rows,
      units: a.latentCount,
      forEachRow(r, emit) {
        for (let j = 0; j < k; j++) {
          const v = val[r * k + j]!;
          if (v !== 0) emit(idx[r * k + j]!, v);
        }
      },
    };
  }
  return null;
}

/** Per example (rows grouped `rowsPerExample` at a time): mean |activation| of `unit` over the rows where it fired, and the fired-row count. */
export function perExampleActivation(codes: UnitCodes, unit: number, examples: number): { mean: Float64Array; fired: Float64Array } {
  const per = codes.rows / examples;
  const sum = new Float64Array(examples);
  const fired = new Float64Array(examples);
  for (let r = 0; r < examples * per; r++) {
    const e = Math.floor(r / per);
    codes.forEachRow(r, (u, a) => {
      if (u === unit && a !== 0) {
        sum[e] += Math.abs(a);
        fired[e]++;
      }
    });
  }
  return { mean: sum.map((s, e) => (fired[e]! > 0 ? s / fired[e]! : 0)), fired };
}

/** Applies overrides to the adapters, runs `fn`, and restores all-on / configured k (callers hold the session's GPU lock). */
export async function withOverrides<T>(adapters: readonly Adapter[], groups: readonly LatentGroupInfo[], o: InferenceOverrides, fn: () => Promise<T>): Promise<T> {
  checkOverrides(groups, o);
  adapters.forEach((a, g) => {
    const mask = o.masks?.[g];
    const k = o.k?.[g];
    if (mask) a.setMask(Float32Array.from(mask));
    if (k !== null && k !== undefined) a.setK?.(k);
  });
  try {
    return await fn();
  } finally {
    adapters.forEach((a, g) => {
      a.setMask(null);
      const k0 = groups[g]!.k;
      if (k0 !== null) a.setK?.(k0);
    });
  }
}

/** The unit's decoder direction (what it writes: STAN D[:, i], atoms D[m, :], LoRA/SoRA B[:, r]), read back; [] when the adapter has none. */
export async function decoderColumn(a: Adapter, unit: number): Promise<number[]> {
  return a.unitDirection ? Array.from(await a.unitDirection(unit)) : [];
}

/** App. A for a STAN group (blockScale 1/k: the forward's (1/k)·D). */
export async function stanReport(rt: GpuRuntime, a: Adapter | undefined): Promise<IdentifiabilityReport | null> {
  if (!a || a.kind !== 'stan') return null;
  const st = a as Adapter & { E: { value: Tensor; shape: readonly number[] }; D: { value: Tensor; shape: readonly number[] }; k: number };
  const { E, D } = await readStanMatrices(rt, st as never);
  const [l, n] = st.E.shape as [number, number];
  const m = st.D.shape[0]!;
  return identifiabilityReport(E, D, { l, n, m }, { blockScale: 1 / st.k });
}

/** How a group's code value becomes an activation (as the training window counts it): STAN value > 0 (|value| with top-k on |E·x|), atoms |value|. */
export function activationMode(a: Adapter): 'signed' | 'abs' {
  if (a.kind === 'atoms') return 'abs';
  return (a as { mode?: string }).mode === 'abs' ? 'abs' : 'signed';
}

/**
 * Writes codes of `examples` examples (rows grouped `positions` per example, in order) into the
 * dense activations `out` [*, positions, units] from example `first` on; inactive entries stay 0.
 */
export function fillActivations(codes: UnitCodes, out: Float32Array, first: number, examples: number, positions: number, mode: 'signed' | 'abs'): void {
  const U = codes.units;
  for (let r = 0; r < examples * positions; r++) {
    const base = (first * positions + r) * U;
    codes.forEachRow(r, (u, v) => {
      const a = mode === 'abs' ? Math.abs(v) : v;
      if (a > 0) out[base + u] = a;
    });
  }
}

/** The units of one example that fire (rows `first`…`first + positions` of `codes`), largest activation first. */
export function firingUnits(codes: UnitCodes, positions: number, mode: 'signed' | 'abs', firstRow = 0): { unit: number; activation: number; positions: number[] }[] {
  const acts = new Float32Array(positions * codes.units);
  const shifted: UnitCodes = { rows: positions, units: codes.units, forEachRow: (r, emit) => codes.forEachRow(firstRow + r, emit) };
  fillActivations(shifted, acts, 0, 1, positions, mode);
  const out: { unit: number; activation: number; positions: number[] }[] = [];
  for (let u = 0; u < codes.units; u++) {
    const pos = Array.from({ length: positions }, (_, p) => acts[p * codes.units + u]!);
    const max = Math.max(...pos);
    if (max > 0) out.push({ unit: u, activation: max, positions: pos });
  }
  return out.sort((a, b) => b.activation - a.activation || a.unit - b.unit);
}

/** Softmax of logits row `i` ([*, C]). */
export function softmaxRow(logits: ArrayLike<number>, i: number, C: number): number[] {
  let mx = -Infinity;
  for (let c = 0; c < C; c++) mx = Math.max(mx, logits[i * C + c]!);
  const ex = Array.from({ length: C }, (_, c) => Math.exp(logits[i * C + c]! - mx));
  const s = ex.reduce((a, b) => a + b, 0);
  return ex.map((v) => v / s);
}
