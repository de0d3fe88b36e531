/**
 * VeRA: float64 reference vs central finite differences (≤ 1e-6); the GPU forward and backward
 * (dλ_d, dλ_b, dx) vs finite differences of the float64 forward at the GPU's parameters (≤ 1e-3)
 * with a rank mask; bit-exact base output at init (λ_b = 0); the shared random projections are
 * one tensor per shape, sliced consistently (A of an n-wide site = first n columns of a wider
 * one); a fit on a frozen Linear; and it is in the registry like any adapter.
 */
import { describe, expect, it } from 'vitest';
import { attachAdapters } from '../src/adapters/attach';
import { adapterModule } from '../src/adapters/registry';
import { veraA, veraAdapter, veraB, veraBackwardCpu, veraForwardCpu, type VeraAdapter } from '../src/adapters/vera';
import { ParamPack } from '../src/engine/param-pack';
import { Rng } from '../src/engine/rng';
import { TinyTransformer } from '../src/models/tiny-transformer';
import { Trainer } from '../src/train/trainer';
import { checkGradient, dot, randn64 } from './helpers/finite-diff';
import { maxRelError, testRuntime } from './helpers/gpu';
import { baseAndAdaptedOutputs, bits, buildLinearFit, configErrorField, linearForwardCpu, runForwardBackward, stubLinearSite } from './helpers/linear-fit';

describe('VeRA float64 reference', () => {
  it('backward matches central finite differences (≤ 1e-6), with a partial rank mask, r > n', () => {
    const rows = 3, n = 4, m = 5, r = 6;
    const x = randn64(rows * n, 1);
    const A = randn64(r * n, 2);
    const B = randn64(m * r, 3);
    const lambdaD = randn64(r, 4);
    const lambdaB = randn64(m, 5);
    const dy = randn64(rows * m, 6);
    const mask = Float64Array.of(1, 0, 1, 0.5, 1, 1);
    const args = { x, A, B, lambdaD, lambdaB, rows, n, m, r, mask };
    const f = () => dot(veraForwardCpu(args), dy);
    const g = veraBackwardCpu({ ...args, dy });
    expect(checkGradient(f, lambdaD, g.dLambdaD)).toBeLessThan(1e-6);
    expect(checkGradient(f, lambdaB, g.dLambdaB)).toBeLessThan(1e-6);
    expect(checkGradient(f, x, g.dx)).toBeLessThan(1e-6);
  });

  it('the shared projections slice consistently and have the Kaiming-uniform bounds', () => {
    const wide = veraA(7, 3, 10);
    const narrow = veraA(7, 3, 4);
    // Same master stream per row: the narrow A is a prefix of each wide row, rescaled by √(10/4).
    for (let i = 0; i < 3; i++) for (let c = 0; c < 4; c++) expect(narrow[i * 4 + c]!).toBeCloseTo(wide[i * 10 + c]! * Math.sqrt(10 / 4), 5);
    expect(Math.max(...Array.from(narrow, Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(4));
    const B = veraB(7, 5, 3);
    expect(Math.max(...Array.from(B, Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(3));
    expect(Array.from(veraA(8, 3, 4))).not.toEqual(Array.from(narrow));
  });
});

describe('VeRA on the GPU', () => {
  it('is registered, and rejects impossible configs naming the field', () => {
    expect(adapterModule('vera')).toBe(veraAdapter);
    const site = stubLinearSite(6, 4);
    const field = (c: object) => configErrorField(() => veraAdapter.validate({ ...veraAdapter.settings.defaults, ...c }, site));
    expect(field({ rank: 0 })).toBe('rank');
    expect(field({ rank: 2.5 })).toBe('rank');
    expect(field({ dInit: NaN })).toBe('dInit');
    expect(field({ projectionSeed: -1 })).toBe('projectionSeed');
    expect(field({ rank: 64 })).toBe('no error'); // r may exceed min(m, n)
  });

  it('forward and backward (dλ_d, dλ_b, dx) match finite differences of the float64 forward (≤ 1e-3), λ_b ≠ 0, with a rank mask', async () => {
    const rt = await testRuntime();
    const rows = 6, n = 7, m = 5, r = 9;
    const fit = buildLinearFit(rt, { factory: veraAdapter, config: { rank: r, dInit: 0.1, projectionSeed: 3 }, n, m, rows, seed: 3, targetRank: 1, targetScale: 1, inputGrad: true });
    try {
      const ad = fit.adapter as VeraAdapter;
      expect(ad.params.map((p) => [p.name, [...p.shape]])).toEqual([
        ['layer.vera_lambda_d', [r]],
        ['layer.vera_lambda_b', [m]],
      ]);
      expect(ad.trainableParameterCount()).toBe(r + m);
      const ld = Float32Array.from(randn64(r, 11, 0.5));
      const lb = Float32Array.from(randn64(m, 12, 0.5));
      rt.write(ad.lambdaD.value, ld);
      rt.write(ad.lambdaB.value, lb);
      const mask = Float32Array.of(1, 0, 1, 1, 0.5, 1, 1, 0, 1);
      ad.setMask(mask);
      const dyHost = Float32Array.from(randn64(rows * m, 13));
      runForwardBackward(rt, fit, dyHost);
      const W = fit.layer.weight.init;
      const bias = fit.layer.bias!.init;
      const x64 = Float64Array.from(fit.xHost);
      const A = Float64Array.from(await rt.read(ad.A.value));
      const B = Float64Array.from(await rt.read(ad.B.value));
      expect(Array.from(A)).toEqual(Array.from(veraA(3, r, n)));
      const ld64 = Float64Array.from(ld);
      const lb64 = Float64Array.from(lb);
      const full = () => {
        const base = linearForwardCpu(x64, W, bias, rows, n, m);
        const d = veraForwardCpu({ x: x64, A, B, lambdaD: ld64, lambdaB: lb64, rows, n, m, r, mask });
        return base.map((v, i) => v + d[i]!);
      };
      expect(maxRelError(await rt.read(fit.layer.out.value), full())).toBeLessThan(1e-5);
      const loss = () => dot(full(), dyHost);
      expect(checkGradient(loss, ld64, await rt.read(ad.lambdaD.grad))).toBeLessThan(1e-3);
      expect(checkGradient(loss, lb64, await rt.read(ad.lambdaB.grad))).toBeLessThan(1e-3);
      expect(checkGradient(loss, x64, await rt.read(fit.layer.input.grad!))).toBeLessThan(1e-3);
      // unitDirection(j) = λ_b ⊙ B[:, j] · λ_d[j]
      const dir = await ad.unitDirection(2);
      expect(maxRelError(dir, Array.from({ length: m }, (_, o) => lb[o]! * B[o * r + 2]! * ld[2]!))).toBeLessThan(1e-6);
    } finally {
      fit.destroy();
    }
  });

  it('λ_b = 0 at init: the adapted output equals the base output bit for bit; training fits a target on a frozen Linear', async () => {
    const rt = await testRuntime();
    const rows = 64, n = 16, m = 12;
    const fit = buildLinearFit(rt, { factory: veraAdapter, config: { rank: 64, dInit: 0.1, projectionSeed: 0 }, n, m, rows, seed: 9, targetRank: 1, targetScale: 0.3 });
    try {
      const ad = fit.adapter as VeraAdapter;
      const { yBase, yAdapted } = await baseAndAdaptedOutputs(rt, fit);
      expect(bits(yAdapted)).toEqual(bits(yBase));
      const losses: number[] = [];
      const trainer = new Trainer(rt, fit.graph, { lr: 0.05, metricInterval: 50, onMetrics: (rs) => rs.forEach((x) => losses.push(x.values.loss!)) });
      const frozenBefore = await rt.read(fit.packs.frozen.flatValues!);
      await trainer.run(200);
      await trainer.drain();
      trainer.destroy();
      expect(losses[199]!).toBeLessThan(0.5 * losses[0]!);
      expect(bits(await rt.read(fit.packs.frozen.flatValues!))).toEqual(bits(frozenBefore));
      expect(Array.from(await rt.read(ad.lambdaB.value)).some((v) => v !== 0)).toBe(true);
    } finally {
      fit.destroy();
    }
  });

  it('sites of one shape share one frozen A and B; other shapes get their own', async () => {
    const rt = await testRuntime();
    const { value, scope } = rt.scoped('vera-share', () => {
      const trainable = new ParamPack(rt, 'adapters', true);
      const frozen = new ParamPack(rt, 'base', false);
      const ctx = { rt, trainable, frozen, rng: new Rng(1) };
      const model = new TinyTransformer(ctx, 'model', { inDim: 4, outDim: 2, dim: 16, heads: 2, layers: 2, seq: 4, batch: 2, frozen: true });
      const adapters = attachAdapters(ctx, model, { kind: 'vera', config: { rank: 8 }, targets: ['q_proj', 'v_proj', 'fc1'] }) as VeraAdapter[];
      trainable.finalize();
      frozen.finalize();
      return { adapters, frozen };
    });
    try {
      const [q0, v0, fc0, q1] = value.adapters;
      expect(value.adapters.map((a) => a.path)).toEqual(['blocks.0.attn.q_proj', 'blocks.0.attn.v_proj', 'blocks.0.mlp.fc1', 'blocks.1.attn.q_proj', 'blocks.1.attn.v_proj', 'blocks.1.mlp.fc1']);
      expect(v0!.A).toBe(q0!.A);
      expect(q1!.B).toBe(q0!.B);
      expect(q0!.A.name).toBe('blocks.0.attn.q_proj.vera_A');
      // fc1 is 16 → 64 (MLP ratio 4): same A (input 16), its own B [64, 8].
      expect(fc0!.A).toBe(q0!.A);
      expect(fc0!.B).not.toBe(q0!.B);
      expect(fc0!.B.shape).toEqual([64, 8]);
      const veraFrozen = value.frozen.params.filter((p) => p.name.includes('.vera_'));
      expect(veraFrozen.map((p) => p.name)).toEqual(['blocks.0.attn.q_proj.vera_A', 'blocks.0.attn.q_proj.vera_B', 'blocks.0.mlp.fc1.vera_B']);
    } finally {
      for (const a of value.adapters) a.destroy();
      scope.dispose();
    }
  });
});
