/**
 * Inspection through the Node session API (issue 15): the training window the session records
 * inside the step equals the float64 reference over the same rows (the codes each step wrote,
 * read back after it); the adapters' ΔO (output share) equals the output difference made by
 * masking them; statistics stream as metrics without extra submits; held-out statistics on demand.
 */
import { describe, expect, test } from 'vitest';
import { stanAdapter } from '../src/adapters/stan';
import { latentWindowCpu, type WindowBatchCpu } from '../src/analysis/latent-window';
import { defaultConfig } from '../src/config/defaults';
import type { PlaygroundConfig } from '../src/config/schema';
import { CommandList } from '../src/engine/runtime';
import { nodeAssets } from '../src/playground/node-assets';
import { PlaygroundSession, type SessionEvent, type SessionOptions } from '../src/playground/session';
import { Trainer } from '../src/train/trainer';
import { buildAdaptedModel } from './helpers/adapted-model';
import { maxRelError, testRuntime } from './helpers/gpu';

const assets = nodeAssets();

function cfg(task: string, kind: string, adapter: Record<string, unknown> = {}, over: { batch?: number; lr?: number } = {}): PlaygroundConfig {
  const c = structuredClone(defaultConfig());
  c.task = task;
  c.adapter.kind = kind;
  c.adapter.targets = [];
  if (kind !== 'none') c.adapter[kind] = { ...(c.adapter[kind] as object), ...adapter };
  c.training = { ...c.training, batch: over.batch ?? 2, lr: over.lr ?? 1e-2, seed: 1, warmup: 0, steps: 40, schedule: 'constant' };
  return c;
}

async function open(c: unknown, opts: Partial<SessionOptions> = {}): Promise<PlaygroundSession> {
  const rt = await testRuntime();
  return PlaygroundSession.create(rt, c, { assets, small: true, stream: { metricEvery: 2, validateEvery: 0, statsEvery: 0 }, ...opts });
}

describe('the training window equals the reference over the same rows', () => {
  test('regression × STAN: 7 steps through a 3-step window, signed top-k', async () => {
    // Regression with batch 2: rows per step = 2 sequences × 8 tokens = 16.
    const s = await open(cfg('regression', 'stan', { k: 3, expansion: 2 }), { stream: { metricEvery: 2, validateEvery: 0, statsEvery: 0, statsWindow: 48 } });
    try {
      const rt = s.rt;
      const groups = s.info().groups;
      expect(groups.length).toBeGreaterThan(0);
      const perGroup: WindowBatchCpu[][] = groups.map(() => []);
      for (let step = 0; step < 7; step++) {
        await s.stepN(1);
        for (const g of groups) {
          const code = s.task.adapters[g.group]!.code!;
          const idx = new Uint32Array((await rt.read(code.indices)).buffer);
          const val = await rt.read(code.values);
          perGroup[g.group]!.push({ indices: idx, values: val, k: code.k, rows: code.rows, step });
        }
      }
      for (const g of groups) {
        const w = s.windowSnapshot(g.group)!;
        expect(w.slots).toBe(3);
        expect(w.step).toBe(6);
        const ref = latentWindowCpu(perGroup[g.group]!, { l: g.count, slots: 3, mode: 'signed' });
        expect(w.snap.rows).toBe(3 * 16);
        expect(Array.from(w.snap.count)).toEqual(Array.from(ref.count));
        expect(maxRelError(w.snap.sum, ref.sum)).toBeLessThan(1e-5);
        // D moved off zero: the adapter writes something, a small share of the site's output.
        expect(w.snap.sqDelta).toBeGreaterThan(0);
        expect(w.snap.sqDelta).toBeLessThan(w.snap.sqOut);
      }
      const [sum] = await s.stats();
      expect(sum!.source).toBe('training');
      expect(sum!.samples).toBe(48);
      expect(sum!.window).toEqual({ steps: 3, slots: 3, rowsPerStep: 16, lastStep: 6 });
      expect(sum!.metrics.l0).toBeGreaterThan(0);
      expect(sum!.metrics.l0).toBeLessThanOrEqual(3);
      expect(sum!.metrics.outputShare).toBeGreaterThan(0);
      expect(sum!.effect!.length).toBe(groups[0]!.count);
      expect(sum!.effect!.some((e) => e! > 0)).toBe(true);
      const held = await s.stats({ source: 'held-out' });
      expect(held[0]!.source).toBe('held-out');
      expect(held[0]!.window).toBeNull();
      expect(held[0]!.samples).toBeGreaterThan(0);
    } finally {
      s.destroy();
    }
  });

  test('the window adds no submit and no readback to a training step; stats stream while playing', async () => {
    const events: SessionEvent[] = [];
    const s = await open(cfg('regression', 'stan', { k: 2 }), { stream: { metricEvery: 2, validateEvery: 0, statsEvery: 4, statsWindow: 32 }, onEvent: (e) => events.push(e) });
    try {
      await s.stepN(3);
      const c = s.trainer.lastStepCounters!;
      expect(c.submits).toBe(1);
      expect(c.readbacks).toBe(0);
      expect(c.buffers).toBe(0);
      expect(c.pipelines).toBe(0);
      const { done } = s.play(8);
      await done;
      const st = events.filter((e) => e.type === 'latent-stats');
      expect(st.length).toBeGreaterThan(0);
      const last = st[st.length - 1]!;
      if (last.type !== 'latent-stats') throw new Error('unreachable');
      expect(last.groups[0]!.source).toBe('training');
      expect(last.groups[0]!.metrics.histogram.counts.length).toBe(24);
      expect(last.groups[0]!.effect).toBeNull();
    } finally {
      s.destroy();
    }
  });
});

describe("adapters' ΔO equals the output difference made by masking them", () => {
  for (const spec of [
    { kind: 'stan', config: { ...stanAdapter.settings.defaults, expansion: 2, k: 3 }, targets: ['blocks.0.attn.q_proj'] },
    // k = l: the dense path (no selection), ΔO by a matmul.
    { kind: 'stan', config: { ...stanAdapter.settings.defaults, expansion: 0.25, k: 4 }, targets: ['blocks.0.attn.q_proj'] },
    { kind: 'atoms', config: { atoms: 6, sigma: 'topk', lambda: 0, k: 2, form: 'paper', train: 'both' }, targets: ['blocks.0.attn'] },
    { kind: 'atoms', config: { atoms: 5, sigma: 'soft', lambda: 0.01, k: 1, form: 'simplified', train: 'both' }, targets: ['blocks.0.attn'] },
  ]) {
    test(`${spec.kind} ${JSON.stringify(spec.config).slice(0, 60)}`, async () => {
      const rt = await testRuntime();
      const m = buildAdaptedModel(rt, spec);
      try {
        const trainer = new Trainer(rt, m.graph, { lr: 3e-2, metricInterval: 5 });
        await trainer.run(6);
        await trainer.drain();
        trainer.destroy();
        const a = m.adapters[0]!;
        const list = new CommandList('delta');
        const { delta, out } = a.recordDelta!(list);
        await m.probe();
        rt.submit([list]);
        const on = await rt.read(out);
        const d = await rt.read(delta);
        a.setMask(new Float32Array(a.latentCount).fill(0));
        await m.probe();
        const off = await rt.read(out);
        a.setMask(null);
        const diff = on.map((v, i) => v - off[i]!);
        expect(Math.max(...Array.from(d, Math.abs))).toBeGreaterThan(1e-4);
        expect(maxRelError(d, diff)).toBeLessThan(1e-4);
      } finally {
        m.destroy();
      }
    });
  }
});

describe('dashboards through the session', () => {
  test('regression × STAN: the ablation effect equals the output difference made by masking the unit', async () => {
    const s = await open(cfg('regression', 'stan', { k: 3 }));
    try {
      await s.stepN(6);
      const held = await s.stats({ source: 'held-out' });
      const freqs = held[0]!.log10Freq.map((f) => f ?? -Infinity);
      const unit = freqs.indexOf(Math.max(...freqs));
      const d = await s.dashboard(0, unit);
      expect(d.top.length).toBeGreaterThan(0);
      expect(d.histogram.counts.reduce((a, b) => a + b, 0)).toBe(Math.round(d.frequency * d.rows));
      expect(d.quantiles.length).toBeGreaterThan(0);
      expect(d.top[0]!.positions.length).toBe(8);
      expect(d.coactive.length).toBeGreaterThan(0);
      // The same through view(): adapted outputs with the unit on and off.
      const on = await s.view({});
      const off = await s.setMask(0, Array.from({ length: s.info().groups[0]!.count }, (_, i) => (i === unit ? 0 : 1)));
      if (on.kind !== 'scalars' || off.kind !== 'scalars') throw new Error('view kind');
      // The view's points are whole held-out sequences in order; the dashboard's first example is the first sequence.
      const n = d.effect.examples[0]!.diff.length;
      expect(on.points.length).toBeGreaterThanOrEqual(n);
      const diff = on.points.slice(0, n).map((p, i) => p.adapted! - off.points[i]!.adapted!);
      expect(Math.max(...diff.map(Math.abs))).toBeGreaterThan(0);
      d.effect.examples[0]!.diff.forEach((v, i) => expect(v).toBeCloseTo(diff[i]!, 6));
      expect(d.effect.lossOn).toBeCloseTo(on.score.adapted!, 9);
      expect(d.effect.lossOff).toBeCloseTo(off.score.adapted!, 9);
      // The dashboard ran with the overrides in force then (none) and left them as they were.
      expect(s.currentOverrides.masks?.[0]?.[unit]).toBe(0);
      await expect(s.dashboard(0, 10_000)).rejects.toThrow(/unit/);
    } finally {
      s.destroy();
    }
  });

  test('fourier: the atom dashboard, the ablation effect on the reconstructions, and ISTA recovering a known sparse code from the page request', async () => {
    const s = await open(cfg('fourier', 'none', {}, { batch: 4 }));
    try {
      await s.stepN(3);
      const d = await s.dashboard(0, 1);
      expect(d.layout).toEqual({ kind: 'samples' });
      expect(d.decoder.kind).toBe('signal');
      const on = await s.view({});
      const off = await s.setMask(0, Array.from({ length: s.info().groups[0]!.count }, (_, i) => (i === 1 ? 0 : 1)));
      if (on.kind !== 'signals' || off.kind !== 'signals') throw new Error('view kind');
      on.signals.forEach((sig, b) => sig.adapted!.forEach((v, t) => expect(d.effect.examples[b]!.diff[t]).toBeCloseTo(v - off.signals[b]!.adapted![t]!, 5)));
      expect(d.effect.deltaLoss).toBeCloseTo(off.score.adapted! - on.score.adapted!, 6);
      await s.setMask(0, null);

      // A known code on three atoms, observed at every sample: FISTA with a tiny λ finds it.
      const T = on.signals[0]!.target.length;
      // Each atom's time profile d_m(t): what its inspection says it writes.
      const M = s.info().groups[0]!.count;
      const atoms: { profile: number[] }[] = [];
      for (let m = 0; m < M; m++) {
        const dec = (await s.inspect(0, m)).decoder;
        if (dec.kind !== 'signal') throw new Error('decoder kind');
        atoms.push({ profile: dec.values });
      }
      const truth = new Array<number>(atoms.length).fill(0);
      truth[2] = 1.5;
      truth[9] = -0.8;
      truth[20] = 0.6;
      const signal = Array.from({ length: T }, (_, t) => truth.reduce((a, c, m) => a + c * atoms[m]!.profile[t]!, 0));
      const r = await s.encode({ points: signal.map((v, t) => ({ t, v })), lambda: 1e-5, iterations: 3000 });
      expect(r.code.length).toBe(atoms.length);
      const err = Math.max(...r.code.map((c, m) => Math.abs(c - truth[m]!)));
      expect(err).toBeLessThan(0.05);
      expect(r.rmsObserved).toBeLessThan(0.01);
      expect(r.objective.length).toBe(3000);
      expect(r.objective[2999]!).toBeLessThanOrEqual(r.objective[0]!);
      // A larger λ gives a sparser code.
      const sparse = await s.encode({ points: signal.map((v, t) => ({ t, v })), lambda: 0.5, iterations: 300 });
      expect(sparse.active).toBeLessThan(atoms.length);
      await expect(s.encode({ points: [{ t: 99, v: 0 }], lambda: 0.1 })).rejects.toThrow(/0…/);
      await expect(s.encode({ points: [{ t: 1, v: 0 }], lambda: -1 })).rejects.toThrow(/λ/);

      // Placed observations: outputs and firing atoms.
      // Placed observations (the model takes exactly its number of observed samples): outputs and firing atoms.
      const points = on.signals[0]!.observed!.map((o) => ({ t: o.t, v: o.v }));
      const own = await s.ownInput({ kind: 'observations', points });
      expect(own.base.kind).toBe('signal');
      expect(own.firing[0]!.units.length).toBeGreaterThan(0);
      // The adapted output keeps the observations and equals the view's reconstruction of the same signal.
      const adaptedOwn = (own.adapted as { values: number[] }).values;
      adaptedOwn.forEach((v, t) => expect(v).toBeCloseTo(on.signals[0]!.adapted![t]!, 4));
      // Moving one observation changes the output.
      const moved = points.map((p, i) => (i === 0 ? { t: p.t, v: p.v + 1 } : p));
      const own2 = await s.ownInput({ kind: 'observations', points: moved });
      expect(Math.max(...(own2.adapted as { values: number[] }).values.map((v, t) => Math.abs(v - adaptedOwn[t]!)))).toBeGreaterThan(1e-3);
      await expect(s.ownInput({ kind: 'observations', points: points.slice(1) })).rejects.toThrow(/exactly \d+ observed/);
    } finally {
      s.destroy();
    }
  });
});

describe('MNIST-VAE: your own drawing', () => {
  test('mnist-vae × STAN: a drawing is reconstructed by both models and fires latents; a different drawing fires others', async () => {
    const s = await open(cfg('mnist-vae', 'stan', { k: 4, expansion: 1 }, { batch: 8 }));
    try {
      await s.stepN(3);
      const blank = new Array<number>(784).fill(0);
      const stroke = blank.slice();
      for (let y = 4; y < 24; y++) for (let x = 12; x < 16; x++) stroke[y * 28 + x] = 1;
      const ring = blank.slice();
      for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) if (Math.abs(Math.hypot(x - 13.5, y - 13.5) - 8) < 1.5) ring[y * 28 + x] = 1;
      const a = await s.ownInput({ kind: 'image', side: 28, pixels: stroke });
      const b = await s.ownInput({ kind: 'image', side: 28, pixels: ring });
      expect(a.base.kind).toBe('image');
      expect(a.adapted!.kind).toBe('image');
      expect(a.summary.base).toMatch(/pixel MSE/);
      const units = (r: typeof a) => r.firing.map((g) => `${g.group}:${g.units.map((u) => u.unit).sort((x, y) => x - y).join(',')}`).join(';');
      expect(a.firing.length).toBe(s.info().groups.filter((g) => g.stats).length);
      expect(a.firing[0]!.units.length).toBeGreaterThan(0);
      expect(units(a)).not.toBe(units(b));
      // The reconstruction is the model's answer to that input: different drawings, different images.
      const pa = (a.adapted as { pixels: Float32Array }).pixels;
      const pb = (b.adapted as { pixels: Float32Array }).pixels;
      expect(Math.max(...Array.from(pa, (v, i) => Math.abs(v - pb[i]!)))).toBeGreaterThan(1e-3);
      await expect(s.ownInput({ kind: 'observations', points: [{ t: 0, v: 0 }] })).rejects.toThrow(/image/);
    } finally {
      s.destroy();
    }
  });
});

describe('digits: the training window carries labels; dashboard patches; your own drawing', () => {
  test('digits × STAN', async () => {
    const s = await open(cfg('digits', 'stan', { k: 4, expansion: 1 }, { batch: 8 }), { stream: { metricEvery: 2, validateEvery: 0, statsEvery: 0, statsWindow: 256 } });
    try {
      await s.stepN(4);
      const [w] = await s.stats();
      // 8 digits × 16 tokens per step; a 2-step window.
      expect(w!.samples).toBe(2 * 8 * 16);
      expect(w!.entropy.some((e) => e !== null)).toBe(true);
      expect(w!.metrics.l0).toBeGreaterThan(0);
      const unit = w!.log10Freq.findIndex((f) => f !== null);
      const d = await s.dashboard(0, unit);
      expect(d.layout).toMatchObject({ kind: 'patches', side: 28, patch: 7, grid: 4 });
      expect(d.top[0]!.positions.length).toBe(16);
      expect(d.classBars!.length).toBe(10);
      expect(d.effect.lossName).toBe('cross-entropy');
      // Your own input: a blank canvas and a drawn stroke fire different latents.
      const blank = new Array<number>(784).fill(0);
      const stroke = blank.slice();
      for (let y = 4; y < 24; y++) for (let x = 12; x < 16; x++) stroke[y * 28 + x] = 1;
      const a = await s.ownInput({ kind: 'image', side: 28, pixels: blank });
      const b = await s.ownInput({ kind: 'image', side: 28, pixels: stroke });
      const units = (r: typeof a) => r.firing[0]!.units.map((u) => u.unit).sort((x, y) => x - y).join(',');
      expect(units(a)).not.toBe(units(b));
      expect(b.adapted!.kind).toBe('vector');
      expect(b.summary.base).toMatch(/predicts \d/);
      await expect(s.ownInput({ kind: 'image', side: 27, pixels: blank })).rejects.toThrow(/28×28/);
    } finally {
      s.destroy();
    }
  });
});
