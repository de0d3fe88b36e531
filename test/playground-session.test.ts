/**
 * The playground session in Node (no Worker, small shapes): every task × adapter builds and
 * trains; reset reproduces; every unit off equals the separate base model; k overrides change
 * the output; inspection returns examples; config errors name the field; checkpoint → restore
 * → next steps equal uninterrupted training bit for bit; play streams metrics, validation and
 * statistics; a non-finite step pauses the run and is named.
 */
import { describe, expect, test } from 'vitest';
import { defaultConfig } from '../src/config/defaults';
import type { PlaygroundConfig } from '../src/config/schema';
import { ConfigError } from '../src/engine/errors';
import { nodeAssets } from '../src/playground/node-assets';
import { PlaygroundSession, type SessionEvent, type SessionOptions } from '../src/playground/session';
import type { TaskView } from '../src/playground/types';
import { offeredAdapters, taskIds, taskModule } from '../src/playground/tasks/registry';
import { allOffOverrides } from '../src/playground/tasks/helpers';
import { testRuntime } from './helpers/gpu';
import { viewOutputs } from './helpers/views';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Settings = Record<string, any>;
const DEFAULT_CONFIG = defaultConfig();
const assets = nodeAssets();
/** Every registered task but digits, whose shipped base makes builds slow: test/digits.test.ts covers it (every adapter it offers, through a session). */
const TASKS = taskIds().filter((id) => id !== 'digits');

/** A session config: the task's default sites for the adapter (targets left empty). */
function cfg(task: string, kind: string, over: { batch?: number; lr?: number; seed?: number } = {}): PlaygroundConfig {
  const c = structuredClone(DEFAULT_CONFIG);
  c.task = task;
  c.adapter.kind = kind;
  c.adapter.targets = [];
  c.training = { ...c.training, batch: over.batch ?? 2, lr: over.lr ?? 1e-2, seed: over.seed ?? 1, warmup: 0, steps: 40, schedule: 'constant' };
  return c;
}

async function open(c: unknown, opts: Partial<SessionOptions> = {}): Promise<PlaygroundSession> {
  const rt = await testRuntime();
  return PlaygroundSession.create(rt, c, { assets, small: true, stream: { metricEvery: 2, validateEvery: 0, statsEvery: 0 }, ...opts });
}

const adaptedOutput = (v: TaskView) => viewOutputs(v, 'adapted');
const baseOutput = (v: TaskView) => viewOutputs(v, 'base');

const maxAbsDiff = (a: number[], b: number[]) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

describe('every task × adapter builds and trains', () => {
  for (const task of TASKS) {
    for (const kind of offeredAdapters(taskModule(task))) {
      test(`${task} × ${kind}`, async () => {
        const s = await open(cfg(task, kind));
        try {
          const info = s.info();
          expect(info.parameters.trainable).toBeGreaterThan(0);
          expect(info.parameters.trainable).toBeLessThanOrEqual(info.parameters.base);
          if (kind !== 'none') expect(info.groups.length).toBeGreaterThan(0);
          const rows = await s.stepN(3);
          expect(rows.map((r) => r.step)).toEqual([0, 1, 2]);
          for (const r of rows) {
            expect(Number.isFinite(r.loss)).toBe(true);
            expect(r.nonFinite).toBe(false);
          }
          const val = await s.validate();
          expect(Number.isFinite(val.loss)).toBe(true);
        } finally {
          s.destroy();
        }
      });
    }
  }

  test('regression × stan: the loss goes down over 30 steps', async () => {
    const s = await open(cfg('regression', 'stan'));
    try {
      const rows = await s.stepN(30);
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const first = mean(rows.slice(0, 5).map((r) => r.loss));
      const last = mean(rows.slice(-5).map((r) => r.loss));
      expect(last).toBeLessThan(0.8 * first);
    } finally {
      s.destroy();
    }
  });
});

describe('reset and checkpoints', () => {
  for (const [task, kind] of [
    ['regression', 'sora'],
    ['fourier', 'none'],
    ['mnist-vae', 'atoms'],
  ] as const) {
    test(`${task} × ${kind}: the same config and seed reproduce the losses; checkpoint → restore → next steps equal uninterrupted training`, async () => {
      const c = cfg(task, kind);
      const a = await open(c);
      const uninterrupted = (await a.stepN(6)).map((r) => r.loss);
      const paramsA = await a.trainer.checkpoint();
      a.destroy();

      const b = await open(c);
      const firstHalf = (await b.stepN(3)).map((r) => r.loss);
      expect(firstHalf).toEqual(uninterrupted.slice(0, 3));
      const cp = await b.checkpoint();
      expect(cp.step).toBe(3);
      expect(cp.history.train.map((p) => p.step)).toEqual([0, 1, 2]);
      b.destroy();

      const rt = await testRuntime();
      const r = await PlaygroundSession.fromCheckpoint(rt, structuredClone(cp), { assets, small: true, stream: { metricEvery: 2, validateEvery: 0, statsEvery: 0 } });
      try {
        expect(r.step).toBe(3);
        const rest = (await r.stepN(3)).map((p) => p.loss);
        expect(rest).toEqual(uninterrupted.slice(3));
        expect(r.metricHistory().train.map((p) => p.step)).toEqual([0, 1, 2, 3, 4, 5]);
        const paramsR = await r.trainer.checkpoint();
        paramsA.params.forEach((pack, i) => {
          for (const [name, v] of pack) expect(Array.from(paramsR.params[i]!.get(name)!), name).toEqual(Array.from(v));
        });
      } finally {
        r.destroy();
      }
    });
  }

  test('restore refuses a checkpoint of another configuration or shape, naming what differs', async () => {
    const s = await open(cfg('regression', 'lora'));
    try {
      const cp = await s.checkpoint();
      const other = structuredClone(cp);
      other.config.training.lr = 0.5;
      expect(() => s.restore(other)).toThrow(/another configuration/);
      const bad = structuredClone(cp);
      const name = Object.keys(bad.params[0]!)[0]!;
      bad.params[0]![name] = new Float32Array(1);
      expect(() => s.restore(bad)).toThrow(new RegExp(`'${name.replace(/\./g, '\\.')}' has 1 values`));
    } finally {
      s.destroy();
    }
  });
});

describe('inference overrides and inspection', () => {
  for (const [task, kind] of [
    ['regression', 'stan'],
    ['regression', 'atoms'],
    ['regression', 'lora'],
    ['mnist-vae', 'atoms'],
  ] as const) {
    test(`${task} × ${kind}: every unit off reproduces the base model's output; the adapter changed it`, async () => {
      const s = await open(cfg(task, kind));
      try {
        await s.stepN(4);
        const v = await s.view();
        if (task === 'mnist-vae') {
          // Leave-one-out maps of the first image's most used units: non-zero, shares summing to 1.
          const items = v.units?.items ?? [];
          expect(items.length).toBeGreaterThan(0);
          expect(items.reduce((a, c) => a + c.value, 0)).toBeCloseTo(1, 6);
          for (const c of items) expect(c.drawable.kind === 'image' && c.drawable.pixels.some((p) => p !== 0)).toBe(true);
          // Both judges read every decode; each judge's score is a share.
          if (v.kind !== 'images') throw new Error(`mnist-vae view kind ${v.kind}`);
          for (const im of v.images) {
            expect(im.judged?.map((j) => j.by)).toEqual(['MLP', 'CNN']);
            for (const j of im.judged!) expect(j.adapted).toMatch(/^\d \(\d+ %\)$/);
          }
          expect(v.otherScores?.length).toBe(1);
          for (const sc of [v.score, ...v.otherScores!]) {
            expect(sc.adapted).toBeGreaterThanOrEqual(0);
            expect(sc.adapted).toBeLessThanOrEqual(1);
          }
        }
        // No overrides: no 'all on' copy.
        expect(v.score.allOn).toBeUndefined();
        const scale = Math.max(...baseOutput(v).map(Math.abs));
        expect(maxAbsDiff(adaptedOutput(v), baseOutput(v))).toBeGreaterThan(1e-4 * scale);
        const off = await s.view(allOffOverrides(s.task.groups));
        expect(maxAbsDiff(adaptedOutput(off), baseOutput(off))).toBeLessThanOrEqual(1e-6 * scale);
        // With overrides the view also carries the adapted model with every unit on: the unoverridden output.
        expect(viewOutputs(off, 'allOn')).toEqual(adaptedOutput(v));
        expect(off.score.allOn).toBe(v.score.adapted);
        expect(Math.abs(off.score.adapted! - off.score.base)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(off.score.base)));
        // Overrides are for inference only: the next step trains with every unit on.
        await s.view({});
      } finally {
        s.destroy();
      }
    });
  }

  for (const [task, kind] of [
    ['regression', 'stan'],
    ['mnist-vae', 'atoms'],
    ['fourier', 'none'],
  ] as const) {
    test(`${task} × ${kind}: a k override changes the output; inspection returns examples and a decoder direction`, async () => {
      const s = await open(cfg(task, kind));
      try {
        await s.stepN(4);
        const g = s.task.groups[0]!;
        expect(g.k).not.toBeNull();
        const full = adaptedOutput(await s.view({}));
        const k1 = adaptedOutput(await s.setK(0, 1));
        expect(maxAbsDiff(full, k1)).toBeGreaterThan(0);
        expect(s.currentOverrides.k?.[0]).toBe(1);
        const back = adaptedOutput(await s.setK(0, null));
        expect(back).toEqual(full);

        // The most used unit of the group on the probe set.
        const stats = await s.stats({ source: 'held-out' });
        const st = stats.find((x) => x.group === 0)!;
        expect(st.log10Freq.length).toBe(g.count);
        expect(st.dead + st.log10Freq.filter((f) => f !== null).length).toBe(g.count);
        const freqs = st.log10Freq.map((f) => f ?? -Infinity);
        const unit = freqs.indexOf(Math.max(...freqs));
        const ins = await s.inspect(0, unit);
        expect(ins.examples.length).toBeGreaterThan(0);
        expect(ins.frequency).toBeGreaterThan(0);
        for (let i = 1; i < ins.examples.length; i++) expect(ins.examples[i]!.activation).toBeLessThanOrEqual(ins.examples[i - 1]!.activation);
        if (task === 'mnist-vae') {
          expect(ins.classBars?.length).toBe(10);
          expect(ins.decoder.kind).toBe('image');
          expect(st.entropy.some((h) => h !== null)).toBe(true);
        } else {
          expect(ins.decoder.kind === 'signal' ? ins.decoder.values.length : ins.decoder.kind === 'vector' ? ins.decoder.values.length : 0).toBeGreaterThan(0);
        }
      } finally {
        s.destroy();
      }
    });
  }

  test('fourier: the task setting chooses what fine-tuning moves (atoms, coefficients, both), each a different trainable set', async () => {
    const counts: Record<string, number> = {};
    for (const train of ['atoms', 'coefficients', 'both'] as const) {
      const c = cfg('fourier', 'none');
      c.tasks.fourier!.train = train;
      const s = await open(c);
      try {
        counts[train] = s.info().parameters.trainable;
        const rows = await s.stepN(2);
        expect(rows.every((r) => Number.isFinite(r.loss))).toBe(true);
      } finally {
        s.destroy();
      }
    }
    expect(counts.atoms! + counts.coefficients!).toBe(counts.both);
    expect(counts.atoms).toBeGreaterThan(0);
    expect(counts.coefficients).toBeGreaterThan(0);
  });

  test('fourier: every atom off leaves only the observations (the atoms are the whole model), one atom off changes it', async () => {
    const s = await open(cfg('fourier', 'none'));
    try {
      const M = s.task.groups[0]!.count;
      const offView = await s.setMask(0, new Array<number>(M).fill(0));
      if (offView.kind !== 'signals') throw new Error('signals view expected');
      for (const sig of offView.signals) {
        const obs = new Map((sig.observed ?? []).map((o) => [o.t, o.v]));
        sig.adapted!.forEach((y, t) => expect(y).toBe(obs.get(t) ?? 0));
        expect(obs.size).toBeGreaterThan(0);
      }
      const v = await s.view({});
      if (v.kind !== 'signals') throw new Error('signals view expected');
      // The gallery lists atoms by their share of the output, largest first; shares sum to at most 1.
      const items = v.units!.items;
      for (let i = 1; i < items.length; i++) expect(items[i]!.value).toBeLessThanOrEqual(items[i - 1]!.value);
      expect(items.reduce((a, c) => a + c.value, 0)).toBeLessThanOrEqual(1 + 1e-9);
      // Examples are told apart by their titles; per-signal scores are finite.
      expect(new Set(v.signals.map((x) => x.title)).size).toBe(v.signals.length);
      for (const x of v.signals) expect(Number.isFinite(x.score!.adapted!)).toBe(true);
      const top = items[0]!.unit;
      const mask = new Array<number>(M).fill(1);
      mask[top] = 0;
      const one = adaptedOutput(await s.setMask(0, mask));
      expect(maxAbsDiff(one, adaptedOutput(v))).toBeGreaterThan(0);
    } finally {
      s.destroy();
    }
  });

  test('regression × stan: the App. A report has the adapter’s shapes', async () => {
    const s = await open(cfg('regression', 'stan'));
    try {
      const r = await s.identifiability(0);
      const g = s.task.groups[0]!;
      expect(r.l).toBe(g.count);
      expect(r.margin.length).toBe(r.n);
      await expect(open(cfg('regression', 'lora')).then(async (t) => { try { await t.identifiability(0); } finally { t.destroy(); } })).rejects.toThrow(/STAN groups/);
    } finally {
      s.destroy();
    }
  });
});

describe('memory', () => {
  for (const [task, kind] of [
    ['regression', 'stan'],
    ['regression', 'atoms'],
    ['fourier', 'none'],
    ['mnist-vae', 'atoms'],
  ] as const) {
    test(`${task} × ${kind}: destroy() gives back every buffer the session took (build, steps, views, statistics, inspection)`, async () => {
      const rt = await testRuntime();
      // Once, so the first build's one-off allocations (shared tensors) are not counted.
      (await open(cfg(task, kind))).destroy();
      const before = rt.pool.liveBytes;
      const s = await open(cfg(task, kind));
      await s.stepN(2);
      await s.view();
      await s.stats();
      await s.inspect(0, 0);
      s.destroy();
      expect(rt.pool.liveBytes).toBe(before);
    });
  }
});

describe('configuration errors name the field', () => {
  const fieldOf = async (c: unknown): Promise<string> => {
    try {
      const s = await open(c);
      s.destroy();
    } catch (e) {
      if (e instanceof ConfigError) return e.field;
      throw e;
    }
    return '(no error)';
  };

  test('schema, adapter limits, task limits and targets', async () => {
    const a = cfg('regression', 'stan');
    (a.adapter.stan as Settings).k = 0;
    expect(await fieldOf(a)).toBe('adapter.stan.k');
    const b = cfg('regression', 'stan');
    (b.adapter.stan as Settings).k = 1000; // l = 2·64 = 128 latents on fc1
    expect(await fieldOf(b)).toBe('adapter.stan.k');
    const c = cfg('regression', 'lora');
    c.adapter.targets = ['**'];
    (c.adapter.lora as Settings).rank = 8; // the 32 → 2 head allows rank ≤ 2
    expect(await fieldOf(c)).toBe('adapter.lora.rank');
    const d = cfg('regression', 'lora');
    d.adapter.targets = ['decoder.nothing'];
    expect(await fieldOf(d)).toBe('adapter.targets');
    expect(await fieldOf(cfg('fourier', 'stan'))).toBe('adapter.kind');
    const e = cfg('fourier', 'none');
    e.training.batch = 4096;
    expect(await fieldOf(e)).toBe('training.batch');
    expect(await fieldOf({ ...cfg('regression', 'none'), version: 2 })).toBe('version');
  });
});

describe('playing', () => {
  test('play streams metrics, validation and statistics, pause stops it, and the run continues where it stopped', async () => {
    const events: SessionEvent[] = [];
    const s = await open(cfg('regression', 'stan'), { onEvent: (e) => events.push(e), stream: { metricEvery: 2, validateEvery: 4, statsEvery: 4 } });
    try {
      const r = s.play(8);
      expect(r).toMatchObject({ step: 0, until: 8 });
      expect(() => s.play()).toThrow(/while playing/);
      await expect(s.stepN(1)).rejects.toThrow(/while playing/);
      // A view in the middle of the run waits for the step in flight and does not disturb it.
      const v = await s.view();
      expect(v.kind).toBe('scalars');
      await r.done;
      const stopped = events.filter((e) => e.type === 'training-stopped');
      expect(stopped).toEqual([{ type: 'training-stopped', step: 8, reason: 'done' }]);
      const steps = events.flatMap((e) => (e.type === 'metrics' ? e.rows.map((x) => x.step) : []));
      expect(steps).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      expect(events.filter((e) => e.type === 'validation').map((e) => (e.type === 'validation' ? e.point.step : -1))).toEqual([4, 8]);
      const stats = events.filter((e) => e.type === 'latent-stats');
      expect(stats.map((e) => (e.type === 'latent-stats' ? e.step : -1))).toEqual([4, 8]);

      const again = s.play(100);
      const paused = await s.pause();
      await again.done;
      expect(paused).toBe(s.step);
      expect(paused).toBeLessThan(108);
      expect(events.at(-1)).toMatchObject({ type: 'training-stopped', reason: 'paused', step: paused });
    } finally {
      s.destroy();
    }
  });

  test('a non-finite step pauses the run and names the step', async () => {
    const events: SessionEvent[] = [];
    const s = await open(cfg('regression', 'lora'), { onEvent: (e) => events.push(e) });
    try {
      const graph = s.task.graph;
      const load = graph.loadBatch.bind(graph);
      const pack = graph.packs[0]!;
      graph.loadBatch = (step: number) => {
        load(step);
        // Poison a trainable parameter before step 5: its loss is NaN.
        if (step === 5) pack.writeAll({ [pack.params[0]!.name]: new Float32Array(pack.params[0]!.size).fill(Number.NaN) }, { partial: true });
      };
      await s.play(20).done;
      const stop = events.find((e) => e.type === 'training-stopped');
      expect(stop).toMatchObject({ type: 'training-stopped', reason: 'non-finite' });
      expect(stop?.type === 'training-stopped' && stop.message).toMatch(/^step 5:/);
      expect(s.step).toBeLessThan(20);
    } finally {
      s.destroy();
    }
  });

  test('a build can be cancelled; progress is reported', async () => {
    const events: SessionEvent[] = [];
    const ctl = new AbortController();
    ctl.abort();
    // batch 3: a base shape not pre-trained yet in this process, so the build has long work to cancel.
    await expect(open(cfg('regression', 'stan', { batch: 3 }), { signal: ctl.signal, onEvent: (e) => events.push(e) })).rejects.toThrow();
    expect(events.some((e) => e.type === 'progress')).toBe(true);
  });
});
