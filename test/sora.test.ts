/**
 * SoRA: float64 reference vs finite differences (≤ 1e-6, gate included), GPU backward (dA, dB,
 * dgate, dx) vs finite differences of the float64 forward (≤ 1e-3), bit-exact base at init, the
 * proximal gate step vs its reference, and a large λ driving every gate (and the metric) to 0.
 */
import { describe, expect, it } from 'vitest';
import { CommandList } from '../src/engine/runtime';
import { StepParams } from '../src/engine/step-params';
import { shader } from '../src/kernels/shader-sources';
import { SoraAdapter, soraAdapter, soraBackwardCpu, soraForwardCpu } from '../src/adapters/sora';
import { soraProxCpu } from '../src/kernels/sora-prox';
import { Trainer } from '../src/train/trainer';
import { checkGradient, dot, randn64 } from './helpers/finite-diff';
import { maxRelError, testRuntime } from './helpers/gpu';
import { baseAndAdaptedOutputs, bits, buildLinearFit, configErrorField, linearForwardCpu, runForwardBackward, stubLinearSite } from './helpers/linear-fit';

describe('SoRA float64 reference', () => {
  it('backward (dA, dB, dgate, dx) matches central finite differences (≤ 1e-6), with a mask', () => {
    const rows = 4, n = 5, m = 3, r = 3, alpha = 2;
    const x = randn64(rows * n, 1);
    const A = randn64(r * n, 2);
    const B = randn64(m * r, 3);
    const gate = randn64(r, 4);
    const dy = randn64(rows * m, 5);
    const mask = Float64Array.of(1, 0, 0.5);
    const f = () => dot(soraForwardCpu({ x, A, B, gate, mask, rows, n, m, r, alpha }), dy);
    const g = soraBackwardCpu({ x, A, B, gate, mask, rows, n, m, r, alpha, dy });
    expect(checkGradient(f, A, g.dA)).toBeLessThan(1e-6);
    expect(checkGradient(f, B, g.dB)).toBeLessThan(1e-6);
    expect(checkGradient(f, gate, g.dgate)).toBeLessThan(1e-6);
    expect(checkGradient(f, x, g.dx)).toBeLessThan(1e-6);
    expect(g.dgate[1]).toBe(0); // a masked rank gets no gate gradient
  });

  it('soft threshold: |g| ≤ ξ → 0, others shrink by ξ', () => {
    const r = soraProxCpu([0.5, -0.5, 0.1, -0.1, 0, 0.2], { lr: 0.1, lambda: 2 }); // ξ = f32(0.2): 0.2 itself is cut
    const s = Math.fround(0.5 - Math.fround(0.2));
    expect(Array.from(r.gate)).toEqual([s, -s, 0, 0, 0, 0]);
    expect(r.nonzero).toBe(2);
  });
});

describe('SoRA on the GPU', () => {
  it('shaders compile', async () => {
    const rt = await testRuntime();
    expect(await rt.shaderErrors(shader('sora_prox'))).toEqual([]);
    expect(await rt.shaderErrors(shader('low_rank'))).toEqual([]);
  });

  it('rejects impossible configs, naming the field', () => {
    const site = stubLinearSite(6, 4);
    const attn = { kind: 'attention-output' as const, path: 'blocks.0.attn', layer: {} as never, batch: 1, seq: 2, heads: 1, dim: 4 };
    expect(configErrorField(() => soraAdapter.validate({ rank: 2, alpha: 1, lambda: -1 }, site))).toBe('lambda');
    expect(configErrorField(() => soraAdapter.validate({ rank: 2, alpha: 1, lambda: Infinity }, site))).toBe('lambda');
    expect(configErrorField(() => soraAdapter.validate({ rank: 7, alpha: 1, lambda: 0 }, site))).toBe('rank');
    expect(configErrorField(() => soraAdapter.validate({ rank: 2, alpha: -2, lambda: 0 }, site))).toBe('alpha');
    expect(configErrorField(() => soraAdapter.validate({ rank: 2, alpha: 1, lambda: 0 }, attn))).toBe('site');
    expect(configErrorField(() => soraAdapter.validate({ rank: 4, alpha: 1, lambda: 0 }, site))).toBe('no error');
  });

  it('forward and backward (dA, dB, dgate, dx) match finite differences of the float64 forward (≤ 1e-3), W_u ≠ 0, with a rank mask', async () => {
    const rt = await testRuntime();
    const rows = 6, n = 7, m = 5, r = 3, alpha = 3;
    const fit = buildLinearFit(rt, { factory: soraAdapter, config: { rank: r, alpha, lambda: 0.1 }, n, m, rows, seed: 4, targetRank: 1, targetScale: 1, inputGrad: true });
    try {
      const ad = fit.adapter as SoraAdapter;
      expect(ad.params.map((p) => [p.name, [...p.shape], p.decay])).toEqual([
        ['layer.sora_A.weight', [r, n], true],
        ['layer.sora_B.weight', [m, r], true],
        ['layer.sora_gate', [r], false],
      ]);
      expect(Array.from(await rt.read(ad.gate!.value))).toEqual([1, 1, 1]);
      const A = Float32Array.from(randn64(r * n, 21, 0.5));
      const B = Float32Array.from(randn64(m * r, 22, 0.5));
      const gate = Float32Array.of(0.7, -1.3, 0.4);
      rt.write(ad.down.value, A);
      rt.write(ad.up.value, B);
      rt.write(ad.gate!.value, gate);
      const mask = Float32Array.of(1, 0.5, 0); // rank 2 off: no gradient reaches its gate
      ad.setMask(mask);
      const dyHost = Float32Array.from(randn64(rows * m, 23));
      runForwardBackward(rt, fit, dyHost);
      const [x64, A64, B64, g64] = [fit.xHost, A, B, gate].map((a) => Float64Array.from(a)) as [Float64Array, Float64Array, Float64Array, Float64Array];
      const full = () => {
        const base = linearForwardCpu(x64, fit.layer.weight.init, fit.layer.bias!.init, rows, n, m);
        const d = soraForwardCpu({ x: x64, A: A64, B: B64, gate: g64, mask, rows, n, m, r, alpha });
        return base.map((v, i) => v + d[i]!);
      };
      expect(maxRelError(await rt.read(fit.layer.out.value), full())).toBeLessThan(1e-5);
      const loss = () => dot(full(), dyHost);
      expect(checkGradient(loss, A64, await rt.read(ad.down.grad))).toBeLessThan(1e-3);
      expect(checkGradient(loss, B64, await rt.read(ad.up.grad))).toBeLessThan(1e-3);
      const dgate = await rt.read(ad.gate!.grad);
      expect(dgate[2]).toBe(0);
      expect(checkGradient(loss, g64, dgate)).toBeLessThan(1e-3);
      expect(checkGradient(loss, x64, await rt.read(fit.layer.input.grad!))).toBeLessThan(1e-3);
    } finally {
      fit.destroy();
    }
  });

  it('proximal step on the GPU = T_{lr·lr_scale·λ} exactly (zeros exact), and counts non-zero gates', async () => {
    const rt = await testRuntime();
    const r = 8;
    const lambda = 0.5;
    const fit = buildLinearFit(rt, { factory: soraAdapter, config: { rank: r, alpha: 1, lambda }, n: 9, m: 8, rows: 2, seed: 6, targetRank: 1, targetScale: 1 });
    const sp = new StepParams(rt);
    try {
      const ad = fit.adapter as SoraAdapter;
      expect(ad.metrics.map((mt) => mt.name)).toEqual(['layer.nonzero_gates']);
      expect(Array.from(await rt.read(ad.nonzeroGates))).toEqual([r]);
      const lr = 0.2, lrScale = 0.5; // ξ = 0.05
      const xi = Math.fround(Math.fround(Math.fround(lr) * Math.fround(lrScale)) * Math.fround(lambda));
      const g = Float32Array.of(0.3, -0.3, 0.05, -0.049, 0.0500001, 0, -1, 0.01);
      rt.write(ad.gate!.value, g);
      sp.set({ step: 0, slot: 0, lr, lrScale });
      const list = new CommandList('prox');
      ad.recordAfterOptimizer(list, sp);
      rt.submit([list]);
      const out = await rt.read(ad.gate!.value);
      const expected = soraProxCpu(g, { lr, lrScale, lambda }).gate;
      for (let j = 0; j < r; j++) {
        const v = g[j]!;
        if (Math.abs(v) <= xi) expect(out[j], `gate ${j}`).toBe(0);
        else expect(out[j], `gate ${j}`).toBe(Math.fround(v > 0 ? v - xi : v + xi));
        expect(Math.abs(out[j]! - expected[j]!)).toBeLessThan(1e-7);
      }
      const nonzero = Array.from(out).filter((v) => v !== 0).length;
      expect(nonzero).toBe(4);
      expect(Array.from(await rt.read(ad.nonzeroGates))).toEqual([nonzero]);
    } finally {
      fit.destroy();
    }
  });

  it('zero-initialised W_u: base output bit for bit; a large λ drives every gate to 0 and the metric drops', async () => {
    const rt = await testRuntime();
    const r = 4;
    const fit = buildLinearFit(rt, { factory: soraAdapter, config: { rank: r, alpha: 4, lambda: 5 }, n: 10, m: 8, rows: 16, seed: 7, targetRank: 2, targetScale: 0.5 });
    const metric: number[] = [];
    const losses: number[] = [];
    const trainer = new Trainer(rt, fit.graph, {
      lr: 0.05,
      metricInterval: 10,
      onMetrics: (rows) => rows.forEach((row) => (metric.push(row.values['layer.nonzero_gates']!), losses.push(row.values.loss!))),
    });
    try {
      const ad = fit.adapter as SoraAdapter;
      const { yBase, yAdapted, adapted } = await baseAndAdaptedOutputs(rt, fit);
      expect(bits(yAdapted)).toEqual(bits(yBase));

      await trainer.run(30);
      await trainer.drain();
      expect(metric).toHaveLength(30);
      expect(metric[0]).toBe(r); // 1 − (Adam step ≤ ~0.05) − 0.25 > 0
      expect(metric[29]).toBe(0);
      for (let i = 1; i < 30; i++) expect(metric[i]!).toBeLessThanOrEqual(metric[i - 1]!);
      expect(Array.from(await rt.read(ad.gate!.value))).toEqual(new Array(r).fill(0));
      expect(Array.from(await rt.read(ad.nonzeroGates))).toEqual([0]);
      // All gates 0: the adapter contributes exactly nothing, whatever W_u learned.
      expect((await rt.read(ad.up.value)).some((v) => v !== 0)).toBe(true);
      rt.submit([adapted]);
      expect(bits(await rt.read(fit.layer.out.value))).toEqual(bits(yBase));
      expect(losses.every(Number.isFinite)).toBe(true);
    } finally {
      trainer.destroy();
      fit.destroy();
    }
  });

  it('with a small λ it still fits a low-rank target, keeping some gates', async () => {
    const rt = await testRuntime();
    const fit = buildLinearFit(rt, { factory: soraAdapter, config: { rank: 4, alpha: 4, lambda: 0.05 }, n: 16, m: 12, rows: 64, seed: 9, targetRank: 2, targetScale: 0.5 });
    const losses: number[] = [];
    const metric: number[] = [];
    const trainer = new Trainer(rt, fit.graph, { lr: 0.02, metricInterval: 50, onMetrics: (rows) => rows.forEach((row) => (losses.push(row.values.loss!), metric.push(row.values['layer.nonzero_gates']!))) });
    try {
      await trainer.run(300);
      await trainer.drain();
      expect(losses[0]! / losses[299]!).toBeGreaterThanOrEqual(10);
      expect(metric[299]!).toBeGreaterThanOrEqual(2); // the target has rank 2
    } finally {
      trainer.destroy();
      fit.destroy();
    }
  });
});
