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
