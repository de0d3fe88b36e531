/**
 * The STAN reproductions' protocol end to end on a tiny budget (--quick: 2 learning rates, 16-step
 * cap, evaluations every 4 steps, 64 validation / 64 test digits, 2 seeds), the three experiments
 * sharing one run store as in the full runs:
 *  - the validation split is carved from the train split (disjoint from train and test, the same
 *    for every seed);
 *  - stan-k-expansion: learning-rate selection by successive halving (one rate dropped at the
 *    halving step), every stored curve starts at the frozen base and ends where the plateau rule
 *    (recomputed here from the curve) or the cap says; cells' intervals and the paired differences
 *    against k = 8 are the t-intervals of the seeds' test accuracies;
 *  - stan-forgetting: every run crossed the shared first-task target at its switch, the switch
 *    lies no later than the stored run's first evaluation at the target, drop and retention are
 *    what their definitions give from the stored accuracies;
 *  - stan-latents: App. F statistics of STAN's latents and LoRA's directions over the training
 *    batches and the test set, every unit counted.
 * The interval code itself is checked against scipy in experiment-stats.test.ts.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { reproCommand } from '../src/cli/repro';
import type { ExperimentIo } from '../src/experiments/experiment';
import { ensureRun, loadRecord, protocolRule, QUICK_SETTINGS, type RunEnv, type RunRecord } from '../src/experiments/stan-runs';
import { pairedDifference, tInterval } from '../src/experiments/stats';
import { retention } from '../src/experiments/training-protocol';
import { baseCheckpointMetadata } from '../src/io/base-checkpoint';
import { digitsConfigFromMetadata } from '../src/tasks/digits';
import { testRuntime } from './helpers/gpu';
import { loadMnistNode } from '../src/data/mnist-node';
import { splitMnist } from '../src/data/mnist';
import { carveValidation } from '../src/tasks/digits';

const quietIo: ExperimentIo = { log: () => {}, print: () => {}, progress: () => ({ update: () => {}, done: () => {} }) };
const close = (a: number, b: number, tol = 2e-4) => expect(Math.abs(a - b), `${a} vs ${b}`).toBeLessThan(tol);

describe('validation split', () => {
  it('is carved from the train split: disjoint from train and test, the same for every seed, sized as asked', () => {
    const split = splitMnist(loadMnistNode(), 2024);
    const { train, validation } = carveValidation(split.train, 500, 2024);
    expect(validation.length).toBe(500);
    expect(train.length + validation.length).toBe(split.train.length);
    const v = new Set(validation);
    expect(train.some((i) => v.has(i))).toBe(false);
    expect(split.test.some((i) => v.has(i))).toBe(false);
    expect(carveValidation(split.train, 500, 2024).validation).toEqual(validation);
    expect(() => carveValidation(split.train, split.train.length, 2024)).toThrow(/validation/);
  });
});

describe('stored runs', () => {
  it('a run stopped by an earlier plateau rule, or at a first-task target, resumes from its snapshots and continues exactly as a fresh run under the current rule', { timeout: 300_000 }, async () => {
    const rt = await testRuntime();
    const base = new Uint8Array(readFileSync('public/checkpoints/digit-transformer.safetensors'));
    const io: ExperimentIo = quietIo;
    // minGain 1 (100 points): every evaluation is "flat", so patience p stops the run at step window + (p − 1)·evalEvery
    const flat = { ...QUICK_SETTINGS, plateauMinGain: 1 };
    const env = (store: string, patience: number): RunEnv => ({ io, rt, mnist: loadMnistNode(), base, model: digitsConfigFromMetadata(baseCheckpointMetadata(base)), settings: { ...flat, plateauPatience: patience }, store, baseCache: new Map() });
    const spec = { view: 'rot90' as const, method: { kind: 'stan' as const, expansion: 1, k: 8 }, lr: 3e-2, seed: 3 };
    const a = join(mkdtempSync(join(tmpdir(), 'stan-resume-')), 'runs');
    const old = await ensureRun(env(a, 1), spec, true);
    expect(old.stop).toMatchObject({ reason: 'plateau', step: flat.plateauWindow });
    const resumed = await ensureRun(env(a, 2), spec, true);
    expect(resumed.stop).toMatchObject({ reason: 'plateau', step: flat.plateauWindow + flat.evalEvery });
    expect(resumed.curve.slice(0, old.curve.length)).toEqual(old.curve);
    expect(loadRecord(env(a, 2), resumed.id)!.settings.plateauPatience).toBe(2);
    const fresh = await ensureRun(env(join(mkdtempSync(join(tmpdir(), 'stan-fresh-')), 'runs'), 2), spec, true);
    expect(fresh.curve).toEqual(resumed.curve);
    expect(fresh.test!.accuracy).toBe(resumed.test!.accuracy);
    // a stored run the current rule agrees with stands as it is
    expect((await ensureRun(env(a, 2), spec, true)).curve).toEqual(resumed.curve);
    // a run stopped at a first-task target (Table 9 --first-target) is continued to its plateau exactly
    const c = join(mkdtempSync(join(tmpdir(), 'stan-target-')), 'runs');
    const atTarget = await ensureRun(env(c, 2), spec, true, 0);
    expect(atTarget.stop).toMatchObject({ reason: 'target', step: flat.evalEvery });
    expect((await ensureRun(env(c, 2), spec, true, 0)).stop.step).toBe(flat.evalEvery); // reached: stands
    const continued = await ensureRun(env(c, 2), spec, true);
    expect(continued.stop).toMatchObject({ reason: 'plateau', step: fresh.stop.step });
    expect(continued.curve).toEqual(fresh.curve);
    expect(continued.test!.accuracy).toBe(fresh.test!.accuracy);
  });
});

describe('STAN protocol, end to end (--quick)', () => {
  const root = mkdtempSync(join(tmpdir(), 'stan-protocol-'));
  const store = join(root, 'runs');
  const runs = () => readdirSync(store).filter((f) => f.endsWith('.json') && !f.startsWith('t9-')).map((f) => JSON.parse(readFileSync(join(store, f), 'utf8')) as RunRecord);

  it('stan-k-expansion: lr by successive halving, runs stop by the plateau rule or the cap, intervals and paired differences from the seeds', { timeout: 400_000 }, async () => {
    const out = join(root, 'k');
    expect(await reproCommand(['stan-k-expansion', '--quick', '--out', out, '--store', store], quietIo)).toBe(0);
    const r = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
      setup: { base: { validation: number } };
      lrSelection: { candidates: { lr: number; halved: boolean }[] }[];
      cells: { k: number | string; mean: number; ci95: [number, number]; seeds: { test: number }[]; vsK8: { mean: number; ci95: [number, number] } | null }[];
      checks: { id: string; pass: boolean | null; ci95: [number, number] | null }[];
    };
    // halving: at least `halvingKeep` rates went on at each k (a rate whose run plateaued by the halving step finishes too)
    for (const s of r.lrSelection) expect(s.candidates.filter((x) => !x.halved).length).toBeGreaterThanOrEqual(QUICK_SETTINGS.halvingKeep);
    // every stored run: the curve starts at the frozen base at step 0; the plateau rule replayed on the curve agrees with the stop
    const all = runs();
    expect(all.length).toBeGreaterThanOrEqual(2 * 2 + 2); // 2 cells × 2 rates (seed 1) + the seed-2 runs
    for (const run of all) {
      expect(run.curve[0]!.step).toBe(0);
      close(run.curve[0]!.value, r.setup.base.validation);
      const rule = protocolRule(QUICK_SETTINGS);
      for (const p of run.curve) rule.observe(p.step, p.value);
      if (run.stop.reason === 'plateau') expect(rule.plateauStep).toBe(run.stop.step);
      else if (run.stop.reason === 'cap') {
        expect(run.stop.step).toBe(QUICK_SETTINGS.cap);
        expect(rule.plateauStep === null || rule.plateauStep === QUICK_SETTINGS.cap).toBe(true);
      } else expect(run.stop.step).toBe(QUICK_SETTINGS.halvingAt);
      expect(run.curve.every((p) => p.step % QUICK_SETTINGS.evalEvery === 0 || p.step === run.stop.step)).toBe(true);
      expect(run.best.value).toBe(Math.max(...run.curve.map((p) => p.value)));
      if (run.stop.reason !== 'halved') expect(Number.isFinite(run.test!.accuracy)).toBe(true);
    }
    // intervals: recomputed from the seeds
    const k8 = r.cells.find((x) => x.k === 8)!;
    for (const cell of r.cells) {
      const iv = tInterval(cell.seeds.map((s) => s.test));
      close(cell.mean, iv.mean);
      close(cell.ci95[0], iv.lo);
      close(cell.ci95[1], iv.hi);
      if (cell.k === 8) expect(cell.vsK8).toBe(null);
      else {
        const d = pairedDifference(cell.seeds.map((s) => s.test), k8.seeds.map((s) => s.test));
        close(cell.vsK8!.mean, d.mean);
        close(cell.vsK8!.ci95[0], d.lo);
      }
    }
    expect(r.checks.map((c) => c.id)).toEqual(['t8-k8-vs-nlatents-e1', 't8-protocol-plateau', 't8-protocol-half-width']);
    // The k = 8 check states acc(k = 8) − acc(n-latents): the cell's vsK8 (acc(k) − acc(k = 8)) negated.
    const nl = r.cells.find((x) => x.k !== 8)!;
    const c8 = r.checks.find((c) => c.id === 't8-k8-vs-nlatents-e1') as unknown as { measured: number; ci95: [number, number] };
    close(c8.measured, -nl.vsK8!.mean);
    close(c8.ci95[0], -nl.vsK8!.ci95[1]);
    close(c8.ci95[1], -nl.vsK8!.ci95[0]);
    for (const f of ['results.md', 'k-expansion-accuracy.svg', 'k-expansion-validation-curves.svg']) expect(existsSync(join(out, f)), f).toBe(true);
    // --stored-only: the same cells from the store; from an empty store every cell is 'not run' and nothing trains
    const again = join(root, 'k-stored');
    expect(await reproCommand(['stan-k-expansion', '--quick', '--stored-only', '--out', again, '--store', store], quietIo)).toBe(0);
    const r2 = JSON.parse(readFileSync(join(again, 'results.json'), 'utf8')) as typeof r & { notRun: unknown[] };
    expect(r2.cells).toEqual(r.cells);
    expect(r2.notRun).toEqual([]);
    const emptyStore = join(root, 'k-empty-store');
    expect(await reproCommand(['stan-k-expansion', '--quick', '--stored-only', '--out', join(root, 'k-empty'), '--store', emptyStore], quietIo)).toBe(0);
    const r3 = JSON.parse(readFileSync(join(root, 'k-empty', 'results.json'), 'utf8')) as typeof r & { notRun: unknown[] };
    expect(r3.cells).toEqual([]);
    expect(r3.notRun.length).toBe(2);
    expect(r3.checks.every((x) => x.pass !== true)).toBe(true);
    expect(readdirSync(emptyStore)).toEqual([]);
  });

  it('stan-forgetting: first task matched at a shared target before the second; drop and retention by their definitions', { timeout: 400_000 }, async () => {
    const out = join(root, 'f');
    expect(await reproCommand(['stan-forgetting', '--quick', '--out', out, '--store', store], quietIo)).toBe(0);
    const r = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
      setup: { baseTest: Record<string, number> };
      tables: { first: string; target: number; baseFirstTest: number; stan: { seeds: { a0: number; aEnd: number; drop: number; retention: number; valAtSwitch: number; switchStep: number }[] }; lora: { seeds: { a0: number; aEnd: number; drop: number; retention: number; valAtSwitch: number; switchStep: number }[] } }[];
      runs: { target: number; switches: { method: string; seed: number; runA: string; switchStep: number; valAtSwitch: number; curve: [number, number, number][] }[] }[];
      checks: { id: string }[];
    };
    expect(r.tables.length).toBe(1);
    const t = r.tables[0]!;
    const stored = runs();
    const firstRuns = r.runs[0]!.switches.map((sw) => stored.find((x) => x.id === sw.runA)!);
    expect(firstRuns.length).toBe(2 * 2); // STAN and LoRA × 2 seeds
    // the shared target lies MATCH_BELOW under the lowest best validation accuracy of the first-task runs
    close(t.target, Math.min(...firstRuns.map((x) => x.best.value)) - 0.02, 1e-4);
    for (const [i, sw] of r.runs[0]!.switches.entries()) {
      expect(sw.valAtSwitch).toBeGreaterThanOrEqual(r.runs[0]!.target - 1e-9);
      const runA = firstRuns[i]!;
      expect(runA.view).toBe(t.first);
      const cross = runA.curve.find((p) => p.value >= r.runs[0]!.target)!;
      expect(sw.switchStep).toBeLessThanOrEqual(cross.step);
      expect(sw.curve[0]![0]).toBe(0);
      expect(sw.curve[sw.curve.length - 1]![0]).toBe(8);
    }
    for (const m of [t.stan, t.lora]) {
      for (const s of m.seeds) {
        close(s.drop, s.a0 - s.aEnd, 2e-3);
        if (Number.isFinite(s.retention)) close(s.retention, retention(s.aEnd, s.a0, t.baseFirstTest), 2e-2);
      }
    }
    expect(r.checks.map((c) => c.id.replace(/-paper-rot90-to-flip$/, ''))).toEqual(['t9-protocol-matched', 't9-drop', 't9-retention', 't9-a-at-matched-b']);
    expect(existsSync(join(out, 'forgetting-rot90-then-flip.svg'))).toBe(true);
    // --stored-only reports the same tables from the store, training nothing
    const again = join(root, 'f-stored');
    expect(await reproCommand(['stan-forgetting', '--quick', '--stored-only', '--out', again, '--store', store], quietIo)).toBe(0);
    const r2 = JSON.parse(readFileSync(join(again, 'results.json'), 'utf8')) as typeof r & { unfinished: unknown[] };
    expect(r2.tables).toEqual(r.tables);
    expect(r2.unfinished).toEqual([]);
    // … and from an empty store, says what is missing instead of training it
    const empty = join(root, 'f-empty');
    await expect(reproCommand(['stan-forgetting', '--quick', '--stored-only', '--out', empty, '--store', join(root, 'empty-store')], quietIo)).rejects.toThrow(/not in the run store/);
  });

  it('stan-latents: App. F over the training batches and the test set, STAN latents beside LoRA directions', { timeout: 400_000 }, async () => {
    const out = join(root, 'l');
    expect(await reproCommand(['stan-latents', '--quick', '--out', out, '--store', store], quietIo)).toBe(0);
    const r = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
      methods: { id: string; units: number; train: { active: number[] }; test: { active: number[] }; seeds: { train: { units: number } }[] }[];
      checks: { id: string; ci95: [number, number] }[];
      stanShowcase: { identifiability: unknown[]; latents: { classShare: number[] }[] };
    };
    expect(r.methods.map((m) => m.id)).toEqual(['stan-e1-k8', 'lora-r8-a16']);
    expect(r.methods[0]!.units).toBe(4 * 64);
    expect(r.methods[1]!.units).toBe(4 * 8);
    for (const m of r.methods) for (const a of [...m.train.active, ...m.test.active]) expect(a).toBeGreaterThan(0);
    expect(r.checks.map((c) => c.id)).toEqual(['appF-entropy-paper-test', 'appF-entropy-paper-train']);
    expect(r.stanShowcase.identifiability.length).toBe(4);
    expect(r.stanShowcase.latents.length).toBeGreaterThan(0);
    for (const x of r.stanShowcase.latents) close(x.classShare.reduce((a, b) => a + b, 0), 1, 5e-3);
    for (const f of ['latents-scatter.svg', 'latents-entropy-hist.svg', 'latents-top-digits.svg']) expect(existsSync(join(out, f)), f).toBe(true);
  });
});
