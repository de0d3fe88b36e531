/**
 * Latent statistics over a sliding window of training rows, accumulated on the GPU inside the
 * recorded training step (no readback, no allocation, no pipeline creation per step).
 *
 * Each step writes one slot of a ring of W slots (slot = step % W), overwriting the statistics
 * of step − W: per unit the rows where it was active (count), Σ activation, per-class Σ activation,
 * the step's row count, and optionally Σ‖ΔO‖² and Σ‖O‖² of the site (the adapter's contribution
 * and the site's output, for the adapter's share of the output). `recordReduce` sums the W slots
 * in slot order into `totals` — recorded into a separate list that the metric ring encodes only
 * when it flushes (src/engine/metric-ring.ts snapshots), so the totals travel back with the
 * metrics, asynchronously. The window therefore covers the last min(step, W) steps' rows:
 * N = W × rows per step once full.
 *
 * "Active" follows src/analysis/latent-stats.ts: a > 0, with a = value ('signed') or |value|
 * ('abs'); masked units and slots beyond a k override hold 0 and are never active. Sparse codes
 * (STAN, atoms top-k) are bucketed by unit first (the deterministic counting sort of
 * src/kernels/stan-sparse.ts); dense codes (atoms' S [rows, l]) are walked per unit. Every sum
 * has a fixed order: the results are deterministic, and no float atomics are used.
 */
import type { SparseCode } from '../adapters/adapter';
import { CommandList, type GpuRuntime } from '../engine/runtime';
import { StepParams } from '../engine/step-params';
import { defineParams, opt } from '../engine/uniform-params';
import type { Tensor } from '../engine/tensor';
import { grid1d } from '../kernels/grid';
import { shader } from '../kernels/shader-sources';
import { recordBucketSort } from '../kernels/stan-sparse';
import type { ActivationMode, LatentStatsSnapshot } from './latent-stats';

/** shaders/latent_stats.wgsl's WParams (the training window's entry points). */
const WINDOW_PARAMS = defineParams(
  { shaders: ['latent_stats'], struct: 'WParams' },
  { l: 'u32', k: opt('u32'), rows: 'u32', classes: 'u32', abs_mode: 'u32', row_stride: 'u32', slots: 'u32', width: opt('u32'), has_labels: opt('u32'), _w0: 'u32', _w1: 'u32', _w2: 'u32' },
);

/** Most slots a window may have (the reduce walks them per output). */
export const MAX_WINDOW_SLOTS = 1024;
/** Counts travel as f32: a window holds at most this many rows. */
export const MAX_WINDOW_ROWS = 1 << 24;

export type WindowCode = { kind: 'sparse'; code: SparseCode } | { kind: 'dense'; values: Tensor; rows: number };

export interface LatentWindowOptions {
  /** Units (latents, atoms). */
  l: number;
  /** Slots W: the window holds the last W recorded steps. */
  slots: number;
  /** Rows recorded per step (the code's rows). */
  rows: number;
  /** Classes for per-class sums (0: none). */
  classes?: number;
  mode?: ActivationMode;
  label?: string;
}

/** The window's totals, read back. `count`/`sum`/`classSums` as LatentStatsSnapshot; rows = N. */
export interface LatentWindowSnapshot {
  l: number;
  classes: number;
  /** Rows in the window (Σ of the slots' rows). */
  rows: number;
  count: Float64Array;
  sum: Float64Array;
  classSums: Float64Array;
  /** Σ‖ΔO‖² and Σ‖O‖² over the window's rows (0 when not recorded). */
  sqDelta: number;
  sqOut: number;
}

export class LatentWindow {
  readonly l: number;
  readonly slots: number;
  readonly rows: number;
  readonly classes: number;
  readonly mode: ActivationMode;
  /** f32 totals: count[l] | rows | sum[l] | classSums[l·C] | Σ‖ΔO‖² | Σ‖O‖² (written by recordReduce). */
  readonly totals: Tensor;
  /** The reduce, recorded once: encode it before reading `totals`. */
  readonly reduceList: CommandList;
  private readonly slotsU: Tensor;
  private readonly slotsF: Tensor;
  private readonly owned: Tensor[] = [];
  private readonly floats: number;

  constructor(
    private readonly rt: GpuRuntime,
    opts: LatentWindowOptions,
  ) {
    const { l, slots, rows } = opts;
    const classes = opts.classes ?? 0;
    const label = opts.label ?? 'latent-window';
    if (!Number.isInteger(l) || l < 1) throw new Error(`${label}: l must be an integer ≥ 1, got ${l}`);
    if (!Number.isInteger(slots) || slots < 1 || slots > MAX_WINDOW_SLOTS) throw new Error(`${label}: slots must be an integer in 1…${MAX_WINDOW_SLOTS}, got ${slots}`);
    if (!Number.isInteger(rows) || rows < 1) throw new Error(`${label}: rows must be an integer ≥ 1, got ${rows}`);
    if (slots * rows > MAX_WINDOW_ROWS) throw new Error(`${label}: a window of ${slots} × ${rows} rows exceeds ${MAX_WINDOW_ROWS} rows (counts are exact f32 below 2^24)`);
    if (!Number.isInteger(classes) || classes < 0) throw new Error(`${label}: classes must be an integer ≥ 0, got ${classes}`);
    const mode = opts.mode ?? 'signed';
    if (mode !== 'signed' && mode !== 'abs') throw new Error(`${label}: mode must be 'signed' or 'abs', got '${String(mode)}'`);
    this.l = l;
    this.slots = slots;
    this.rows = rows;
    this.classes = classes;
    this.mode = mode;
    this.floats = l + l * classes + 2;
    this.slotsU = this.own(rt.tensor([slots * (l + 1)], `${label}.slots_u`));
    this.slotsF = this.own(rt.tensor([slots * this.floats], `${label}.slots_f`));
    this.totals = this.own(rt.tensor([l + 1 + this.floats], `${label}.totals`));
    this.reduceList = new CommandList(`${label}.reduce`);
    const n = this.totals.size;
    const g = grid1d(n, 64);
    const u = rt.uniform(this.params({ width: n, rowStride: g.x }), `${label}.reduce.params`);
    this.reduceList.push(rt.dispatch(`${label}.reduce`, rt.pipeline(shader('latent_stats'), 'window_reduce'), [u, this.slotsU, this.slotsF, this.totals], [g.x, g.y]));
    this.reset();
  }

  private own(t: Tensor): Tensor {
    this.owned.push(t);
    return t;
  }

  private params(q: { k?: number; rowStride: number; width?: number; labels?: boolean }): ArrayBuffer {
    return WINDOW_PARAMS.pack({ l: this.l, k: q.k ?? 0, rows: this.rows, classes: this.classes, abs_mode: this.mode === 'abs', row_stride: q.rowStride, slots: this.slots, width: q.width ?? 0, has_labels: !!q.labels });
  }

  /** Dispatches `record` appends for a sparse code (bucket sort + accumulate) or a dense one. */
  static dispatchesPerRecord(code: WindowCode, withNorms: boolean): number {
    return (code.kind === 'sparse' ? 5 : 1) + (withNorms ? 1 : 0);
  }

  /**
   * Appends this step's accumulation into slot `step % W` to `list` (after the forward that wrote
   * the code; before anything overwrites it). `labels`: f32 class id per row, or null.
   * `norms`: the site's ΔO and O [rows, width] for the output share. Everything is created here, once.
   */
  record(list: CommandList, code: WindowCode, labels: Tensor | null, stepParams: StepParams | GPUBuffer, norms?: { delta: Tensor; out: Tensor; width: number } | null): void {
    const rt = this.rt;
    const rows = code.kind === 'sparse' ? code.code.rows : code.rows;
    if (rows !== this.rows) throw new Error(`latent window: the code has ${rows} rows, the window was made for ${this.rows}`);
    if (labels && labels.size < rows) throw new Error(`latent window: labels '${labels.name}' has ${labels.size} elements, needs ${rows}`);
    const sp = stepParams instanceof StepParams ? stepParams.buffer : stepParams;
    const lab = labels ?? rt.sharedTensor('latent-stats.nolabels', [1]);
    const g = grid1d(this.l, 64);
    const pipe = (entry: string) => rt.pipeline(shader('latent_stats'), entry);
    if (code.kind === 'sparse') {
      const { indices, values, k } = code.code;
      if (indices.size < rows * k || values.size < rows * k) throw new Error(`latent window: the code's tensors are smaller than rows·k = ${rows * k}`);
      const b = recordBucketSort(rt, list, { indices, rows, l: this.l, k, label: 'latent-window' });
      const u = rt.uniform(this.params({ k, rowStride: g.x, labels: !!labels }), 'latent-window.sparse.params');
      list.push(rt.dispatch('latent-window.sparse', pipe('window_sparse'), [u, sp, this.slotsU, this.slotsF, values, lab, b.start, b.pairs], [g.x, g.y]));
    } else {
      if (code.values.size < rows * this.l) throw new Error(`latent window: dense code '${code.values.name}' has ${code.values.size} elements, needs rows·l = ${rows * this.l}`);
      const u = rt.uniform(this.params({ rowStride: g.x, labels: !!labels }), 'latent-window.dense.params');
      list.push(rt.dispatch('latent-window.dense', pipe('window_dense'), [u, sp, this.slotsU, this.slotsF, code.values, lab], [g.x, g.y]));
    }
    if (norms) {
      const n = rows * norms.width;
      if (norms.delta.size < n || norms.out.size < n) throw new Error(`latent window: ΔO / O need rows·width = ${n} elements`);
      const u = rt.uniform(this.params({ rowStride: 1, width: norms.width }), 'latent-window.norms.params');
      list.push(rt.dispatch('latent-window.norms', pipe('window_norms'), [u, sp, norms.delta, norms.out, this.slotsF], [1, 1]));
    }
  }

  /** Empties the window (queue.writeBuffer; takes effect before the next submit). */
  reset(): void {
    this.rt.write(this.slotsU, new Float32Array(this.slotsU.size));
    this.rt.write(this.slotsF, new Float32Array(this.slotsF.size));
    this.rt.write(this.totals, new Float32Array(this.totals.size));
  }

  /** Interprets `totals` as read back (from a metric-ring snapshot or `read`). */
  decode(totals: Float32Array): LatentWindowSnapshot {
    const { l, classes: C } = this;
    if (totals.length < l + 1 + this.floats) throw new Error(`latent window: ${totals.length} totals, expected ${l + 1 + this.floats}`);
    const count = new Float64Array(l);
    const sum = new Float64Array(l);
    const classSums = new Float64Array(l * C);
    for (let i = 0; i < l; i++) {
      count[i] = totals[i]!;
      sum[i] = totals[l + 1 + i]!;
    }
    for (let j = 0; j < l * C; j++) classSums[j] = totals[2 * l + 1 + j]!;
    const tail = 2 * l + 1 + l * C;
    return { l, classes: C, rows: totals[l]!, count, sum, classSums, sqDelta: totals[tail]!, sqOut: totals[tail + 1]! };
  }

  /** Runs the reduce and reads the totals (one awaited readback: tests and on-demand use). */
  async read(): Promise<LatentWindowSnapshot> {
    this.rt.submit([this.reduceList]);
    return this.decode(await this.rt.read(this.totals));
  }

  destroy(): void {
    for (const t of this.owned.splice(0)) this.rt.release(t);
  }
}

/** A window snapshot as a LatentStatsSnapshot (App. F's metrics); lastFired = `step` where a unit fired in the window. */
export function windowAsStats(w: LatentWindowSnapshot, step: number): LatentStatsSnapshot {
  return { l: w.l, classes: w.classes, samples: w.rows, count: w.count, sum: w.sum, classSums: w.classSums, lastFired: w.count.map((c) => (c > 0 ? step : -1)) };
}

// ---------- CPU reference ----------

export interface WindowBatchCpu {
  /** Sparse: indices/values [rows, k]; dense: values [rows, l] (indices absent). */
  indices?: ArrayLike<number>;
  values: ArrayLike<number>;
  k?: number;
  labels?: ArrayLike<number> | null;
  rows: number;
  step: number;
  /** ΔO and O [rows, width] (output share). */
  delta?: ArrayLike<number>;
  out?: ArrayLike<number>;
}

/** The same totals in float64 over the batches whose step lies in the last `slots` steps up to the latest one. */
export function latentWindowCpu(batches: readonly WindowBatchCpu[], opts: { l: number; slots: number; classes?: number; mode?: ActivationMode }): LatentWindowSnapshot {
  const { l, slots } = opts;
  const C = opts.classes ?? 0;
  const last = batches.reduce((m, b) => Math.max(m, b.step), -Infinity);
  // One batch per slot: a later batch in the same slot replaces an earlier one (as on the GPU).
  const bySlot = new Map<number, WindowBatchCpu>();
  for (const b of batches) {
    if (b.step <= last - slots) continue;
    bySlot.set(b.step % slots, b);
  }
  const count = new Float64Array(l);
  const sum = new Float64Array(l);
  const classSums = new Float64Array(l * C);
  let rows = 0;
  let sqDelta = 0;
  let sqOut = 0;
  const abs = opts.mode === 'abs';
  for (const b of bySlot.values()) {
    rows += b.rows;
    const add = (r: number, i: number, v: number) => {
      const a = abs ? Math.abs(v) : v;
      if (!(a > 0)) return;
      count[i]++;
      sum[i] += a;
      const lab = b.labels ? b.labels[r]! : -1;
      if (C > 0 && b.labels && lab >= 0 && lab < C) classSums[i * C + Math.floor(lab)] += a;
    };
    for (let r = 0; r < b.rows; r++) {
      if (b.indices) {
        const k = b.k!;
        for (let j = 0; j < k; j++) add(r, b.indices[r * k + j]!, b.values[r * k + j]!);
      } else for (let i = 0; i < l; i++) add(r, i, b.values[r * l + i]!);
    }
    if (b.delta && b.out) {
      for (let j = 0; j < b.delta.length; j++) {
        sqDelta += b.delta[j]! * b.delta[j]!;
        sqOut += b.out[j]! * b.out[j]!;
      }
    }
  }
  return { l, classes: C, rows, count, sum, classSums, sqDelta, sqOut };
}
