/**
 * The trainer: a whole step (zero grads, forward, loss, backward, AdamW, metric writes) is
 * recorded once into one CommandList and replayed with one encoder and one submit per step.
 * Metrics come back through the MetricRing every `metricInterval` steps, asynchronously.
 */
import { MetricRing, type MetricRow, type RingSnapshot, type SnapshotRow } from '../engine/metric-ring';
import type { ParamPack } from '../engine/param-pack';
import { CommandList, diffCounters, type AllocationScope, type Counters, type GpuRuntime } from '../engine/runtime';
import { StepParams } from '../engine/step-params';
import type { Tensor } from '../engine/tensor';
import { recordWriteMetrics } from '../kernels/metrics';
import { AdamW, type AdamWOptions } from '../kernels/adamw';
import { lrScale, type LrSchedule } from './schedule';

/** What a model + task give the trainer. */
export interface TrainGraph {
  /** Trainable packs (finalized). */
  packs: ParamPack[];
  /** forward + loss + backward, recorded. The loss list must write `loss` and the output gradient. */
  forward: CommandList;
  loss: CommandList;
  backward: CommandList;
  lossValue: Tensor;
  /** Extra scalars to stream (e.g. accuracy), each a [1] tensor written during the step. */
  extraMetrics?: { name: string; tensor: Tensor }[];
  /** Uploads the batch for `step` (queue.writeBuffer from preallocated arrays only). */
  loadBatch(step: number): void;
  /**
   * Recorded right after the backward, before the optimizer (parameters still the ones the
   * forward used, the forward's activations and codes still in place): statistics of the step
   * (the playground's latent windows). Called once, at construction.
   */
  recordAfterBackward?(list: CommandList, stepParams: StepParams): void;
  /** Optional hook after the optimizer (e.g. SoRA's proximal gate step). */
  afterOptimizer?: CommandList;
  /**
   * Like afterOptimizer, for work that reads the trainer's per-step scalars (the learning rate):
   * called once, at construction, to record into the step right after `afterOptimizer`.
   * Adapters' `recordAfterOptimizer` go here (see recordAdaptersAfterOptimizer in adapters/attach.ts).
   */
  recordAfterOptimizer?(list: CommandList, stepParams: StepParams): void;
}

export interface TrainerOptions {
  lr: number;
  schedule?: LrSchedule;
  adamw?: AdamWOptions;
  metricInterval?: number;
  /** Called with each batch of metric rows as they arrive. */
  onMetrics?: (rows: MetricRow[]) => void;
  /** Tensors read back with every metric flush (MetricRing snapshots), and their receiver. */
  snapshots?: readonly RingSnapshot[];
  onSnapshots?: (s: SnapshotRow) => void;
}

export interface Checkpoint {
  step: number;
  params: Map<string, Float32Array>[];
  optimizer: { m: Float32Array[]; v: Float32Array[] };
}

export class Trainer {
  readonly ring: MetricRing;
  readonly optimizer: AdamW;
  readonly stepParams: StepParams;
  readonly stepList = new CommandList('train-step');
  readonly fields: string[];
  step = 0;
  private inflight: Promise<MetricRow[]>[] = [];
  /** Counter deltas of the last step (dispatches, submits, readbacks …). */
  lastStepCounters: Counters | null = null;
  private stopRequested = false;
  /** Everything the trainer allocated (moments, metric history, uniforms, scratch). */
  private readonly scope: AllocationScope;

  constructor(
    readonly rt: GpuRuntime,
    readonly graph: TrainGraph,
    readonly opts: TrainerOptions,
  ) {
    this.scope = rt.openScope('trainer');
    try {
      this.fields = ['loss', 'grad_norm', 'non_finite', ...(graph.extraMetrics ?? []).map((m) => m.name)];
      this.ring = new MetricRing(rt, this.fields, opts.metricInterval ?? 10, 3, opts.snapshots ?? []);
      this.stepParams = new StepParams(rt);
      this.optimizer = new AdamW(rt, graph.packs, opts.adamw ?? {});
      const list = this.stepList;
      for (const p of graph.packs) list.push(p.zeroGradOp());
      list.append(graph.forward);
      list.append(graph.loss);
      list.append(graph.backward);
      graph.recordAfterBackward?.(list, this.stepParams);
      this.optimizer.record(list, this.stepParams);
      if (graph.afterOptimizer) list.append(graph.afterOptimizer);
      graph.recordAfterOptimizer?.(list, this.stepParams);
      const metricSrcs = [
        { src: graph.lossValue, field: 0 },
        { src: this.optimizer.gradNorm, field: 1 },
        { src: this.optimizer.nonFinite, field: 2 },
        ...(graph.extraMetrics ?? []).map((m, i) => ({ src: m.tensor, field: 3 + i })),
      ];
      for (let i = 0; i < metricSrcs.length; i += 6) {
        recordWriteMetrics(rt, list, { srcs: metricSrcs.slice(i, i + 6), history: this.ring.history, fields: this.fields.length, stepParams: this.stepParams.buffer });
      }
    } finally {
      rt.closeScope(this.scope);
    }
    if (opts.onMetrics) this.ring.onMetrics(opts.onMetrics);
    if (opts.onSnapshots) this.ring.onSnapshots(opts.onSnapshots);
  }

  lrAt(step: number): number {
    return this.opts.lr * (this.opts.schedule ? lrScale(this.opts.schedule, step) : 1);
  }

  /** Encodes and submits one step. Never waits on the GPU. */
  stepOnce(): void {
    const before = this.rt.counters;
    const step = this.step;
    this.stepParams.set({ step, slot: this.ring.slotOf(step), lr: this.lrAt(step) });
    this.graph.loadBatch(step);
    this.rt.submit([this.stepList], (enc) => this.ring.encodeFlush(enc, step));
    const p = this.ring.afterSubmit();
    if (p) this.inflight.push(handled(p));
    this.step++;
    this.lastStepCounters = diffCounters(this.rt.counters, before);
  }

  /**
   * Runs `steps` steps. Keeps at most two metric flushes in flight (so the CPU never races far
   * ahead of the GPU) and yields to the event loop between steps so pause/UI messages get in.
   */
  async run(steps: number, opts: { signal?: AbortSignal; onStep?: (step: number) => void } = {}): Promise<void> {
    this.stopRequested = false;
    for (let i = 0; i < steps; i++) {
      if (this.stopRequested || opts.signal?.aborted) break;
      this.stepOnce();
      opts.onStep?.(this.step);
      while (this.inflight.length > 2) await this.inflight.shift();
    }
  }

  pause(): void {
    this.stopRequested = true;
  }

  /** Flushes a partial metric window and waits for every metric map. */
  async drain(): Promise<void> {
    if (this.step > 0 && this.ring.slotOf(this.step - 1) !== this.ring.interval - 1) {
      this.rt.submit([], (enc) => this.ring.encodeFlush(enc, this.step - 1, true));
      const p = this.ring.afterSubmit();
      if (p) this.inflight.push(handled(p));
    }
    await Promise.all(this.inflight.splice(0));
  }

  async checkpoint(): Promise<Checkpoint> {
    await this.drain();
    const params = await Promise.all(this.graph.packs.map((p) => p.readAll()));
    return { step: this.step, params, optimizer: await this.optimizer.readState() };
  }

  restore(c: Checkpoint): void {
    this.graph.packs.forEach((p, i) => p.writeAll(c.params[i]!));
    this.optimizer.writeState(c.optimizer);
    this.step = c.step;
  }

  destroy(): void {
    this.pause();
    this.ring.destroy();
    this.optimizer.destroy();
    this.scope.dispose();
  }
}

/**
 * Marks a metric map as handled: after a device loss every in-flight map rejects, and those the
 * loop never awaits must not surface as unhandled rejections. Awaiting `p` still throws.
 */
function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}
