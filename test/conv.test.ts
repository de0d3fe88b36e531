/**
 * Conv kernels (im2col / col2im) against their float64 references on awkward shapes, the
 * references against a direct convolution and against each other (col2im is im2col's adjoint),
 * and the Conv2d layer's gradients against float64 finite differences.
 */
import { describe, expect, it } from 'vitest';
import { ParamPack } from '../src/engine/param-pack';
import { Rng } from '../src/engine/rng';
import { CommandList } from '../src/engine/runtime';
import { col2imCpu, conv2dCpu, convOutSize, convPatchSize, im2colCpu, recordCol2im, recordIm2col, type ConvShape } from '../src/kernels/conv';
import { matmulCpu } from '../src/kernels/matmul';
import { Conv2d } from '../src/nn/conv2d';
import { Linear } from '../src/nn/linear';
import type { BuildContext } from '../src/nn/module';
import { checkGradient, randn64 } from './helpers/finite-diff';
import { maxRelError, randomArray, testRuntime } from './helpers/gpu';

const shape = (batch: number, height: number, width: number, channels: number, kernel: number, stride: number, pad: number, kernelW = kernel): ConvShape => ({ batch, height, width, channels, kernelH: kernel, kernelW, stride, pad });

const AWKWARD: ConvShape[] = [
  shape(2, 28, 28, 1, 3, 1, 1), // the CNN judge's first layer
  shape(3, 14, 14, 16, 3, 2, 1), // stride 2
  shape(1, 7, 5, 3, 3, 2, 0), // odd sizes, no padding, the stride does not divide
  shape(2, 5, 9, 2, 4, 3, 1, 2), // rectangular kernel, stride 3, padding
  shape(5, 1, 1, 7, 1, 1, 0), // 1×1 image, 1×1 kernel: a plain Linear
  shape(1, 6, 6, 1, 6, 1, 0), // kernel as large as the image: one output
];

describe('conv references', () => {
  it('im2col · Wᵀ + b equals a direct convolution (float64)', () => {
    for (const [i, s] of AWKWARD.entries()) {
      const cout = 3 + i;
      const x = randn64(s.batch * s.height * s.width * s.channels, 10 + i);
      const w = randn64(cout * convPatchSize(s), 20 + i);
      const b = randn64(cout, 30 + i);
      const { ho, wo } = convOutSize(s);
      const rows = s.batch * ho * wo;
      const viaCols = matmulCpu(im2colCpu(x, s), w, { M: rows, N: cout, K: convPatchSize(s), transB: true, bias: b });
      expect(maxRelError(viaCols, conv2dCpu(x, w, b, s, cout)), JSON.stringify(s)).toBeLessThan(1e-12);
    }
  });

  it('col2im is the adjoint of im2col: ⟨im2col(x), g⟩ = ⟨x, col2im(g)⟩', () => {
    for (const [i, s] of AWKWARD.entries()) {
      const x = randn64(s.batch * s.height * s.width * s.channels, 40 + i);
      const cols = im2colCpu(x, s);
      const g = randn64(cols.length, 50 + i);
      const dx = col2imCpu(g, s);
      let lhs = 0;
      let rhs = 0;
      for (let k = 0; k < cols.length; k++) lhs += cols[k]! * g[k]!;
      for (let k = 0; k < x.length; k++) rhs += x[k]! * dx[k]!;
      expect(Math.abs(lhs - rhs) / Math.max(1, Math.abs(lhs)), JSON.stringify(s)).toBeLessThan(1e-12);
    }
  });

  it('output sizes: ⌊(H + 2·pad − k)/stride⌋ + 1', () => {
    expect(convOutSize(shape(1, 28, 28, 1, 3, 1, 1))).toEqual({ ho: 28, wo: 28 });
    expect(convOutSize(shape(1, 28, 28, 1, 3, 2, 1))).toEqual({ ho: 14, wo: 14 });
    expect(convOutSize(shape(1, 14, 14, 1, 3, 2, 1))).toEqual({ ho: 7, wo: 7 });
    expect(convOutSize(shape(1, 7, 5, 1, 3, 2, 0))).toEqual({ ho: 3, wo: 2 });
  });
});

describe('conv kernels: GPU = CPU', () => {
  for (const s of AWKWARD) {
    it(`im2col and col2im (overwrite and accumulate), ${JSON.stringify(s)}`, async () => {
      const rt = await testRuntime();
      const n = s.batch * s.height * s.width * s.channels;
      const { ho, wo } = convOutSize(s);
      const m = s.batch * ho * wo * convPatchSize(s);
      const xs = randomArray(n, n + 3);
      const gs = randomArray(m, m + 5);
      const base = randomArray(n, n + 7);
      const x = rt.tensor([n], 'x', xs);
      const cols = rt.tensor([m], 'cols');
      const g = rt.tensor([m], 'g', gs);
      const dx = rt.tensor([n], 'dx');
      const acc = rt.tensor([n], 'acc', base);
      const list = new CommandList('t');
      recordIm2col(rt, list, s, x, cols);
      recordCol2im(rt, list, s, g, dx);
      recordCol2im(rt, list, s, g, acc, true);
      rt.submit([list]);
      expect(Array.from(await rt.read(cols))).toEqual(Array.from(im2colCpu(xs, s), Math.fround));
      const ref = col2imCpu(gs, s);
      expect(maxRelError(await rt.read(dx), ref)).toBeLessThan(1e-6);
      expect(maxRelError(await rt.read(acc), Float64Array.from(ref, (v, i) => v + base[i]!))).toBeLessThan(1e-6);
    });
  }

  it('rejects bad shapes and sizes with clear messages', async () => {
    const rt = await testRuntime();
    const t = (k: number) => rt.tensor([k], `t${k}`);
    expect(() => recordIm2col(rt, new CommandList('t'), shape(1, 4, 4, 1, 5, 1, 0), t(16), t(16))).toThrow(/does not fit/);
    expect(() => recordIm2col(rt, new CommandList('t'), shape(1, 4, 4, 1, 3, 1, 3), t(16), t(16))).toThrow(/pad=3 must be smaller/);
    expect(() => recordIm2col(rt, new CommandList('t'), shape(1, 4, 4, 1, 3, 0, 1), t(16), t(16))).toThrow(/stride=0/);
    expect(() => recordIm2col(rt, new CommandList('t'), shape(1, 4, 4, 1, 3, 1, 1), t(16), t(100))).toThrow(/expected 144/);
    expect(() => recordCol2im(rt, new CommandList('t'), shape(1, 4, 4, 1, 3, 1, 1), t(144), t(15))).toThrow(/expected 16/);
    const same = t(16);
    expect(() => recordCol2im(rt, new CommandList('t'), shape(4, 2, 2, 1, 1, 1, 0), same.view([16], 'a'), same.view([16], 'b'))).toThrow(/share a GPU buffer/);
  });
});

describe('Conv2d layer', () => {
  it('forward = direct convolution; dW, db and dx match float64 finite differences', async () => {
    const rt = await testRuntime();
    const geo = { batch: 2, height: 7, width: 6 };
    const cin = 3;
    const cout = 4;
    const trainable = new ParamPack(rt, 'c', true);
    const frozen = new ParamPack(rt, 'c.f', false);
    const ctx: BuildContext = { rt, trainable, frozen, rng: new Rng(5) };
    const n = geo.batch * geo.height * geo.width * cin;
    const input = { value: rt.tensor([n], 'in'), grad: rt.tensor([n], 'in.grad') };
    const conv = new Conv2d(ctx, 'conv', { inChannels: cin, outChannels: cout, kernel: 3, stride: 2, pad: 1 }, input, geo);
    trainable.finalize();
    frozen.finalize();
    expect([conv.outHeight, conv.outWidth]).toEqual([4, 3]);
    const xs = randomArray(n, 9);
    const dys = randomArray(conv.out.value.size, 11);
    rt.write(input.value, xs);
    rt.write(conv.out.grad!, dys);
    const list = new CommandList('t');
    list.push(trainable.zeroGradOp());
    conv.recordForward(list);
    conv.recordBackward(list);
    rt.submit([list]);

    const w = Float64Array.from(await rt.read(conv.weight.value));
    const b = Float64Array.from(await rt.read(conv.bias.value));
    const x = Float64Array.from(xs);
    const dy = Float64Array.from(dys);
    const s = conv.shape;
    expect(maxRelError(await rt.read(conv.out.value), conv2dCpu(x, w, b, s, cout))).toBeLessThan(1e-5);
    // L = ⟨conv(x; w, b), dy⟩: its gradients are exactly what the backward computes from dy.
    const L = () => conv2dCpu(x, w, b, s, cout).reduce((a, v, i) => a + v * dy[i]!, 0);
    expect(checkGradient(L, w, await rt.read(conv.weight.grad))).toBeLessThan(1e-4);
    expect(checkGradient(L, b, await rt.read(conv.bias.grad))).toBeLessThan(1e-4);
    expect(checkGradient(L, x, await rt.read(input.grad))).toBeLessThan(1e-4);
  });
});

describe('Linear with a split-K weight gradient (dwRowsPerChunk)', () => {
  it('gives the same dW as one product (≤ 1e-5), and rejects a chunk that does not divide the rows', async () => {
    const rt = await testRuntime();
    const rows = 96;
    const build = (chunk?: number) => {
      const trainable = new ParamPack(rt, `l${chunk ?? 0}`, true);
      const ctx: BuildContext = { rt, trainable, frozen: new ParamPack(rt, `l${chunk ?? 0}.f`, false), rng: new Rng(7) };
      const input = { value: rt.tensor([rows, 5], `x${chunk ?? 0}`, randomArray(rows * 5, 1)), grad: null };
      const lin = new Linear(ctx, 'lin', { inDim: 5, outDim: 6, ...(chunk ? { dwRowsPerChunk: chunk } : {}) }, input, rows);
      trainable.finalize();
      rt.write(lin.out.grad!, randomArray(rows * 6, 2));
      const list = new CommandList('t');
      list.push(trainable.zeroGradOp());
      lin.recordBackward(list);
      rt.submit([list]);
      return lin;
    };
    const one = await rt.read(build().weight.grad);
    const split = await rt.read(build(8).weight.grad);
    expect(maxRelError(split, one)).toBeLessThan(1e-5);
    expect(() => build(7)).toThrow(/dwRowsPerChunk=7 must be a positive divisor of the 96 rows/);
  });
});
