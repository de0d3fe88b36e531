import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MetricRing } from '../src/engine/metric-ring';
import { CommandList } from '../src/engine/runtime';
import { StepParams } from '../src/engine/step-params';
import { recordWriteMetric, recordWriteMetrics } from '../src/kernels/metrics';
import { shader } from '../src/kernels/shader-sources';
import { testRuntime } from './helpers/gpu';

// A rejected dispatch (validation error) must fail the test, not just log.
beforeEach(async () => {
  (await testRuntime()).device.pushErrorScope('validation');
});
afterEach(async () => {
  const err = await (await testRuntime()).device.popErrorScope();
  expect(err?.message ?? null, 'WebGPU validation error').toBeNull();
});

describe('metric writes', () => {
  it('metrics.wgsl compiles', async () => {
    const rt = await testRuntime();
    expect(await rt.shaderErrors(shader('metrics'))).toEqual([]);
  });

  it('writes scalars into row `slot` of the history, one dispatch for up to six', async () => {
    const rt = await testRuntime();
    const fields = 8;
    const interval = 3;
    const ring = new MetricRing(rt, Array.from({ length: fields }, (_, i) => `f${i}`), interval);
    const sp = new StepParams(rt);
    const srcs = Array.from({ length: 7 }, (_, i) => rt.tensor([2], `s${i}`, [10 + i, -1]));
    const list = new CommandList('m');
    // seven sources → two dispatches; field order deliberately scrambled
    const fieldOf = [5, 0, 7, 2, 1, 6, 3];
    recordWriteMetrics(rt, list, { srcs: srcs.map((src, i) => ({ src, field: fieldOf[i]! })), history: ring.history, fields, stepParams: sp.buffer });
    expect(list.dispatchCount).toBe(2);
    const single = new CommandList('one');
    recordWriteMetric(rt, single, { src: srcs[0]!, history: ring.history, fields, field: 4, stepParams: sp.buffer });
    expect(single.dispatchCount).toBe(1);
    sp.set({ step: 4, slot: 1, lr: 0.1 });
    rt.submit([list, single]);
    const h = await rt.read(ring.history);
    for (let r = 0; r < interval; r++) {
      for (let f = 0; f < fields; f++) {
        const k = fieldOf.indexOf(f);
        const want = r !== 1 ? 0 : f === 4 ? 10 : 10 + k;
        expect(h[r * fields + f], `row ${r} field ${f}`).toBe(want);
      }
    }
    // slot outside the history: nothing written
    sp.set({ step: 5, slot: 3, lr: 0.1 });
    rt.write(srcs[0]!, [99, 99]);
    rt.submit([single]);
    expect(Array.from(await rt.read(ring.history))).toEqual(Array.from(h));
    ring.destroy();
  });

  it('round-trips through the MetricRing flush', async () => {
    const rt = await testRuntime();
    const ring = new MetricRing(rt, ['loss', 'grad_norm'], 2);
    const sp = new StepParams(rt);
    const loss = rt.tensor([1], 'loss');
    const norm = rt.tensor([1], 'norm');
    const list = new CommandList('m');
    recordWriteMetrics(rt, list, { srcs: [{ src: loss, field: 0 }, { src: norm, field: 1 }], history: ring.history, fields: 2, stepParams: sp.buffer });
    const rows: { step: number; values: Record<string, number> }[] = [];
    for (let step = 0; step < 4; step++) {
      rt.write(loss, [step + 0.5]);
      rt.write(norm, [step * 2]);
      sp.set({ step, slot: ring.slotOf(step), lr: 0 });
      rt.submit([list], (enc) => ring.encodeFlush(enc, step));
      const p = ring.afterSubmit();
      if (p) rows.push(...(await p));
    }
    expect(rows).toEqual([0, 1, 2, 3].map((s) => ({ step: s, values: { loss: s + 0.5, grad_norm: s * 2 } })));
    ring.destroy();
  });
});
