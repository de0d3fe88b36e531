/**
 * The labelled task for STAN (STAN paper §4.3, §4.4, App. F): MNIST digits read by a small patch
 * transformer (src/models/digit-transformer.ts), pre-trained on upright digits and then frozen;
 * downstream tasks are *views* of the same digits that the base has never seen.
 *
 * Reading of the paper (documented choice): the paper fine-tunes a pre-trained language model on
 * GLUE tasks (§4.3: MNLI; §4.4: SST-2 → MNLI and back). Here the "pre-training distribution" is
 * upright digits (all ten classes) and the downstream tasks share the label space but not the
 * input distribution:
 *   task A = 'rot90' (every digit rotated 90° clockwise), task B = 'flip' (mirrored left–right).
 * The frozen base gets both mostly wrong; an adapter must re-map the features, so fine-tuning
 * is meaningful, and A → B sequential fine-tuning of one adapter measures how much learning B
 * overwrites A (the head is shared, as the label space is). Data: the seeded 80/20 split of the
 * 10,000 shipped digits (splitMnist); every task trains on the train split and is scored on the
 * test split, in its own view.
 *
 * Environment-free: data come in as bytes (`digitsDataFromBytes`: fetch in the page, fs in
 * Node), the base checkpoint as bytes. Batches are a pure function of the step: epoch e visits
 * the train split in a Fisher–Yates order seeded by (seed, e).
 *
 * App. F statistics: STAN acts per token, so a latent's activations are per (image, token) row;
 * each row carries its image's label. `latentStats` accumulates them on the GPU (LatentStats)
 * over a whole number of batches of the chosen images; `imageActivations` reads the codes back
 * and gives, per image and latent, the largest activation over the image's tokens (for
 * top-activating examples and per-class bars).
 */
import { attachAdapters, trainableParameterCount, type AdapterSpec } from '../adapters/attach';
import type { Adapter, SparseCode } from '../adapters/adapter';
import { LatentStats, type LatentStatsSnapshot } from '../analysis/latent-stats';
import { ConfigError } from '../engine/errors';
import { ParamPack } from '../engine/param-pack';
import { mixSeed, Rng } from '../engine/rng';
import { CommandList, type GpuRuntime } from '../engine/runtime';
import { StepParams } from '../engine/step-params';
import type { Tensor } from '../engine/tensor';
import { recordSoftmaxCrossEntropy } from '../kernels/loss';
import {
  DIGIT_TRANSFORMER_BASE_CONFIG,
  DIGIT_TRANSFORMER_SHAPE_KEYS,
  DigitTransformer,
  patchifyImages,
  validateDigitTransformerConfig,
  type DigitTransformerConfig,
} from '../models/digit-transformer';
import type { BuildContext } from '../nn/module';
import { baseCheckpointMetadata, loadBaseCheckpoint, saveBaseCheckpoint } from '../io/base-checkpoint';
import type { TrainGraph } from '../train/trainer';
import { MNIST_PIXELS, MNIST_SIDE, parseMnist, splitMnist, type MnistSet } from '../data/mnist';
import { EpochOrder } from '../data/epoch-order';

export const DIGIT_VIEWS = ['upright', 'rot90', 'flip'] as const;
export type DigitView = (typeof DIGIT_VIEWS)[number];

export interface DigitsTaskConfig {
  model: DigitTransformerConfig;
  /** The view the training batches show (the base: 'upright'; task A 'rot90', task B 'flip'). */
  view: DigitView;
  seed: number;
  splitSeed?: number;
  /** Train on only this many images of the train split (a fixed, seeded subset; default all): shorter epochs for the forgetting study. */
  trainLimit?: number;
  /**
   * Carve this many images out of the train split as a validation split (default 0): a fixed
   * seeded subset (the same for every training seed), never trained on; `validationIndices`.
   * Carved before `trainLimit` applies.
   */
  validation?: number;
}

export const DIGITS_DEFAULTS: DigitsTaskConfig = { model: DIGIT_TRANSFORMER_BASE_CONFIG, view: 'upright', seed: 1 };

/** The `model` metadata value of the digit-transformer base checkpoints. */
export const DIGITS_CHECKPOINT_MODEL = 'digit-transformer';
export const DIGITS_CHECKPOINT_FILE = 'digit-transformer.safetensors';
/** Test images (the first of the split) whose accuracy a checkpoint records and the tests reproduce. */
export const DIGITS_CHECK_IMAGES = 256;

/** MNIST bytes (public/data/mnist-10k.bin, fetched or read) → the data set. */
export function digitsDataFromBytes(bytes: Uint8Array): MnistSet {
  return parseMnist(bytes);
}

/** Writes image `src` (28×28) as seen in `view` into out[at…]. */
export function viewImage(src: ArrayLike<number>, view: DigitView, out: Float32Array, at = 0): void {
  const S = MNIST_SIDE;
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      // out(y, x) = src(sy, sx)
      let sy = y;
      let sx = x;
      if (view === 'rot90') {
        // rotated 90° clockwise: out(y, x) = src(S−1−x, y)
        sy = S - 1 - x;
        sx = y;
      } else if (view === 'flip') sx = S - 1 - x;
      else if (view !== 'upright') throw new ConfigError('view', `must be one of ${DIGIT_VIEWS.join(', ')}, got '${String(view)}'`);
      out[at + y * S + x] = src[sy * S + sx]!;
    }
  }
}

export interface DigitsEval {
  images: number;
  accuracy: number;
  /** Mean cross-entropy (nats). */
  loss: number;
  perDigit: number[];
}

export interface DigitsTask {
  readonly cfg: DigitsTaskConfig;
  readonly model: DigitTransformer;
  readonly graph: TrainGraph;
  readonly packs: { trainable: ParamPack; frozen: ParamPack };
  readonly adapters: Adapter[];
  readonly trainIndices: number[];
  /** The validation split carved from the train split (cfg.validation; empty by default). */
  readonly validationIndices: number[];
  readonly testIndices: number[];
  readonly batchesPerEpoch: number;
  /** Trainable parameters (the adapters' when adapted, the whole model when pre-training). */
  readonly trainableParameters: number;
  /** Changes the view of the training batches from the next loadBatch on (A → B). */
  setTrainView(view: DigitView): void;
  /** Class logits [indices.length, classes] of images `indices` in `view` (one submit and readback per batch). */
  logits(view: DigitView, indices: readonly number[]): Promise<Float32Array>;
  /** Class logits [n, classes] of raw images [n, 784] (no view applied: the pixels are what the model sees), n ≤ batch. */
  logitsOfPixels(pixels: Float32Array, n: number): Promise<Float32Array>;
  /** Accuracy and loss on `indices` (default: the test split) in `view` (default: the training view). */
  evaluate(view?: DigitView, indices?: readonly number[]): Promise<DigitsEval>;
  /**
   * App. F statistics over whole batches of `indices`, labels per token: of every k-sparse adapter
   * (with a code), or of the given `units` (e.g. a LoRA adapter's dense rank activations as a code).
   */
  latentStats(view?: DigitView, indices?: readonly number[], units?: readonly { adapter: Adapter; code: SparseCode }[]): Promise<{ adapter: Adapter; stats: LatentStatsSnapshot }[]>;
  /** Per-token labels [batch × tokens] of the batch last uploaded (training or evaluation), for statistics recorded into a step. */
  readonly tokenLabels: Tensor;
  /** Per adapter with a code: [images, l] max activation over each image's tokens (0 when never active), for the images evaluated. */
  imageActivations(view?: DigitView, indices?: readonly number[]): Promise<{ images: number[]; perAdapter: { adapter: Adapter; l: number; acts: Float32Array }[] }>;
  /** Writes the base model's parameters (checked names/shapes/config). */
  loadBase(bytes: Uint8Array): Record<string, string>;
  saveBase(metadata: Record<string, string>): Promise<Uint8Array>;
  destroy(): void;
}

export interface BuildDigitsOptions {
  /** Adapters to attach to the frozen base (the base is then frozen); none: the whole model trains. */
  adapters?: AdapterSpec[];
  /** Base checkpoint bytes to load into the model (checked). */
  base?: Uint8Array;
  name?: string;
  /** Initialisation seed of the model and adapters (default cfg.seed). */
  initSeed?: number;
}

export function buildDigitsTask(rt: GpuRuntime, mnist: MnistSet, cfg: DigitsTaskConfig, opts: BuildDigitsOptions = {}): DigitsTask {
  validateDigitTransformerConfig(cfg.model);
  if (cfg.model.side !== MNIST_SIDE) throw new ConfigError('model.side', `MNIST images are 28×28, got side ${cfg.model.side}`);
  if (cfg.model.classes !== 10) throw new ConfigError('model.classes', `MNIST has 10 classes, got ${cfg.model.classes}`);
  if (!DIGIT_VIEWS.includes(cfg.view)) throw new ConfigError('view', `must be one of ${DIGIT_VIEWS.join(', ')}, got '${String(cfg.view)}'`);
  const name = opts.name ?? 'digits';
  const adapted = (opts.adapters?.length ?? 0) > 0;
  const trainable = new ParamPack(rt, name, true);
  const frozen = new ParamPack(rt, `${name}.frozen`, false);
  const ctx: BuildContext = { rt, trainable, frozen, rng: new Rng(opts.initSeed ?? cfg.seed) };
  const model = new DigitTransformer(ctx, name, { ...cfg.model, frozen: adapted || (cfg.model.frozen ?? false) });
  const adapters: Adapter[] = [];
  for (const spec of opts.adapters ?? []) adapters.push(...attachAdapters(ctx, model.body, spec));
  trainable.finalize();
  frozen.finalize();
  const loadBase = (bytes: Uint8Array) => loadDigitsCheckpoint(bytes, model);
  if (opts.base) loadBase(opts.base);

  const { batch } = cfg.model;
  const T = model.tokens;
  const P = model.patchPixels;
  const N = MNIST_PIXELS;
  const split = splitMnist(mnist, cfg.splitSeed ?? 2024);
  const { train: carvedTrain, validation: validationIndices } = carveValidation(split.train, cfg.validation ?? 0, cfg.splitSeed ?? 2024);
  let trainIndices = carvedTrain;
  if (cfg.trainLimit !== undefined) {
    if (!Number.isInteger(cfg.trainLimit) || cfg.trainLimit < cfg.model.batch) throw new ConfigError('trainLimit', `must be an integer ≥ the batch (${cfg.model.batch}), got ${cfg.trainLimit}`);
    const pick = trainIndices.slice();
    new Rng(mixSeed(cfg.splitSeed ?? 2024, 0, 7)).shuffle(pick);
    trainIndices = pick.slice(0, cfg.trainLimit).sort((a, b) => a - b);
  }
  const testIndices = split.test;
  const batchesPerEpoch = Math.floor(trainIndices.length / batch);
  if (batchesPerEpoch < 1) throw new ConfigError('model.batch', `${batch} exceeds the ${trainIndices.length} training images`);

  const labels = rt.tensor([batch], `${name}.labels`);
  const tokenLabels = rt.tensor([batch * T], `${name}.token_labels`);
  const lossValue = rt.tensor([1], `${name}.loss`);
  const accuracy = rt.tensor([1], `${name}.accuracy`);
  const forward = new CommandList(`${name}.forward`);
  const loss = new CommandList(`${name}.loss`);
  const backward = new CommandList(`${name}.backward`);
  model.recordForward(forward);
  recordSoftmaxCrossEntropy(rt, loss, { logits: model.logits.value, labels, grad: model.logits.grad!, loss: lossValue, accuracy, rows: batch, classes: cfg.model.classes });
  model.recordBackward(backward);

  const imgHost = new Float32Array(batch * N);
  const patchHost = new Float32Array(batch * T * P);
  const yHost = new Float32Array(batch);
  const tokYHost = new Float32Array(batch * T);
  const order = new EpochOrder(trainIndices, cfg.seed, batch);
  let trainView: DigitView = cfg.view;
  const image = (i: number) => mnist.pixels.subarray(i * N, (i + 1) * N);

  /** Uploads images `idx` (≤ batch; the rest zero, label −1) in `view`. */
  const upload = (idx: readonly number[], view: DigitView) => {
    imgHost.fill(0);
    yHost.fill(-1);
    idx.forEach((i, b) => {
      viewImage(image(i), view, imgHost, b * N);
      yHost[b] = mnist.labels[i]!;
    });
    patchifyImages(imgHost, batch, MNIST_SIDE, cfg.model.patch, patchHost);
    for (let b = 0; b < batch; b++) tokYHost.fill(yHost[b]!, b * T, (b + 1) * T);
    rt.write(model.input.value, patchHost);
    rt.write(labels, yHost);
    rt.write(tokenLabels, tokYHost);
  };

  const batchIdx = new Array<number>(batch).fill(0);
  const graph: TrainGraph = {
    packs: [trainable],
    forward,
    loss,
    backward,
    lossValue,
    extraMetrics: [{ name: 'accuracy', tensor: accuracy }],
    loadBatch(step) {
      for (let b = 0; b < batch; b++) batchIdx[b] = order.at(step, b);
      upload(batchIdx, trainView);
    },
  };

  // ---- evaluation (lists recorded once, lazily) ----
  const evalList = new CommandList(`${name}.eval`);
  evalList.append(forward);
  const coded = adapters.filter((a) => a.code).map((a) => ({ adapter: a, code: a.code! }));
  // One recorded statistics list per set of units (the k-sparse adapters by default).
  const statsSets = new Map<readonly { adapter: Adapter; code: SparseCode }[], { stats: { adapter: Adapter; stats: LatentStats }[]; list: CommandList; params: StepParams }>();
  const chunks = (indices: readonly number[], whole: boolean) => {
    const out: number[][] = [];
    const n = whole ? Math.floor(indices.length / batch) * batch : indices.length;
    for (let s = 0; s < n; s += batch) out.push(indices.slice(s, Math.min(n, s + batch)));
    return out;
  };

  const task: DigitsTask = {
    cfg,
    model,
    graph,
    packs: { trainable, frozen },
    adapters,
    trainIndices,
    validationIndices,
    testIndices,
    batchesPerEpoch,
    tokenLabels,
    trainableParameters: adapted ? trainableParameterCount(adapters) : trainable.params.reduce((s, p) => s + p.size, 0),
    setTrainView(view) {
      if (!DIGIT_VIEWS.includes(view)) throw new ConfigError('view', `must be one of ${DIGIT_VIEWS.join(', ')}, got '${String(view)}'`);
      trainView = view;
    },
    async logits(view, indices) {
      const C = cfg.model.classes;
      const out = new Float32Array(indices.length * C);
      let at = 0;
      for (const idx of chunks(indices, false)) {
        upload(idx, view);
        rt.submit([evalList]);
        const lg = await rt.read(model.logits.value);
        out.set(lg.subarray(0, idx.length * C), at * C);
        at += idx.length;
      }
      return out;
    },
    async logitsOfPixels(pixels, n) {
      if (!Number.isInteger(n) || n < 1 || n > batch) throw new ConfigError('images', `1…${batch} images per call, got ${n}`);
      if (pixels.length < n * N) throw new ConfigError('pixels', `${n} images need ${n * N} pixels, got ${pixels.length}`);
      imgHost.fill(0);
      imgHost.set(pixels.subarray(0, n * N));
      yHost.fill(-1);
      patchifyImages(imgHost, batch, MNIST_SIDE, cfg.model.patch, patchHost);
      tokYHost.fill(-1);
      rt.write(model.input.value, patchHost);
      rt.write(labels, yHost);
      rt.write(tokenLabels, tokYHost);
      rt.submit([evalList]);
      return (await rt.read(model.logits.value)).slice(0, n * cfg.model.classes);
    },
    async evaluate(view = trainView, indices = testIndices) {
      const C = cfg.model.classes;
      const lg = await task.logits(view, indices);
      let correct = 0;
      let nll = 0;
      const hit = new Array<number>(C).fill(0);
      const cnt = new Array<number>(C).fill(0);
      indices.forEach((i, b) => {
        const y = mnist.labels[i]!;
        let best = 0;
        let mx = -Infinity;
        for (let c = 0; c < C; c++) if (lg[b * C + c]! > mx) ((mx = lg[b * C + c]!), (best = c));
        let se = 0;
        for (let c = 0; c < C; c++) se += Math.exp(lg[b * C + c]! - mx);
        nll += mx + Math.log(se) - lg[b * C + y]!;
        cnt[y]!++;
        if (best === y) ((correct += 1), hit[y]!++);
      });
      const n = indices.length;
      return { images: n, accuracy: n ? correct / n : NaN, loss: n ? nll / n : NaN, perDigit: hit.map((h, c) => (cnt[c] ? h / cnt[c]! : NaN)) };
    },
    async latentStats(view = trainView, indices = testIndices, units = coded) {
      if (!units.length) return [];
      let set = statsSets.get(units);
      if (!set) {
        const params = new StepParams(rt);
        const stats = units.map((u) => ({ adapter: u.adapter, stats: new LatentStats(rt, { l: u.adapter.latentCount, classes: cfg.model.classes, mode: u.adapter.kind === 'stan' && (u.adapter as { mode?: string }).mode === 'abs' ? 'abs' : 'signed', label: `${u.adapter.path}.stats` }) }));
        const list = new CommandList(`${name}.stats`);
        list.append(forward);
        units.forEach((u, i) => stats[i]!.stats.record(list, u.code, tokenLabels, params));
        set = { stats, list, params };
        statsSets.set(units, set);
      }
      for (const s of set.stats) s.stats.reset();
      let step = 0;
      for (const idx of chunks(indices, true)) {
        set.params.set({ step: step++, slot: 0, lr: 0 });
        upload(idx, view);
        rt.submit([set.list]);
      }
      return Promise.all(set.stats.map(async (s) => ({ adapter: s.adapter, stats: await s.stats.read() })));
    },
    async imageActivations(view = trainView, indices = testIndices) {
      const images = chunks(indices, false).flat();
      const perAdapter = coded.map(({ adapter: a }) => ({ adapter: a, l: a.latentCount, acts: new Float32Array(images.length * a.latentCount) }));
      let at = 0;
      for (const idx of chunks(indices, false)) {
        upload(idx, view);
        rt.submit([evalList]);
        for (const pa of perAdapter) {
          const code = pa.adapter.code!;
          const ind = new Uint32Array((await rt.read(code.indices)).buffer);
          const val = await rt.read(code.values);
          const k = code.k;
          for (let b = 0; b < idx.length; b++) {
            const base = (at + b) * pa.l;
            for (let t = 0; t < T; t++) {
              const r = b * T + t;
              for (let j = 0; j < k; j++) {
                const v = val[r * k + j]!;
                const li = ind[r * k + j]!;
                if (v > pa.acts[base + li]!) pa.acts[base + li] = v;
              }
            }
          }
        }
        at += idx.length;
      }
      return { images, perAdapter };
    },
    loadBase,
    saveBase(metadata) {
      return saveBaseCheckpoint(model.parameters(), { ...metadata, model: DIGITS_CHECKPOINT_MODEL });
    },
    destroy() {
      for (const set of statsSets.values()) for (const s of set.stats) s.stats.destroy();
      for (const a of adapters) a.destroy();
      trainable.destroy();
      frozen.destroy();
    },
  };
  return task;
}

/**
 * Splits `indices` into a validation part of `n` images (a fixed order seeded by `seed`, so every
 * training seed sees the same split) and the rest; both returned sorted. n = 0: no validation.
 */
export function carveValidation(indices: readonly number[], n: number, seed: number): { train: number[]; validation: number[] } {
  if (!Number.isInteger(n) || n < 0 || n >= indices.length) throw new ConfigError('validation', `must be an integer in [0, ${indices.length - 1}] (images carved from the ${indices.length}-image train split), got ${n}`);
  if (n === 0) return { train: indices.slice(), validation: [] };
  const order = indices.slice();
  new Rng(mixSeed(seed, 0, 17)).shuffle(order);
  return { train: order.slice(n).sort((a, b) => a - b), validation: order.slice(0, n).sort((a, b) => a - b) };
}

/**
 * `n` images of `indices` in a fixed seeded order. The shipped data are grouped by digit, so
 * "the first n test images" would be all zeros; every evaluation subset is taken from this order.
 */
export function probeIndices(indices: readonly number[], n: number, seed = 2024): number[] {
  const order = indices.slice();
  new Rng(mixSeed(seed, 0, 13)).shuffle(order);
  return order.slice(0, Math.min(n, order.length));
}

/** The `top` images (indices into `images`) with the largest activation of latent `latent`, largest first (only active ones). */
export function topActivating(acts: Float32Array, l: number, latent: number, top: number): { image: number; activation: number }[] {
  const n = acts.length / l;
  const out: { image: number; activation: number }[] = [];
  for (let i = 0; i < n; i++) {
    const a = acts[i * l + latent]!;
    if (a > 0) out.push({ image: i, activation: a });
  }
  return out.sort((x, y) => y.activation - x.activation || x.image - y.image).slice(0, top);
}

/**
 * Loads a digit-transformer base checkpoint into `model` (trainable or frozen): the shape-defining
 * config fields must agree and every parameter name and shape must match; throws
 * CheckpointMismatchError naming every mismatch at once.
 */
export function loadDigitsCheckpoint(bytes: Uint8Array, model: DigitTransformer): Record<string, string> {
  const meta = baseCheckpointMetadata(bytes);
  const problems: string[] = [];
  let stored: Partial<DigitTransformerConfig> | undefined;
  try {
    stored = (JSON.parse(meta.config ?? 'null') as { model?: Partial<DigitTransformerConfig> } | null)?.model;
  } catch {
    problems.push(`metadata 'config' is not JSON`);
  }
  if (stored) {
    for (const k of DIGIT_TRANSFORMER_SHAPE_KEYS) if (stored[k] !== undefined && stored[k] !== model.cfg[k]) problems.push(`config ${k}: the checkpoint has ${String(stored[k])}, the model ${String(model.cfg[k])}`);
  }
  return loadBaseCheckpoint(bytes, model.parameters(), { model: DIGITS_CHECKPOINT_MODEL, extraProblems: problems });
}

/** The model config stored in a digit-transformer checkpoint's metadata. */
export function digitsConfigFromMetadata(metadata: Record<string, string>): DigitTransformerConfig {
  if (metadata.model !== DIGITS_CHECKPOINT_MODEL) throw new Error(`not a ${DIGITS_CHECKPOINT_MODEL} checkpoint: model is '${metadata.model ?? '(none)'}'`);
  const cfg = JSON.parse(metadata.config ?? 'null') as { model?: DigitTransformerConfig } | null;
  if (!cfg?.model) throw new Error(`${DIGITS_CHECKPOINT_MODEL} checkpoint metadata has no config.model`);
  validateDigitTransformerConfig(cfg.model);
  return { ...cfg.model };
}
