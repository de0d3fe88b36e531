/**
 * The STAN adapter on a frozen Linear:
 *  - backward (dx, dE, dD) vs float64 central finite differences of the float64 CPU forward
 *    (inputs checked to be away from top-k ties): ≤ 1e-3 on the GPU, ≤ 1e-6 for the CPU reference;
 *  - D = 0 reproduces the base output bit for bit; masking every latent does too after training;
 *    masking one latent changes only the rows that selected it; setK changes outputs at once;
 *  - it fits a small non-linear target with Adam; config validation names the field.
 */
import { describe, expect, it } from 'vitest';
import { adapterModule } from '../src/adapters/registry';
import { stanAdapter, type StanAdapter, type StanConfig } from '../src/adapters/stan';
import { ConfigError } from '../src/engine/errors';
import { CommandList, type GpuRuntime } from '../src/engine/runtime';
import { recordMatmul } from '../src/kernels/matmul';
import { stanBackwardCpu, stanForwardCpu, type StanCpuArgs } from '../src/kernels/stan-sparse';
import { Linear } from '../src/nn/linear';
import { buildLinearFit, type LinearFit } from '../src/tasks/linear-fit';
import { Trainer } from '../src/train/trainer';
import { checkGradient } from './helpers/finite-diff';
import { randomArray, testRuntime } from './helpers/gpu';

const f64 = (a: ArrayLike<number>) => Float64Array.from(a as ArrayLike<number>);

/** Smallest gap, over rows, between the k-th and (k+1)-th keys (∞ when k = l). */
function selectionMargin(z: Float64Array, rows: number, l: number, k: number, abs: boolean): number {
  if (k === l) return Infinity;
  let min = Infinity;
  for (let r = 0; r < rows; r++) {
    const keys = Array.from(z.subarray(r * l, (r + 1) * l), (v) => (abs ? Math.abs(v) : v)).sort((a, b) => b - a);
    min = Math.min(min, keys[k - 1]! - keys[k]!);
  }
  return min;
}

function stan(fit: LinearFit): StanAdapter {
  return fit.adapter as StanAdapter;
}

interface FdCase {
  name: string;
  config: StanConfig;
  rows: number;
  n: number;
  m: number;
  mask?: number[];
  kActive?: number;
}

const fdCases: FdCase[] = [
  { name: 'signed, k = 3 of l = 10', config: { expansion: 2, k: 3, topk: 'signed' }, rows: 6, n: 5, m: 4 },
  { name: 'abs, k = 4 of l = 14, widths not multiples of 4', config: { expansion: 2, k: 4, topk: 'abs' }, rows: 5, n: 7, m: 3 },
  { name: 'mask + k override', config: { expansion: 3, k: 5, topk: 'signed' }, rows: 4, n: 4, m: 6, mask: [1, 0, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1], kActive: 3 },
  { name: 'dense k = l (n-latents, the dense path)', config: { expansion: 1.5, k: 6, topk: 'signed' }, rows: 3, n: 4, m: 5 },
  { name: 'dense k = l with a mask (the dense path)', config: { expansion: 2, k: 10, topk: 'abs' }, rows: 5, n: 5, m: 3, mask: [1, 1, 0, 1, 1, 1, 0, 1, 1, 1] },
  { name: 'k = l through the top-k kernels (explicit topkVariant)', config: { expansion: 1.5, k: 6, topk: 'signed', topkVariant: 'thread' }, rows: 3, n: 4, m: 5 },
];

async function buildFd(rt: GpuRuntime, c: FdCase, seed: number) {
  const fit = buildLinearFit(rt, stanAdapter, c.config, { rows: c.rows, inDim: c.n, outDim: c.m, inputGrad: true, seed });
  const a = stan(fit);
  const { l } = a;
  const Dv = randomArray(c.m * l, seed + 1, -0.8, 0.8);
  rt.write(a.D.value, Dv);
  if (c.mask) a.setMask(Float32Array.from(c.mask));
  if (c.kActive) a.setK(c.kActive);
  return { fit, a, Dv, Ev: a.E.init };
}

describe('STAN backward vs finite differences', () => {
  for (const [ci, c] of fdCases.entries()) {
    it(c.name, async () => {
      const rt = await testRuntime();
      const seed = 40 + ci;
      const { fit, a, Dv, Ev } = await buildFd(rt, c, seed);
      const { rows, n, m } = c;
      const { l, k } = a;
      const abs = c.config.topk === 'abs';
      const xv = randomArray(rows * n, seed + 2);
      const dyv = randomArray(rows * m, seed + 3);
      const args = (x: ArrayLike<number>, E: ArrayLike<number>, D: ArrayLike<number>): StanCpuArgs => ({
        x,
        E,
        D,
        rows,
        n,
        m,
        l,
        k,
        mode: c.config.topk,
        ...(c.mask ? { mask: c.mask } : {}),
        ...(c.kActive ? { kActive: c.kActive } : {}),
      });
      const x64 = f64(xv);
      const E64 = f64(Ev);
      const D64 = f64(Dv);
      const { z } = stanForwardCpu(args(x64, E64, D64));
      // Precondition: selection is stable under the ±1e-6 perturbations below.
      expect(selectionMargin(z, rows, l, k, abs)).toBeGreaterThan(1e-3);

      rt.write(fit.input.value, xv);
      rt.write(fit.base.out.grad!, dyv);
      rt.submit([fit.graph.forward, fit.graph.backward]);
      const gdx = await rt.read(fit.input.grad!);
      const gdE = await rt.read(a.E.grad);
      const gdD = await rt.read(a.D.grad);
      const gIdx = new Uint32Array((await rt.read(a.code.indices)).buffer);

      const ref = stanForwardCpu(args(x64, E64, D64));
      const densePath = k === l && (c.config.topkVariant ?? 'auto') === 'auto';
      // The dense path's slots are the latents in order; the top-k kernels order them by key.
      if (densePath) expect(Array.from(gIdx)).toEqual(Array.from({ length: rows * l }, (_, i) => i % l));
      else expect(Array.from(gIdx)).toEqual(Array.from(ref.indices));

      // f = ⟨dy, x·W0ᵀ + b + Δ(x)⟩ over the whole adapted layer.
      const { weight: W, bias: b } = fit.base0;
      const f = (x: Float64Array, E: Float64Array, D: Float64Array) => {
        const { delta } = stanForwardCpu(args(x, E, D));
        let s = 0;
        for (let r = 0; r < rows; r++) {
          for (let o = 0; o < m; o++) {
            let v = b[o]! + delta[r * m + o]!;
            for (let i = 0; i < n; i++) v += x[r * n + i]! * W[o * n + i]!;
            s += dyv[r * m + o]! * v;
          }
        }
        return s;
      };
      const errX = checkGradient((x) => f(x, E64, D64), x64, gdx);
      const errE = checkGradient((E) => f(x64, E, D64), E64, gdE);
      const errD = checkGradient((D) => f(x64, E64, D), D64, gdD);
      expect(errX, 'dx (GPU)').toBeLessThan(1e-3);
      expect(errE, 'dE (GPU)').toBeLessThan(1e-3);
      expect(errD, 'dD (GPU)').toBeLessThan(1e-3);

      // The CPU reference backward (Δ only) against finite differences of ⟨dy, Δ⟩.
      const cpu = stanBackwardCpu({ ...args(x64, E64, D64), dy: dyv });
      const g = (x: Float64Array, E: Float64Array, D: Float64Array) => {
        const { delta } = stanForwardCpu(args(x, E, D));
        let s = 0;
        for (let i = 0; i < delta.length; i++) s += dyv[i]! * delta[i]!;
        return s;
      };
      expect(checkGradient((x) => g(x, E64, D64), x64, cpu.dx), 'dx (CPU)').toBeLessThan(1e-6);
      expect(checkGradient((E) => g(x64, E, D64), E64, cpu.dE), 'dE (CPU)').toBeLessThan(1e-6);
      expect(checkGradient((D) => g(x64, E64, D), D64, cpu.dD), 'dD (CPU)').toBeLessThan(1e-6);
      // The gradient really is sparse: latents never selected get exactly zero.
      const selected = new Set(Array.from(ref.indices).filter((_, s) => s % k < (c.kActive ?? k) && !(c.mask && c.mask[ref.indices[s]!] === 0)));
      for (let i = 0; i < l; i++) {
        if (selected.has(i)) continue;
        for (let q = 0; q < n; q++) expect(gdE[i * n + q]).toBe(0);
        for (let q = 0; q < m; q++) expect(gdD[q * l + i]).toBe(0);
      }
      fit.destroy();
    });
  }
});

describe('STAN n-latents (k = l): dense path vs the top-k kernels', () => {
  it('same outputs and gradients (dx, dE, dD) at k = l, awkward widths and a mask; no top-k dispatch on the dense path; k\' < l refused there', async () => {
    const rt = await testRuntime();
    const rows = 37;
    const n = 6;
    const m = 5;
    const out: Record<string, { y: Float32Array; dx: Float32Array; dE: Float32Array; dD: Float32Array; labels: string[] }> = {};
    const mask = Float32Array.from({ length: 9 }, (_, i) => (i === 4 ? 0 : 1));
    for (const variant of ['auto', 'thread'] as const) {
      const fit = buildLinearFit(rt, stanAdapter, { expansion: 1.5, k: 9, topk: 'signed', topkVariant: variant }, { rows, inDim: n, outDim: m, inputGrad: true, seed: 77 });
      const a = stan(fit);
      expect(a.l).toBe(9);
      rt.write(a.D.value, randomArray(m * a.l, 78, -0.8, 0.8));
      a.setMask(mask);
      rt.write(fit.input.value, randomArray(rows * n, 79));
      rt.write(fit.base.out.grad!, randomArray(rows * m, 80));
      rt.submit([fit.graph.forward, fit.graph.backward]);
      out[variant] = {
        y: await rt.read(fit.base.out.value),
        dx: await rt.read(fit.input.grad!),
        dE: await rt.read(a.E.grad),
        dD: await rt.read(a.D.grad),
        labels: [...fit.graph.forward.ops, ...fit.graph.backward.ops].map((o) => o.label),
      };
      if (variant === 'auto') {
        expect(() => a.setK(5)).toThrow(ConfigError);
        expect(() => a.setK(9)).not.toThrow();
      }
      fit.destroy();
    }
    const close = (got: Float32Array, want: Float32Array) => {
      let worst = 0;
      const scale = Math.max(1e-6, ...Array.from(want, Math.abs));
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / scale);
      return worst;
    };
    for (const key of ['y', 'dx', 'dE', 'dD'] as const) expect(close(out.auto![key], out.thread![key]), key).toBeLessThan(1e-5);
    // Not vacuous: the gradients are non-zero, and the masked latent gets none.
    expect(Math.max(...Array.from(out.auto!.dE, Math.abs))).toBeGreaterThan(1e-3);
    for (let q = 0; q < m; q++) expect(out.auto!.dD[q * 9 + 4]).toBe(0);
    expect(out.auto!.labels.some((lb) => /topk/.test(lb))).toBe(false);
    expect(out.thread!.labels.some((lb) => /topk/.test(lb))).toBe(true);
  });
});

/** The base layer's output alone: the same matmul the Linear records, into a separate tensor. */
function baseOutput(rt: GpuRuntime, fit: LinearFit): { list: CommandList; y: ReturnType<GpuRuntime['tensor']> } {
  const lin: Linear = fit.base;
  const y = rt.tensor([fit.rows, lin.opts.outDim], 'y.base');
  const list = new CommandList('base');
  recordMatmul(rt, list, { a: fit.input.value, b: lin.weight.value, c: y, M: fit.rows, N: lin.opts.outDim, K: lin.opts.inDim, transB: true, ...(lin.bias ? { bias: lin.bias.value } : {}), label: `${lin.name}.fwd` });
  return { list, y };
}

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

describe('STAN controls', () => {
  it('D = 0 reproduces the base output bit for bit; after training, masking every latent does too; one latent changes only its rows; setK applies at once', async () => {
    const rt = await testRuntime();
    const rows = 24;
    const fit = buildLinearFit(rt, stanAdapter, { expansion: 2, k: 4, topk: 'signed' }, { rows, inDim: 8, outDim: 6, samples: 24, seed: 9 });
    const a = stan(fit);
    const base = baseOutput(rt, fit);
    const x = fit.data.x.subarray(0, rows * 8);
    const y0 = await fit.evaluate(x);
    rt.submit([base.list]);
    const yb = await rt.read(base.y);
    expect(bits(y0)).toEqual(bits(yb));

    const trainer = new Trainer(rt, fit.graph, { lr: 0.02, metricInterval: 10 });
    await trainer.run(30);
    await trainer.drain();
    const yTrained = await fit.evaluate(x);
    expect(bits(yTrained)).not.toEqual(bits(yb));

    // Every latent off: exactly the base output again.
    a.setMask(new Float32Array(a.l));
    expect(bits(await fit.evaluate(x))).toEqual(bits(yb));

    // One latent off: only rows that selected it change.
    a.setMask(null);
    const y1 = await fit.evaluate(x);
    expect(bits(y1)).toEqual(bits(yTrained));
    const idx = new Uint32Array((await rt.read(a.code.indices)).buffer);
    const counts = new Map<number, number>();
    for (const i of idx) counts.set(i, (counts.get(i) ?? 0) + 1);
    const target = [...counts.entries()].filter(([, c]) => c < rows).sort((p, q) => q[1] - p[1])[0]![0];
    const maskOne = new Float32Array(a.l).fill(1);
    maskOne[target] = 0;
    a.setMask(maskOne);
    const y2 = await fit.evaluate(x);
    let changedRows = 0;
    for (let r = 0; r < rows; r++) {
      const selects = Array.from(idx.subarray(r * 4, r * 4 + 4)).includes(target);
      const same = bits(y2.subarray(r * 6, r * 6 + 6)).join() === bits(y1.subarray(r * 6, r * 6 + 6)).join();
      expect(same, `row ${r} (selects latent ${target}: ${selects})`).toBe(!selects);
      if (!same) changedRows++;
    }
    expect(changedRows).toBe(counts.get(target));
    // The masked latent still occupies its slot, with value 0 (not replaced).
    const idx2 = new Uint32Array((await rt.read(a.code.indices)).buffer);
    expect(Array.from(idx2)).toEqual(Array.from(idx));
    const vals2 = await rt.read(a.code.values);
    for (let s = 0; s < idx2.length; s++) if (idx2[s] === target) expect(vals2[s]).toBe(0);
    a.setMask(null);

    // setK without re-recording: matches the CPU forward with k' at the trained parameters.
    const params = await fit.packs.trainable.readAll();
    const E = params.get('base.stan_E.weight')!;
    const D = params.get('base.stan_D.weight')!;
    for (const kk of [1, 2, 4]) {
      a.setK(kk);
      expect(a.activeK).toBe(kk);
      const y = await fit.evaluate(x);
      const { delta } = stanForwardCpu({ x, E, D, rows, n: 8, m: 6, l: a.l, k: 4, mode: 'signed', kActive: kk });
      let maxErr = 0;
      for (let i = 0; i < y.length; i++) maxErr = Math.max(maxErr, Math.abs(y[i]! - (yb[i]! + delta[i]!)));
      expect(maxErr, `k' = ${kk}`).toBeLessThan(1e-5);
      const vals = await rt.read(a.code.values);
      for (let r = 0; r < rows; r++) for (let s = kk; s < 4; s++) expect(vals[r * 4 + s]).toBe(0);
    }
    const y4 = await fit.evaluate(x);
    a.setK(1);
    expect(bits(await fit.evaluate(x))).not.toEqual(bits(y4));
    trainer.destroy();
    fit.destroy();
  });

  it('fits W0·x + relu delta on a frozen 32×32 Linear: loss falls ≥ 10× within 300 Adam steps, 1 submit and 0 readbacks per step', async () => {
    const rt = await testRuntime();
    const fit = buildLinearFit(rt, stanAdapter, { expansion: 2, k: 8, topk: 'signed' }, { rows: 128, inDim: 32, outDim: 32, seed: 5 });
    const losses: number[] = [];
    const trainer = new Trainer(rt, fit.graph, { lr: 0.01, metricInterval: 25, onMetrics: (r) => r.forEach((q) => losses.push(q.values['loss']!)) });
    await trainer.run(300);
    await trainer.drain();
    expect(losses.length).toBe(300);
    const first = losses[0]!;
    const last = Math.min(...losses.slice(-10));
    expect(first).toBeGreaterThan(0.05);
    expect(first / last).toBeGreaterThanOrEqual(10);
    expect(trainer.lastStepCounters!.submits).toBe(1);
    expect(trainer.lastStepCounters!.readbacks).toBe(0);
    expect(trainer.lastStepCounters!.buffers).toBe(0);
    expect(trainer.lastStepCounters!.pipelines).toBe(0);
    trainer.destroy();
    fit.destroy();
  });
});

describe('STAN parameters and configuration', () => {
  it('PEFT-style names and shapes, unit-norm E rows, D = 0, parameter count; registered', async () => {
    const rt = await testRuntime();
    const fit = buildLinearFit(rt, stanAdapter, { expansion: 1.5, k: 5, topk: 'abs' }, { rows: 4, inDim: 10, outDim: 7, seed: 1, path: 'blocks.0.mlp.fc1' });
    const a = stan(fit);
    expect(a.l).toBe(15);
    expect(a.latentCount).toBe(15);
    expect(a.latentLabel).toBe('latent');
    expect(a.params.map((p) => [p.name, p.shape])).toEqual([
      ['blocks.0.mlp.fc1.stan_E.weight', [15, 10]],
      ['blocks.0.mlp.fc1.stan_D.weight', [7, 15]],
    ]);
    expect(a.trainableParameterCount()).toBe(15 * 10 + 7 * 15);
    expect(a.params.every((p) => p.decay)).toBe(true);
    for (let i = 0; i < 15; i++) {
      let s = 0;
      for (let c = 0; c < 10; c++) s += a.E.init[i * 10 + c]! ** 2;
      expect(Math.sqrt(s)).toBeCloseTo(1, 6);
    }
    expect(a.D.init.every((v) => v === 0)).toBe(true);
    expect(a.code.k).toBe(5);
    expect(a.code.rows).toBe(4);
    expect(adapterModule('stan')).toBe(stanAdapter);
    expect(() => a.setK(0)).toThrow(ConfigError);
    expect(() => a.setK(6)).toThrow(/k: override must be an integer in \[1, 5\]/);
    expect(() => a.setMask(new Float32Array(3))).toThrow(/mask: must have one entry per latent \(15\)/);
    fit.destroy();
  });

  it('validation names the field and the allowed range', async () => {
    const rt = await testRuntime();
    const fit = buildLinearFit(rt, stanAdapter, stanAdapter.settings.defaults, { rows: 2, inDim: 8, outDim: 3, seed: 2 });
    const site = { kind: 'linear' as const, path: 'p', layer: fit.base, rows: 2 };
    const v = (c: Partial<StanConfig>) => () => stanAdapter.validate({ ...stanAdapter.settings.defaults, ...c }, site);
    const field = (fn: () => void): string => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as ConfigError).field;
      }
      return 'no error';
    };
    expect(field(v({ k: 0 }))).toBe('k');
    expect(field(v({ k: 17 }))).toBe('k'); // l = 16
    expect(v({ k: 17 })).toThrow(/k: must be an integer in \[1, 16\]/);
    expect(field(v({ k: 2.5 }))).toBe('k');
    expect(field(v({ expansion: 0 }))).toBe('expansion');
    expect(field(v({ expansion: -1 }))).toBe('expansion');
    expect(field(v({ expansion: Number.NaN }))).toBe('expansion');
    expect(field(v({ expansion: 0.01 }))).toBe('expansion'); // l = round(0.08) = 0
    expect(v({ expansion: 0.01 })).toThrow(/l = round\(0.01 × 8\) = 0/);
    expect(field(v({ topk: 'relu' as 'abs' }))).toBe('topk');
    expect(field(v({ initD: 'gauss' as 'zero' }))).toBe('initD');
    expect(field(v({ topkVariant: 'workgroup', k: 2000, expansion: 2000 }))).toBe('topkVariant'); // l = 16000, k above the workgroup sort
    expect(field(v({ k: 16 }))).toBe('no error');
    expect(field(v({ k: 1, expansion: 0.125 }))).toBe('no error'); // l = 1
    fit.destroy();
  });
});
