/**
 * The labelled STAN task (src/tasks/digits.ts) as a playground task: the shipped digit
 * transformer (pre-trained on upright digits, frozen) is fine-tuned on digits rotated 90°
 * clockwise (or mirrored: setting `view`), which it mostly gets wrong. 'none' fine-tunes every base parameter; an adapter
 * trains alone on the frozen base. A second, frozen copy of the base answers the views' "base"
 * column. Held-out probe: a seeded sample of the test digits (256; 64 with `small`), in the trained view.
 */
import type { Adapter } from '../../adapters/adapter';
import { baseParameterCount, listSites, type AdapterSpec } from '../../adapters/attach';
import type { IdentifiabilityReport } from '../../analysis/identifiability';
import type { LatentStatsSnapshot } from '../../analysis/latent-stats';
import { ConfigError } from '../../engine/errors';
import type { AllocationScope, GpuRuntime } from '../../engine/runtime';
import type { InferenceOverrides, LatentGroupInfo, LatentInspection, OwnInput, OwnInputResult, PositionLayout, TaskView } from '../types';
import { choice } from '../../settings/fields';
import { tinyTransformerSiteRefs } from '../../models/tiny-transformer';
import type { TrainGraph } from '../../train/trainer';
import { buildDigitsTask, probeIndices, digitsConfigFromMetadata, DIGITS_CHECKPOINT_FILE, DIGITS_DEFAULTS, digitsDataFromBytes, topActivating, viewImage, type DigitView, type DigitsTask } from '../../tasks/digits';
import { MNIST_PIXELS, MNIST_SIDE, MNIST_URL, type MnistSet } from '../../data/mnist';
import { decoderColumn, stanReport } from './helpers';
import { activationMode, adapterGroups, hasOverrides, adapterStatsSources, fillActivations, firingUnits, readUnitCodes, softmaxRow, withOverrides } from './helpers';
import type { GroupStatsSource, TaskAssets, TaskBuildConfig, TaskBuildOptions, TaskInstance, TaskModule, UnitActivationSet, ViewOutputs } from './task';
import { baseCheckpointMetadata } from '../../io/base-checkpoint';

const MAX_BATCH = 256;
const CHECKPOINT = `checkpoints/${DIGITS_CHECKPOINT_FILE}`;
/** Digits drawn in the view. */
const VIEW_EXAMPLES = 12;
const CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

export interface DigitsSettings {
  /** The view the adapter is fine-tuned on (never seen in pre-training). */
  view: 'rot90' | 'flip';
}

export const digitsTask: TaskModule<DigitsSettings> = {
  id: 'digits',
  description: {
    name: 'Rotated digits',
    title: 'Rotated digits: STAN on a labelled task (STAN paper §4.3, §4.4, App. F)',
    what: 'A small digit transformer pre-trained on upright MNIST digits is the frozen base; the adapter is fine-tuned on the same digits rotated 90° (or mirrored). Every example has a label, so each latent gets per-class activation statistics.',
    claim:
      'A small patch transformer (16 tokens of 7×7 pixels, 2 blocks, width 64) was pre-trained on upright MNIST digits and is frozen; here it must read digits rotated 90°, which it mostly gets wrong. ' +
      'STAN adds (1/k)·D·topk(E·x) to the chosen projections. The paper claims small k works as well as dense latents (Table 8), that STAN forgets less than LoRA (Table 9), and that its latents specialise on classes (App. F: low label entropy).',
    lookFor: [
      "Validation accuracy on rotated digits rising from the frozen base's level.",
      'The App. F scatter: latents with low label entropy (class-specific) vs frequent, shared ones; the class bars and top-activating digits of a latent.',
      'Lower k at inference or switch latents off and watch which digits the adapted model loses.',
    ],
    measured: ['Shipped base (digit-transformer.safetensors): test accuracy 94.9 % upright, 17.0 % rotated 90°, 37.5 % mirrored — the gap the adapter has to close (docs/base-models.md).'],
  },
  settings: {
    fields: { view: choice('fine-tune on', ['rot90', 'flip'], { optionLabels: { rot90: 'digits rotated 90°', flip: 'mirrored digits' }, help: 'The view the base never saw; validation and the views use it too.' }) },
    defaults: { view: 'rot90' },
  },
  sites: tinyTransformerSiteRefs(2),
  defaultTargets: { linear: ['blocks.*.attn.{q,v}_proj'] },
  baseCheckpoint: CHECKPOINT,
  runLabel: (s) => s.view,
  async build(rt: GpuRuntime, config: TaskBuildConfig<DigitsSettings>, assets: TaskAssets, opts: TaskBuildOptions = {}): Promise<TaskInstance> {
    const batch = config.training.batch;
    if (batch > MAX_BATCH) throw new ConfigError('training.batch', `the digits task runs at most ${MAX_BATCH} digits per step, got ${batch}`);
    opts.onProgress?.('loading digits and the base', 0, 2);
    const mnist = digitsDataFromBytes(await assets.bytes(MNIST_URL));
    const baseBytes = await assets.bytes(CHECKPOINT);
    opts.onProgress?.('loading digits and the base', 2, 2);
    opts.signal?.throwIfAborted();
    const metadata = baseCheckpointMetadata(baseBytes);
    const model = { ...digitsConfigFromMetadata(metadata), batch };
    const view: DigitView = config.settings.view;
    const cfg = { ...DIGITS_DEFAULTS, model, view, seed: config.training.seed };
    const spec = config.adapter;
    const build = (adapters: AdapterSpec[], frozen: boolean): Built => {
      const { value, scope } = rt.scoped('digits', () => buildDigitsTask(rt, mnist, { ...cfg, model: { ...model, frozen } }, { adapters, base: baseBytes }));
      return { task: value, scope };
    };
    const adapted = build(spec ? [spec] : [], false);
    let base: Built;
    try {
      base = build([], true);
    } catch (e) {
      adapted.scope.dispose();
      throw e;
    }
    const probe = probeIndices(adapted.task.testIndices, opts.small ? 64 : 256);
    return new DigitsInstance(rt, mnist, adapted, base, probe, view, { source: CHECKPOINT, metadata });
  },
};

interface Built {
  task: DigitsTask;
  scope: AllocationScope;
}

class DigitsInstance implements TaskInstance {
  readonly graph: TrainGraph;
  readonly adapters: Adapter[];
  readonly groups: LatentGroupInfo[];
  readonly parameters;
  readonly sites: string[];
  readonly classes = CLASSES;
  readonly statsSources: GroupStatsSource[];
  readonly ownInputKind = 'image' as const;

  constructor(
    private readonly rt: GpuRuntime,
    private readonly mnist: MnistSet,
    private readonly adapted: Built,
    private readonly baseModel: Built,
    private readonly probe: number[],
    private readonly trainView: DigitView,
    readonly base: { source: string; metadata: Record<string, string> },
  ) {
    const t = adapted.task;
    this.graph = t.graph;
    this.adapters = t.adapters;
    this.groups = adapterGroups(this.adapters);
    // Training rows are tokens, each labelled with its digit (tokenLabels, written by loadBatch).
    this.statsSources = adapterStatsSources(this.adapters, t.tokenLabels, CLASSES.length);
    this.parameters = { trainable: t.trainableParameters, base: baseParameterCount(t.model.body) };
    this.sites = listSites(t.model.body).map((s) => s.path);
  }

  async validate(): Promise<{ loss: number; metrics: Record<string, number> }> {
    const e = await this.adapted.task.evaluate(this.trainView, this.probe);
    return { loss: e.loss, metrics: { accuracy: e.accuracy } };
  }

  private probs(logits: Float32Array, i: number): number[] {
    const C = CLASSES.length;
    const row = Array.from(logits.subarray(i * C, (i + 1) * C));
    const mx = Math.max(...row);
    const ex = row.map((v) => Math.exp(v - mx));
    const s = ex.reduce((a, b) => a + b, 0);
    return ex.map((v) => v / s);
  }

  private accuracy(logits: Float32Array, indices: readonly number[]): number {
    const C = CLASSES.length;
    let hit = 0;
    indices.forEach((img, i) => {
      let best = 0;
      for (let c = 1; c < C; c++) if (logits[i * C + c]! > logits[i * C + best]!) best = c;
      if (best === this.mnist.labels[img]) hit++;
    });
    return indices.length ? hit / indices.length : NaN;
  }

  private pixels(img: number): Float32Array {
    const out = new Float32Array(MNIST_PIXELS);
    viewImage(this.mnist.pixels.subarray(img * MNIST_PIXELS, (img + 1) * MNIST_PIXELS), this.trainView, out);
    return out;
  }

  async view(o: InferenceOverrides): Promise<TaskView> {
    const base = await this.baseModel.task.logits(this.trainView, this.probe);
    const ad = await withOverrides(this.adapters, this.groups, o, () => this.adapted.task.logits(this.trainView, this.probe));
    const allOn = hasOverrides(o) ? await this.adapted.task.logits(this.trainView, this.probe) : null;
    const shown = this.probe.slice(0, VIEW_EXAMPLES);
    return {
      kind: 'classification',
      classes: CLASSES,
      examples: shown.map((img, i) => ({
        drawable: { kind: 'image' as const, side: MNIST_SIDE, pixels: this.pixels(img) },
        label: this.mnist.labels[img]!,
        base: this.probs(base, i),
        adapted: this.probs(ad, i),
        ...(allOn ? { allOn: this.probs(allOn, i) } : {}),
      })),
      note: `${this.trainView === 'rot90' ? 'digits rotated 90° clockwise' : 'mirrored digits'} (${this.trainView}), as the model sees them; the base was trained on upright digits`,
      score: {
        label: `accuracy on ${this.probe.length} held-out ${this.trainView === 'rot90' ? 'rotated' : 'mirrored'} digits`,
        format: 'percent',
        better: 'higher',
        base: this.accuracy(base, this.probe),
        adapted: this.accuracy(ad, this.probe),
        ...(allOn ? { allOn: this.accuracy(allOn, this.probe) } : {}),
        baselines: [{ label: 'chance', value: 1 / CLASSES.length }],
      },
    };
  }

  async inspect(group: number, unit: number, o: InferenceOverrides): Promise<LatentInspection> {
    const info = this.groups[group];
    if (!info?.stats) throw new ConfigError('group', `inspection applies to STAN latents; group ${group} is ${info?.kind ?? 'missing'}`);
    if (!Number.isInteger(unit) || unit < 0 || unit >= info.count) throw new ConfigError('unit', `must be in 0…${info.count - 1}, got ${unit}`);
    const acts = await withOverrides(this.adapters, this.groups, o, () => this.adapted.task.imageActivations(this.trainView, this.probe));
    const pa = acts.perAdapter.find((p) => p.adapter === this.adapters[group])!;
    const C = CLASSES.length;
    const classSum = new Float64Array(C);
    const classCount = new Float64Array(C);
    let fired = 0;
    let sum = 0;
    acts.images.forEach((img, i) => {
      const a = pa.acts[i * pa.l + unit]!;
      if (a > 0) {
        const y = this.mnist.labels[img]!;
        classSum[y] += a;
        classCount[y]++;
        fired++;
        sum += a;
      }
    });
    return {
      group,
      unit,
      label: info.label,
      examples: topActivating(pa.acts, pa.l, unit, 8).map((t) => ({ activation: t.activation, label: this.mnist.labels[acts.images[t.image]!]!, drawable: { kind: 'image' as const, side: MNIST_SIDE, pixels: this.pixels(acts.images[t.image]!) } })),
      classBars: CLASSES.map((label, c) => ({ label, value: classCount[c]! > 0 ? classSum[c]! / classCount[c]! : 0 })),
      decoder: { kind: 'vector', values: await decoderColumn(this.adapters[group]!, unit) },
      // Per image: active when the latent fired on any of its tokens (max over tokens > 0).
      frequency: acts.images.length ? fired / acts.images.length : 0,
      meanActivation: fired ? sum / fired : 0,
    };
  }

  async latentStats(group: number, step: number): Promise<LatentStatsSnapshot | null> {
    const info = this.groups[group];
    if (!info?.stats) return null;
    const all = await this.adapted.task.latentStats(this.trainView, this.probe);
    const s = all.find((x) => x.adapter === this.adapters[group])?.stats;
    if (!s) return null;
    return { ...s, lastFired: s.lastFired.map((f) => (f >= 0 ? step : -1)) };
  }

  async identifiability(group: number): Promise<IdentifiabilityReport | null> {
    return stanReport(this.rt, this.adapters[group]);
  }

  /** Tokens are the 7×7 patches of the image as the model sees it, row-major over the 4×4 grid. */
  private get layout(): PositionLayout {
    const m = this.adapted.task.model;
    const patch = this.adapted.task.cfg.model.patch;
    const grid = MNIST_SIDE / patch;
    return { kind: 'patches', side: MNIST_SIDE, patch, grid, offset: m.tokens - grid * grid };
  }

  private statsGroup(group: number): LatentGroupInfo {
    const info = this.groups[group];
    if (!info?.stats) throw new ConfigError('group', `inspection applies to STAN latents; group ${group} is ${info?.kind ?? 'missing'}`);
    return info;
  }

  async unitActivations(group: number, o: InferenceOverrides): Promise<UnitActivationSet> {
    const info = this.statsGroup(group);
    const a = this.adapters[group]!;
    const T = this.adapted.task.model.tokens;
    const B = this.adapted.task.cfg.model.batch;
    const probe = this.probe;
    const acts = new Float32Array(probe.length * T * info.count);
    const mode = activationMode(a);
    await withOverrides(this.adapters, this.groups, o, async () => {
      for (let s = 0; s < probe.length; s += B) {
        const chunk = probe.slice(s, s + B);
        await this.adapted.task.logits(this.trainView, chunk);
        const codes = await readUnitCodes(this.rt, a);
        if (codes) fillActivations(codes, acts, s, chunk.length, T, mode);
      }
    });
    return {
      set: `held-out digits (${this.trainView === 'rot90' ? 'rotated 90°' : 'mirrored'})`,
      examples: probe.length,
      positions: T,
      units: info.count,
      acts,
      labels: probe.map((i) => this.mnist.labels[i]!),
      classes: CLASSES,
      layout: this.layout,
      drawable: (e) => ({ kind: 'image', side: MNIST_SIDE, pixels: this.pixels(probe[e]!) }),
    };
  }

  /** Cross-entropy over the held-out probe; outputs: the class probabilities of the 12 digits the view shows. */
  async viewOutputs(o: InferenceOverrides): Promise<ViewOutputs> {
    const lg = await withOverrides(this.adapters, this.groups, o, () => this.adapted.task.logits(this.trainView, this.probe));
    const C = CLASSES.length;
    let nll = 0;
    this.probe.forEach((img, i) => {
      nll -= Math.log(Math.max(1e-30, softmaxRow(lg, i, C)[this.mnist.labels[img]!]!));
    });
    return {
      lossName: 'cross-entropy',
      loss: nll / this.probe.length,
      examples: this.probe.slice(0, 12).map((img, i) => ({ output: Float32Array.from(softmaxRow(lg, i, C)), render: { kind: 'vector' as const }, label: `digit ${this.mnist.labels[img]}` })),
    };
  }

  /** A drawn (or edited) 28×28 image, as the model sees it: base and adapted class probabilities and the latents that fire. */
  async ownInput(input: OwnInput, o: InferenceOverrides): Promise<OwnInputResult> {
    if (input.kind !== 'image') throw new ConfigError('input.kind', `the digits task takes an image, got '${input.kind}'`);
    if (input.side !== MNIST_SIDE || input.pixels.length !== MNIST_PIXELS) throw new ConfigError('input.pixels', `needs a ${MNIST_SIDE}×${MNIST_SIDE} image (${MNIST_PIXELS} values), got side ${input.side} with ${input.pixels.length} values`);
    const px = Float32Array.from(input.pixels, (v) => (Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0));
    const C = CLASSES.length;
    const describe = (p: number[]) => {
      const best = p.indexOf(Math.max(...p));
      return `predicts ${CLASSES[best]} (${(100 * p[best]!).toFixed(0)} %)`;
    };
    const base = softmaxRow(await this.baseModel.task.logitsOfPixels(px, 1), 0, C);
    const T = this.adapted.task.model.tokens;
    const firing: OwnInputResult['firing'] = [];
    const adapted = await withOverrides(this.adapters, this.groups, o, async () => {
      const p = softmaxRow(await this.adapted.task.logitsOfPixels(px, 1), 0, C);
      for (const g of this.groups) {
        if (!g.stats) continue;
        const codes = await readUnitCodes(this.rt, this.adapters[g.group]!);
        if (codes) firing.push({ group: g.group, units: firingUnits(codes, T, activationMode(this.adapters[g.group]!)) });
      }
      return p;
    });
    return {
      input: { kind: 'image', side: MNIST_SIDE, pixels: px },
      base: { kind: 'vector', values: base },
      // 'none' fine-tunes the whole model: its outputs are the adapted ones too.
      adapted: { kind: 'vector', values: adapted },
      summary: { base: describe(base), adapted: describe(adapted) },
      firing,
      layout: this.layout,
    };
  }

  destroy(): void {
    this.adapted.task.destroy();
    this.baseModel.task.destroy();
    this.adapted.scope.dispose();
    this.baseModel.scope.dispose();
  }
}
