/**
 * The playground's MNIST-VAE "8 → 3" task (src/playground/tasks/mnist-vae.ts): it opens on the
 * experiment's fixed held-out latent (the constant is kept equal to results.json's), loads the
 * bottleneck (CLS) base by default and the flatten base as an option, shows both judges'
 * verdicts and scores, and renders views from cached decoder input (μ) exactly as full forward
 * passes would — with the "every unit on" copy following training.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { defaultConfig } from '../src/config/defaults';
import type { PlaygroundConfig } from '../src/config/schema';
import { VAE_8TO3_BASE_FILE } from '../src/experiments/mnist-vae-8to3';
import { nodeAssets } from '../src/playground/node-assets';
import { PlaygroundSession } from '../src/playground/session';
import { FIXED_VIEW_INDEX, MNIST_VAE_BASES, mnistVaeTask, VIEW_NOISE_SEED } from '../src/playground/tasks/mnist-vae';
import type { InferenceOverrides, TaskView } from '../src/playground/types';
import { testRuntime } from './helpers/gpu';
import { viewOutputs } from './helpers/views';

const RESULTS = 'docs/figures/mnist-vae-8to3/results.json';

function cfg(kind: string, base: 'cls' | 'flatten' = 'cls', targets: string[] = []): PlaygroundConfig {
  const c = defaultConfig();
  c.task = 'mnist-vae';
  c.tasks['mnist-vae'] = { base };
  c.adapter.kind = kind;
  c.adapter.targets = targets;
  c.training = { ...c.training, batch: 4, lr: 1e-2, seed: 1, warmup: 0, steps: 40, schedule: 'constant' };
  return c;
}

async function open(c: PlaygroundConfig): Promise<PlaygroundSession> {
  return PlaygroundSession.create(await testRuntime(), c, { assets: nodeAssets(), small: true, stream: { metricEvery: 2, validateEvery: 0, statsEvery: 0 } });
}

const cacheOf = (s: PlaygroundSession) => s.task as unknown as { decoderInputCache: boolean };

function maxAbsDiff(a: number[], b: number[]): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function images(v: TaskView) {
  if (v.kind !== 'images') throw new Error(`mnist-vae view kind ${v.kind}`);
  return v.images;
}

describe('mnist-vae page task', () => {
  test("the view's first image is the 8 → 3 experiment's fixed latent, with the experiment's noise seed and base", () => {
    const r = JSON.parse(readFileSync(RESULTS, 'utf8')) as { fixedLatent: { datasetIndex: number }; config: { evalNoiseSeed: number }; files: { vae: string } };
    expect(FIXED_VIEW_INDEX).toBe(r.fixedLatent.datasetIndex);
    expect(VIEW_NOISE_SEED).toBe(r.config.evalNoiseSeed);
    expect(`public/${MNIST_VAE_BASES.cls}`).toBe(r.files.vae);
    expect(`public/${MNIST_VAE_BASES.cls}`).toBe(VAE_8TO3_BASE_FILE);
    // The CLS base is the default; the flatten base stays an option, and each setting names its checkpoint.
    expect(mnistVaeTask.settings.defaults.base).toBe('cls');
    expect(mnistVaeTask.baseCheckpoint).toBe(MNIST_VAE_BASES.cls);
    expect(mnistVaeTask.baseCheckpointFor!({ base: 'flatten' })).toBe(MNIST_VAE_BASES.flatten);
  });

  test('atoms on the CLS base: opens on the fixed latent (both judges read its base decode as "8"); cached decoder input gives the full forward passes\' images and scores; "every unit on" follows training', async () => {
    const s = await open(cfg('atoms'));
    try {
      expect(s.task.base?.source).toBe(MNIST_VAE_BASES.cls);
      expect(cacheOf(s).decoderInputCache).toBe(true);
      await s.stepN(3);
      const v = await s.view({});
      const im = images(v);
      expect(im[0]!.index).toBe(FIXED_VIEW_INDEX);
      // The same noisy input and base as the experiment: both judges call the base's decode an "8".
      expect(im[0]!.judged!.map((j) => [j.by, j.base[0]])).toEqual([
        ['MLP', '8'],
        ['CNN', '8'],
      ]);
      expect(v.otherScores?.map((o) => o.label)).toEqual([expect.stringMatching(/CNN judge/)]);

      const g = s.task.groups[0]!;
      const unit = v.units!.items[0]!.unit;
      const mask = new Array<number>(g.count).fill(1);
      mask[unit] = 0;
      const o: InferenceOverrides = { masks: { [v.units!.items[0]!.group]: mask }, k: { 0: Math.max(1, g.k! - 3) } };
      const cached = await s.view(o);
      const cachedOn = await s.view({});
      // The uncached path: full forward passes, and no "every unit on" copy carried over from the cached one.
      cacheOf(s).decoderInputCache = false;
      s.task.invalidate!();
      const full = await s.view(o);
      const fullOn = await s.view({});
      cacheOf(s).decoderInputCache = true;
      s.task.invalidate!();
      for (const which of ['adapted', 'allOn'] as const) expect(maxAbsDiff(viewOutputs(cached, which), viewOutputs(full, which)), which).toBeLessThanOrEqual(1e-5);
      expect(maxAbsDiff(viewOutputs(cachedOn, 'adapted'), viewOutputs(fullOn, 'adapted'))).toBeLessThanOrEqual(1e-5);
      // The overrides changed the decodes (the comparison above is not of two identical views).
      expect(maxAbsDiff(viewOutputs(cached, 'adapted'), viewOutputs(cached, 'allOn'))).toBeGreaterThan(1e-4);
      for (const [a, b] of [
        [cached, full],
        [cachedOn, fullOn],
      ] as const) {
        expect(a.score.adapted).toBe(b.score.adapted);
        expect(a.otherScores![0]!.adapted).toBe(b.otherScores![0]!.adapted);
        expect(images(a).map((x) => x.judged)).toEqual(images(b).map((x) => x.judged));
        expect(a.units!.items.map((x) => x.unit)).toEqual(b.units!.items.map((x) => x.unit));
        a.units!.items.forEach((x, i) => expect(maxAbsDiff(Array.from((x.drawable as { pixels: Float32Array }).pixels), Array.from((b.units!.items[i]!.drawable as { pixels: Float32Array }).pixels))).toBeLessThanOrEqual(1e-4));
      }

      // A unit toggle re-renders the outputs first; the score and gallery follow (the same as a whole view's).
      const quick = await s.setMask(v.units!.items[0]!.group, mask);
      expect(quick.pending).toBe(true);
      expect(quick.score.adapted).toBeNull();
      expect(quick.units).toBeUndefined();
      const whole = await s.view({ ...o, k: {} });
      expect(viewOutputs(quick, 'adapted')).toEqual(viewOutputs(whole, 'adapted'));
      const rest = (await s.viewDeferred())!;
      expect(rest.overrides.masks).toEqual({ [v.units!.items[0]!.group]: mask });
      expect(rest.rest.score).toEqual(whole.score);
      expect(rest.rest.otherScores).toEqual(whole.otherScores);
      expect(rest.rest.units?.items.map((x) => x.unit)).toEqual(whole.units?.items.map((x) => x.unit));
      // A newer view makes a deferred part asked before it stale: it answers null, the newer view's own part follows.
      const late = s.viewDeferred();
      const newer = s.setK(0, Math.max(1, g.k! - 1));
      expect(await late).toBeNull();
      expect((await newer).pending).toBe(true);
      expect((await s.viewDeferred())?.rest.score.adapted).toEqual(expect.any(Number));
      await s.view({});

      // Training moves the decoder: the cached "every unit on" copy must follow it.
      await s.stepN(2);
      const after = await s.view(o);
      const afterOn = await s.view({});
      expect(viewOutputs(after, 'allOn')).toEqual(viewOutputs(afterOn, 'adapted'));
      expect(after.score.allOn).toBe(afterOn.score.adapted);
      expect(maxAbsDiff(viewOutputs(afterOn, 'adapted'), viewOutputs(cachedOn, 'adapted'))).toBeGreaterThan(0);
    } finally {
      s.destroy();
    }
  }, 300_000);

  test('a changing encoder is never cached: full fine-tuning, or an adapter on an encoder site; the flatten base is the option', async () => {
    const enc = await open(cfg('lora', 'cls', ['encoder.blocks.0.attn.q_proj']));
    try {
      expect(cacheOf(enc).decoderInputCache).toBe(false);
    } finally {
      enc.destroy();
    }
    const s = await open(cfg('none', 'flatten'));
    try {
      expect(s.task.base?.source).toBe(MNIST_VAE_BASES.flatten);
      expect(cacheOf(s).decoderInputCache).toBe(false);
      const before = await s.view({});
      expect(images(before)[0]!.index).toBe(FIXED_VIEW_INDEX);
      await s.stepN(2);
      // The encoder trains too: the view follows it (nothing stale).
      const after = await s.view({});
      expect(maxAbsDiff(viewOutputs(after, 'adapted'), viewOutputs(before, 'adapted'))).toBeGreaterThan(0);
    } finally {
      s.destroy();
    }
  }, 300_000);
});
