/**
 * Every layer's backward against float64 central finite differences of its forward:
 *  - CPU reference path (src/nn/reference.ts): relative error ≤ 1e-6;
 *  - GPU path (src/nn/*): the GPU's analytic gradients vs finite differences of the float64 CPU
 *    forward evaluated at the GPU's own parameters: relative error ≤ 1e-3.
 */
import { describe, expect, it } from 'vitest';
import { ParamPack } from '../src/engine/param-pack';
import { Rng } from '../src/engine/rng';
import { CommandList, type GpuRuntime } from '../src/engine/runtime';
import type { Tensor } from '../src/engine/tensor';
import { TransformerBlock } from '../src/nn/block';
import { MultiHeadAttention } from '../src/nn/attention';
import { LayerNorm } from '../src/nn/layernorm';
import { Linear } from '../src/nn/linear';
import { Mlp } from '../src/nn/mlp';
import type { Activation, BuildContext } from '../src/nn/module';
import * as ref from '../src/nn/reference';
import { checkGradient, dot, randn64, sample } from './helpers/finite-diff';
import { maxRelError, testRuntime } from './helpers/gpu';

type Fwd = (p: ref.Params64, x: Float64Array) => Float64Array;
type Bwd = (p: ref.Params64, g: ref.Grads64, x: Float64Array, dy: Float64Array) => Float64Array;

/** max over x and every parameter of the FD-vs-analytic relative error. */
function fdError(fwd: Fwd, params: ref.Params64, x: Float64Array, dy: Float64Array, dx: ArrayLike<number>, grads: Map<string, ArrayLike<number>>, maxPerTensor: number): Record<string, number> {
  const errs: Record<string, number> = {};
  const lossAt = () => dot(fwd(params, x), dy);
  errs['x'] = checkGradient(() => lossAt(), x, dx, 1e-6, sample(x.length, maxPerTensor, 1));
  for (const [name, g] of grads) {
    const p = params.get(name)!;
    errs[name] = checkGradient(() => lossAt(), p, g, 1e-6, sample(p.length, maxPerTensor, name.length));
  }
  return errs;
}

interface Case {
  name: string;
  inDim: number;
  outDim: number;
  rows: number;
  build(ctx: BuildContext, input: Activation): { out: Activation; recordForward(l: CommandList): void; recordBackward(l: CommandList): void };
  fwd: Fwd;
  bwd: Bwd;
}

const B = 2;
const S = 5;
const D = 8;
const H = 2;
const HID = 12;
const ROWS = B * S;

const cases: Case[] = [
  {
    name: 'Linear',
    inDim: 7,
    outDim: 5,
    rows: 3,
    build: (ctx, input) => new Linear(ctx, 'lin', { inDim: 7, outDim: 5 }, input, 3),
    fwd: (p, x) => ref.linearForward(p, 'lin', x, 3, 7, 5),
    bwd: (p, g, x, dy) => ref.linearBackward(p, g, 'lin', x, dy, 3, 7, 5),
  },
  {
    name: 'LayerNorm',
    inDim: 9,
    outDim: 9,
    rows: 4,
    build: (ctx, input) => new LayerNorm(ctx, 'ln', 9, input, 4),
    fwd: (p, x) => ref.layerNormForward(p, 'ln', x, 4, 9),
    bwd: (p, g, x, dy) => ref.layerNormBackward(p, g, 'ln', x, dy, 4, 9),
  },
  {
    name: 'MLP',
    inDim: D,
    outDim: D,
    rows: ROWS,
    build: (ctx, input) => new Mlp(ctx, 'mlp', { dim: D, hidden: HID }, input, ROWS),
    fwd: (p, x) => ref.mlpForward(p, 'mlp', x, { rows: ROWS, dim: D, hidden: HID }),
    bwd: (p, g, x, dy) => ref.mlpBackward(p, g, 'mlp', x, dy, { rows: ROWS, dim: D, hidden: HID }),
  },
  {
    name: 'MultiHeadAttention (causal)',
    inDim: D,
    outDim: D,
    rows: ROWS,
    build: (ctx, input) => new MultiHeadAttention(ctx, 'attn', { dim: D, heads: H, batch: B, seq: S, causal: true }, input),
    fwd: (p, x) => ref.attentionForward(p, 'attn', x, { batch: B, seq: S, dim: D, heads: H, causal: true }).out,
    bwd: (p, g, x, dy) => ref.attentionBackward(p, g, 'attn', x, dy, { batch: B, seq: S, dim: D, heads: H, causal: true }),
  },
  // One head: both attention kernel paths (src/kernels/attention.ts), seq off the matmul tile.
  ...(['rows', 'matmul'] as const).map(
    (path): Case => ({
      name: `MultiHeadAttention (1 head, causal, path ${path})`,
      inDim: D,
      outDim: D,
      rows: ROWS,
      build: (ctx, input) => new MultiHeadAttention(ctx, 'attn', { dim: D, heads: 1, batch: B, seq: S, causal: true, attentionPath: path }, input),
      fwd: (p, x) => ref.attentionForward(p, 'attn', x, { batch: B, seq: S, dim: D, heads: 1, causal: true }).out,
      bwd: (p, g, x, dy) => ref.attentionBackward(p, g, 'attn', x, dy, { batch: B, seq: S, dim: D, heads: 1, causal: true }),
    }),
  ),
  {
    name: 'MultiHeadAttention (1 head, non-causal, path matmul)',
    inDim: D,
    outDim: D,
    rows: ROWS,
    build: (ctx, input) => new MultiHeadAttention(ctx, 'attn', { dim: D, heads: 1, batch: B, seq: S, attentionPath: 'matmul' }, input),
    fwd: (p, x) => ref.attentionForward(p, 'attn', x, { batch: B, seq: S, dim: D, heads: 1 }).out,
    bwd: (p, g, x, dy) => ref.attentionBackward(p, g, 'attn', x, dy, { batch: B, seq: S, dim: D, heads: 1 }),
  },
  {
    name: 'TransformerBlock',
    inDim: D,
    outDim: D,
    rows: ROWS,
    build: (ctx, input) => new TransformerBlock(ctx, 'blk', { dim: D, heads: H, batch: B, seq: S, mlpRatio: HID / D }, input),
    fwd: (p, x) => ref.blockForward(p, 'blk', x, { batch: B, seq: S, dim: D, heads: H, hidden: HID }),
    bwd: (p, g, x, dy) => ref.blockBackward(p, g, 'blk', x, dy, { batch: B, seq: S, dim: D, heads: H, hidden: HID }),
  },
];

async function buildOnGpu(rt: GpuRuntime, c: Case, seed: number) {
  const trainable = new ParamPack(rt, `t.${c.name}`, true);
  const frozen = new ParamPack(rt, `f.${c.name}`, false);
  const ctx: BuildContext = { rt, trainable, frozen, rng: new Rng(seed) };
  const input: Activation = { value: rt.tensor([c.rows, c.inDim], 'x'), grad: rt.tensor([c.rows, c.inDim], 'dx') };
  const layer = c.build(ctx, input);
  trainable.finalize();
  frozen.finalize();
  // Non-trivial norms: perturb LayerNorm gamma/beta away from 1/0 so their gradients matter.
  const prng = new Rng(seed + 99);
  for (const p of trainable.params) {
    if (/ln\d?\.|\.ln/.test(p.name) || p.name.startsWith('ln.')) {
      const v = new Float32Array(p.size);
      for (let i = 0; i < v.length; i++) v[i] = (p.name.endsWith('weight') ? 1 : 0) + prng.uniform(-0.5, 0.5);
      rt.write(p.value, v);
    }
  }
  const fwd = new CommandList('fwd');
  const bwd = new CommandList('bwd');
  layer.recordForward(fwd);
  layer.recordBackward(bwd);
  return { trainable, input, layer, fwd, bwd };
}

async function paramsOf(pack: ParamPack): Promise<ref.Params64> {
  const m = await pack.readAll();
  return new Map([...m].map(([k, v]) => [k, Float64Array.from(v)]));
}

describe('CPU reference layers: backward vs float64 finite differences (≤ 1e-6)', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const rt = await testRuntime();
      // Parameters drawn exactly as the GPU layer would draw them.
      const { trainable } = await buildOnGpu(rt, c, 3);
      const params = await paramsOf(trainable);
      const x = randn64(c.rows * c.inDim, 5);
      const dy = randn64(c.rows * c.outDim, 6);
      const g: ref.Grads64 = new Map();
      const dx = c.bwd(params, g, x, dy);
      const errs = fdError(c.fwd, params, x, dy, dx, g, 40);
      for (const [k, e] of Object.entries(errs)) expect(e, `${c.name} d${k}`).toBeLessThan(1e-6);
      expect(g.size).toBe(trainable.params.length);
    });
  }
});

describe('GPU layers: forward vs CPU, backward vs float64 finite differences (≤ 1e-3)', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const rt = await testRuntime();
      const built = await buildOnGpu(rt, c, 7);
      const x32 = Float32Array.from(randn64(c.rows * c.inDim, 8));
      const dy32 = Float32Array.from(randn64(c.rows * c.outDim, 9));
      rt.write(built.input.value, x32);
      const list = new CommandList('fwd+bwd');
      list.push(built.trainable.zeroGradOp());
      list.append(built.fwd);
      rt.submit([list]);
      rt.write(built.layer.out.grad as Tensor, dy32);
      rt.submit([built.bwd]);

      const params = await paramsOf(built.trainable);
      const x = Float64Array.from(x32);
      const dy = Float64Array.from(dy32);
      expect(maxRelError(await rt.read(built.layer.out.value), c.fwd(params, x))).toBeLessThan(1e-4);
      const grads = new Map<string, Float32Array>();
      for (const p of built.trainable.params) grads.set(p.name, await rt.read(p.grad));
      const dx = await rt.read(built.input.grad!);
      const errs = fdError(c.fwd, params, x, dy, dx, grads, 24);
      for (const [k, e] of Object.entries(errs)) expect(e, `${c.name} d${k}`).toBeLessThan(1e-3);
    });
  }
});

describe('per-parameter freeze flags', () => {
  it('a frozen weight gets no gradient and is not updated, its trainable bias is', async () => {
    const rt = await testRuntime();
    const trainable = new ParamPack(rt, 'freeze.t', true);
    const frozen = new ParamPack(rt, 'freeze.f', false);
    const ctx: BuildContext = { rt, trainable, frozen, rng: new Rng(1), freeze: (n) => n.endsWith('.weight') };
    const input: Activation = { value: rt.tensor([4, 3], 'x', Float32Array.from(randn64(12, 1))), grad: null };
    const lin = new Linear(ctx, 'fz', { inDim: 3, outDim: 2 }, input, 4);
    trainable.finalize();
    frozen.finalize();
    expect(lin.weight.pack).toBe(frozen);
    expect(lin.bias!.pack).toBe(trainable);
    expect(() => lin.weight.grad).toThrow(/frozen/);
    const list = new CommandList('fz');
    list.push(trainable.zeroGradOp());
    lin.recordForward(list);
    rt.write(lin.out.grad!, [1, 2, 3, 4, 5, 6, 7, 8]);
    lin.recordBackward(list);
    rt.submit([list]);
    // db = column sums of dy
    expect(Array.from(await rt.read(lin.bias!.grad))).toEqual([16, 20]);
  });
});
