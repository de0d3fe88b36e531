/**
 * The linear-fit task with a minimal test-local adapter (a trainable output offset δ: y += δ),
 * so the task itself is checked independently of the real adapters: the target matches its
 * definition, the step-0 loss is the base model's MSE, and training the offset lowers it.
 */
import { describe, expect, it } from 'vitest';
import type { Adapter, AdapterMath } from '../src/adapters/adapter';
import { mixSeed, Rng } from '../src/engine/rng';
import { recordBroadcastAdd } from '../src/kernels/elementwise';
import { recordColSum } from '../src/kernels/reduce';
import { buildLinearFit, makeLinearFitTargetDelta, type LinearFitConfig } from '../src/tasks/linear-fit';
import { Trainer } from '../src/train/trainer';
import { testRuntime } from './helpers/gpu';

const offsetAdapter: AdapterMath<Record<string, never>> = {
  kind: 'lora',
  sites: ['linear'],
  validate() {},
  attach(ctx, site) {
    if (site.kind !== 'linear') throw new Error('linear only');
    const out = site.layer.opts.outDim;
    const delta = ctx.trainable.add(`${site.path}.offset`, [out], new Float32Array(out), { decay: false });
    site.layer.adapter = {
      recordForward(list, _x, y) {
        recordBroadcastAdd(ctx.rt, list, delta.value, y);
      },
      recordBackward(list, _x, dy) {
        recordColSum(ctx.rt, list, { x: dy, out: delta.grad, rows: site.rows, cols: out });
      },
    };
    const a: Adapter = {
      kind: 'lora',
      path: site.path,
      params: [delta],
      latentCount: out,
      latentLabel: 'rank',
      trainableParameterCount: () => out,
      setMask() {},
      destroy() {},
    };
    return a;
  },
};

describe('linear-fit task', () => {
  it('target = base + relu delta; step-0 loss is the base MSE; training an offset lowers it', async () => {
    const rt = await testRuntime();
    const cfg: LinearFitConfig = { rows: 16, inDim: 6, outDim: 5, samples: 48, seed: 3 };
    const fit = buildLinearFit(rt, offsetAdapter, {}, cfg);
    const { x, y } = fit.data;
    const { weight: W, bias: b } = fit.base0;
    const { A, B, hidden } = makeLinearFitTargetDelta(cfg);
    // The target, recomputed independently for one sample.
    const s = 11;
    for (let o = 0; o < 5; o++) {
      let v = b[o]!;
      for (let i = 0; i < 6; i++) v += x[s * 6 + i]! * W[o * 6 + i]!;
      for (let j = 0; j < hidden; j++) {
        let a = 0;
        for (let i = 0; i < 6; i++) a += x[s * 6 + i]! * A[j * 6 + i]!;
        v += Math.max(0, a) * B[o * hidden + j]!;
      }
      expect(y[s * 5 + o]).toBeCloseTo(v, 5);
    }
    // Base output on the first 16 samples = x·Wᵀ + b.
    const out = await fit.evaluate(x.subarray(0, 16 * 6));
    let maxErr = 0;
    for (let r = 0; r < 16; r++) {
      for (let o = 0; o < 5; o++) {
        let v = b[o]!;
        for (let i = 0; i < 6; i++) v += x[r * 6 + i]! * W[o * 6 + i]!;
        maxErr = Math.max(maxErr, Math.abs(out[r * 5 + o]! - v));
      }
    }
    expect(maxErr).toBeLessThan(1e-5);

    const losses: number[] = [];
    const trainer = new Trainer(rt, fit.graph, { lr: 0.05, metricInterval: 3, onMetrics: (rows) => rows.forEach((r) => losses.push(r.values['loss']!)) });
    await trainer.run(60);
    await trainer.drain();
    expect(losses.length).toBe(60);
    // Step 0 (batch = the first 16 of the epoch-0 shuffle) has the base model's MSE on that batch.
    const order = new Rng(mixSeed(3, 0, 0)).shuffle(Array.from({ length: 48 }, (_, i) => i)).slice(0, 16);
    let sse = 0;
    for (const s0 of order) {
      for (let o = 0; o < 5; o++) {
        let v = b[o]!;
        for (let i = 0; i < 6; i++) v += x[s0 * 6 + i]! * W[o * 6 + i]!;
        sse += (v - y[s0 * 5 + o]!) ** 2;
      }
    }
    expect(losses[0]).toBeGreaterThan(0);
    expect(Math.abs(losses[0]! - sse / 80) / (sse / 80)).toBeLessThan(1e-4);
    const tail = losses.slice(-3).reduce((a, c) => a + c, 0) / 3;
    expect(tail).toBeLessThan(0.8 * (losses.slice(0, 3).reduce((a, c) => a + c, 0) / 3));
    expect(trainer.lastStepCounters!.submits).toBe(1);
    expect(trainer.lastStepCounters!.readbacks).toBe(0);
    trainer.destroy();
    fit.destroy();
  });
});
