/**
 * Training and evaluating a digit classifier — the MLP (src/models/digit-classifier.ts) or the
 * CNN (src/models/digit-cnn.ts, `model.kind: 'cnn'`) — on all ten MNIST digits: softmax
 * cross-entropy with an accuracy metric, batches from splitMnist's train split.
 *
 * Batches: epoch e visits the train split in a Fisher–Yates order seeded by (seed, e); step s
 * takes batch s mod ⌊n/B⌋ of epoch ⌊s/⌊n/B⌋⌋. Augmentation (documented choice): each training
 * image is shifted by a random integer offset in [−shift, shift]² (zero fill), drawn from a
 * stream seeded by (seed, step) — a pure function of the step. Shifts are what an MLP lacks most
 * (it has no translation invariance), and they make it tolerant of the slightly off-centre,
 * blurry digits a VAE decodes. Evaluation uses the test split unshifted.
 */
import { ConfigError } from '../engine/errors';
import { ParamPack } from '../engine/param-pack';
import { mixSeed, Rng } from '../engine/rng';
import { CommandList, type GpuRuntime } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { recordSoftmaxCrossEntropy } from '../kernels/loss';
import { DIGIT_CLASSIFIER_BASE_CONFIG, DigitClassifier, DigitClassifierRunner, type ClassifierModel, type DigitClassifierConfig } from '../models/digit-classifier';
import { DigitCnn, type DigitCnnConfig } from '../models/digit-cnn';
import type { BuildContext } from '../nn/module';
import type { TrainGraph } from '../train/trainer';
import { MNIST_PIXELS, MNIST_SIDE, splitMnist, type MnistSet } from '../data/mnist';
import { EpochOrder } from '../data/epoch-order';

export interface DigitClassifierTaskConfig {
  model: DigitClassifierConfig | DigitCnnConfig;
  /** Maximum random shift in pixels (0 = no augmentation). */
  shift: number;
  seed: number;
  splitSeed?: number;
}

export const DIGIT_CLASSIFIER_DEFAULTS: DigitClassifierTaskConfig = { model: DIGIT_CLASSIFIER_BASE_CONFIG, shift: 2, seed: 1 };

/** Images of the test split (its first ones) whose accuracy a checkpoint records and the tests reproduce. */
export const CLASSIFIER_CHECK_IMAGES = 512;

export interface ClassifierEvalResult {
  images: number;
  accuracy: number;
  /** Accuracy per true digit 0–9 (NaN for a digit absent from the set). */
  perDigit: number[];
  /** Images per true digit. */
  counts: number[];
  /** confusion[true][pred] */
  confusion: number[][];
}

export interface DigitClassifierTask {
  readonly cfg: DigitClassifierTaskConfig;
  readonly model: ClassifierModel;
  readonly graph: TrainGraph;
  readonly packs: { trainable: ParamPack; frozen: ParamPack };
  readonly trainIndices: number[];
  readonly testIndices: number[];
  readonly accuracy: Tensor;
  /** Accuracy (and per-digit accuracy) on data-set images `indices` (default: the test split). */
  evaluate(indices?: readonly number[]): Promise<ClassifierEvalResult>;
  /** The batched GPU classifier on this model. */
  runner(): DigitClassifierRunner;
  destroy(): void;
}

/** Copies a 28×28 image shifted by (dx, dy) into out[at…] (pixels shifted out are dropped, zeros shifted in). */
export function shiftImage(src: ArrayLike<number>, out: Float32Array, at: number, dx: number, dy: number): void {
  const S = MNIST_SIDE;
  for (let y = 0; y < S; y++) {
    const sy = y - dy;
    for (let x = 0; x < S; x++) {
      const sx = x - dx;
      out[at + y * S + x] = sy >= 0 && sy < S && sx >= 0 && sx < S ? src[sy * S + sx]! : 0;
    }
  }
}

export function buildDigitClassifierTask(
  rt: GpuRuntime,
  mnist: MnistSet,
  cfg: DigitClassifierTaskConfig,
  opts: { name?: string; configure?: (ctx: BuildContext, model: ClassifierModel) => void } = {},
): DigitClassifierTask {
  if (!Number.isInteger(cfg.shift) || cfg.shift < 0 || cfg.shift > 8) throw new ConfigError('shift', `must be an integer in 0..8, got ${cfg.shift}`);
  if (cfg.model.pixels !== MNIST_PIXELS) throw new ConfigError('model.pixels', `MNIST images have ${MNIST_PIXELS} pixels, got ${cfg.model.pixels}`);
  if (cfg.model.classes !== 10) throw new ConfigError('model.classes', `MNIST has 10 classes, got ${cfg.model.classes}`);
  const name = opts.name ?? 'classifier';
  const trainable = new ParamPack(rt, name, true);
  const frozen = new ParamPack(rt, `${name}.frozen`, false);
  const ctx: BuildContext = { rt, trainable, frozen, rng: new Rng(cfg.seed) };
  const model: ClassifierModel = 'kind' in cfg.model && cfg.model.kind === 'cnn' ? new DigitCnn(ctx, name, cfg.model) : new DigitClassifier(ctx, name, cfg.model as DigitClassifierConfig);
  opts.configure?.(ctx, model);
  trainable.finalize();
  frozen.finalize();

  const { batch } = cfg.model;
  const N = MNIST_PIXELS;
  const split = splitMnist(mnist, cfg.splitSeed ?? 2024);
  const trainIndices = split.train;
  const testIndices = split.test;
  const batchesPerEpoch = Math.floor(trainIndices.length / batch);
  if (batchesPerEpoch < 1) throw new ConfigError('model.batch', `${batch} exceeds the ${trainIndices.length} training images`);

  const labels = rt.tensor([batch], `${name}.labels`);
  const lossValue = rt.tensor([1], `${name}.loss`);
  const accuracy = rt.tensor([1], `${name}.accuracy`);
  const forward = new CommandList(`${name}.forward`);
  const loss = new CommandList(`${name}.loss`);
  const backward = new CommandList(`${name}.backward`);
  model.recordForward(forward);
  recordSoftmaxCrossEntropy(rt, loss, { logits: model.logits.value, labels, grad: model.logits.grad!, loss: lossValue, accuracy, rows: batch, classes: cfg.model.classes });
  model.recordBackward(backward);

  const xHost = new Float32Array(batch * N);
  const yHost = new Float32Array(batch);
  const order = new EpochOrder(trainIndices, cfg.seed, batch);
  const image = (i: number) => mnist.pixels.subarray(i * N, (i + 1) * N);

  const graph: TrainGraph = {
    packs: [trainable],
    forward,
    loss,
    backward,
    lossValue,
    extraMetrics: [{ name: 'accuracy', tensor: accuracy }],
    loadBatch(step) {
      const rng = new Rng(mixSeed(cfg.seed, step, 11));
      for (let b = 0; b < batch; b++) {
        const idx = order.at(step, b);
        const s = cfg.shift;
        const dx = s ? rng.int(2 * s + 1) - s : 0;
        const dy = s ? rng.int(2 * s + 1) - s : 0;
        shiftImage(image(idx), xHost, b * N, dx, dy);
        yHost[b] = mnist.labels[idx]!;
      }
      rt.write(model.input.value, xHost);
      rt.write(labels, yHost);
    },
  };

  let runner: DigitClassifierRunner | null = null;
  const getRunner = () => (runner ??= new DigitClassifierRunner(rt, model));

  return {
    cfg,
    model,
    graph,
    packs: { trainable, frozen },
    trainIndices,
    testIndices,
    accuracy,
    runner: getRunner,
    async evaluate(indices = testIndices) {
      const imgs = new Float32Array(indices.length * N);
      indices.forEach((i, k) => imgs.set(image(i), k * N));
      const { pred } = await getRunner().classify(imgs, indices.length);
      return classificationReport(pred, indices.map((i) => mnist.labels[i]!));
    },
    destroy() {
      trainable.destroy();
      frozen.destroy();
    },
  };
}

/** Accuracy, per-digit accuracy and the confusion matrix of predictions against labels. */
export function classificationReport(pred: ArrayLike<number>, labels: ArrayLike<number>): ClassifierEvalResult {
  const confusion = Array.from({ length: 10 }, () => new Array<number>(10).fill(0));
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    const t = labels[i]!;
    const p = pred[i]!;
    confusion[t]![p]!++;
    if (t === p) correct++;
  }
  const counts = confusion.map((row) => row.reduce((a, b) => a + b, 0));
  const perDigit = confusion.map((row, d) => (counts[d]! ? row[d]! / counts[d]! : NaN));
  return { images: labels.length, accuracy: labels.length ? correct / labels.length : NaN, perDigit, counts, confusion };
}
