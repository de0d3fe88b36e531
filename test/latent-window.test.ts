/**
 * Windowed latent statistics (src/analysis/latent-window.ts): the GPU ring of per-step slots and
 * its reduce equal the float64 reference over the same rows — sparse codes from the GPU top-k
 * (negative selected values, k overrides, out-of-range labels, an unlabelled step), dense codes,
 * the ‖ΔO‖/‖O‖ sums, more steps than slots (the window slides) — and the totals travel back with
 * the metric ring's flush (snapshots) without an extra submit or readback. The standard metrics
 * (src/analysis/latent-metrics.ts) on constructed counts.
 */
import { describe, expect, it } from 'vitest';
import { LatentWindow, latentWindowCpu, windowAsStats, type LatentWindowSnapshot, type WindowBatchCpu } from '../src/analysis/latent-window';
import { densityHistogram, siteMetrics } from '../src/analysis/latent-metrics';
import { meanFrequency } from '../src/analysis/latent-stats';
import { MetricRing } from '../src/engine/metric-ring';
import { CommandList } from '../src/engine/runtime';
import { StepParams } from '../src/engine/step-params';
import { createTopKOverride, recordTopK, writeTopKOverride, type TopKMode } from '../src/kernels/topk';
import { maxRelError, randomArray, testRuntime } from './helpers/gpu';

function compare(got: LatentWindowSnapshot, ref: LatentWindowSnapshot): void {
  expect(got.rows).toBe(ref.rows);
  expect(Array.from(got.count)).toEqual(Array.from(ref.count));
  expect(maxRelError(got.sum, ref.sum)).toBeLessThan(1e-5);
  expect(maxRelError(got.classSums, ref.classSums)).toBeLessThan(1e-5);
  expect(Math.abs(got.sqDelta - ref.sqDelta)).toBeLessThanOrEqual(1e-5 * Math.max(1, ref.sqDelta));
  expect(Math.abs(got.sqOut - ref.sqOut)).toBeLessThanOrEqual(1e-5 * Math.max(1, ref.sqOut));
}

async function sparseCase(mode: TopKMode, opts: { rows: number; l: number; k: number; classes: number; slots: number; steps: number; width: number }) {
  const rt = await testRuntime();
  const { rows, l, k, classes, slots, width } = opts;
  const z = rt.tensor([rows, l], 'z');
  const indices = rt.tensor([rows, k], 'idx');
  const values = rt.tensor([rows, k], 'val');
  const labels = rt.tensor([rows], 'labels');
  const delta = rt.tensor([rows, width], 'delta');
  const out = rt.tensor([rows, width], 'out');
  const kbuf = createTopKOverride(rt, k);
  const win = new LatentWindow(rt, { l, slots, rows, classes, mode, label: 'test-window' });
  const sp = new StepParams(rt);
  const labelled = new CommandList('labelled');
  recordTopK(rt, labelled, { x: z, rows, l, k, indices, values, mode, kOverride: kbuf });
  const topkOp = labelled.ops[0]!;
  win.record(labelled, { kind: 'sparse', code: { indices, values, rows, k } }, labels, sp, { delta, out, width });
  const unlabelled = new CommandList('unlabelled');
  unlabelled.push(topkOp);
  win.record(unlabelled, { kind: 'sparse', code: { indices, values, rows, k } }, null, sp, { delta, out, width });
  const batches: WindowBatchCpu[] = [];
  for (let step = 0; step < opts.steps; step++) {
    // Some latents fire only in early steps: they must leave the window when it slides past them.
    const zv = randomArray(rows * l, 100 + step).map((v, i) => v - (i % l < l / 4 && step > 1 ? 3 : 0));
    const lab = Float32Array.from(randomArray(rows, 200 + step), (v) => Math.floor((v + 1) * 0.5 * (classes + 1)) - (step === 1 ? 1 : 0));
    const dv = randomArray(rows * width, 300 + step);
    const ov = randomArray(rows * width, 400 + step, -2, 3);
    rt.write(z, zv);
    rt.write(labels, lab);
    rt.write(delta, dv);
    rt.write(out, ov);
    writeTopKOverride(rt, kbuf, step % 4 === 2 ? Math.max(1, k - 2) : k);
    sp.set({ step, slot: 0, lr: 0 });
    const withLabels = step % 5 !== 3;
    rt.submit([withLabels ? labelled : unlabelled]);
    const idx = new Uint32Array((await rt.read(indices)).buffer);
    const val = await rt.read(values);
    batches.push({ indices: idx, values: val, k, labels: withLabels ? lab : null, rows, step, delta: dv, out: ov });
  }
  return { rt, win, batches };
}

describe('LatentWindow on the GPU vs the float64 reference over the same rows', () => {
  it('signed top-k, window slides past early-firing latents, labels and an unlabelled step, ΔO/O sums', async () => {
    const { win, batches } = await sparseCase('signed', { rows: 37, l: 40, k: 9, classes: 3, slots: 4, steps: 11, width: 13 });
    const got = await win.read();
    const ref = latentWindowCpu(batches, { l: 40, slots: 4, classes: 3, mode: 'signed' });
    compare(got, ref);
    expect(got.rows).toBe(4 * 37);
    // The window really excludes the first steps: latents < l/4 fired early, far less later.
    const all = latentWindowCpu(batches, { l: 40, slots: 1000, classes: 3, mode: 'signed' });
    let early = 0;
    let inWindow = 0;
    for (let i = 0; i < 10; i++) ((early += all.count[i]!), (inWindow += got.count[i]!));
    expect(early).toBeGreaterThan(inWindow);
    expect(got.sqDelta).toBeGreaterThan(0);
    win.destroy();
  });

  it('abs top-k with fewer steps than slots (a partly filled window)', async () => {
    const { win, batches } = await sparseCase('abs', { rows: 50, l: 65, k: 8, classes: 4, slots: 16, steps: 5, width: 4 });
    const got = await win.read();
    compare(got, latentWindowCpu(batches, { l: 65, slots: 16, classes: 4, mode: 'abs' }));
    expect(got.rows).toBe(5 * 50);
    win.destroy();
  });

  it('dense codes (atoms S): exact zeros are inactive, abs mode counts negative codes', async () => {
    const rt = await testRuntime();
    const rows = 19;
    const l = 70;
    const slots = 3;
    const values = rt.tensor([rows, l], 'S');
    const labels = rt.tensor([rows], 'labels');
    for (const mode of ['abs', 'signed'] as const) {
      const win = new LatentWindow(rt, { l, slots, rows, classes: 10, mode });
      const sp = new StepParams(rt);
      const list = new CommandList('dense');
      win.record(list, { kind: 'dense', values, rows }, labels, sp);
      const batches: WindowBatchCpu[] = [];
      for (let step = 0; step < 7; step++) {
        const s = randomArray(rows * l, 500 + step).map((v) => (Math.abs(v) < 0.6 ? 0 : v));
        const lab = Float32Array.from({ length: rows }, (_, r) => (r * 7 + step) % 11); // 10 is out of range
        rt.write(values, s);
        rt.write(labels, lab);
        sp.set({ step, slot: 0, lr: 0 });
        rt.submit([list]);
        batches.push({ values: s, labels: lab, rows, step });
      }
      compare(await win.read(), latentWindowCpu(batches, { l, slots, classes: 10, mode }));
      win.destroy();
    }
  });

  it('the totals travel back with the metric ring flush: no extra submit, no awaited readback', async () => {
    const rt = await testRuntime();
    const rows = 8;
    const l = 12;
    const values = rt.tensor([rows, l], 'S');
    const win = new LatentWindow(rt, { l, slots: 3, rows, mode: 'abs' });
    const sp = new StepParams(rt);
    const step = new CommandList('step');
    win.record(step, { kind: 'dense', values, rows }, null, sp);
    const ring = new MetricRing(rt, ['loss'], 2, 3, [{ name: 'w', tensor: win.totals, prepare: win.reduceList }]);
    const got: { step: number; data: Float32Array }[] = [];
    ring.onSnapshots((s) => got.push({ step: s.step, data: s.data.get('w')! }));
    const batches: WindowBatchCpu[] = [];
    const pending: Promise<unknown>[] = [];
    for (let s = 0; s < 4; s++) {
      const v = randomArray(rows * l, 900 + s).map((x) => (x > 0.3 ? x : 0));
      rt.write(values, v);
      batches.push({ values: v, rows, step: s });
      sp.set({ step: s, slot: ring.slotOf(s), lr: 0 });
      const before = rt.counters;
      rt.submit([step], (enc) => ring.encodeFlush(enc, s));
      const p = ring.afterSubmit();
      expect(rt.counters.submits - before.submits).toBe(1);
      expect(rt.counters.readbacks - before.readbacks).toBe(0);
      if (p) pending.push(p);
    }
    await Promise.all(pending);
    expect(got.map((g) => g.step)).toEqual([1, 3]);
    compare(win.decode(got[0]!.data), latentWindowCpu(batches.slice(0, 2), { l, slots: 3, mode: 'abs' }));
    compare(win.decode(got[1]!.data), latentWindowCpu(batches, { l, slots: 3, mode: 'abs' }));
    ring.destroy();
    win.destroy();
  });

  it('rejects impossible shapes with a clear message', async () => {
    const rt = await testRuntime();
    expect(() => new LatentWindow(rt, { l: 0, slots: 2, rows: 4 })).toThrow(/l must be/);
    expect(() => new LatentWindow(rt, { l: 4, slots: 0, rows: 4 })).toThrow(/slots/);
    expect(() => new LatentWindow(rt, { l: 4, slots: 1000, rows: 1 << 20 })).toThrow(/exceeds/);
  });
});

describe('standard metrics on constructed counts', () => {
  it('L0, dead, dense, histogram counts, output share', () => {
    // 10 units over 1000 rows: 3 dead, densities 1e-3 … 0.9.
    const count = [0, 0, 0, 1, 10, 100, 200, 500, 900, 1000];
    const m = siteMetrics({ count, rows: 1000, sqDelta: 4, sqOut: 100 }, { denseThreshold: 0.3 });
    expect(m.l0).toBeCloseTo(2711 / 1000, 12);
    expect(m.dead).toBe(3);
    expect(m.deadFraction).toBeCloseTo(0.3, 12);
    expect(m.dense).toBe(3); // 0.5, 0.9, 1.0 > 0.3; 0.2 is not
    expect(m.denseFraction).toBeCloseTo(0.3, 12);
    expect(m.outputShare).toBeCloseTo(0.2, 12);
    const h = m.histogram;
    expect(h.edges[0]).toBe(-6);
    expect(h.edges[h.edges.length - 1]).toBe(0);
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(7);
    // 1e-3 → bin (−3 + 6)/0.25 = 12; 1e-2 → 16; 0.1 → 20; 0.2 → 21; 0.5 → 22; 0.9 and 1 → 23 (last).
    const bin = (x: number) => h.counts[x]!;
    expect([bin(12), bin(16), bin(20), bin(21), bin(22), bin(23)]).toEqual([1, 1, 1, 1, 1, 2]);
    expect(h.below1e5).toBe(3);
    expect(h.below1e6).toBe(3);
  });

  it('densities below 1e-5 and 1e-6 over many rows', () => {
    const rows = 10_000_000;
    const h = densityHistogram([0, 5, 50, 500, 5_000_000], rows); // 0, 5e-7, 5e-6, 5e-5, 0.5
    expect(h.below1e6).toBe(2);
    expect(h.below1e5).toBe(3);
    expect(h.counts[0]).toBe(1); // 5e-7 (log10 −6.3) is clamped into the first bin
    expect(h.counts[2]).toBe(1); // 5e-6: log10 −5.3 → (−5.3 + 6) / 0.25 = 2.8
  });

  it('no rows, no share: zeros and null, never NaN', () => {
    const m = siteMetrics({ count: [0, 0], rows: 0 });
    expect(m.l0).toBe(0);
    expect(m.dead).toBe(2);
    expect(m.dense).toBe(0);
    expect(m.outputShare).toBeNull();
    expect(() => siteMetrics({ count: [1], rows: 1 }, { denseThreshold: 2 })).toThrow(/dense threshold/);
  });

  it('a window snapshot reads as App. F statistics', () => {
    const w: LatentWindowSnapshot = { l: 3, classes: 0, rows: 10, count: new Float64Array([0, 5, 10]), sum: new Float64Array([0, 1, 2]), classSums: new Float64Array(0), sqDelta: 0, sqOut: 0 };
    const s = windowAsStats(w, 42);
    expect(Array.from(meanFrequency(s))).toEqual([0, 0.5, 1]);
    expect(Array.from(s.lastFired)).toEqual([-1, 42, 42]);
  });
});
