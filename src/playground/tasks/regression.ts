/**
 * Synthetic sequence regression (synthetic-regression.ts's data) as a playground task: the
 * engine's smallest end-to-end case, where every adapter kind applies. The base is pre-trained
 * in the page (a few hundred steps, progress reported, cancellable; cached per shape) on a
 * target of the same family drawn with another seed; fine-tuning moves it to the target of
 * config.training.seed. 'none' fine-tunes every base parameter; an adapter trains alone on the
 * frozen base. A second, frozen copy of the base gives the views' "base" output, so "every unit
 * off" can be compared with the base model itself.
 */
import type { Adapter } from '../../adapters/adapter';
import { attachToSites, baseParameterCount, listSites, trainableParameterCount, type AdapterSpec } from '../../adapters/attach';
import type { IdentifiabilityReport } from '../../analysis/identifiability';
import type { LatentStatsSnapshot } from '../../analysis/latent-stats';
import { ConfigError } from '../../engine/errors';
import { ParamPack } from '../../engine/param-pack';
import { Rng } from '../../engine/rng';
import { EpochOrder } from '../../data/epoch-order';
import { CommandList, type AllocationScope, type GpuRuntime } from '../../engine/runtime';
import type { Tensor } from '../../engine/tensor';
import { recordMseLoss } from '../../kernels/loss';
import { TinyTransformer, tinyTransformerSiteRefs, type TinyTransformerConfig } from '../../models/tiny-transformer';
import type { BuildContext } from '../../nn/module';
import type { InferenceOverrides, LatentGroupInfo, LatentInspection, TaskDescription, TaskView } from '../types';
import { Trainer, type TrainGraph } from '../../train/trainer';
import { activationMode, adapterGroups, hasOverrides, adapterStatsSources, decoderColumn, fillActivations, perExampleActivation, readUnitCodes, snapshotFromCodes, stanReport, topIndices, withOverrides } from './helpers';
import { makeRegressionData, type SyntheticRegressionConfig } from '../../tasks/synthetic-regression';
import type { GroupStatsSource, TaskAssets, TaskBuildConfig, TaskBuildOptions, TaskInstance, TaskModule, UnitActivationSet, ViewOutputs } from './task';

const MAX_BATCH = 256;
/** Predictions in the view (whole sequences). */
const VIEW_POINTS = 256;
/** The base's own target (a different draw of the same family). */
const BASE_DATA_SEED = 7;

const REGRESSION_DESCRIPTION: TaskDescription = {
  name: 'Sequence regression',
  title: 'Sequence regression: the smallest end-to-end case',
  what: 'A 1-block transformer learns a synthetic sequence regression, yₜ = tanh(xₜA)B + mean(x)C; the base learned one (A, B, C) and fine-tuning moves it to another. Fast on any GPU: the quickest way to see the loss fall.',
  claim:
    'Not a paper experiment: a tiny transformer (1 block, width 32) maps 8-token sequences to per-token outputs y_t = tanh(x_t·A)·B + mean(x)·C. ' +
    'The base learned one (A, B, C); fine-tuning moves it to another. Every adapter applies, so it is the quickest place to compare STAN, atoms, LoRA and SoRA side by side.',
  lookFor: [
    'Compare adapters at a similar trainable-parameter count: the validation loss after the same number of steps.',
    'The prediction view: the base misses the new target, the adapted outputs follow it.',
    'STAN latents: the App. F scatter separates rare strong latents from frequent weak ones; lowering k degrades the fit gradually.',
  ],
  measured: ['Full fine-tuning of the in-page base, 300 steps in headless Chromium on SwiftShader (31 ms/step over the last steps): training loss 0.84 → 0.012, validation 0.092 → 0.013 (test/e2e/playground.e2e.test.ts, the regression test).'],
};

interface Shapes {
  model: TinyTransformerConfig;
  train: number;
  val: number;
  baseSteps: number;
}

function shapes(config: TaskBuildConfig, small: boolean): Shapes {
  const batch = config.training.batch;
  if (batch > MAX_BATCH) throw new ConfigError('training.batch', `the regression task runs at most ${MAX_BATCH} sequences per step, got ${batch}`);
  return {
    model: { inDim: 4, outDim: 2, dim: 32, heads: 2, layers: 1, seq: 8, batch },
    train: small ? Math.max(4 * batch, 32) : Math.max(8 * batch, 256),
    val: small ? batch : Math.max(1, Math.ceil(64 / batch)) * batch,
    baseSteps: small ? 30 : 300,
  };
}

function dataCfg(s: Shapes, seed: number, samples: number): SyntheticRegressionConfig {
  const m = s.model;
  return { batch: m.batch, seq: m.seq, inDim: m.inDim, outDim: m.outDim, dim: m.dim, heads: m.heads, layers: m.layers, samples, seed };
}

/** One model with its packs and recorded lists, reading batches from `data`. */
interface Built {
  model: TinyTransformer;
  packs: { trainable: ParamPack; frozen: ParamPack };
  adapters: Adapter[];
  target: Tensor;
  lossValue: Tensor;
  forward: CommandList;
  loss: CommandList;
  backward: CommandList;
  scope: AllocationScope;
}

function buildModel(rt: GpuRuntime, s: Shapes, opts: { frozen: boolean; initSeed: number; adapter?: AdapterSpec }): Built {
  const { value, scope } = rt.scoped('regression', () => {
    const trainable = new ParamPack(rt, 'model', true);
    const frozen = new ParamPack(rt, 'model.frozen', false);
    const ctx: BuildContext = { rt, trainable, frozen, rng: new Rng(opts.initSeed) };
    const model = new TinyTransformer(ctx, 'model', { ...s.model, frozen: opts.frozen });
    const adapters = opts.adapter ? attachToSites(ctx, listSites(model), opts.adapter) : [];
    trainable.finalize();
    frozen.finalize();
    const rows = s.model.batch * s.model.seq;
    const target = rt.tensor([rows, s.model.outDim], 'target');
    const lossValue = rt.tensor([1], 'loss');
    const forward = new CommandList('regression.forward');
    const loss = new CommandList('regression.loss');
    const backward = new CommandList('regression.backward');
    model.recordForward(forward);
    recordMseLoss(rt, loss, { pred: model.output.value, target, grad: model.output.grad!, loss: lossValue, n: rows * s.model.outDim });
    model.recordBackward(backward);
    return { model, packs: { trainable, frozen }, adapters, target, lossValue, forward, loss, backward };
  });
  return { ...value, scope };
}

/** A TrainGraph cycling through `data` in a seeded order per epoch (batches from preallocated arrays). */
function graphOf(rt: GpuRuntime, b: Built, s: Shapes, data: { x: Float32Array; y: Float32Array }, samples: number, seed: number): TrainGraph {
  const { batch, seq, inDim, outDim } = s.model;
  const order = new EpochOrder(samples, seed, batch);
  const xb = new Float32Array(batch * seq * inDim);
  const yb = new Float32Array(batch * seq * outDim);
  return {
    packs: [b.packs.trainable],
    forward: b.forward,
    loss: b.loss,
    backward: b.backward,
    lossValue: b.lossValue,
    extraMetrics: b.adapters.flatMap((a) => a.metrics ?? []),
    recordAfterOptimizer: (list, sp) => b.adapters.forEach((a) => a.recordAfterOptimizer?.(list, sp)),
    loadBatch(step) {
      order.gather(step, data.x, seq * inDim, xb);
      order.gather(step, data.y, seq * outDim, yb);
      rt.write(b.model.input.value, xb);
      rt.write(b.target, yb);
    },
  };
}

/** Pre-trained base parameters per shape (the page re-configures often; the base does not change). */
const baseCache = new Map<string, Map<string, Float32Array>>();

async function pretrainBase(rt: GpuRuntime, s: Shapes, opts: TaskBuildOptions): Promise<Map<string, Float32Array>> {
  const key = JSON.stringify([s.model, s.baseSteps]);
  const hit = baseCache.get(key);
  if (hit) return hit;
  const samples = 256;
  const data = makeRegressionData(dataCfg(s, BASE_DATA_SEED, samples));
  const b = buildModel(rt, s, { frozen: false, initSeed: BASE_DATA_SEED });
  const trainer = new Trainer(rt, graphOf(rt, b, s, data, samples, BASE_DATA_SEED), {
    lr: 3e-3,
    schedule: { kind: 'cosine', warmupSteps: Math.floor(s.baseSteps / 10), totalSteps: s.baseSteps, minRatio: 0.1 },
    adamw: { clipNorm: 1 },
    metricInterval: 10,
  });
  try {
    const label = `pre-training the regression base (${s.baseSteps} steps)`;
    opts.onProgress?.(label, 0, s.baseSteps);
    for (let done = 0; done < s.baseSteps; done += 10) {
      opts.signal?.throwIfAborted();
      await trainer.run(Math.min(10, s.baseSteps - done));
      opts.onProgress?.(label, Math.min(done + 10, s.baseSteps), s.baseSteps);
    }
    await trainer.drain();
    const values = await b.packs.trainable.readAll();
    baseCache.set(key, values);
    return values;
  } finally {
    trainer.destroy();
    b.scope.dispose();
  }
}

function loadInto(b: Built, values: Map<string, Float32Array>): void {
  b.packs.trainable.writeAll(values, { partial: true });
  b.packs.frozen.writeAll(values, { partial: true });
}

export const regressionTask: TaskModule<Record<string, never>> = {
  id: 'regression',
  description: REGRESSION_DESCRIPTION,
  settings: { fields: {}, defaults: {} },
  sites: tinyTransformerSiteRefs(1),
  defaultTargets: { linear: ['blocks.*.attn.{q,v}_proj'], 'attention-output': ['blocks.*.attn'] },
  baseCheckpoint: null,
  async build(rt: GpuRuntime, config: TaskBuildConfig<Record<string, never>>, _assets: TaskAssets, opts: TaskBuildOptions = {}): Promise<TaskInstance> {
    const s = shapes(config, opts.small ?? false);
    const spec = config.adapter;
    const baseValues = await pretrainBase(rt, s, opts);
    const seed = config.training.seed;
    const all = makeRegressionData(dataCfg(s, seed, s.train + s.val));
    const adapted = buildModel(rt, s, { frozen: spec !== null, initSeed: seed, ...(spec ? { adapter: spec } : {}) });
    let base: Built | null = null;
    try {
      loadInto(adapted, baseValues);
      base = buildModel(rt, s, { frozen: true, initSeed: seed });
      loadInto(base, baseValues);
    } catch (e) {
      adapted.scope.dispose();
      base?.scope.dispose();
      throw e;
    }
    return new RegressionInstance(rt, s, adapted, base, all, seed);
  },
};

class RegressionInstance implements TaskInstance {
  readonly graph: TrainGraph;
  readonly adapters: Adapter[];
  readonly groups: LatentGroupInfo[];
  readonly parameters;
  readonly sites: string[];
  readonly classes = null;
  readonly base = null;
  readonly statsSources: GroupStatsSource[];
  private readonly xPer: number;
  private readonly yPer: number;

  constructor(
    private readonly rt: GpuRuntime,
    private readonly s: Shapes,
    private readonly adapted: Built,
    private readonly baseModel: Built,
    private readonly data: { x: Float32Array; y: Float32Array },
    seed: number,
  ) {
    this.graph = graphOf(rt, adapted, s, data, s.train, seed);
    this.adapters = adapted.adapters;
    this.groups = adapterGroups(this.adapters);
    this.statsSources = adapterStatsSources(this.adapters);
    const trainable = this.adapters.length ? trainableParameterCount(this.adapters) : adapted.packs.trainable.params.reduce((a, p) => a + p.size, 0);
    this.parameters = { trainable, base: baseParameterCount(adapted.model) };
    this.sites = listSites(adapted.model).map((x) => x.path);
    this.xPer = s.model.seq * s.model.inDim;
    this.yPer = s.model.seq * s.model.outDim;
  }

  /** Loads held-out sequences val[i0 … i0+batch) (padded with the last) into `b` and runs its forward; returns the output. */
  private async run(b: Built, i0: number, withLoss = false): Promise<{ out: Float32Array; loss: number }> {
    const { batch } = this.s.model;
    const xb = new Float32Array(batch * this.xPer);
    const yb = new Float32Array(batch * this.yPer);
    for (let i = 0; i < batch; i++) {
      const n = this.s.train + Math.min(i0 + i, this.s.val - 1);
      xb.set(this.data.x.subarray(n * this.xPer, (n + 1) * this.xPer), i * this.xPer);
      yb.set(this.data.y.subarray(n * this.yPer, (n + 1) * this.yPer), i * this.yPer);
    }
    this.rt.write(b.model.input.value, xb);
    this.rt.write(b.target, yb);
    this.rt.submit(withLoss ? [b.forward, b.loss] : [b.forward]);
    const out = await this.rt.read(b.model.output.value);
    return { out, loss: withLoss ? (await this.rt.read(b.lossValue))[0]! : 0 };
  }

  async validate(): Promise<{ loss: number; metrics: Record<string, number> }> {
    let loss = 0;
    const nb = this.s.val / this.s.model.batch;
    for (let i = 0; i < nb; i++) loss += (await this.run(this.adapted, i * this.s.model.batch, true)).loss / nb;
    return { loss, metrics: {} };
  }

  private mse(out: Float32Array): number {
    const { batch } = this.s.model;
    let se = 0;
    const n = this.s.train;
    for (let j = 0; j < batch * this.yPer; j++) se += (out[j]! - this.data.y[n * this.yPer + j]!) ** 2;
    return se / (batch * this.yPer);
  }

  async view(o: InferenceOverrides): Promise<TaskView> {
    const { batch, seq, outDim } = this.s.model;
    const base = await this.run(this.baseModel, 0);
    const ad = await withOverrides(this.adapters, this.groups, o, () => this.run(this.adapted, 0));
    const allOn = hasOverrides(o) ? await this.run(this.adapted, 0) : null;
    const n = this.s.train;
    const y = this.data.y.subarray(n * this.yPer, (n + batch) * this.yPer);
    let zero = 0;
    for (const v of y) zero += v * v;
    // Every output of the first held-out sequences (whole sequences, at most VIEW_POINTS points).
    const shown = Math.min(batch, Math.max(1, Math.floor(VIEW_POINTS / this.yPer))) * this.yPer;
    const points = Array.from({ length: shown }, (_, j) => ({ target: y[j]!, base: base.out[j]!, adapted: ad.out[j]!, ...(allOn ? { allOn: allOn.out[j]! } : {}) }));
    return {
      kind: 'scalars',
      targetLabel: 'target y',
      points,
      note: `${points.length / (seq * outDim)} held-out sequences × ${seq} tokens × ${outDim} outputs; on the diagonal the prediction equals the target`,
      score: {
        label: `MSE on ${batch} held-out sequences`,
        format: 'number',
        better: 'lower',
        base: this.mse(base.out),
        adapted: this.mse(ad.out),
        ...(allOn ? { allOn: this.mse(allOn.out) } : {}),
        baselines: [{ label: 'predict 0 everywhere', value: zero / y.length }],
      },
    };
  }

  /** Every held-out sequence through the adapted model (overrides applied), with group `group`'s codes per batch. */
  private async codesOver(group: number, o: InferenceOverrides): Promise<{ batch: number; codes: import('./helpers').UnitCodes }[]> {
    const a = this.adapters[group]!;
    const out: { batch: number; codes: import('./helpers').UnitCodes }[] = [];
    const B = this.s.model.batch;
    await withOverrides(this.adapters, this.groups, o, async () => {
      for (let i0 = 0; i0 < this.s.val; i0 += B) {
        await this.run(this.adapted, i0);
        const codes = await readUnitCodes(this.rt, a);
        if (codes) out.push({ batch: i0, codes });
      }
    });
    return out;
  }

  async inspect(group: number, unit: number, o: InferenceOverrides): Promise<LatentInspection> {
    const info = this.groups[group]!;
    if (!info.stats) throw new ConfigError('group', `inspection applies to STAN latents and atoms; group ${group} is ${info.kind}`);
    if (!Number.isInteger(unit) || unit < 0 || unit >= info.count) throw new ConfigError('unit', `must be in 0…${info.count - 1}, got ${unit}`);
    const B = this.s.model.batch;
    const mean = new Float64Array(this.s.val);
    let fired = 0;
    let sum = 0;
    let rows = 0;
    for (const { batch, codes } of await this.codesOver(group, o)) {
      const r = perExampleActivation(codes, unit, B);
      for (let i = 0; i < B && batch + i < this.s.val; i++) {
        mean[batch + i] = r.mean[i]!;
        fired += r.fired[i]!;
        sum += r.mean[i]! * r.fired[i]!;
      }
      rows += codes.rows;
    }
    const top = topIndices(mean, 6).filter((i) => mean[i]! > 0);
    const { outDim } = this.s.model;
    const n0 = this.s.train;
    return {
      group,
      unit,
      label: info.label,
      examples: top.map((i) => ({
        activation: mean[i]!,
        label: null,
        // The example's first output channel over its tokens.
        drawable: { kind: 'signal' as const, values: Array.from({ length: this.s.model.seq }, (_, t) => this.data.y[(n0 + i) * this.yPer + t * outDim]!) },
      })),
      classBars: null,
      decoder: { kind: 'vector', values: await decoderColumn(this.adapters[group]!, unit) },
      frequency: rows ? fired / rows : 0,
      meanActivation: fired ? sum / fired : 0,
    };
  }

  async latentStats(group: number, step: number): Promise<LatentStatsSnapshot | null> {
    const info = this.groups[group];
    if (!info?.stats) return null;
    const batches = await this.codesOver(group, {});
    const rowsPer = batches[0]!.codes.rows;
    const perExample = rowsPer / this.s.model.batch;
    const usable = (i0: number) => Math.min(this.s.model.batch, this.s.val - i0) * perExample;
    const total = batches.reduce((a, b) => a + usable(b.batch), 0);
    const offsets: number[] = [];
    let acc = 0;
    for (const b of batches) {
      offsets.push(acc);
      acc += usable(b.batch);
    }
    return snapshotFromCodes(info.count, total, (r, emit) => {
      let j = offsets.length - 1;
      while (offsets[j]! > r) j--;
      batches[j]!.codes.forEachRow(r - offsets[j]!, emit);
    }, { step, mode: 'abs' });
  }

  async identifiability(group: number): Promise<IdentifiabilityReport | null> {
    return stanReport(this.rt, this.adapters[group]);
  }

  /** Every held-out sequence, per token. */
  async unitActivations(group: number, o: InferenceOverrides): Promise<UnitActivationSet> {
    const info = this.groups[group];
    if (!info?.stats) throw new ConfigError('group', `inspection applies to STAN latents and atoms; group ${group} is ${info?.kind ?? 'missing'}`);
    const { batch: B, seq: T, outDim } = this.s.model;
    const n = this.s.val;
    const acts = new Float32Array(n * T * info.count);
    const mode = activationMode(this.adapters[group]!);
    for (const { batch: i0, codes } of await this.codesOver(group, o)) fillActivations(codes, acts, i0, Math.min(B, n - i0), T, mode);
    const n0 = this.s.train;
    return {
      set: 'held-out sequences',
      examples: n,
      positions: T,
      units: info.count,
      acts,
      labels: null,
      classes: null,
      layout: { kind: 'tokens' },
      // The example's target, first output channel over its tokens.
      drawable: (e) => ({ kind: 'signal', values: Array.from({ length: T }, (_, t) => this.data.y[(n0 + e) * this.yPer + t * outDim]!) }),
    };
  }

  /** MSE on the view batch (the first held-out batch); outputs: each sequence's [seq, outDim] prediction. */
  async viewOutputs(o: InferenceOverrides): Promise<ViewOutputs> {
    const ad = await withOverrides(this.adapters, this.groups, o, () => this.run(this.adapted, 0));
    const { batch: B } = this.s.model;
    return {
      lossName: 'MSE',
      loss: this.mse(ad.out),
      examples: Array.from({ length: Math.min(B, this.s.val) }, (_, i) => ({ output: ad.out.slice(i * this.yPer, (i + 1) * this.yPer), render: { kind: 'vector' as const }, label: `sequence ${i}` })),
    };
  }

  destroy(): void {
    // Adapters keep scopes of their own (nested ones are not in ours); releases are idempotent.
    for (const a of this.adapters) a.destroy();
    this.adapted.scope.dispose();
    this.baseModel.scope.dispose();
  }
}
