/**
 * LoRA: float64 reference vs finite differences (≤ 1e-6), the GPU backward vs finite differences
 * of the float64 forward at the GPU's parameters (≤ 1e-3), bit-exact base output at init and
 * with every rank masked, rank masks vs the reference, and a low-rank fit on a frozen Linear.
 */
import { describe, expect, it } from 'vitest';
import { LowRankAdapter } from '../src/adapters/low-rank';
import { loraAdapter, loraBackwardCpu, loraForwardCpu } from '../src/adapters/lora';
import { ConfigError } from '../src/engine/errors';
import { shader } from '../src/kernels/shader-sources';
import { Trainer } from '../src/train/trainer';
import { checkGradient, dot, randn64 } from './helpers/finite-diff';
import { maxRelError, testRuntime } from './helpers/gpu';
import { baseAndAdaptedOutputs, bits, buildLinearFit, configErrorField, linearForwardCpu, recordBaseAndAdapted, runForwardBackward, stubLinearSite } from './helpers/linear-fit';

describe('LoRA float64 reference', () => {
  it('backward matches central finite differences (≤ 1e-6), with a partial rank mask', () => {
    const rows = 4, n = 5, m = 3, r = 2, alpha = 3;
    const x = randn64(rows * n, 1);
    const A = randn64(r * n, 2);
    const B = randn64(m * r, 3);
    const dy = randn64(rows * m, 4);
    const mask = Float64Array.of(1, 0.5);
    const f = () => dot(loraForwardCpu({ x, A, B, mask, rows, n, m, r, alpha }), dy);
    const g = loraBackwardCpu({ x, A, B, mask, rows, n, m, r, alpha, dy });
    expect(checkGradient(f, A, g.dA)).toBeLessThan(1e-6);
    expect(checkGradient(f, B, g.dB)).toBeLessThan(1e-6);
    expect(checkGradient(f, x, g.dx)).toBeLessThan(1e-6);
  });
});

describe('LoRA on the GPU', () => {
  it('shaders compile', async () => {
    const rt = await testRuntime();
    expect(await rt.shaderErrors(shader('low_rank'))).toEqual([]);
  });

  it('rejects impossible configs, naming the field', () => {
    const site = stubLinearSite(6, 4);
    expect(configErrorField(() => loraAdapter.validate({ rank: 5, alpha: 1 }, site))).toBe('rank'); // > min(4, 6)
    expect(configErrorField(() => loraAdapter.validate({ rank: 0, alpha: 1 }, site))).toBe('rank');
    expect(configErrorField(() => loraAdapter.validate({ rank: 1.5, alpha: 1 }, site))).toBe('rank');
    expect(configErrorField(() => loraAdapter.validate({ rank: 2, alpha: 0 }, site))).toBe('alpha');
    expect(configErrorField(() => loraAdapter.validate({ rank: 2, alpha: NaN }, site))).toBe('alpha');
    expect(configErrorField(() => loraAdapter.validate({ rank: 4, alpha: 8 }, site))).toBe('no error');
  });

  it('forward and backward (dA, dB, dx) match finite differences of the float64 forward (≤ 1e-3), B ≠ 0, with a rank mask', async () => {
    const rt = await testRuntime();
    const rows = 6, n = 7, m = 5, r = 3, alpha = 6;
    const fit = buildLinearFit(rt, { factory: loraAdapter, config: { rank: r, alpha }, n, m, rows, seed: 3, targetRank: 1, targetScale: 1, inputGrad: true });
    try {
      const ad = fit.adapter as LowRankAdapter;
      expect(ad.params.map((p) => [p.name, [...p.shape]])).toEqual([
        ['layer.lora_A.weight', [r, n]],
        ['layer.lora_B.weight', [m, r]],
      ]);
      expect(ad.trainableParameterCount()).toBe(r * n + m * r);
      // Set non-zero parameters explicitly (B starts at 0, which would hide dA and dx errors).
      const A = Float32Array.from(randn64(r * n, 11, 0.5));
      const B = Float32Array.from(randn64(m * r, 12, 0.5));
      rt.write(ad.down.value, A);
      rt.write(ad.up.value, B);
      const mask = Float32Array.of(1, 0.5, 1);
      ad.setMask(mask);
      const dyHost = Float32Array.from(randn64(rows * m, 13));
      runForwardBackward(rt, fit, dyHost);
      const W = fit.layer.weight.init;
      const bias = fit.layer.bias!.init;
      const x64 = Float64Array.from(fit.xHost);
      const A64 = Float64Array.from(A);
      const B64 = Float64Array.from(B);
      const full = () => {
        const base = linearForwardCpu(x64, W, bias, rows, n, m);
        const d = loraForwardCpu({ x: x64, A: A64, B: B64, mask, rows, n, m, r, alpha });
        return base.map((v, i) => v + d[i]!);
      };
      expect(maxRelError(await rt.read(fit.layer.out.value), full())).toBeLessThan(1e-5);
      const loss = () => dot(full(), dyHost);
      const dA = await rt.read(ad.down.grad);
      const dB = await rt.read(ad.up.grad);
      const dx = await rt.read(fit.layer.input.grad!);
      expect(checkGradient(loss, A64, dA)).toBeLessThan(1e-3);
      expect(checkGradient(loss, B64, dB)).toBeLessThan(1e-3);
      expect(checkGradient(loss, x64, dx)).toBeLessThan(1e-3);
    } finally {
      fit.destroy();
    }
  });

  it('zero-initialised B: the adapted output equals the base output bit for bit', async () => {
    const rt = await testRuntime();
    const fit = buildLinearFit(rt, { factory: loraAdapter, config: { rank: 4, alpha: 16 }, n: 12, m: 10, rows: 9, seed: 5, targetRank: 1, targetScale: 1 });
    try {
      const ad = fit.adapter as LowRankAdapter;
      expect(Array.from(await rt.read(ad.up.value)).every((v) => v === 0)).toBe(true);
      const A = await rt.read(ad.down.value);
      expect(A.some((v) => v !== 0)).toBe(true);
      expect(Math.max(...A.map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(12)); // Kaiming-uniform bound 1/√n
      const { yBase, yAdapted } = await baseAndAdaptedOutputs(rt, fit);
      expect(bits(yAdapted)).toEqual(bits(yBase));
    } finally {
      fit.destroy();
    }
  });

  it('fits a rank-2 target on a frozen Linear (loss ↓ ≥ 10× within 300 steps); masks act on rank dimensions', async () => {
    const rt = await testRuntime();
    const rows = 64, n = 16, m = 12, r = 4, alpha = 4;
    const fit = buildLinearFit(rt, { factory: loraAdapter, config: { rank: r, alpha }, n, m, rows, seed: 9, targetRank: 2, targetScale: 0.5 });
    const losses: number[] = [];
    const trainer = new Trainer(rt, fit.graph, { lr: 0.02, metricInterval: 50, onMetrics: (rows_) => rows_.forEach((row) => losses.push(row.values.loss!)) });
    try {
      const frozenBefore = await rt.read(fit.packs.frozen.flatValues!);
      await trainer.run(300);
      await trainer.drain();
      expect(losses).toHaveLength(300);
      expect(losses[0]!).toBeGreaterThan(0.05);
      const best = Math.min(...losses);
      expect(losses[0]! / losses[299]!).toBeGreaterThanOrEqual(10);
      expect(losses[299]!).toBeLessThan(best * 1.5);
      expect(bits(await rt.read(fit.packs.frozen.flatValues!))).toEqual(bits(frozenBefore));

      const ad = fit.adapter as LowRankAdapter;
      const A = await rt.read(ad.down.value);
      const B = await rt.read(ad.up.value);
      expect(B.some((v) => v !== 0)).toBe(true);
      const { base, adapted } = recordBaseAndAdapted(fit);
      rt.submit([base]);
      const yBase = await rt.read(fit.layer.out.value);
      // A partial mask: the output is the base plus the kept ranks' delta (float64 reference).
      const mask = Float32Array.of(1, 0, 1, 0);
      ad.setMask(mask);
      rt.submit([adapted]);
      const expected = loraForwardCpu({ x: fit.xHost, A, B, mask, rows, n, m, r, alpha }).map((d, i) => d + yBase[i]!);
      expect(maxRelError(await rt.read(fit.layer.out.value), expected)).toBeLessThan(1e-5);
      // Every rank masked: exactly the base, although B ≠ 0 after training.
      ad.setMask(new Float32Array(r));
      rt.submit([adapted]);
      expect(bits(await rt.read(fit.layer.out.value))).toEqual(bits(yBase));
      // null restores all ranks.
      ad.setMask(null);
      rt.submit([adapted]);
      const yAll = await rt.read(fit.layer.out.value);
      const expAll = loraForwardCpu({ x: fit.xHost, A, B, rows, n, m, r, alpha }).map((d, i) => d + yBase[i]!);
      expect(maxRelError(yAll, expAll)).toBeLessThan(1e-5);
      expect(() => ad.setMask(new Float32Array(3))).toThrow(ConfigError);
      expect(() => ad.setMask(Float32Array.of(1, NaN, 1, 1))).toThrow(/finite/);
    } finally {
      trainer.destroy();
      fit.destroy();
    }
  });
});
