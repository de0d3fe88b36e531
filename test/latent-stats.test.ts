/**
 * Latent statistics (STAN App. F): the GPU accumulation over several batches vs the float64
 * reference (codes from the GPU top-k, so negative selected values, masked latents and k
 * overrides all occur), and the paper's metrics on hand-computed examples.
 */
import { describe, expect, it } from 'vitest';
import { deadLatentCount, denseLatentCount, labelEntropy, LatentStats, latentStatsCpu, meanActivation, meanFrequency, summarizeLatents, type LatentStatsSnapshot } from '../src/analysis/latent-stats';
import { CommandList } from '../src/engine/runtime';
import { StepParams } from '../src/engine/step-params';
import { createTopKOverride, recordTopK, writeTopKOverride, type TopKMode } from '../src/kernels/topk';
import { maxRelError, randomArray, testRuntime } from './helpers/gpu';

async function accumulateCase(mode: TopKMode, opts: { rows: number; l: number; k: number; classes: number; batches: number; mask?: boolean }) {
  const rt = await testRuntime();
  const { rows, l, k, classes } = opts;
  const z = rt.tensor([rows, l], 'z');
  const indices = rt.tensor([rows, k], 'idx');
  const values = rt.tensor([rows, k], 'val');
  const labels = rt.tensor([rows], 'labels');
  const kbuf = createTopKOverride(rt, k);
  const maskv = opts.mask ? Float32Array.from({ length: l }, (_, i) => (i % 5 === 2 ? 0 : 1)) : undefined;
  const mask = maskv ? rt.tensor([l], 'mask', maskv) : undefined;
  const stats = new LatentStats(rt, { l, classes, mode });
  const sp = new StepParams(rt);
  const list = new CommandList('stats');
  recordTopK(rt, list, { x: z, rows, l, k, indices, values, mode, kOverride: kbuf, ...(mask ? { mask } : {}) });
  stats.record(list, { indices, values, rows, k }, labels, sp);
  const unlabelled = new CommandList('stats.nolabels');
  unlabelled.push(list.ops[0]!); // the same top-k dispatch
  stats.record(unlabelled, { indices, values, rows, k }, null, sp);
  const batches: Parameters<typeof latentStatsCpu>[0] = [];
  for (let b = 0; b < opts.batches; b++) {
    const step = 3 * b + 1;
    // Shift each batch so some latents fire only early on (dead-latent windows are exercised).
    const zv = randomArray(rows * l, 100 + b).map((v, i) => v - (i % l < l / 4 && b > 0 ? 3 : 0));
    const lab = Float32Array.from(randomArray(rows, 200 + b), (v) => Math.floor((v + 1) * 0.5 * (classes + 1)) - (b === 1 ? 1 : 0)); // some labels out of range
    rt.write(z, zv);
    rt.write(labels, lab);
    writeTopKOverride(rt, kbuf, b === 2 ? Math.max(1, k - 2) : k);
    sp.set({ step, slot: 0, lr: 0 });
    const withLabels = b !== 3;
    rt.submit([withLabels ? list : unlabelled]);
    const idx = new Uint32Array((await rt.read(indices)).buffer);
    const val = await rt.read(values);
    batches.push({ indices: idx, values: val, ...(withLabels ? { labels: lab } : {}), step, rows, k });
  }
  const got = await stats.read();
  const ref = latentStatsCpu(batches, { l, classes, mode });
  return { rt, stats, got, ref, batches, sp, list };
}

function compare(got: LatentStatsSnapshot, ref: LatentStatsSnapshot): void {
  expect(got.samples).toBe(ref.samples);
  expect(Array.from(got.count)).toEqual(Array.from(ref.count));
  expect(Array.from(got.lastFired)).toEqual(Array.from(ref.lastFired));
  expect(maxRelError(got.sum, ref.sum)).toBeLessThan(1e-6);
  expect(maxRelError(got.classSums, ref.classSums)).toBeLessThan(1e-6);
}

describe('LatentStats on the GPU vs the float64 reference', () => {
  it("signed top-k: negative selected values are not active; labels, k override, out-of-range labels, an unlabelled batch", async () => {
    const { got, ref, batches, stats } = await accumulateCase('signed', { rows: 37, l: 40, k: 30, classes: 3, batches: 5 });
    compare(got, ref);
    // The setting really has selected-but-negative values, which must not count.
    let negatives = 0;
    for (const b of batches) for (const v of Array.from(b.values)) if (v < 0) negatives++;
    expect(negatives).toBeGreaterThan(50);
    let totalCount = 0;
    for (const c of got.count) totalCount += c;
    let positives = 0;
    for (const b of batches) for (const v of Array.from(b.values)) if (v > 0) positives++;
    expect(totalCount).toBe(positives);
    expect(got.samples).toBe(5 * 37);
    stats.destroy();
  });

  it('abs top-k with a mask: |value| is the activation, masked latents never fire', async () => {
    const { got, ref, stats } = await accumulateCase('abs', { rows: 50, l: 65, k: 8, classes: 4, batches: 4, mask: true });
    compare(got, ref);
    for (let i = 0; i < 65; i++) if (i % 5 === 2) expect(got.count[i]).toBe(0);
    stats.destroy();
  });

  it('reset zeroes everything; stats keep accumulating across submits without readbacks', async () => {
    const { rt, got, stats, list, sp } = await accumulateCase('signed', { rows: 16, l: 24, k: 4, classes: 2, batches: 2 });
    expect(got.samples).toBe(32);
    stats.reset();
    const cleared = await stats.read();
    expect(cleared.samples).toBe(0);
    expect(cleared.count.every((c) => c === 0)).toBe(true);
    expect(cleared.sum.every((c) => c === 0)).toBe(true);
    expect(cleared.lastFired.every((c) => c === -1)).toBe(true);
    const before = rt.counters.readbacks;
    sp.set({ step: 50, slot: 0, lr: 0 });
    for (let i = 0; i < 3; i++) rt.submit([list]);
    expect(rt.counters.readbacks).toBe(before);
    const after = await stats.read();
    expect(after.samples).toBe(48);
    expect(Math.max(...after.lastFired)).toBe(50);
    stats.destroy();
  });
});

describe('App. F metrics', () => {
  // 4 samples, 3 latents, 2 classes.
  const snap: LatentStatsSnapshot = {
    l: 3,
    classes: 2,
    samples: 4,
    count: Float64Array.from([2, 0, 4]),
    sum: Float64Array.from([3, 0, 2]),
    classSums: Float64Array.from([3, 0, 0, 0, 1, 1]),
    lastFired: Float64Array.from([7, -1, 10]),
  };

  it('MeanFreq (eq. 18), MeanAct (eq. 19), label entropy (eqs. 20–21)', () => {
    expect(Array.from(meanFrequency(snap))).toEqual([0.5, 0, 1]);
    expect(Array.from(meanActivation(snap))).toEqual([1.5, 0, 0.5]);
    const h = labelEntropy(snap);
    expect(h[0]).toBe(0); // one class only
    expect(Number.isNaN(h[1]!)).toBe(true); // never active
    expect(h[2]).toBeCloseTo(Math.log(2), 12); // uniform over two classes
    const three = labelEntropy({ l: 1, classes: 3, classSums: Float64Array.from([1, 1, 2]) });
    expect(three[0]).toBeCloseTo(-(0.25 * Math.log(0.25) * 2 + 0.5 * Math.log(0.5)), 12);
  });

  it('dead and dense latent counts', () => {
    expect(deadLatentCount(snap, 10, 1)).toBe(2); // only latent 2 fired at step 10
    expect(deadLatentCount(snap, 10, 4)).toBe(1); // latent 0 fired at 7 > 10 − 4
    expect(deadLatentCount(snap, 10, 3)).toBe(2); // 7 ≤ 10 − 3
    expect(denseLatentCount(snap, 0.5)).toBe(1);
    expect(denseLatentCount(snap, 0.4)).toBe(2);
    expect(() => deadLatentCount(snap, 10, 0)).toThrow(/window/);
    expect(() => denseLatentCount(snap, 2)).toThrow(/threshold/);
    const s = summarizeLatents(snap, { step: 10, deadWindow: 4, denseThreshold: 0.4 });
    expect([s.dead, s.dense, s.samples]).toEqual([1, 2, 4]);
  });

  it('the CPU reference itself on a hand-made code', () => {
    const r = latentStatsCpu(
      [
        { indices: [0, 2, 1, 0], values: [0.5, -1, 2, 0], labels: [1, 0], step: 3, rows: 2, k: 2 },
        { indices: [2, 1], values: [0.25, 1], labels: [1], step: 5, rows: 1, k: 2 },
      ],
      { l: 3, classes: 2, mode: 'signed' },
    );
    expect(r.samples).toBe(3);
    expect(Array.from(r.count)).toEqual([1, 2, 1]);
    expect(Array.from(r.sum)).toEqual([0.5, 3, 0.25]);
    expect(Array.from(r.classSums)).toEqual([0, 0.5, 2, 1, 0, 0.25]);
    expect(Array.from(r.lastFired)).toEqual([3, 5, 5]);
    const a = latentStatsCpu([{ indices: [0, 2, 1, 0], values: [0.5, -1, 2, 0], step: 3, rows: 2, k: 2 }], { l: 3, mode: 'abs' });
    expect(Array.from(a.count)).toEqual([1, 1, 1]);
    expect(Array.from(a.sum)).toEqual([0.5, 2, 1]);
  });
});
