/**
 * A small convolutional digit classifier — the second, independent judge of decoded digits
 * (the first is the MLP in digit-classifier.ts). 3×3 convolutions on NHWC activations
 * (src/nn/conv2d.ts: im2col + matmul), GELU after each, the last feature map flattened into a
 * Linear to the class logits. Default shape: 28×28×1 → conv 16 (stride 1) → conv 32 (stride 2,
 * 14×14) → conv 64 (stride 2, 7×7) → Linear(3,136 → 10); 54,666 parameters. Convolutions share
 * weights over positions, so it tolerates small shifts and strokes of different thickness in a
 * way the pixel MLP does not: where the two judges disagree about a decoded digit, it says the
 * image is ambiguous, not that one judge is right.
 *
 * Same surface as DigitClassifier (input, logits, probs, pred, recordForward/Backward/Predict/
 * Classify), so DigitClassifierRunner, the classifier task and the judges run either model.
 *
 * Parameter names: `${name}.conv{i}.weight` [Cout, 3, 3, Cin] flattened, `${name}.conv{i}.bias`,
 * `${name}.fc.weight|bias`.
 */
import { ConfigError } from '../engine/errors';
import { loadBaseCheckpoint } from '../io/base-checkpoint';
import type { ParamRef } from '../engine/param-pack';
import type { CommandList } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { recordGeluBackward, recordGeluForward } from '../kernels/elementwise';
import { recordSoftmaxArgmax } from '../kernels/softmax-rows';
import { Conv2d } from '../nn/conv2d';
import { Linear } from '../nn/linear';
import type { Activation, BuildContext } from '../nn/module';
import type { ClassifierModel } from './digit-classifier';

export interface DigitCnnConfig {
  kind: 'cnn';
  batch: number;
  /** Image side (28); `pixels` = side². */
  side: number;
  pixels: number;
  /** Output channels of each 3×3 convolution (padding 1). */
  channels: number[];
  /** Stride of each convolution. */
  strides: number[];
  classes: number;
  frozen?: boolean;
}

export const DIGIT_CNN_BASE_CONFIG: DigitCnnConfig = { kind: 'cnn', batch: 64, side: 28, pixels: 784, channels: [16, 32, 64], strides: [1, 2, 2], classes: 10 };

export const CNN_SHAPE_KEYS = ['side', 'pixels', 'channels', 'strides', 'classes'] as const;

export const CNN_KERNEL = 3;

export function validateCnnConfig(cfg: DigitCnnConfig): void {
  if (cfg.kind !== 'cnn') throw new ConfigError('classifier.kind', `must be 'cnn', got '${String(cfg.kind)}'`);
  for (const k of ['batch', 'side', 'pixels', 'classes'] as const) {
    if (!Number.isInteger(cfg[k]) || cfg[k] < 1) throw new ConfigError(`classifier.${k}`, `must be a positive integer, got ${String(cfg[k])}`);
  }
  if (cfg.pixels !== cfg.side * cfg.side) throw new ConfigError('classifier.pixels', `must be side² = ${cfg.side * cfg.side}, got ${cfg.pixels}`);
  if (cfg.classes < 2) throw new ConfigError('classifier.classes', `needs at least 2 classes, got ${cfg.classes}`);
  const ints = (v: unknown) => Array.isArray(v) && v.length > 0 && v.every((h) => Number.isInteger(h) && h >= 1);
  if (!ints(cfg.channels)) throw new ConfigError('classifier.channels', `must be a non-empty list of positive integers, got ${JSON.stringify(cfg.channels)}`);
  if (!ints(cfg.strides) || cfg.strides.length !== cfg.channels.length) throw new ConfigError('classifier.strides', `must list one positive stride per convolution (${cfg.channels.length}), got ${JSON.stringify(cfg.strides)}`);
}

export class DigitCnn implements ClassifierModel {
  /** Images [B, pixels] in [0, 1] (= NHWC with one channel). */
  readonly input: Activation;
  readonly convs: Conv2d[] = [];
  private readonly acts: Activation[] = [];
  readonly fc: Linear;
  /** [B, classes] */
  readonly logits: Activation;
  readonly probs: Tensor;
  readonly pred: Tensor;
  private readonly ownParams: ParamRef[];

  constructor(
    private readonly ctx: BuildContext,
    readonly name: string,
    readonly cfg: DigitCnnConfig,
  ) {
    validateCnnConfig(cfg);
    const rt = ctx.rt;
    const { batch, side } = cfg;
    const frozen = cfg.frozen ?? false;
    const t0 = ctx.trainable.params.length;
    const f0 = ctx.frozen.params.length;
    this.input = { value: rt.tensor([batch, cfg.pixels], `${name}.input`), grad: null };
    let x: Activation = this.input;
    let geo = { batch, height: side, width: side };
    let cin = 1;
    cfg.channels.forEach((cout, i) => {
      const conv = new Conv2d(ctx, `${name}.conv${i}`, { inChannels: cin, outChannels: cout, kernel: CNN_KERNEL, stride: cfg.strides[i]!, pad: 1, frozen }, x, geo);
      const size = conv.out.value.size;
      const act: Activation = { value: rt.tensor([size], `${name}.gelu${i}`), grad: rt.tensor([size], `${name}.gelu${i}.grad`) };
      this.convs.push(conv);
      this.acts.push(act);
      x = act;
      geo = { batch, height: conv.outHeight, width: conv.outWidth };
      cin = cout;
    });
    const flat = geo.height * geo.width * cin;
    const flatAct: Activation = { value: x.value.view([batch, flat], `${name}.flat`), grad: x.grad!.view([batch, flat], `${name}.flat.grad`) };
    this.fc = new Linear(ctx, `${name}.fc`, { inDim: flat, outDim: cfg.classes, frozen }, flatAct, batch);
    this.logits = this.fc.out;
    this.probs = rt.tensor([batch, cfg.classes], `${name}.probs`);
    this.pred = rt.tensor([batch], `${name}.pred`);
    this.ownParams = [...ctx.trainable.params.slice(t0), ...ctx.frozen.params.slice(f0)];
  }

  parameters(): ParamRef[] {
    return this.ownParams.slice();
  }

  recordForward(list: CommandList): void {
    const rt = this.ctx.rt;
    this.convs.forEach((conv, i) => {
      conv.recordForward(list);
      recordGeluForward(rt, list, conv.out.value, this.acts[i]!.value);
    });
    this.fc.recordForward(list);
  }

  /** Needs logits.grad written (by the loss). */
  recordBackward(list: CommandList): void {
    const rt = this.ctx.rt;
    this.fc.recordBackward(list);
    for (let i = this.convs.length - 1; i >= 0; i--) {
      recordGeluBackward(rt, list, this.convs[i]!.out.value, this.acts[i]!.grad!, this.convs[i]!.out.grad!);
      this.convs[i]!.recordBackward(list);
    }
  }

  /** probs = softmax(logits), pred = argmax (after recordForward). */
  recordPredict(list: CommandList): void {
    recordSoftmaxArgmax(this.ctx.rt, list, { logits: this.logits.value, probs: this.probs, pred: this.pred, rows: this.cfg.batch, classes: this.cfg.classes });
  }

  /** Classify images already on the GPU ([≥ rows, pixels]): copy the first `rows` into the input, forward, softmax/argmax. */
  recordClassify(list: CommandList, images: Tensor, rows = this.cfg.batch): void {
    const { pixels, batch } = this.cfg;
    if (!Number.isInteger(rows) || rows < 1 || rows > batch) throw new Error(`recordClassify: rows=${rows} must be in 1..${batch}`);
    if (images.size < rows * pixels) throw new Error(`recordClassify: ${images.name} has ${images.size} values, ${rows} images need ${rows * pixels}`);
    list.push({ kind: 'copy', label: `${this.name}.load(${images.name})`, src: images.buffer, srcOffset: images.offset, dst: this.input.value.buffer, dstOffset: this.input.value.offset, size: rows * pixels * 4 });
    this.recordForward(list);
    this.recordPredict(list);
  }
}

/** The `model` metadata value of CNN classifier checkpoints. */
export const CNN_CHECKPOINT_MODEL = 'digit-cnn';

/** The CNN config stored in a checkpoint's metadata (`config` JSON holds the task config, whose `model` is the DigitCnnConfig). */
export function cnnConfigFromMetadata(metadata: Record<string, string>): DigitCnnConfig {
  if (metadata.model !== CNN_CHECKPOINT_MODEL) throw new Error(`not a digit-cnn checkpoint: model is '${metadata.model ?? '(none)'}'`);
  const cfg = JSON.parse(metadata.config ?? 'null') as { model?: DigitCnnConfig } | null;
  if (!cfg?.model) throw new Error('digit-cnn checkpoint metadata has no config.model');
  validateCnnConfig(cfg.model);
  return { ...cfg.model, channels: [...cfg.model.channels], strides: [...cfg.model.strides] };
}

/** Loads a CNN classifier checkpoint (every name and shape checked). Returns the metadata. */
export function loadCnnCheckpoint(bytes: Uint8Array, model: ClassifierModel): Record<string, string> {
  return loadBaseCheckpoint(bytes, model.parameters(), { model: CNN_CHECKPOINT_MODEL });
}
