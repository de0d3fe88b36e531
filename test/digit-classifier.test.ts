/**
 * The MLP digit classifier: GPU gradients vs float64 finite differences of a CPU reference, the
 * batched GPU classify path, classification of images already on the GPU, an in-process
 * pretrain → save → load round trip, and the shipped checkpoint (accuracy on a fixed test subset
 * ≥ its recorded value − 2 %, full-size test accuracy ≥ 95 %, wrong shapes rejected by name).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ParamPack } from '../src/engine/param-pack';
import { Rng } from '../src/engine/rng';
import { CommandList, type GpuRuntime } from '../src/engine/runtime';
import { geluCpu } from '../src/kernels/elementwise';
import { recordSoftmaxCrossEntropy, softmaxCrossEntropyCpu } from '../src/kernels/loss';
import { softmaxArgmaxCpu } from '../src/kernels/softmax-rows';
import {
  classifierConfigFromMetadata,
  DigitClassifier,
  DigitClassifierRunner,
  loadClassifierCheckpoint,
  type DigitClassifierConfig,
} from '../src/models/digit-classifier';
import { linearForward, type Params64 } from '../src/nn/reference';
import { pretrainClassifier } from '../src/experiments/pretrain';
import { buildDigitClassifierTask, CLASSIFIER_CHECK_IMAGES, DIGIT_CLASSIFIER_DEFAULTS, shiftImage } from '../src/tasks/digit-classifier';
import { splitMnist } from '../src/data/mnist';
import { loadMnistNode } from '../src/data/mnist-node';
import { baseCheckpointMetadata } from '../src/io/base-checkpoint';
import { checkGradient } from './helpers/finite-diff';
import { maxRelError, randomArray, testRuntime } from './helpers/gpu';

const SHIPPED = 'public/checkpoints/digit-classifier.safetensors';
const TINY: DigitClassifierConfig = { batch: 3, pixels: 12, hidden: [6, 5], classes: 4 };

function logitsCpu(p: Params64, cfg: DigitClassifierConfig, x: Float64Array): Float64Array {
  let h = x;
  let inDim = cfg.pixels;
  cfg.hidden.forEach((w, i) => {
    h = geluCpu(linearForward(p, `clf.fc${i}`, h, cfg.batch, inDim, w));
    inDim = w;
  });
  return linearForward(p, `clf.fc${cfg.hidden.length}`, h, cfg.batch, inDim, cfg.classes);
}

function build(rt: GpuRuntime, cfg: DigitClassifierConfig, seed = 1, name = 'clf') {
  const trainable = new ParamPack(rt, name, true);
  const frozen = new ParamPack(rt, `${name}.frozen`, false);
  const model = new DigitClassifier({ rt, trainable, frozen, rng: new Rng(seed) }, name, cfg);
  trainable.finalize();
  frozen.finalize();
  return { trainable, frozen, model };
}

async function params64(pack: ParamPack): Promise<Params64> {
  return new Map([...(await pack.readAll())].map(([k, v]) => [k, Float64Array.from(v)]));
}

describe('digit classifier (tiny shapes)', () => {
  it('GPU gradients of the cross-entropy match float64 finite differences (≤ 1e-3)', async () => {
    const rt = await testRuntime();
    const { trainable, model } = build(rt, TINY);
    const x = randomArray(TINY.batch * TINY.pixels, 1, 0, 1);
    const labels = Float32Array.from([2, 0, 3]);
    rt.write(model.input.value, x);
    const lab = rt.tensor([3], 'labels', labels);
    const loss = rt.tensor([1], 'loss');
    const list = new CommandList('step');
    list.push(trainable.zeroGradOp());
    model.recordForward(list);
    recordSoftmaxCrossEntropy(rt, list, { logits: model.logits.value, labels: lab, grad: model.logits.grad!, loss, rows: 3, classes: 4 });
    model.recordBackward(list);
    rt.submit([list]);
    const p = await params64(trainable);
    const x64 = Float64Array.from(x);
    const L = () => softmaxCrossEntropyCpu(logitsCpu(p, TINY, x64), labels, 3, 4).loss;
    expect(Math.abs((await rt.read(loss))[0]! - L())).toBeLessThan(1e-5);
    for (const ref of model.parameters()) {
      const err = checkGradient(L, p.get(ref.name)!, await rt.read(ref.grad));
      expect(err, ref.name).toBeLessThan(1e-3);
    }
  });

  it('classify(images) returns the CPU softmax and argmax, in chunks of the batch', async () => {
    const rt = await testRuntime();
    const { trainable, model } = build(rt, TINY, 4);
    const runner = new DigitClassifierRunner(rt, model);
    const imgs = randomArray(7 * TINY.pixels, 2, 0, 1); // 7 images → 3 chunks of 3
    const { pred, probs } = await runner.classify(imgs);
    const p = await params64(trainable);
    const padded = new Float64Array(9 * TINY.pixels);
    padded.set(imgs);
    const want = [0, 1, 2].flatMap((c) => {
      const r = softmaxArgmaxCpu(logitsCpu(p, TINY, padded.subarray(c * 3 * TINY.pixels, (c + 1) * 3 * TINY.pixels)), 3, 4);
      return [...Array(3).keys()].map((i) => ({ pred: r.pred[i]!, probs: Array.from(r.probs.subarray(i * 4, i * 4 + 4)) }));
    });
    expect(Array.from(pred)).toEqual(want.slice(0, 7).map((w) => w.pred));
    expect(maxRelError(probs, want.slice(0, 7).flatMap((w) => w.probs))).toBeLessThan(1e-5);
  });

  it('recordClassify reads images already on the GPU (a copy in the same list)', async () => {
    const rt = await testRuntime();
    const { model } = build(rt, TINY, 6);
    const imgs = randomArray(3 * TINY.pixels, 9, 0, 1);
    const src = rt.tensor([3, TINY.pixels], 'decoded', imgs);
    const list = new CommandList('chain');
    model.recordClassify(list, src);
    rt.submit([list]);
    const viaGpu = await rt.read(model.pred);
    const viaHost = await new DigitClassifierRunner(rt, model).classify(imgs);
    expect(Array.from(viaGpu)).toEqual(Array.from(viaHost.pred));
    expect(() => model.recordClassify(new CommandList('x'), src, 4)).toThrow(/rows=4/);
  });

  it('shiftImage moves pixels and fills zeros', () => {
    const src = new Float32Array(784);
    src[5 * 28 + 7] = 1;
    const out = new Float32Array(784);
    shiftImage(src, out, 0, 2, -1);
    expect(out[4 * 28 + 9]).toBe(1);
    expect(out.reduce((a, b) => a + b, 0)).toBe(1);
  });

  it('pretrain → checkpoint bytes → load: metadata and a frozen copy that predicts the same', async () => {
    const rt = await testRuntime();
    const mnist = loadMnistNode();
    const { bytes, metadata } = await pretrainClassifier(rt, mnist, { steps: 5, lr: 2e-3, seed: 1, quick: true });
    for (const k of ['model', 'config', 'steps', 'seconds', 'train_final', 'test', 'check']) expect(metadata[k], k).toBeDefined();
    expect(metadata.steps).toBe('5');
    const cfg = classifierConfigFromMetadata(baseCheckpointMetadata(bytes));
    expect(cfg).toEqual(DIGIT_CLASSIFIER_DEFAULTS.model);
    const frozen = new ParamPack(rt, 'f', false);
    const model = new DigitClassifier({ rt, trainable: new ParamPack(rt, 't', true), frozen, rng: new Rng(99) }, 'classifier', { ...cfg, frozen: true });
    frozen.finalize();
    loadClassifierCheckpoint(bytes, model);
    const test = JSON.parse(metadata.check!) as { images: number; accuracy: number };
    const split = splitMnist(mnist).test.slice(0, CLASSIFIER_CHECK_IMAGES);
    const imgs = new Float32Array(split.length * 784);
    split.forEach((i, k) => imgs.set(mnist.pixels.subarray(i * 784, (i + 1) * 784), k * 784));
    const { pred } = await new DigitClassifierRunner(rt, model).classify(imgs);
    const acc = split.filter((i, k) => pred[k] === mnist.labels[i]).length / split.length;
    expect(acc).toBeCloseTo(test.accuracy, 4);
  });
});

describe('shipped digit-classifier checkpoint', () => {
  const bytes = new Uint8Array(readFileSync(SHIPPED));
  const meta = baseCheckpointMetadata(bytes);

  it('loads into a frozen classifier and reproduces its recorded accuracy (≥ recorded − 2 %)', async () => {
    const rt = await testRuntime();
    const mnist = loadMnistNode();
    const cfg = classifierConfigFromMetadata(meta);
    const task = buildDigitClassifierTask(rt, mnist, { ...DIGIT_CLASSIFIER_DEFAULTS, model: { ...cfg, frozen: true } });
    expect(task.packs.trainable.params.length).toBe(0);
    loadClassifierCheckpoint(bytes, task.model);
    const recorded = JSON.parse(meta.check!) as { images: number; accuracy: number };
    const full = JSON.parse(meta.test!) as { accuracy: number; perDigit: number[] };
    expect(full.accuracy).toBeGreaterThanOrEqual(0.95);
    const ev = await task.evaluate(task.testIndices.slice(0, CLASSIFIER_CHECK_IMAGES));
    expect(ev.images).toBe(recorded.images);
    expect(ev.accuracy).toBeGreaterThanOrEqual(recorded.accuracy - 0.02);
    task.destroy();
  });

  it('a classifier of another shape is rejected, naming the tensor', async () => {
    const rt = await testRuntime();
    const { model } = build(rt, { ...DIGIT_CLASSIFIER_DEFAULTS.model, hidden: [200, 128] }, 1, 'classifier');
    expect(() => loadClassifierCheckpoint(bytes, model)).toThrow(/'classifier\.fc0\.weight' has shape \[256,784\], the model needs \[200,784\]/);
  });
});
