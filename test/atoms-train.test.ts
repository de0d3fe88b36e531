/**
 * Training the atoms adapter on a frozen random attention block (src/tasks/attention-fit.ts):
 *  - fits a teacher target (frozen block + a random top-k atoms adapter) ≥ 10× in 300 Adam
 *    steps, one submit and no readback per step, nothing allocated or compiled per step;
 *  - the norm-weighted L1 penalty keeps soft-threshold codes sparse (fewer active atoms) and is
 *    streamed as a metric;
 *  - train modes freeze what they should (frozen parts bit-identical after training);
 *  - masking every atom after training gives back the frozen block's output bit for bit.
 */
import { describe, expect, it } from 'vitest';
import { ATOMS_DEFAULTS, atomsAdapter, type AtomsAdapter, type AtomsConfig } from '../src/adapters/atoms';
import type { MetricRow } from '../src/engine/metric-ring';
import { CommandList, type GpuRuntime } from '../src/engine/runtime';
import { buildAttentionFit, fourierData, teacherData } from '../src/tasks/attention-fit';
import { Trainer } from '../src/train/trainer';
import { testRuntime } from './helpers/gpu';

const SHAPE = { batch: 8, seq: 8, dim: 16, heads: 1 };
const TEACHER = teacherData({ samples: 8, teacher: { atoms: 8, sigma: 'topk', k: 3, topk: 'abs', lambda: 0, form: 'paper' }, seed: 5 });

function fit(rt: GpuRuntime, over: Partial<AtomsConfig>) {
  const cfg: AtomsConfig = { ...ATOMS_DEFAULTS, atoms: 16, k: 4, ...over };
  return buildAttentionFit(rt, atomsAdapter, cfg, { ...SHAPE, readout: 'full', seed: 3, data: TEACHER });
}

async function train(rt: GpuRuntime, task: ReturnType<typeof fit>, steps: number, lr = 1e-2) {
  const rows: MetricRow[] = [];
  const trainer = new Trainer(rt, task.graph, { lr, metricInterval: 10, onMetrics: (r) => rows.push(...r) });
  await trainer.run(1);
  const before = rt.counters;
  await trainer.run(steps - 1);
  const after = rt.counters;
  await trainer.drain();
  const last = trainer.lastStepCounters!;
  trainer.destroy();
  return { rows, last, createdBuffers: after.buffers - before.buffers, createdPipelines: after.pipelines - before.pipelines };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('atoms adapter training', () => {
  for (const over of [
    { sigma: 'topk', form: 'paper' },
    { sigma: 'relu', form: 'simplified', lambda: 0.05 },
  ] as Partial<AtomsConfig>[]) {
    it(`fits a small teacher target ≥ 10× in 300 steps (σ=${over.sigma}, ${over.form}, single head)`, async () => {
      const rt = await testRuntime();
      const task = fit(rt, over);
      const r = await train(rt, task, 300);
      expect(r.rows.length).toBe(300);
      const first = r.rows[0]!.values['loss']!;
      const end = mean(r.rows.slice(-10).map((x) => x.values['loss']!));
      expect(first).toBeGreaterThan(0.05);
      expect(first / end).toBeGreaterThanOrEqual(10);
      expect(r.last.submits).toBe(1);
      expect(r.last.readbacks).toBe(0);
      expect(r.createdBuffers).toBe(0);
      expect(r.createdPipelines).toBe(0);
      // The streamed metric: active atoms per token (exactly k for top-k).
      const active = r.rows.at(-1)!.values['attn.active_atoms']!;
      if (over.sigma === 'topk') expect(active).toBe(4);
      else expect(active).toBeGreaterThan(0);
      task.destroy();
    });
  }

  it('the ‖D_m‖-weighted L1 penalty keeps soft-threshold codes sparse and is streamed', async () => {
    const rt = await testRuntime();
    const active: number[] = [];
    for (const l1 of [0, 0.01]) {
      const task = fit(rt, { sigma: 'soft', form: 'paper', lambda: 0.05, l1 });
      const r = await train(rt, task, 300);
      active.push(mean(r.rows.slice(-10).map((x) => x.values['attn.active_atoms']!)));
      if (l1 > 0) {
        const pen = r.rows.map((x) => x.values['attn.atoms_penalty']!);
        expect(pen[0]).toBe(0); // D = 0 at step 0
        expect(pen.at(-1)!).toBeGreaterThan(0);
      } else expect(r.rows[0]!.values['attn.atoms_penalty']).toBeUndefined();
      task.destroy();
    }
    // Without the penalty the fixed-λ soft threshold densifies as W_s grows.
    expect(active[1]!).toBeLessThan(0.75 * active[0]!);
  });

  for (const mode of ['atoms', 'coefficients', 'both'] as const) {
    it(`train '${mode}': the frozen part is bit-identical after training, the trained part moved`, async () => {
      const rt = await testRuntime();
      const task = fit(rt, { sigma: 'topk', form: 'paper', train: mode });
      const ad = task.adapter as AtomsAdapter;
      const frozen0 = await task.packs.frozen.readAll();
      const trained0 = await task.packs.trainable.readAll();
      await train(rt, task, 30);
      const frozen1 = await task.packs.frozen.readAll();
      const trained1 = await task.packs.trainable.readAll();
      for (const [name, v] of frozen0) expect(Array.from(frozen1.get(name)!), name).toEqual(Array.from(v));
      for (const [name, v] of trained0) expect(Array.from(trained1.get(name)!), name).not.toEqual(Array.from(v));
      const wsFrozen = mode === 'atoms';
      const dFrozen = mode === 'coefficients';
      expect(frozen0.has(ad.ws.name)).toBe(wsFrozen);
      expect(frozen0.has(ad.dict.name)).toBe(dFrozen);
      if (wsFrozen) expect(() => ad.ws.grad).toThrow(/frozen/);
      if (dFrozen) {
        expect(() => ad.dict.grad).toThrow(/frozen/);
        expect(frozen0.get(ad.dict.name)!.some((v) => v !== 0)).toBe(true); // random atoms: W_s gets a gradient
      }
      expect(ad.params.map((p) => p.name).sort()).toEqual([...trained0.keys()].sort());
      expect(ad.trainableParameterCount()).toBe((wsFrozen ? 0 : 16 * 16) + (dFrozen ? 0 : 16 * 16));
      task.destroy();
    });
  }

  it('masking every atom after training reproduces the frozen block output bit for bit', async () => {
    const rt = await testRuntime();
    const task = fit(rt, { sigma: 'topk', form: 'simplified' });
    await train(rt, task, 40);
    const ad = task.adapter as AtomsAdapter;
    const attn = task.attention;
    const base = new CommandList('base');
    attn.outputAdapter = null;
    attn.recordForward(base);
    attn.outputAdapter = ad;
    rt.submit([base]);
    const frozenOut = await rt.read(attn.out.value);
    rt.submit([task.graph.forward]);
    const adapted = await rt.read(attn.out.value);
    expect(adapted.some((v, i) => Math.abs(v - frozenOut[i]!) > 1e-3)).toBe(true);
    ad.setMask(new Float32Array(16));
    rt.submit([task.graph.forward]);
    expect(Array.from(await rt.read(attn.out.value))).toEqual(Array.from(frozenOut));
    task.destroy();
  });

  it('the Fourier toy task (paper App. C.1) builds with a row-sum readout and trains', async () => {
    const rt = await testRuntime();
    const task = buildAttentionFit(rt, atomsAdapter, { ...ATOMS_DEFAULTS, atoms: 16, k: 4 }, {
      batch: 4,
      seq: 16,
      dim: 16,
      heads: 1,
      readout: 'rowsum',
      seed: 2,
      data: fourierData({ samples: 8, observed: 6, seed: 4 }),
    });
    expect(task.prediction.size).toBe(64);
    const r = await train(rt, task, 100, 1e-2);
    const first = mean(r.rows.slice(0, 5).map((x) => x.values['loss']!));
    const end = mean(r.rows.slice(-5).map((x) => x.values['loss']!));
    expect(end).toBeLessThan(0.5 * first);
    task.destroy();
  });
});
