/**
 * The atoms paper's MNIST "8 → 3" setting as a playground task: the shipped denoising VAE
 * (pre-trained on digits 5–9) is fine-tuned on noisy 3s, either fully ('none') or through an
 * adapter on the frozen base (atoms on the decoder's attention outputs as in the paper; STAN,
 * LoRA, SoRA on Linear sites). A second, frozen copy of the base draws the "before" images, so
 * "every unit off" can be checked against the base itself.
 *
 * Views: held-out noisy 3s (fixed per-image noise), the base's and the adapted model's denoised
 * reconstructions (z = μ), and for the first image each top unit's contribution map — the
 * adapted output minus the output with that one unit switched off (leave-one-out, as
 * mnist-vae-finetune.ts defines it for the figures).
 * Latent statistics and inspection run over a labelled probe set of all ten digits, so label
 * entropy says whether a latent or atom is digit-specific.
 */
import type { Adapter, AdapterSite } from '../../adapters/adapter';
import { attachToSites, trainableParameterCount } from '../../adapters/attach';
import type { IdentifiabilityReport } from '../../analysis/identifiability';
import type { LatentStatsSnapshot } from '../../analysis/latent-stats';
import { blockSiteRefs, type SiteRef } from '../../nn/site';
import { ConfigError } from '../../engine/errors';
import type { AllocationScope, GpuRuntime } from '../../engine/runtime';
import { DigitJudge } from '../../models/digit-judge';
import { loadVaeCheckpoint, VAE_BASE_CONFIG, vaeConfigFromMetadata, type TransformerVae } from '../../models/vae';
import type { BuildContext } from '../../nn/module';
import type { ImageExample, InferenceOverrides, UnitGallery, LatentGroupInfo, LatentInspection, OwnInput, OwnInputResult, PositionLayout, TaskDescription, TaskView } from '../types';
import { baseCheckpointMetadata } from '../../io/base-checkpoint';
import type { TrainGraph } from '../../train/trainer';
import { MNIST_PIXELS, MNIST_SIDE, MNIST_URL, parseMnist, splitMnist, type MnistSet } from '../../data/mnist';
import { buildMnistVaeTask, MNIST_VAE_DEFAULTS, type MnistVaeTask } from '../../tasks/mnist-vae';
import { decoderColumn, stanReport } from './helpers';
import { activationMode, adapterGroups, hasOverrides, adapterStatsSources, fillActivations, firingUnits, perExampleActivation, readUnitCodes, snapshotFromCodes, topIndices, withOverrides, withUnitOff, type UnitCodes } from './helpers';
import type { GroupStatsSource, TaskAssets, TaskBuildConfig, TaskBuildOptions, TaskInstance, TaskModule, UnitActivationSet, ViewOutputs } from './task';

const BASE_PATH = 'checkpoints/mnist-vae-5to9.safetensors';
/** The frozen digit classifier that reads the decodes (the view's score: the share of 3s judged "3"). */
const JUDGE_PATH = 'checkpoints/digit-classifier.safetensors';
const DIGIT = 3;
const MAX_BATCH = 64;
const VIEW_IMAGES = 4;
/** Contribution maps in a view (each costs one forward pass). */
const VIEW_MAPS = 4;

const MNIST_VAE_DESCRIPTION: TaskDescription = {
  name: 'MNIST VAE 8 → 3',
  title: 'MNIST 8 → 3: a few atoms turn a 5–9 VAE into a 3 generator',
  what: 'A transformer VAE pre-trained on digits 5–9 (7×7 patches, 2+2 blocks, latent 32). The adapter fine-tunes its decoder on noisy 3s, a digit the base never saw.',
  claim:
    "The atoms paper (§3.3, Fig. 1) freezes a transformer VAE trained on digits 5–9 and fine-tunes only sparse atoms on its decoder's attention outputs, with 3s. " +
    'The same latent that decoded to an 8 or a 5 then decodes to a 3, and only a handful of atoms per layer carry the change.',
  lookFor: [
    'The reconstruction view: the base turns noisy 3s into 8-like or 5-like digits; the adapted decoder draws 3s.',
    'Contribution maps: each top atom adds or removes a stroke (red adds ink, blue removes it) — the 8 → 3 change is a few strokes.',
    'Switch the top atoms off one by one: the 3 falls back towards the base digit.',
    'The App. F scatter: atoms used by every digit sit to the right with high label entropy; digit-specific ones have low entropy.',
  ],
  measured: ['Base: test reconstruction 81.2 nats, KL 25.2 nats, pixel MSE 0.0130 after 600 steps (docs/base-models.md).'],
};

/** The VAE's adapter sites (as vaeSites lists them for a built model): every Linear, then the decoder's attention outputs. */
function vaeSiteRefs(encoderLayers: number, decoderLayers: number): SiteRef[] {
  const lin = (path: string): SiteRef => ({ path, kind: 'linear' });
  const out: SiteRef[] = [lin('encoder.embed')];
  for (let i = 0; i < encoderLayers; i++) out.push(...blockSiteRefs(`encoder.blocks.${i}`, false));
  out.push(lin('encoder.mu'), lin('encoder.logvar'), lin('decoder.proj'));
  for (let i = 0; i < decoderLayers; i++) out.push(...blockSiteRefs(`decoder.blocks.${i}`, false));
  out.push(lin('decoder.head'));
  for (let i = 0; i < decoderLayers; i++) out.push({ path: `decoder.blocks.${i}.attn`, kind: 'attention-output' });
  return out;
}

/** Parsed MNIST per byte array (configure runs often; the data does not change). */
let mnistCache: { bytes: Uint8Array; set: MnistSet } | null = null;

function mnistOf(bytes: Uint8Array): MnistSet {
  if (mnistCache?.bytes !== bytes) mnistCache = { bytes, set: parseMnist(bytes) };
  return mnistCache.set;
}

function stripName(path: string): string {
  return path.startsWith('vae.') ? path.slice(4) : path;
}

/** Every adapter site of the VAE: Linear sites (encoder, heads, decoder) and the decoder's attention outputs. */
function vaeSites(vae: TransformerVae): AdapterSite[] {
  const lin: AdapterSite[] = vae.linears().map((l) => ({ kind: 'linear', path: stripName(l.path), layer: l.layer, rows: l.rows }));
  const att = vae.decoderAttentionSites().map((s) => ({ ...s, path: stripName(s.path) }));
  return [...lin, ...att];
}

export const mnistVaeTask: TaskModule<Record<string, never>> = {
  id: 'mnist-vae',
  description: MNIST_VAE_DESCRIPTION,
  settings: { fields: {}, defaults: {} },
  sites: vaeSiteRefs(VAE_BASE_CONFIG.encoderLayers, VAE_BASE_CONFIG.decoderLayers),
  defaultTargets: { 'attention-output': ['decoder.blocks.*.attn'], linear: ['decoder.blocks.*.attn.{q,v}_proj'] },
  baseCheckpoint: BASE_PATH,
  async build(rt: GpuRuntime, config: TaskBuildConfig<Record<string, never>>, assets: TaskAssets, opts: TaskBuildOptions = {}): Promise<TaskInstance> {
    const B = config.training.batch;
    if (B > MAX_BATCH) throw new ConfigError('training.batch', `the MNIST-VAE task runs at most ${MAX_BATCH} images per step, got ${B}`);
    opts.onProgress?.('loading MNIST and the VAE base', 0, 2);
    const [mnistBytes, ckpt, judgeBytes] = await Promise.all([assets.bytes(MNIST_URL), assets.bytes(BASE_PATH), assets.bytes(JUDGE_PATH)]);
    opts.signal?.throwIfAborted();
    const mnist = mnistOf(mnistBytes);
    opts.onProgress?.('loading MNIST and the VAE base', 1, 2);
    const metadata = baseCheckpointMetadata(ckpt);
    const model = vaeConfigFromMetadata(metadata);
    const spec = config.adapter;
    const taskCfg = { ...MNIST_VAE_DEFAULTS, digits: [DIGIT], klFreeSteps: 0, klWarmupSteps: 0, seed: config.training.seed };
    const scopes: AllocationScope[] = [];
    const build = (withAdapter: boolean): { task: MnistVaeTask; adapters: Adapter[]; sites: string[] } =>
      rt.scoped('mnist-vae-task', (scope) => {
        scopes.push(scope);
        let adapters: Adapter[] = [];
        let sites: string[] = [];
        const task = buildMnistVaeTask(rt, mnist, { ...taskCfg, model: { ...model, batch: B, frozen: !withAdapter ? true : spec !== null } }, {
          initOutputBias: false,
          configure: (ctx: BuildContext, vae: TransformerVae) => {
            const all = vaeSites(vae);
            sites = all.map((s) => s.path);
            if (withAdapter && spec) adapters = attachToSites(ctx, all, spec);
          },
        });
        loadVaeCheckpoint(ckpt, task.vae);
        return { task, adapters, sites };
      }).value;
    try {
      const adapted = build(true);
      const base = build(false);
      const judge = rt.scoped('mnist-vae-task.judge', (scope) => {
        scopes.push(scope);
        return new DigitJudge(rt, judgeBytes, Math.min(B, 64));
      }).value;
      const instance = new VaeInstance(rt, mnist, adapted.task, adapted.adapters, base.task, judge, adapted.sites, scopes, { source: BASE_PATH, metadata }, opts.small ?? false, spec === null);
      // The VAE task records its evaluation lists on first use: do that now, inside a scope, so destroy() frees them too.
      const warm = rt.openScope('mnist-vae-task.eval');
      scopes.push(warm);
      try {
        await instance.warmUp();
      } finally {
        rt.closeScope(warm);
      }
      opts.onProgress?.('loading MNIST and the VAE base', 2, 2);
      return instance;
    } catch (e) {
      for (const s of scopes) s.dispose();
      throw e;
    }
  },
};

class VaeInstance implements TaskInstance {
  readonly graph: TrainGraph;
  readonly groups: LatentGroupInfo[];
  readonly parameters;
  readonly classes = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
  /** Training batches are all 3s: the window's rows carry no useful labels (label entropy comes from the held-out probe). */
  readonly statsSources: GroupStatsSource[];
  readonly ownInputKind = 'image' as const;
  private readonly viewIdx: number[];
  private readonly valIdx: number[];
  /** A labelled probe of every digit (statistics, inspection). */
  private readonly probeIdx: number[];
  private baseImages: Float32Array | null = null;
  /** The base's share of held-out 3s judged "3" (the base never changes). */
  private baseJudged: number | null = null;
  /** Contribution maps per view. */
  private readonly maps: number;

  constructor(
    private readonly rt: GpuRuntime,
    private readonly mnist: MnistSet,
    private readonly task: MnistVaeTask,
    readonly adapters: Adapter[],
    private readonly baseTask: MnistVaeTask,
    private readonly judge: DigitJudge,
    readonly sites: string[],
    private readonly scopes: AllocationScope[],
    readonly base: { source: string; metadata: Record<string, string> },
    small: boolean,
    full: boolean,
  ) {
    const B = task.vae.cfg.batch;
    this.graph = {
      ...task.graph,
      extraMetrics: [...(task.graph.extraMetrics ?? []), ...adapters.flatMap((a) => a.metrics ?? [])],
      recordAfterOptimizer: (list, sp) => adapters.forEach((a) => a.recordAfterOptimizer?.(list, sp)),
    };
    this.groups = adapterGroups(adapters);
    this.statsSources = adapterStatsSources(adapters);
    const baseCount = task.vae.parameters().reduce((s, p) => s + p.size, 0);
    this.parameters = { trainable: full ? baseCount : trainableParameterCount(adapters), base: baseCount };
    // Small (tests): one batch of view images, two maps, one probe image per digit.
    this.viewIdx = task.testIndices.slice(0, small ? Math.min(VIEW_IMAGES, B) : VIEW_IMAGES);
    this.maps = small ? 2 : VIEW_MAPS;
    const valN = Math.max(1, Math.floor((small ? B : Math.max(B, 64)) / B)) * B;
    this.valIdx = task.testIndices.slice(0, Math.min(valN, Math.floor(task.testIndices.length / B) * B));
    const perDigit = small ? 1 : 4;
    const test = splitMnist(mnist).test;
    this.probeIdx = [];
    for (let d = 0; d < 10; d++) this.probeIdx.push(...test.filter((i) => mnist.labels[i] === d).slice(0, perDigit));
  }

  /** One evaluation and one reconstruction on each model (records their lazily built lists). */
  async warmUp(): Promise<void> {
    await this.task.evaluate(this.valIdx);
    this.baseImages = (await this.baseTask.reconstruct(this.viewIdx)).recon;
  }

  private get batch(): number {
    return this.task.vae.cfg.batch;
  }

  async validate(): Promise<{ loss: number; metrics: Record<string, number> }> {
    const r = await this.task.evaluate(this.valIdx);
    return { loss: r.loss, metrics: { rec: r.rec, kl: r.kl, mse: r.mse } };
  }

  private async adaptedImages(idx: number[], o: InferenceOverrides): Promise<Float32Array> {
    return withOverrides(this.adapters, this.groups, o, async () => (await this.task.reconstruct(idx)).recon);
  }

  private image(pixels: Float32Array, i: number): Float32Array {
    return pixels.slice(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS);
  }

  /** adapted(o) − adapted(o with `unit` off) on one image, scaled to [−1, 1]. */
  private async contribution(i: number, group: number, unit: number, o: InferenceOverrides, on: Float32Array): Promise<{ map: Float32Array; size: number }> {
    const off = await this.adaptedImages([i], withUnitOff(this.groups, o, group, unit));
    const map = new Float32Array(MNIST_PIXELS);
    let max = 0;
    let size = 0;
    for (let p = 0; p < MNIST_PIXELS; p++) {
      const d = on[p]! - off[p]!;
      map[p] = d;
      max = Math.max(max, Math.abs(d));
      size += Math.abs(d);
    }
    if (max > 0) for (let p = 0; p < MNIST_PIXELS; p++) map[p] = map[p]! / max;
    return { map, size };
  }

  /** The judge's reading of `images` [n, 784]: per image 'digit (p %)', and the share read as DIGIT. */
  private async judged(images: Float32Array): Promise<{ verdicts: string[]; share: number }> {
    const { pred, probs } = await this.judge.classify(images);
    let hit = 0;
    const verdicts = Array.from(pred, (d, i) => {
      if (d === DIGIT) hit++;
      return `${d} (${(100 * probs[i * 10 + d]!).toFixed(0)} %)`;
    });
    return { verdicts, share: pred.length ? hit / pred.length : NaN };
  }

  async view(o: InferenceOverrides): Promise<TaskView> {
    const idx = this.viewIdx;
    // Contribution candidates of the first image: the units with the largest code mass on it, over all groups.
    const candidates: { group: number; unit: number; mass: number }[] = [];
    const collect = async () => {
      for (const g of this.groups) {
        if (!g.stats) continue;
        const codes = await readUnitCodes(this.rt, this.adapters[g.group]!);
        if (!codes) continue;
        const per = codes.rows / this.batch;
        const mass = new Float64Array(g.count);
        for (let row = 0; row < per; row++) codes.forEachRow(row, (u, a) => (mass[u] += Math.abs(a)));
        for (const u of topIndices(mass, this.maps)) if (mass[u]! > 0) candidates.push({ group: g.group, unit: u, mass: mass[u]! });
      }
    };
    const r = await withOverrides(this.adapters, this.groups, o, async () => {
      const rec = await this.task.reconstruct(idx);
      // One chunk: the first image's codes are rows 0… of the last forward (no extra pass).
      if (idx.length <= this.batch) await collect();
      else {
        await this.task.reconstruct([idx[0]!]);
        await collect();
      }
      return rec;
    });
    const overridden = hasOverrides(o);
    const allOn = overridden ? (await this.task.reconstruct(idx)).recon : null;
    this.baseImages ??= (await this.baseTask.reconstruct(idx)).recon;
    // The score: held-out noisy 3s decoded (z = μ) and read by the frozen classifier.
    const valAdapted = await withOverrides(this.adapters, this.groups, o, async () => (await this.task.reconstruct(this.valIdx)).recon);
    const judgedAdapted = await this.judged(valAdapted);
    const judgedAllOn = overridden ? await this.judged((await this.task.reconstruct(this.valIdx)).recon) : null;
    this.baseJudged ??= (await this.judged((await this.baseTask.reconstruct(this.valIdx)).recon)).share;
    const shownBase = await this.judged(this.baseImages);
    const shownAdapted = await this.judged(r.recon);
    const images: ImageExample[] = idx.map((i, j) => ({
      title: `a ${this.mnist.labels[i]!} (test image ${i})`,
      input: this.image(r.noisy, j),
      target: this.image(r.clean, j),
      base: this.image(this.baseImages!, j),
      adapted: this.image(r.recon, j),
      ...(allOn ? { allOn: this.image(allOn, j) } : {}),
      judged: { base: shownBase.verdicts[j]!, adapted: shownAdapted.verdicts[j]! },
    }));
    const items: UnitGallery['items'] = [];
    const first = idx[0]!;
    candidates.sort((a, b) => b.mass - a.mass);
    const on = images[0]!.adapted!;
    let total = 0;
    for (const c of candidates.slice(0, this.maps)) {
      const { map, size } = await this.contribution(first, c.group, c.unit, o, on);
      total += size;
      items.push({ group: c.group, unit: c.unit, value: size, drawable: { kind: 'image', side: MNIST_SIDE, pixels: map, signed: true } });
    }
    for (const c of items) c.value = total > 0 ? c.value / total : 0;
    items.sort((a, b) => b.value - a.value);
    return {
      kind: 'images',
      side: MNIST_SIDE,
      inputLabel: 'noisy input',
      targetLabel: 'clean',
      images,
      note: `held-out noisy ${DIGIT}s (a digit the base never saw), decoded at z = μ; under each decode, what a frozen digit classifier reads in it`,
      score: {
        label: `held-out noisy ${DIGIT}s (${this.valIdx.length}) whose decode a frozen classifier reads as "${DIGIT}"`,
        format: 'percent',
        better: 'higher',
        base: this.baseJudged,
        adapted: judgedAdapted.share,
        ...(judgedAllOn ? { allOn: judgedAllOn.share } : {}),
      },
      ...(items.length
        ? {
            units: {
              title: 'Each unit\'s contribution to the first image (red adds ink, blue removes it)',
              measure: 'share: the unit\'s part of the change the shown units make to this image (adapted output minus the output with that unit off)',
              format: 'percent' as const,
              items,
            },
          }
        : {}),
    };
  }

  /** Group `group`'s codes over the probe set, per batch chunk. */
  private async probeCodes(group: number, o: InferenceOverrides): Promise<{ start: number; count: number; codes: UnitCodes }[]> {
    const out: { start: number; count: number; codes: UnitCodes }[] = [];
    await withOverrides(this.adapters, this.groups, o, async () => {
      for (let s = 0; s < this.probeIdx.length; s += this.batch) {
        const chunk = this.probeIdx.slice(s, s + this.batch);
        await this.task.reconstruct(chunk);
        const codes = await readUnitCodes(this.rt, this.adapters[group]!);
        if (codes) out.push({ start: s, count: chunk.length, codes });
      }
    });
    return out;
  }

  async inspect(group: number, unit: number, o: InferenceOverrides): Promise<LatentInspection> {
    const info = this.groups[group]!;
    if (!info.stats) throw new ConfigError('group', `inspection applies to STAN latents and atoms; group ${group} is ${info.kind}`);
    if (!Number.isInteger(unit) || unit < 0 || unit >= info.count) throw new ConfigError('unit', `must be in 0…${info.count - 1}, got ${unit}`);
    const n = this.probeIdx.length;
    const mean = new Float64Array(n);
    let fired = 0;
    let sum = 0;
    let rows = 0;
    for (const { start, count, codes } of await this.probeCodes(group, o)) {
      const r = perExampleActivation(codes, unit, this.batch);
      const per = codes.rows / this.batch;
      for (let j = 0; j < count; j++) {
        mean[start + j] = r.mean[j]!;
        fired += r.fired[j]!;
        sum += r.mean[j]! * r.fired[j]!;
      }
      rows += count * per;
    }
    const top = topIndices(mean, 6).filter((j) => mean[j]! > 0);
    const classSum = new Float64Array(10);
    const classN = new Float64Array(10);
    this.probeIdx.forEach((i, j) => {
      const c = this.mnist.labels[i]!;
      classSum[c] += mean[j]!;
      classN[c]++;
    });
    // The unit rendered through the decoder: its contribution map on its top example.
    let decoder: LatentInspection['decoder'] = { kind: 'vector', values: await decoderColumn(this.adapters[group]!, unit) };
    if (top.length) {
      const i = this.probeIdx[top[0]!]!;
      const on = await this.adaptedImages([i], o);
      decoder = { kind: 'image', side: MNIST_SIDE, pixels: (await this.contribution(i, group, unit, o, on)).map, signed: true };
    }
    return {
      group,
      unit,
      label: info.label,
      examples: top.map((j) => {
        const i = this.probeIdx[j]!;
        return { activation: mean[j]!, label: this.mnist.labels[i]!, drawable: { kind: 'image' as const, side: MNIST_SIDE, pixels: this.mnist.pixels.slice(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS) } };
      }),
      classBars: this.classes.map((label, c) => ({ label, value: classN[c]! > 0 ? classSum[c]! / classN[c]! : 0 })),
      decoder,
      frequency: rows ? fired / rows : 0,
      meanActivation: fired ? sum / fired : 0,
    };
  }

  async latentStats(group: number, step: number): Promise<LatentStatsSnapshot | null> {
    const info = this.groups[group];
    if (!info?.stats) return null;
    const chunks = await this.probeCodes(group, {});
    const per = chunks[0]!.codes.rows / this.batch;
    const labels: number[] = [];
    const rowOf: { chunk: number; row: number }[] = [];
    chunks.forEach((c, ci) => {
      for (let j = 0; j < c.count; j++) {
        for (let t = 0; t < per; t++) {
          labels.push(this.mnist.labels[this.probeIdx[c.start + j]!]!);
          rowOf.push({ chunk: ci, row: j * per + t });
        }
      }
    });
    return snapshotFromCodes(info.count, rowOf.length, (r, emit) => chunks[rowOf[r]!.chunk]!.codes.forEachRow(rowOf[r]!.row, emit), { step, labels, classes: 10, mode: 'abs' });
  }

  async identifiability(group: number): Promise<IdentifiabilityReport | null> {
    return stanReport(this.rt, this.adapters[group]);
  }

  /** The labelled probe (every digit), per decoder token: the 7×7 patches after any lead tokens. */
  async unitActivations(group: number, o: InferenceOverrides): Promise<UnitActivationSet> {
    const info = this.groups[group];
    if (!info?.stats) throw new ConfigError('group', `inspection applies to STAN latents and atoms; group ${group} is ${info?.kind ?? 'missing'}`);
    const chunks = await this.probeCodes(group, o);
    const per = chunks.length ? chunks[0]!.codes.rows / this.batch : 1;
    const n = this.probeIdx.length;
    const acts = new Float32Array(n * per * info.count);
    const mode = activationMode(this.adapters[group]!);
    for (const { start, count, codes } of chunks) fillActivations(codes, acts, start, count, per, mode);
    const grid = 4;
    const layout: PositionLayout = per >= grid * grid ? { kind: 'patches', side: MNIST_SIDE, patch: MNIST_SIDE / grid, grid, offset: per - grid * grid } : { kind: 'tokens' };
    return {
      set: 'held-out digits 0–9',
      examples: n,
      positions: per,
      units: info.count,
      acts,
      labels: this.probeIdx.map((i) => this.mnist.labels[i]!),
      classes: this.classes,
      layout,
      drawable: (e) => {
        const i = this.probeIdx[e]!;
        return { kind: 'image', side: MNIST_SIDE, pixels: this.mnist.pixels.slice(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS) };
      },
    };
  }

  /** Pixel MSE of the view images' reconstructions against the clean digits; outputs: the reconstructions. */
  async viewOutputs(o: InferenceOverrides): Promise<ViewOutputs> {
    const r = await withOverrides(this.adapters, this.groups, o, () => this.task.reconstruct(this.viewIdx));
    let se = 0;
    const n = this.viewIdx.length * MNIST_PIXELS;
    for (let p = 0; p < n; p++) se += (r.recon[p]! - r.clean[p]!) ** 2;
    return {
      lossName: 'pixel MSE',
      loss: se / n,
      examples: this.viewIdx.map((i, j) => ({ output: this.image(r.recon, j), render: { kind: 'image' as const, side: MNIST_SIDE }, label: `digit ${this.mnist.labels[i]}` })),
    };
  }

  /** A drawn (or edited) 28×28 image as the input: base and adapted reconstructions and the latents that fire on it. */
  async ownInput(input: OwnInput, o: InferenceOverrides): Promise<OwnInputResult> {
    if (input.kind !== 'image') throw new ConfigError('input.kind', `the MNIST-VAE task takes an image, got '${input.kind}'`);
    if (input.side !== MNIST_SIDE || input.pixels.length !== MNIST_PIXELS) throw new ConfigError('input.pixels', `needs a ${MNIST_SIDE}×${MNIST_SIDE} image (${MNIST_PIXELS} values), got side ${input.side} with ${input.pixels.length} values`);
    const px = Float32Array.from(input.pixels, (v) => (Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0));
    const describe = (img: Float32Array) => {
      let se = 0;
      for (let p = 0; p < MNIST_PIXELS; p++) se += (img[p]! - px[p]!) ** 2;
      return `pixel MSE to your drawing ${(se / MNIST_PIXELS).toPrecision(3)}`;
    };
    const base = await this.baseTask.reconstructPixels(px, 1);
    const firing: OwnInputResult['firing'] = [];
    let per = 1;
    const adapted = await withOverrides(this.adapters, this.groups, o, async () => {
      const img = await this.task.reconstructPixels(px, 1);
      for (const g of this.groups) {
        if (!g.stats) continue;
        const codes = await readUnitCodes(this.rt, this.adapters[g.group]!);
        if (!codes) continue;
        // The layout is the first group's (the page draws where its strongest unit fires).
        if (!firing.length) per = codes.rows / this.batch;
        firing.push({ group: g.group, units: firingUnits(codes, codes.rows / this.batch, activationMode(this.adapters[g.group]!)) });
      }
      return img;
    });
    const grid = 4;
    const layout: PositionLayout = per >= grid * grid ? { kind: 'patches', side: MNIST_SIDE, patch: MNIST_SIDE / grid, grid, offset: per - grid * grid } : { kind: 'tokens' };
    return {
      input: { kind: 'image', side: MNIST_SIDE, pixels: px },
      base: { kind: 'image', side: MNIST_SIDE, pixels: base },
      adapted: { kind: 'image', side: MNIST_SIDE, pixels: adapted },
      summary: { base: describe(base), adapted: describe(adapted) },
      firing,
      layout,
    };
  }

  destroy(): void {
    // Adapters keep scopes of their own (nested ones are not in ours); releases are idempotent.
    for (const a of this.adapters) a.destroy();
    for (const s of this.scopes.splice(0)) s.dispose();
  }
}
