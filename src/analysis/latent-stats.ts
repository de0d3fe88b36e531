/**
 * Latent statistics of a sparse code (STAN App. F), accumulated on the GPU across batches with
 * no per-step readback: `record` appends 5 dispatches to a command list (a deterministic bucket
 * sort of the code's (row, slot) pairs by latent, then one invocation per latent summing its
 * pairs in a fixed order — no float atomics; sums are Kahan-compensated). `read()` maps the
 * totals back when the caller wants them (UI refresh, end of an epoch).
 *
 * Per latent i, over every recorded row:
 *   count[i]       rows where latent i was active (a > 0),
 *   sum[i]         Σ a over those rows,
 *   classSums[i,c] Σ a over active rows labelled c (labels: f32 class ids [rows]; others ignored),
 *   lastFired[i]   the StepParams.step of the last batch where it was active (−1: never).
 * plus samples = rows recorded (N in eq. 18).
 *
 * "Active" follows App. F: a_i > 0. With 'signed' top-k the activation is the selected value, so
 * a selected latent with a negative (or zero) value is NOT active and adds nothing — this counts
 * only the positive contributions, as the paper's statistics do. With 'abs' top-k (App. A's
 * definition) the activation is |value|, so every selected latent with a non-zero value is
 * active. Slots beyond a k override and masked latents have value 0, so they are never active.
 *
 * The pure functions below turn a snapshot into the paper's metrics (eqs. 18–21), dead-latent
 * counts over a window and dense-latent counts.
 */
import type { SparseCode } from '../adapters/adapter';
import type { CommandList, GpuRuntime } from '../engine/runtime';
import { StepParams } from '../engine/step-params';
import { defineParams } from '../engine/uniform-params';
import type { Tensor } from '../engine/tensor';
import { grid1d } from '../kernels/grid';
import { shader } from '../kernels/shader-sources';
import { recordBucketSort } from '../kernels/stan-sparse';

/** shaders/latent_stats.wgsl's Params (the held-out accumulator). */
const STATS_PARAMS = defineParams(
  { shaders: ['latent_stats'], struct: 'Params' },
  { l: 'u32', k: 'u32', rows: 'u32', classes: 'u32', abs_mode: 'u32', row_stride: 'u32', _p0: 'u32', _p1: 'u32' },
);

export type ActivationMode = 'signed' | 'abs';

export interface LatentStatsOptions {
  /** Latents (the code's index range). */
  l: number;
  /** Classes for per-class sums (0 or absent: no labels). */
  classes?: number;
  /** How a selected value becomes an activation (see the file header). Default 'signed'. */
  mode?: ActivationMode;
  label?: string;
}

export interface LatentStatsSnapshot {
  l: number;
  classes: number;
  /** Rows recorded. */
  samples: number;
  count: Float64Array;
  sum: Float64Array;
  /** [l, classes] row-major (empty when classes = 0). */
  classSums: Float64Array;
  /** Step of the last batch where each latent was active; −1 = never. */
  lastFired: Float64Array;
}

const NEVER = 0xffffffff;

export class LatentStats {
  readonly l: number;
  readonly classes: number;
  readonly mode: ActivationMode;
  /** u32: count[l] | lastFired[l] | samples */
  private readonly ustats: Tensor;
  /** f32: sum[l] | sumComp[l] | classSums[l·C] | classComp[l·C] */
  private readonly sums: Tensor;
  private readonly owned: Tensor[] = [];
  private readonly resetU32: Uint32Array;
  private readonly resetF32: Float32Array;

  constructor(
    private readonly rt: GpuRuntime,
    opts: LatentStatsOptions,
  ) {
    const { l } = opts;
    const classes = opts.classes ?? 0;
    if (!Number.isInteger(l) || l < 1) throw new Error(`latent stats: l must be an integer ≥ 1, got ${l}`);
    if (!Number.isInteger(classes) || classes < 0) throw new Error(`latent stats: classes must be an integer ≥ 0, got ${classes}`);
    const mode = opts.mode ?? 'signed';
    if (mode !== 'signed' && mode !== 'abs') throw new Error(`latent stats: mode must be 'signed' or 'abs', got '${String(mode)}'`);
    this.l = l;
    this.classes = classes;
    this.mode = mode;
    const label = opts.label ?? 'latent-stats';
    this.resetU32 = new Uint32Array(2 * l + 1);
    this.resetU32.fill(NEVER, l, 2 * l);
    this.resetF32 = new Float32Array(2 * l + 2 * l * classes);
    this.ustats = rt.tensor([2 * l + 1], `${label}.counts`);
    this.sums = rt.tensor([this.resetF32.length], `${label}.sums`);
    this.owned.push(this.ustats, this.sums);
    this.reset();
  }

  /**
   * Appends the accumulation of `code` (written earlier in the same list or a previous submit)
   * to `list`. `labels` [code.rows] f32 class ids when per-class sums are wanted; `stepParams`
   * supplies the step stamped into lastFired. Buffers and pipelines are created here, once.
   */
  record(list: CommandList, code: SparseCode, labels: Tensor | null | undefined, stepParams: StepParams | GPUBuffer): void {
    const rt = this.rt;
    const { rows, k } = code;
    const l = this.l;
    if (labels && labels.size < rows) throw new Error(`latent stats: labels '${labels.name}' has ${labels.size} elements, needs rows = ${rows}`);
    if (code.indices.size < rows * k || code.values.size < rows * k) throw new Error(`latent stats: the code's tensors are smaller than rows·k = ${rows * k}`);
    // Every slot is bucketed (k override = k, no mask): inactive slots carry value 0 and are skipped when summing.
    const b = recordBucketSort(rt, list, { indices: code.indices, rows, l, k, label: 'latent-stats' });
    const g = grid1d(l, 64);
    const C = labels ? this.classes : 0;
    const u = rt.uniform(STATS_PARAMS.pack({ l, k, rows, classes: C, abs_mode: this.mode === 'abs', row_stride: g.x }), 'latent-stats.params');
    const spBuf = stepParams instanceof StepParams ? stepParams.buffer : stepParams;
    const lab = labels ?? rt.sharedTensor('latent-stats.nolabels', [1]);
    list.push(rt.dispatch('latent-stats.accumulate', rt.pipeline(shader('latent_stats'), 'accumulate'), [u, spBuf, b.start, b.pairs, code.values, lab, this.ustats, this.sums], [g.x, g.y]));
  }

  /** Zeroes every statistic (queue.writeBuffer; takes effect before the next submit). */
  reset(): void {
    this.rt.device.queue.writeBuffer(this.ustats.buffer, this.ustats.offset, this.resetU32.buffer as ArrayBuffer, 0, this.resetU32.byteLength);
    this.rt.write(this.sums, this.resetF32);
  }

  /** Reads the totals back (two awaited readbacks). */
  async read(): Promise<LatentStatsSnapshot> {
    const l = this.l;
    const C = this.classes;
    const u = new Uint32Array((await this.rt.read(this.ustats)).buffer);
    const f = await this.rt.read(this.sums);
    const count = new Float64Array(l);
    const lastFired = new Float64Array(l);
    const sum = new Float64Array(l);
    const classSums = new Float64Array(l * C);
    for (let i = 0; i < l; i++) {
      count[i] = u[i]!;
      lastFired[i] = u[l + i] === NEVER ? -1 : u[l + i]!;
      sum[i] = f[i]! - f[l + i]!; // fold the Kahan compensation back in
    }
    for (let j = 0; j < l * C; j++) classSums[j] = f[2 * l + j]! - f[2 * l + l * C + j]!;
    return { l, classes: C, samples: u[2 * l]!, count, sum, classSums, lastFired };
  }

  destroy(): void {
    for (const t of this.owned.splice(0)) this.rt.release(t);
  }
}

// ---------- CPU reference ----------

/** The same statistics in float64 from codes read back (indices/values [rows, k] per batch). */
export function latentStatsCpu(
  batches: { indices: ArrayLike<number>; values: ArrayLike<number>; labels?: ArrayLike<number>; step: number; rows: number; k: number }[],
  opts: { l: number; classes?: number; mode?: ActivationMode },
): LatentStatsSnapshot {
  const { l } = opts;
  const C = opts.classes ?? 0;
  const count = new Float64Array(l);
  const sum = new Float64Array(l);
  const classSums = new Float64Array(l * C);
  const lastFired = new Float64Array(l).fill(-1);
  let samples = 0;
  for (const b of batches) {
    samples += b.rows;
    for (let r = 0; r < b.rows; r++) {
      for (let j = 0; j < b.k; j++) {
        const i = b.indices[r * b.k + j]!;
        const v = b.values[r * b.k + j]!;
        const a = opts.mode === 'abs' ? Math.abs(v) : v;
        if (!(a > 0)) continue;
        count[i]!++;
        sum[i]! += a;
        lastFired[i] = b.step;
        if (C > 0 && b.labels) {
          const c = b.labels[r]!;
          if (c >= 0 && c < C) classSums[i * C + Math.floor(c)]! += a;
        }
      }
    }
  }
  return { l, classes: C, samples, count, sum, classSums, lastFired };
}

// ---------- the paper's metrics (pure) ----------

/** Eq. 18: MeanFreq_i = N₊/N. */
export function meanFrequency(s: Pick<LatentStatsSnapshot, 'count' | 'samples'>): Float64Array {
  return s.count.map((c) => (s.samples > 0 ? c / s.samples : 0));
}

/** Eq. 19: MeanAct_i = (1/N₊)·Σ_{active} a; 0 for a latent that never fired. */
export function meanActivation(s: Pick<LatentStatsSnapshot, 'count' | 'sum'>): Float64Array {
  return s.sum.map((v, i) => (s.count[i]! > 0 ? v / s.count[i]! : 0));
}

/**
 * Eqs. 20–21: p_c = (Σ_{y=c} a·1[a>0]) / (Σ a·1[a>0]), H = −Σ_c p_c·ln p_c (nats; 0·ln 0 = 0).
 * NaN for a latent with no labelled activation mass.
 */
export function labelEntropy(s: Pick<LatentStatsSnapshot, 'classSums' | 'classes' | 'l'>): Float64Array {
  const C = s.classes;
  const out = new Float64Array(s.l);
  for (let i = 0; i < s.l; i++) {
    let total = 0;
    for (let c = 0; c < C; c++) total += s.classSums[i * C + c]!;
    if (!(total > 0)) {
      out[i] = Number.NaN;
      continue;
    }
    let h = 0;
    for (let c = 0; c < C; c++) {
      const pc = s.classSums[i * C + c]! / total;
      if (pc > 0) h -= pc * Math.log(pc);
    }
    out[i] = h;
  }
  return out;
}

/** Latents that have not fired in the last `window` steps up to `step` (never fired included). */
export function deadLatentCount(s: Pick<LatentStatsSnapshot, 'lastFired'>, step: number, window: number): number {
  if (!(window >= 1)) throw new Error(`dead latents: window must be ≥ 1, got ${window}`);
  let n = 0;
  for (const f of s.lastFired) if (f < 0 || f <= step - window) n++;
  return n;
}

/** Latents active on more than `threshold` of the samples (MeanFreq > threshold). */
export function denseLatentCount(s: Pick<LatentStatsSnapshot, 'count' | 'samples'>, threshold: number): number {
  if (!(threshold >= 0 && threshold <= 1)) throw new Error(`dense latents: threshold must be in [0, 1], got ${threshold}`);
  let n = 0;
  for (const f of meanFrequency(s)) if (f > threshold) n++;
  return n;
}

export interface LatentSummary {
  meanFreq: Float64Array;
  meanAct: Float64Array;
  entropy: Float64Array;
  dead: number;
  dense: number;
  samples: number;
}

/** Everything at once. Defaults: dead = silent for 1000 steps, dense = active on > 50% of rows. */
export function summarizeLatents(s: LatentStatsSnapshot, opts: { step: number; deadWindow?: number; denseThreshold?: number }): LatentSummary {
  return {
    meanFreq: meanFrequency(s),
    meanAct: meanActivation(s),
    entropy: labelEntropy(s),
    dead: deadLatentCount(s, opts.step, opts.deadWindow ?? 1000),
    dense: denseLatentCount(s, opts.denseThreshold ?? 0.5),
    samples: s.samples,
  };
}
