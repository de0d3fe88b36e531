/**
 * The CNN digit judge: GPU gradients of the cross-entropy vs float64 finite differences of a CPU
 * reference built from direct convolutions (no im2col), and config validation.
 */
import { describe, expect, it } from 'vitest';
import { ParamPack } from '../src/engine/param-pack';
import { Rng } from '../src/engine/rng';
import { CommandList, type GpuRuntime } from '../src/engine/runtime';
import { conv2dCpu } from '../src/kernels/conv';
import { geluCpu } from '../src/kernels/elementwise';
import { recordSoftmaxCrossEntropy, softmaxCrossEntropyCpu } from '../src/kernels/loss';
import { CNN_KERNEL, DigitCnn, DIGIT_CNN_BASE_CONFIG, validateCnnConfig, type DigitCnnConfig } from '../src/models/digit-cnn';
import { linearForward, type Params64 } from '../src/nn/reference';
import { checkGradient } from './helpers/finite-diff';
import { randomArray, testRuntime } from './helpers/gpu';

const TINY: DigitCnnConfig = { kind: 'cnn', batch: 2, side: 7, pixels: 49, channels: [3, 4], strides: [1, 2], classes: 3 };

function cnnLogitsCpu(p: Params64, cfg: DigitCnnConfig, x: Float64Array, name = 'cnn'): Float64Array {
  let h = x;
  let side = cfg.side;
  let cin = 1;
  cfg.channels.forEach((cout, i) => {
    const s = { batch: cfg.batch, height: side, width: side, channels: cin, kernelH: CNN_KERNEL, kernelW: CNN_KERNEL, stride: cfg.strides[i]!, pad: 1 };
    h = geluCpu(conv2dCpu(h, p.get(`${name}.conv${i}.weight`)!, p.get(`${name}.conv${i}.bias`)!, s, cout));
    side = Math.floor((side + 2 - CNN_KERNEL) / cfg.strides[i]!) + 1;
    cin = cout;
  });
  return linearForward(p, `${name}.fc`, h, cfg.batch, side * side * cin, cfg.classes);
}

function build(rt: GpuRuntime, cfg: DigitCnnConfig, seed = 1) {
  const trainable = new ParamPack(rt, 'cnn', true);
  const frozen = new ParamPack(rt, 'cnn.frozen', false);
  const model = new DigitCnn({ rt, trainable, frozen, rng: new Rng(seed) }, 'cnn', cfg);
  trainable.finalize();
  frozen.finalize();
  return { trainable, model };
}

describe('CNN digit classifier', () => {
  it('GPU loss and every parameter gradient match float64 finite differences of the CPU loss (≤ 1e-3)', async () => {
    const rt = await testRuntime();
    const { trainable, model } = build(rt, TINY, 3);
    const x = randomArray(TINY.batch * TINY.pixels, 5, 0, 1);
    const labels = Float32Array.from([2, 0]);
    rt.write(model.input.value, x);
    const lab = rt.tensor([2], 'labels', labels);
    const loss = rt.tensor([1], 'loss');
    const list = new CommandList('step');
    list.push(trainable.zeroGradOp());
    model.recordForward(list);
    recordSoftmaxCrossEntropy(rt, list, { logits: model.logits.value, labels: lab, grad: model.logits.grad!, loss, rows: 2, classes: 3 });
    model.recordBackward(list);
    rt.submit([list]);
    const p: Params64 = new Map([...(await trainable.readAll())].map(([k, v]) => [k, Float64Array.from(v)]));
    const x64 = Float64Array.from(x);
    const L = () => softmaxCrossEntropyCpu(cnnLogitsCpu(p, TINY, x64), labels, 2, 3).loss;
    expect(Math.abs((await rt.read(loss))[0]! - L())).toBeLessThan(1e-5);
    const names = model.parameters().map((r) => r.name);
    expect(names).toEqual(['cnn.conv0.weight', 'cnn.conv0.bias', 'cnn.conv1.weight', 'cnn.conv1.bias', 'cnn.fc.weight', 'cnn.fc.bias']);
    for (const ref of model.parameters()) expect(checkGradient(L, p.get(ref.name)!, await rt.read(ref.grad)), ref.name).toBeLessThan(1e-3);
  });

  it('the default shape: 28×28 → 28×28×16 → 14×14×32 → 7×7×64 → 10, 54,666 parameters', async () => {
    const rt = await testRuntime();
    const { model } = build(rt, { ...DIGIT_CNN_BASE_CONFIG, batch: 2 });
    expect(model.convs.map((c) => [c.outHeight, c.outWidth, c.opts.outChannels])).toEqual([
      [28, 28, 16],
      [14, 14, 32],
      [7, 7, 64],
    ]);
    expect(model.parameters().reduce((s, p) => s + p.size, 0)).toBe(54_666);
  });

  it('rejects inconsistent configs by field', () => {
    expect(() => validateCnnConfig({ ...TINY, pixels: 50 })).toThrow(/pixels/);
    expect(() => validateCnnConfig({ ...TINY, strides: [1] })).toThrow(/strides/);
    expect(() => validateCnnConfig({ ...TINY, channels: [] })).toThrow(/channels/);
  });
});
