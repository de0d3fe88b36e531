/**
 * The atoms "8 → 3" experiment (src/experiments/mnist-vae-8to3.ts) on the shipped bottleneck 5–9
 * VAE and the two shipped judges, quick:
 *  - `npm run repro -- mnist-vae-8to3 --quick` end to end (fixed seed): both judges call fewer
 *    than half of the held-out noisy 3s "3" in the base decode and more than half after the
 *    atoms (the midpoint the full run's goals sit on either side of); results.json carries the
 *    checks, decoded.safetensors every decoded image;
 *  - with every atom masked the adapted decoder is the base decoder bit for bit (compared with a
 *    VAE built without adapters); top-k keeps exactly k codes per token; an atom no token
 *    selected has an exactly zero contribution map; the maps are the documented decode
 *    differences; eightToThreeView (the page's data) returns the same decodes.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMnistNode } from '../src/data/mnist-node';
import type { GpuRuntime } from '../src/engine/runtime';
import { CNN_JUDGE_FILE, mnistVae8to3Experiment, MLP_JUDGE_FILE, VAE_8TO3_BASE_FILE } from '../src/experiments/mnist-vae-8to3';
import { analyseContributions, atomUsage, coveringSet, eightToThreeView, judgeHeldOut, VaeAtomsFinetune, VAE_8TO3_QUICK, type HeldOutResult } from '../src/experiments/mnist-vae-atoms';
import type { Check } from '../src/experiments/stats';
import { baseCheckpointMetadata } from '../src/io/base-checkpoint';
import { parseSafetensors } from '../src/io/safetensors';
import { DigitJudge } from '../src/models/digit-judge';
import { loadVaeCheckpoint, vaeConfigFromMetadata } from '../src/models/vae';
import { buildMnistVaeTask, MNIST_VAE_DEFAULTS } from '../src/tasks/mnist-vae';
import { testRuntime } from './helpers/gpu';

const silentIo = { log: () => {}, print: () => {}, progress: () => ({ update: () => {}, done: () => {} }) };

describe('mnist-vae 8 → 3: the quick experiment', () => {
  it('base below and adapted above the midpoint on held-out noisy 3s (both judges, fixed seed); checks and decoded images written', async () => {
    await testRuntime(); // the experiment acquires the same Node GPU
    const out = mkdtempSync(join(tmpdir(), 'vae-8to3-'));
    try {
      expect(await mnistVae8to3Experiment.run({ quick: true, out }, silentIo)).toBe(0);
      const r = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
        base: { judges: Record<string, { heldOut3: { rate: number } }> };
        runs: { k: number; seed: number; judges: Record<string, { heldOut3: { rate: number } }> }[];
        checks: Check[];
      };
      expect(r.runs.map((x) => [x.k, x.seed])).toEqual([[10, 1]]);
      for (const j of ['mlp', 'cnn']) {
        expect(r.base.judges[j]!.heldOut3.rate, `base, ${j}`).toBeLessThan(0.5);
        expect(r.runs[0]!.judges[j]!.heldOut3.rate, `adapted, ${j}`).toBeGreaterThan(0.5);
      }
      const ids = r.checks.map((c) => c.id);
      for (const id of ['base-own-digit', 'base-3-not-3', 'base-failures-5-or-8', 'k10-held-out-3', 'k10-8-to-3', 'k10-prior-8-to-3']) for (const j of ['mlp', 'cnn']) expect(ids).toContain(`${id}:${j}`);
      for (const c of r.checks) {
        expect(typeof c.claim).toBe('string');
        expect([true, false, null]).toContain(c.pass);
      }
      const file = parseSafetensors(readFileSync(join(out, 'decoded.safetensors')));
      const names = new Set(file.tensors.keys());
      for (const n of ['held_out.indices', 'held_out.noisy', 'held_out.base', 'held_out.k10.seed1', 'prior.indices', 'prior.base', 'prior.k10.seed1']) expect(names.has(n), n).toBe(true);
      expect(file.tensors.get('held_out.base')!.shape).toEqual([64, 784]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 900_000);
});

describe('mnist-vae 8 → 3: the atoms fine-tune and its analysis', () => {
  const CFG = { ...VAE_8TO3_QUICK, batch: 16, steps: 20, evalImages: 32 };
  let rt: GpuRuntime;
  let ft: VaeAtomsFinetune;
  let judge: DigitJudge;
  const vaeBytes = new Uint8Array(readFileSync(VAE_8TO3_BASE_FILE));

  beforeAll(async () => {
    rt = await testRuntime();
    ft = new VaeAtomsFinetune(rt, loadMnistNode(), vaeBytes, CFG);
    judge = new DigitJudge(rt, new Uint8Array(readFileSync(MLP_JUDGE_FILE)));
  }, 600_000); // building the VAE + atoms and the judge passed 120 s on the loaded 2-core machine
  afterAll(() => {
    judge?.destroy();
    ft?.destroy();
  });

  it('coveringSet picks the fewest largest entries covering the share', () => {
    expect(coveringSet([0.1, 5, 0, 3, 2], 0.75)).toEqual([1, 3]);
    expect(coveringSet([0.1, 5, 0, 3, 2], 0.8)).toEqual([1, 3, 4]);
    expect(coveringSet([1, 1, 1, 1], 0.95)).toEqual([0, 1, 2, 3]);
    expect(coveringSet([0, 0], 0.95)).toEqual([]);
  });

  it('the CNN judge loads from its checkpoint', () => {
    const cnn = new DigitJudge(rt, new Uint8Array(readFileSync(CNN_JUDGE_FILE)));
    expect(cnn.kind).toBe('cnn');
    expect(cnn.recordedAccuracy()).toBeGreaterThan(0.95);
    cnn.destroy();
    expect(() => new DigitJudge(rt, vaeBytes)).toThrow(/not a digit classifier checkpoint: model is 'mnist-vae'/);
  });

  it('masked = base exactly; top-k keeps k codes per token; maps as documented; the page view data', async () => {
    // Before training D = 0: the adapter changes nothing. After it, masking every atom must give back the base.
    const held0 = await judgeHeldOut(ft, judge, 16, 3);
    expect(Array.from(held0.adapted.images)).toEqual(Array.from(held0.base.images));

    await ft.train(CFG.steps);
    expect(ft.step).toBe(CFG.steps);
    expect(ft.rows.every((r) => r.values.non_finite === 0)).toBe(true);
    const held: HeldOutResult = await judgeHeldOut(ft, judge, CFG.evalImages, 3);

    // A VAE without adapters decodes the same latents to exactly the adapted model's all-masked images.
    const base = buildMnistVaeTask(rt, loadMnistNode(), { ...MNIST_VAE_DEFAULTS, digits: [3], model: { ...vaeConfigFromMetadata(baseCheckpointMetadata(vaeBytes)), batch: CFG.batch, frozen: true } }, { initOutputBias: false });
    loadVaeCheckpoint(vaeBytes, base.vae);
    const plain = await base.decode(held.latents);
    base.destroy();
    expect(held.base.images.length).toBe(plain.length);
    let same = true;
    for (let i = 0; i < plain.length; i++) if (held.base.images[i] !== plain[i]) same = false;
    expect(same).toBe(true);
    let moved = 0;
    for (let i = 0; i < plain.length; i++) moved = Math.max(moved, Math.abs(held.adapted.images[i]! - plain[i]!));
    expect(moved).toBeGreaterThan(0.05);

    // Top-k: k codes per token; usage and the active set.
    const usage = await atomUsage(ft, held.latents.subarray(0, 16 * 32));
    for (const u of usage) {
      expect(u.perToken).toBeCloseTo(CFG.k, 5);
      expect(u.active.length).toBeGreaterThan(0);
      expect(u.active.length).toBeLessThanOrEqual(u.everUsed);
      expect(u.everUsed).toBeLessThanOrEqual(CFG.atoms);
    }

    // Contribution maps of one latent.
    const z = held.latents.slice(0, 32);
    const a = await analyseContributions(ft, z, { maxAtoms: 3 });
    expect(Array.from(a.base)).toEqual(Array.from(plain.subarray(0, 784)));
    for (let i = 0; i < 784; i++) expect(a.overall[i]).toBe(Math.fround(a.adapted[i]! - a.base[i]!));
    for (const [l, layer] of a.layers.entries()) {
      expect(layer.atoms.length).toBeGreaterThan(0);
      for (let j = 0; j < layer.atoms.length; j++) {
        expect(layer.atoms[j]!.usage[0]).toBeGreaterThan(0);
        if (j > 0) expect(layer.atoms[j]!.usage[0]).toBeLessThanOrEqual(layer.atoms[j - 1]!.usage[0]!);
      }
      // A mapped atom's map is the decode difference (recomputed here).
      const m = layer.atoms[0]!.atom;
      const off: number[][] = [[], []];
      off[l] = [m];
      ft.setAtoms({ off });
      const without = (await ft.decode(z)).images;
      for (let i = 0; i < 784; i++) expect(layer.atoms[0]!.map[i]).toBe(Math.fround(a.adapted[i]! - without[i]!));
      // An atom no token of this latent selected: switching it off changes nothing, exactly.
      const unused = Array.from(layer.usage).findIndex((v) => v === 0);
      expect(unused).toBeGreaterThanOrEqual(0);
      off[l] = [unused];
      ft.setAtoms({ off });
      expect(Array.from((await ft.decode(z)).images)).toEqual(Array.from(a.adapted));
      ft.setAtoms('all');
    }

    // The 8 → 3 view data: the same decodes, per-layer totals, shares of the layer's usage, verdicts.
    const two = ft.task.testIndices.slice(0, 2);
    const view = (await eightToThreeView(rt, ft.task, ft.adapters, two, { maxAtoms: 2, judge, probe: ft }))!;
    expect(view).not.toBeNull();
    expect(Array.from(view.adapted)).toEqual(Array.from(held.adapted.images.subarray(0, 2 * 784)));
    expect(Array.from(view.base)).toEqual(Array.from(plain.subarray(0, 2 * 784)));
    expect(view.layers.map((l) => l.path)).toEqual(ft.adapters.map((ad) => ad.path));
    for (const l of view.layers) {
      expect(l.activeAtoms).toBeGreaterThan(0);
      expect(l.atoms.length).toBe(2);
      const share = l.atoms.reduce((s, c) => s + c.share, 0);
      expect(share).toBeGreaterThan(0);
      expect(share).toBeLessThanOrEqual(1 + 1e-9);
      expect(l.atoms[0]!.map.length).toBe(2 * 784);
    }
    expect(view.verdicts!.adapted).toEqual(Array.from(held.adapted.verdicts.pred.subarray(0, 2)));
    expect(await eightToThreeView(rt, ft.task, [], two)).toBeNull();
  }, 600_000);
});
