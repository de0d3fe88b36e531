/**
 * The transformer VAE on tiny shapes (8×8 images, patch 4 → 4 tokens, dim 16, one block each
 * side): GPU loss vs the float64 CPU reference (src/models/vae-reference.ts), every parameter's
 * GPU gradient vs float64 central finite differences of the CPU loss (≤ 1e-3), the decoder-only
 * graph, frozen-model behaviour, and a quick denoising training run on real MNIST digits.
 */
import { describe, expect, it } from 'vitest';
import type { MetricRow } from '../src/engine/metric-ring';
import { ParamPack } from '../src/engine/param-pack';
import { Rng } from '../src/engine/rng';
import { CommandList, type GpuRuntime } from '../src/engine/runtime';
import { TransformerVae, type VaeConfig } from '../src/models/vae';
import { vaeDecodeCpu, vaeLossCpu } from '../src/models/vae-reference';
import type { Params64 } from '../src/nn/reference';
import { loadMnistNode } from '../src/data/mnist-node';
import { buildMnistVaeTask, MNIST_VAE_DEFAULTS } from '../src/tasks/mnist-vae';
import { Trainer } from '../src/train/trainer';
import { checkGradient, randn64 } from './helpers/finite-diff';
import { deltaOutputHook } from './helpers/delta-hook';
import { maxRelError, randomArray, testRuntime } from './helpers/gpu';

const TINY: VaeConfig = { batch: 2, side: 8, patch: 4, dim: 16, heads: 2, encoderLayers: 1, decoderLayers: 1, latent: 4, mlpRatio: 2, pool: 'flatten', logvarInit: -1, beta: 0.7 };

function sample(n: number, max: number, seed: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  return new Rng(seed).shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, max);
}

function buildTiny(rt: GpuRuntime, cfg: VaeConfig, seed: number) {
  const trainable = new ParamPack(rt, 'vae', true);
  const frozen = new ParamPack(rt, 'vae.frozen', false);
  const vae = new TransformerVae({ rt, trainable, frozen, rng: new Rng(seed) }, 'vae', cfg);
  trainable.finalize();
  frozen.finalize();
  // LayerNorm gains/biases away from 1/0, and the zero-initialised head and output bias random,
  // so every gradient is exercised.
  const prng = new Rng(seed + 1);
  for (const p of vae.parameters()) {
    const ln = /\.ln(1|2|_f)\./.test(p.name);
    if (!ln && !/decoder\.(head|out_bias)/.test(p.name)) continue;
    const v = new Float32Array(p.size);
    for (let i = 0; i < v.length; i++) v[i] = (ln && p.name.endsWith('weight') ? 1 : 0) + prng.uniform(-0.5, 0.5);
    p.pack.writeAll(new Map([[p.name, v]]), { partial: true });
  }
  return { trainable, frozen, vae };
}

/** One training step of `m` on (noisy input, clean target, ε) in one submit; returns the labels of its backward's ops. */
function vaeStep(rt: GpuRuntime, m: TransformerVae, pack: ParamPack, inputs: Float32Array[]): string[] {
  rt.write(m.input, inputs[0]!);
  rt.write(m.target, inputs[1]!);
  rt.write(m.eps, inputs[2]!);
  const list = new CommandList('step');
  list.push(pack.zeroGradOp());
  m.recordForward(list);
  m.recordLoss(list);
  const backward = new CommandList('backward');
  m.recordBackward(backward);
  list.append(backward);
  rt.submit([list]);
  return backward.ops.map((o) => o.label);
}

async function params64(vae: TransformerVae): Promise<Params64> {
  const out: Params64 = new Map();
  for (const pack of new Set(vae.parameters().map((p) => p.pack))) {
    for (const [k, v] of await pack.readAll()) out.set(k, Float64Array.from(v));
  }
  return out;
}

describe('transformer VAE vs float64 CPU reference', () => {
  for (const pool of ['flatten', 'mean', 'cls'] as const) {
  it(`loss matches and every parameter gradient matches finite differences of the CPU loss (≤ 1e-3), ${pool} pooling`, async () => {
    const rt = await testRuntime();
    const cfg: VaeConfig = { ...TINY, pool };
    const { trainable, vae } = buildTiny(rt, cfg, 21);
    const n = TINY.batch * TINY.side * TINY.side;
    const input = randomArray(n, 1, 0, 1);
    const target = randomArray(n, 2, 0, 1);
    const eps = Float32Array.from(randn64(TINY.batch * TINY.latent, 3));
    rt.write(vae.input, input);
    rt.write(vae.target, target);
    rt.write(vae.eps, eps);
    const list = new CommandList('step');
    list.push(trainable.zeroGradOp());
    vae.recordForward(list);
    vae.recordLoss(list);
    vae.recordBackward(list);
    rt.submit([list]);

    const p = await params64(vae);
    const ref = vaeLossCpu(p, 'vae', cfg, input, target, eps);
    const [loss, rec, kl] = [(await rt.read(vae.loss))[0]!, (await rt.read(vae.rec))[0]!, (await rt.read(vae.kl))[0]!];
    expect(Math.abs(loss - ref.loss) / ref.loss).toBeLessThan(1e-4);
    expect(Math.abs(rec - ref.rec) / ref.rec).toBeLessThan(1e-4);
    expect(Math.abs(kl - ref.kl)).toBeLessThan(1e-4 * Math.max(1, ref.kl));
    expect(maxRelError(await rt.read(vae.logits.value), ref.logits)).toBeLessThan(1e-4);

    const errors: Record<string, number> = {};
    for (const ref of vae.parameters()) {
      const g = await rt.read(ref.grad);
      const x = p.get(ref.name)!;
      errors[ref.name] = checkGradient(() => vaeLossCpu(p, 'vae', cfg, input, target, eps).loss, x, g, 1e-6, sample(x.length, 12, ref.name.length));
    }
    for (const [name, e] of Object.entries(errors)) expect(e, name).toBeLessThan(1e-3);
    expect(Object.keys(errors).length).toBe(trainable.params.length);
  });
  }

  it('decoder-only graph: latents in → σ(decoder logits) out, as the CPU decoder', async () => {
    const rt = await testRuntime();
    const { vae } = buildTiny(rt, TINY, 5);
    const dec = vae.createDecoder();
    const z = Float32Array.from(randn64(3 * TINY.latent, 9)); // 3 latents: two chunks of batch 2
    const imgs = await dec.decode(z);
    const p = await params64(vae);
    const padded = new Float64Array(4 * TINY.latent);
    padded.set(z);
    const logits = [...vaeDecodeCpu(p, 'vae', TINY, padded.subarray(0, 2 * TINY.latent)), ...vaeDecodeCpu(p, 'vae', TINY, padded.subarray(2 * TINY.latent))];
    const want = logits.slice(0, 3 * 64).map((v) => 1 / (1 + Math.exp(-v)));
    expect(imgs.length).toBe(3 * 64);
    expect(maxRelError(imgs, want)).toBeLessThan(1e-4);
  });

  it('a frozen VAE records no encoder backward and exposes its decoder attention', async () => {
    const rt = await testRuntime();
    const trainable = new ParamPack(rt, 't', true);
    const frozen = new ParamPack(rt, 'f', false);
    const vae = new TransformerVae({ rt, trainable, frozen, rng: new Rng(1) }, 'vae', { ...TINY, frozen: true, decoderLayers: 2 });
    expect(trainable.params.length).toBe(0);
    expect(vae.parameters().every((p) => p.pack === frozen)).toBe(true);
    expect(vae.decoderAttention(1).name).toBe('vae.decoder.blocks.1.attn');
    expect(() => vae.decoderAttention(2)).toThrow(/2 blocks/);
    const sites = vae.decoderAttentionSites();
    expect(sites.map((s) => [s.kind, s.path])).toEqual([
      ['attention-output', 'vae.decoder.blocks.0.attn'],
      ['attention-output', 'vae.decoder.blocks.1.attn'],
    ]);
    expect(vae.encoderNeedsBackward()).toBe(false);
    trainable.finalize();
    frozen.finalize();
    const full = new CommandList('b');
    vae.recordBackward(full);
    // No reparameterisation or encoder kernels in the backward of a frozen model.
    expect(full.ops.some((o) => o.label.includes('reparam') || o.label.includes('encoder'))).toBe(false);
  });
});

describe('frozen VAE with an adapter on a decoder attention output', () => {
  it('gradients reach the adapter through the frozen decoder (ΔO = δ equals an o_proj bias shift)', async () => {
    const rt = await testRuntime();
    // Reference: a trainable VAE; its decoder block-0 o_proj bias gradient is dL/dδ for ΔO = δ.
    const ref = buildTiny(rt, TINY, 31);
    const values = await params64(ref.vae);
    // Frozen copy with a test-local hook adding a trainable δ [dim] to that attention output.
    const trainable = new ParamPack(rt, 'adapter', true);
    const frozen = new ParamPack(rt, 'base', false);
    const ctx = { rt, trainable, frozen, rng: new Rng(1) };
    const vae = new TransformerVae(ctx, 'vae', { ...TINY, frozen: true });
    const delta = trainable.add('adapter.delta', [TINY.dim], new Float32Array(TINY.dim));
    vae.decoderAttention(0).outputAdapter = deltaOutputHook(rt, delta, TINY.batch * vae.tokens, TINY.dim).hook;
    trainable.finalize();
    frozen.finalize();
    frozen.writeAll(new Map([...values].map(([k, v]) => [k, Float32Array.from(v)])));
    expect(vae.encoderNeedsBackward()).toBe(false);

    const n = TINY.batch * TINY.side * TINY.side;
    const inputs = [randomArray(n, 41, 0, 1), randomArray(n, 42, 0, 1), Float32Array.from(randn64(TINY.batch * TINY.latent, 43))];
    const run = (m: TransformerVae, pack: ParamPack) => vaeStep(rt, m, pack, inputs);
    run(ref.vae, ref.trainable);
    const want = await rt.read(ref.trainable.get('vae.decoder.blocks.0.attn.o_proj.bias').grad);
    const wantLoss = (await rt.read(ref.vae.loss))[0]!;
    run(vae, trainable);
    expect((await rt.read(vae.loss))[0]).toBeCloseTo(wantLoss, 4);
    expect(Math.max(...Array.from(want, Math.abs))).toBeGreaterThan(1e-3);
    expect(maxRelError(await rt.read(delta.grad), want)).toBeLessThan(1e-5);
  });
});

describe('a frozen two-block decoder records only the backward an adapter needs', () => {
  // δ [dim] added to decoder block `at`'s attention output is an o_proj bias shift, so dL/dδ must
  // equal the trainable reference's o_proj bias gradient there; and the frozen model's backward
  // must skip what no gradient needs: every block below the adapted one, and the adapted block's
  // own attention backward (o_proj dx, the attention kernels, q/k/v dx, LN1).
  const CFG: VaeConfig = { ...TINY, decoderLayers: 2 };
  for (const at of [0, 1]) {
    it(`adapter on decoder block ${at}: gradient equals the reference's, pruned backward`, async () => {
      const rt = await testRuntime();
      const ref = buildTiny(rt, CFG, 57);
      const values = await params64(ref.vae);
      const trainable = new ParamPack(rt, 'adapter', true);
      const frozen = new ParamPack(rt, 'base', false);
      const vae = new TransformerVae({ rt, trainable, frozen, rng: new Rng(1) }, 'vae', { ...CFG, frozen: true });
      const delta = trainable.add('adapter.delta', [CFG.dim], new Float32Array(CFG.dim));
      const { hook, seen } = deltaOutputHook(rt, delta, CFG.batch * vae.tokens, CFG.dim);
      vae.decoderAttention(at).outputAdapter = hook;
      trainable.finalize();
      frozen.finalize();
      frozen.writeAll(new Map([...values].map(([k, v]) => [k, Float32Array.from(v)])));
      const n = CFG.batch * CFG.side * CFG.side;
      const inputs = [randomArray(n, 61, 0, 1), randomArray(n, 62, 0, 1), Float32Array.from(randn64(CFG.batch * CFG.latent, 63))];
      const run = (m: TransformerVae, pack: ParamPack) => vaeStep(rt, m, pack, inputs);
      const full = run(ref.vae, ref.trainable);
      const want = await rt.read(ref.trainable.get(`vae.decoder.blocks.${at}.attn.o_proj.bias`).grad);
      const labels = run(vae, trainable);
      expect(seen.inputGrad).toBe(false);
      expect(Math.max(...Array.from(want, Math.abs))).toBeGreaterThan(1e-3);
      expect(maxRelError(await rt.read(delta.grad), want)).toBeLessThan(1e-5);
      // The reference (everything trainable) runs every block's attention backward; the frozen
      // model none below or inside the adapted block's attention, but the adapted block's MLP.
      for (const b of [0, 1]) expect(full.some((l) => l.includes(`decoder.blocks.${b}.attn.q_proj.dx`))).toBe(true);
      for (let b = 0; b <= at; b++) {
        // LN1's kernels are labelled by the block's input: the decoder tokens, or block 0's output.
        const ln1 = `layernorm_bwd_dx(${b === 0 ? 'vae.decoder.tokens' : 'vae.decoder.blocks.0.mlp.fc2.out'})`;
        const own = (l: string) => (l.includes(`decoder.blocks.${b}.`) && /attn\.[qkvo]_proj\.dx|attention_/.test(l)) || l === ln1;
        expect(labels.filter(own)).toEqual([]);
        // … while the same filter finds them in the reference's backward (o/q/k/v dx, the attention kernels, LN1).
        const found = full.filter(own);
        for (const pat of [/o_proj\.dx/, /q_proj\.dx/, /v_proj\.dx/, /attention_/, /^layernorm_bwd_dx/]) expect(found.some((l) => pat.test(l)), `${pat} in block ${b}`).toBe(true);
      }
      expect(labels.some((l) => l.includes(`decoder.blocks.${at}.mlp.fc1.dx`))).toBe(true);
      expect(labels.some((l) => l.includes('decoder.blocks.0.'))).toBe(at === 0);
      expect(labels.some((l) => l.includes('decoder.proj'))).toBe(false);
    });
  }
});

describe('denoising pre-training (small model, real MNIST digits 5–9)', () => {
  it('100 steps lower the denoising loss markedly, with one submit per step', async () => {
    const rt = await testRuntime();
    const mnist = loadMnistNode();
    const cfg = { ...MNIST_VAE_DEFAULTS, model: { ...MNIST_VAE_DEFAULTS.model, batch: 16, dim: 32, heads: 2, encoderLayers: 1, decoderLayers: 1, latent: 8 }, seed: 3 };
    const task = buildMnistVaeTask(rt, mnist, cfg);
    expect(task.trainIndices.every((i) => mnist.labels[i]! >= 5)).toBe(true);
    const a = task.batchImages(7);
    const b = task.batchImages(7);
    expect(a.indices).toEqual(b.indices);
    expect(Array.from(a.noisy.subarray(0, 50))).toEqual(Array.from(b.noisy.subarray(0, 50)));
    const rows: MetricRow[] = [];
    const trainer = new Trainer(rt, task.graph, { lr: 3e-3, schedule: { kind: 'cosine', warmupSteps: 10, totalSteps: 100, minRatio: 0.1 }, metricInterval: 10, onMetrics: (r) => rows.push(...r) });
    const before = await task.evaluate(task.testIndices.slice(0, 64));
    await trainer.run(100);
    await trainer.drain();
    expect(trainer.lastStepCounters!.submits).toBe(1);
    expect(trainer.lastStepCounters!.readbacks).toBe(0);
    const first = rows.slice(0, 5).reduce((s, r) => s + r.values.rec!, 0) / 5;
    const last = rows.slice(-5).reduce((s, r) => s + r.values.rec!, 0) / 5;
    expect(rows.every((r) => r.values.non_finite === 0)).toBe(true);
    // The decoder starts at the data-mean image (the best z-independent predictor), so every
    // nat below the starting loss is information carried through z.
    expect(last).toBeLessThan(0.8 * first);
    const after = await task.evaluate(task.testIndices.slice(0, 64));
    expect(after.rec).toBeLessThan(0.85 * before.rec);
    expect(after.mse).toBeLessThan(0.8 * before.mse);
    trainer.destroy();
    task.destroy();
  });
});
