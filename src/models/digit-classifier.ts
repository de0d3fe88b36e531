/**
 * A small MNIST digit classifier: an MLP on the 784 pixels, Linear → GELU per hidden layer, then
 * Linear → 10 logits. On SwiftShader an MLP trains to ≥ 95 % test accuracy in a few minutes,
 * where a patch transformer of similar accuracy costs several times more per step. It is the
 * frozen judge of whether decoded images look like a given digit (e.g. the atoms experiment's
 * "3"): `DigitClassifierRunner.classify(images)` and `recordClassify` (GPU, batched) give
 * predicted digits and softmax probabilities.
 *
 * Parameter names: `${name}.fc{i}.weight|bias` for i = 0 … hidden.length (the last is the output).
 */
import { ConfigError } from '../engine/errors';
import type { ParamRef } from '../engine/param-pack';
import { CommandList, type GpuRuntime } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { recordGeluBackward, recordGeluForward } from '../kernels/elementwise';
import { recordSoftmaxArgmax } from '../kernels/softmax-rows';
import { Linear } from '../nn/linear';
import type { Activation, BuildContext } from '../nn/module';
import { loadBaseCheckpoint } from '../io/base-checkpoint';

export interface DigitClassifierConfig {
  batch: number;
  /** Input pixels (784 for 28×28). */
  pixels: number;
  /** Hidden widths (each Linear → GELU). */
  hidden: number[];
  classes: number;
  frozen?: boolean;
}

export const DIGIT_CLASSIFIER_BASE_CONFIG: DigitClassifierConfig = { batch: 128, pixels: 784, hidden: [256, 128], classes: 10 };

export const CLASSIFIER_SHAPE_KEYS = ['pixels', 'hidden', 'classes'] as const;

export function validateClassifierConfig(cfg: DigitClassifierConfig): void {
  for (const k of ['batch', 'pixels', 'classes'] as const) {
    if (!Number.isInteger(cfg[k]) || cfg[k] < 1) throw new ConfigError(`classifier.${k}`, `must be a positive integer, got ${String(cfg[k])}`);
  }
  if (cfg.classes < 2) throw new ConfigError('classifier.classes', `needs at least 2 classes, got ${cfg.classes}`);
  if (!Array.isArray(cfg.hidden) || cfg.hidden.some((h) => !Number.isInteger(h) || h < 1)) throw new ConfigError('classifier.hidden', `must be a list of positive integers, got ${JSON.stringify(cfg.hidden)}`);
}

/**
 * What a digit classifier offers the batched runner, the classifier task and the judges: this
 * file's MLP and the CNN of digit-cnn.ts.
 */
export interface ClassifierModel {
  readonly name: string;
  readonly cfg: { batch: number; pixels: number; classes: number };
  /** Images [B, pixels] in [0, 1]. */
  readonly input: Activation;
  /** [B, classes] */
  readonly logits: Activation;
  /** softmax(logits) [B, classes] and argmax [B] (as f32), written by recordPredict. */
  readonly probs: Tensor;
  readonly pred: Tensor;
  parameters(): ParamRef[];
  recordForward(list: CommandList): void;
  /** Needs logits.grad written (by the loss). */
  recordBackward(list: CommandList): void;
  recordPredict(list: CommandList): void;
  /** Classify images already on the GPU ([≥ rows, pixels]): copy into the input, forward, predict; no readback. */
  recordClassify(list: CommandList, images: Tensor, rows?: number): void;
}

export class DigitClassifier implements ClassifierModel {
  /** Images [B, pixels] in [0, 1]. */
  readonly input: Activation;
  readonly layers: Linear[] = [];
  private readonly acts: Activation[] = [];
  /** [B, classes] */
  readonly logits: Activation;
  /** softmax(logits) [B, classes], written by recordPredict. */
  readonly probs: Tensor;
  /** argmax per row [B] (as f32), written by recordPredict. */
  readonly pred: Tensor;
  private readonly ownParams: ParamRef[];

  constructor(
    private readonly ctx: BuildContext,
    readonly name: string,
    readonly cfg: DigitClassifierConfig,
  ) {
    validateClassifierConfig(cfg);
    const rt = ctx.rt;
    const { batch } = cfg;
    const frozen = cfg.frozen ?? false;
    const t0 = ctx.trainable.params.length;
    const f0 = ctx.frozen.params.length;
    this.input = { value: rt.tensor([batch, cfg.pixels], `${name}.input`), grad: null };
    let x = this.input;
    let inDim = cfg.pixels;
    cfg.hidden.forEach((h, i) => {
      const lin = new Linear(ctx, `${name}.fc${i}`, { inDim, outDim: h, frozen }, x, batch);
      const act: Activation = { value: rt.tensor([batch, h], `${name}.gelu${i}`), grad: rt.tensor([batch, h], `${name}.gelu${i}.grad`) };
      this.layers.push(lin);
      this.acts.push(act);
      x = act;
      inDim = h;
    });
    const out = new Linear(ctx, `${name}.fc${cfg.hidden.length}`, { inDim, outDim: cfg.classes, frozen }, x, batch);
    this.layers.push(out);
    this.logits = out.out;
    this.probs = rt.tensor([batch, cfg.classes], `${name}.probs`);
    this.pred = rt.tensor([batch], `${name}.pred`);
    this.ownParams = [...ctx.trainable.params.slice(t0), ...ctx.frozen.params.slice(f0)];
  }

  parameters(): ParamRef[] {
    return this.ownParams.slice();
  }

  recordForward(list: CommandList): void {
    const rt = this.ctx.rt;
    this.acts.forEach((act, i) => {
      this.layers[i]!.recordForward(list);
      recordGeluForward(rt, list, this.layers[i]!.out.value, act.value);
    });
    this.layers[this.layers.length - 1]!.recordForward(list);
  }

  /** Needs logits.grad written (by the loss). */
  recordBackward(list: CommandList): void {
    const rt = this.ctx.rt;
    this.layers[this.layers.length - 1]!.recordBackward(list);
    for (let i = this.acts.length - 1; i >= 0; i--) {
      recordGeluBackward(rt, list, this.layers[i]!.out.value, this.acts[i]!.grad!, this.layers[i]!.out.grad!);
      this.layers[i]!.recordBackward(list);
    }
  }

  /** probs = softmax(logits), pred = argmax (after recordForward). */
  recordPredict(list: CommandList): void {
    recordSoftmaxArgmax(this.ctx.rt, list, { logits: this.logits.value, probs: this.probs, pred: this.pred, rows: this.cfg.batch, classes: this.cfg.classes });
  }

  /**
   * Classify images already on the GPU (e.g. a VAE's decoded `images`, [≥ rows, pixels]): copies
   * the first `rows` (default: batch) images into the input (rows beyond keep their previous
   * contents), then forward + softmax/argmax into probs/pred. No readback.
   */
  recordClassify(list: CommandList, images: Tensor, rows = this.cfg.batch): void {
    const { pixels, batch } = this.cfg;
    if (!Number.isInteger(rows) || rows < 1 || rows > batch) throw new Error(`recordClassify: rows=${rows} must be in 1..${batch}`);
    if (images.size < rows * pixels) throw new Error(`recordClassify: ${images.name} has ${images.size} values, ${rows} images need ${rows * pixels}`);
    list.push({ kind: 'copy', label: `${this.name}.load(${images.name})`, src: images.buffer, srcOffset: images.offset, dst: this.input.value.buffer, dstOffset: this.input.value.offset, size: rows * pixels * 4 });
    this.recordForward(list);
    this.recordPredict(list);
  }
}

/** Host-facing batched inference on either classifier: images in, predicted digits and probabilities out. */
export class DigitClassifierRunner {
  readonly list = new CommandList('classify');
  private readonly host: Float32Array;

  constructor(
    private readonly rt: GpuRuntime,
    readonly model: ClassifierModel,
  ) {
    model.recordForward(this.list);
    model.recordPredict(this.list);
    this.host = new Float32Array(model.cfg.batch * model.cfg.pixels);
  }

  /** images [count, pixels] → pred [count], probs [count, classes]. Runs in chunks of the model batch. */
  async classify(images: Float32Array, count = images.length / this.model.cfg.pixels): Promise<{ pred: Int32Array; probs: Float32Array }> {
    const { batch, pixels, classes } = this.model.cfg;
    if (!Number.isInteger(count) || count < 0 || images.length < count * pixels) throw new Error(`classify: ${images.length} values do not hold ${count} images of ${pixels} pixels`);
    const pred = new Int32Array(count);
    const probs = new Float32Array(count * classes);
    for (let s = 0; s < count; s += batch) {
      const n = Math.min(batch, count - s);
      this.host.fill(0);
      this.host.set(images.subarray(s * pixels, (s + n) * pixels));
      this.rt.write(this.model.input.value, this.host);
      this.rt.submit([this.list]);
      const p = await this.rt.read(this.model.probs);
      const c = await this.rt.read(this.model.pred);
      probs.set(p.subarray(0, n * classes), s * classes);
      for (let i = 0; i < n; i++) pred[s + i] = c[i]!;
    }
    return { pred, probs };
  }
}

/** The `model` metadata value of classifier base checkpoints. */
export const CLASSIFIER_CHECKPOINT_MODEL = 'digit-classifier';

/** The classifier config stored in a checkpoint's metadata (`config` JSON holds the task config). */
export function classifierConfigFromMetadata(metadata: Record<string, string>): DigitClassifierConfig {
  if (metadata.model !== CLASSIFIER_CHECKPOINT_MODEL) throw new Error(`not a digit-classifier checkpoint: model is '${metadata.model ?? '(none)'}'`);
  const cfg = JSON.parse(metadata.config ?? 'null') as { model?: DigitClassifierConfig } | null;
  if (!cfg?.model) throw new Error('classifier checkpoint metadata has no config.model');
  validateClassifierConfig(cfg.model);
  return { ...cfg.model, hidden: [...cfg.model.hidden] };
}

/** Loads a classifier base checkpoint (every name and shape checked). Returns the metadata. */
export function loadClassifierCheckpoint(bytes: Uint8Array, model: ClassifierModel): Record<string, string> {
  return loadBaseCheckpoint(bytes, model.parameters(), { model: CLASSIFIER_CHECKPOINT_MODEL });
}
