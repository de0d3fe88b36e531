/**
 * `npm run repro -- fourier --merge a,b,…`: one report from runs made one seed per process. On
 * hand-made results (no GPU): seeds pool into intervals, the same seed's parts join, and sources
 * that disagree (config, baselines, a result given twice, a base evaluated differently) are refused.
 */
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fourierExperiment } from '../src/experiments/fourier';
import type { ExperimentIo } from '../src/experiments/experiment';
import { FOURIER_FULL } from '../src/models/fourier';

const quietIo: ExperimentIo = { log: () => {}, print: () => {}, progress: () => ({ update: () => {}, done: () => {} }) };
const baselines = {
  low: { frequencies: [7, 14, 19, 20, 23], variance: 12.5, copyNmse: 0.75, linearFloorNmse: 0.31, fistaNmse: 0.6, landweberNmse: 0.08, landweberStep: 3 },
  high: { frequencies: [27, 28, 30, 31, 32], variance: 12.5, copyNmse: 0.75, linearFloorNmse: 0.28, fistaNmse: 0.11, landweberNmse: 0.08, landweberStep: 2.9 },
};
const ev = (nmse: number, used: number) => ({ nmse, usedAtoms: used, usedAtomsPerSignal: used - 1, usedAtomsPerSignalMax: used, atomsAbove1pct: used, activePerToken: 5 });
const base = (form: 'dense' | 'sparse', tie: 'tied' | 'untied', nmse: number, used: number) => ({
  form, tie, steps: 500, seconds: 100, loadedFrom: null, low: ev(nmse, used), highBefore: ev(2, used), usedAtoms: [], minBandEnergy: form === 'sparse' ? 0.95 : 0.5,
});
const ft = (mode: string, tie: string, nmse: number) => ({ mode, tie, trainableParameters: 8192, steps: 500, seconds: 50, high: ev(nmse, 10), usedAtoms: [] });
function source(dir: string, seed: number, o: { untiedOnly?: boolean; lowSparse?: number; config?: object; bl?: object; sparseFrom?: string } = {}): string {
  const d = join(dir, `s${seed}${o.untiedOnly ? 'u' : ''}`);
  mkdirSync(d, { recursive: true });
  const jitter = seed * 0.001;
  const run = o.untiedOnly
    ? { seed, seconds: 10, bases: { dense: base('dense', 'tied', 0.11 + jitter, 61), sparse: base('sparse', 'tied', o.lowSparse ?? 0.15 + jitter, 12), 'sparse-untied': base('sparse', 'untied', 0.2, 14) }, finetune: { 'untied.atoms': ft('atoms', 'untied', 0.9 + jitter) } }
    : { seed, seconds: 10, bases: { dense: base('dense', 'tied', 0.11 + jitter, 61), sparse: base('sparse', 'tied', 0.15 + jitter, 12) }, finetune: { 'tied.atoms': ft('atoms', 'tied', 0.14 + jitter), 'tied.coefficients': ft('coefficients', 'tied', 0.8 + jitter), 'tied.both': ft('both', 'tied', 0.09 + jitter) } };
  if (o.sparseFrom) (run.bases.sparse as { loadedFrom: string | null }).loadedFrom = o.sparseFrom;
  writeFileSync(join(d, 'results.json'), JSON.stringify({
    experiment: 'fourier', quick: false, device: 'test', seconds: 10, seeds: [seed], config: { ...FOURIER_FULL, seed, ...(o.config ?? {}) },
    modes: o.untiedOnly ? ['atoms'] : ['atoms', 'coefficients', 'both'], baselines: o.bl ?? baselines, runs: [run],
  }));
  return d;
}
const merge = (sources: string[], out: string) => fourierExperiment.run({ merge: sources.join(','), out }, quietIo);

describe('fourier --merge', () => {
  it('pools seeds into intervals and joins the untied form of a seed run later', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fourier-merge-'));
    const out = join(dir, 'out');
    expect(await merge([source(dir, 1), source(dir, 2), source(dir, 3), source(dir, 1, { untiedOnly: true })], out)).toBe(0);
    const r = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(r.seeds).toEqual([1, 2, 3]);
    const check = (id: string) => r.checks.find((c: { id: string }) => c.id === id);
    expect(check('ft-tied-atoms').seeds).toEqual([1, 2, 3]);
    expect(check('ft-tied-atoms').measured).toBeCloseTo(0.142, 6);
    expect(check('ft-tied-atoms').ci95[0]).toBeLessThan(0.142);
    expect(check('ft-tied-atoms').pass).toBe(true);
    expect(check('low-sparse-nmse').pass).toBe(false);
    expect(check('ft-untied-atoms').seeds).toEqual([1]);
    expect(r.summary.finetune['untied.atoms'].seeds).toEqual([1]);
    expect(r.summary.bases['sparse-untied'].lowNmse.values).toEqual([0.2]);
    expect(r.mergedFrom).toHaveLength(4);
    expect(readFileSync(join(out, 'results.md'), 'utf8')).toMatch(/\| tied\.atoms \| 8192 \| 0\.142 \[0\.1\d\d, 0\.1\d\d\] \(0\.141, 0\.142, 0\.143\) \|/);
  });

  it('refuses sources that do not belong together, naming the file and the field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fourier-merge-'));
    const out = join(dir, 'out');
    const s1 = source(dir, 1);
    await expect(merge([s1, source(dir, 2, { config: { lambda: 2 } })], out)).rejects.toThrow(/s2[/\\]results.json's config differs .* in lambda/);
    await expect(merge([s1, source(dir, 3, { bl: { ...baselines, low: { ...baselines.low, copyNmse: 0.7 } } })], out)).rejects.toThrow(/s3[/\\]results.json has other baselines/);
    await expect(merge([s1, s1], out)).rejects.toThrow(/seed 1's fine-tuning tied.atoms is in two sources/);
    await expect(merge([s1, source(dir, 1, { untiedOnly: true, lowSparse: 0.3 })], out)).rejects.toThrow(/seed 1's sparse base differs between the sources/);
    // A base loaded from a file: the file's recorded config must be the merged one up to the pre-training recipe
    // (the shipped base is the full recipe, batch 16 and 800 steps, against a run made at batch 8, 500 steps: accepted and shown).
    await expect(merge([source(dir, 1, { sparseFrom: 'public/checkpoints/fourier-sparse.safetensors', config: { lambda: 2 } })], out)).rejects.toThrow(/fourier-sparse.safetensors \(seed 1\) was made with another config .*\(lambda\)/);
    expect(await merge([source(dir, 1, { sparseFrom: 'public/checkpoints/fourier-sparse.safetensors', config: { batch: 8, pretrainSteps: 500 } })], out)).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')).mergedFrom[0].loadedBases[0].madeWith).toEqual({ batch: 16, pretrainSteps: 800, pretrainLr: 0.003 });
    expect(readFileSync(join(out, 'results.md'), 'utf8')).toContain('Bases pre-trained with another recipe (loaded from files): seed 1 sparse (batch 16, 800 steps, lr 0.003).');
    expect(await merge([source(dir, 1, { sparseFrom: join(dir, 'gone.safetensors') })], out)).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')).mergedFrom[0].loadedBases).toEqual([{ base: 'sparse', file: join(dir, 'gone.safetensors'), checked: false }]);
    await expect(merge([join(dir, 'nope')], out)).rejects.toThrow(/nope[/\\]results.json does not exist/);
  });
});
