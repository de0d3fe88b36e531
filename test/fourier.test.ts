/**
 * The Fourier toy's experiment at quick size on a fixed seed (the CI check of the paper's
 * directions, with margins): pre-trained on the low band, both bases beat the linear floor, the
 * sparse base uses fewer atoms than the dense one; fine-tuned to the high band, atoms only beats
 * coefficients only. Plus: base checkpoints round-trip and a mismatched file names the problem;
 * the shipped bases load and reproduce their recorded numbers.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { makeFourierSet, nmseOf, signalVariance } from '../src/data/fourier-signals';
import { copyBaselineMse, fitLinearFloor } from '../src/experiments/fourier-baselines';
import { finetuneFourier, pretrainFourier } from '../src/experiments/fourier';
import {
  buildFourierModel,
  evaluateFourier,
  FOURIER_FULL,
  FOURIER_QUICK,
  fourierCheckpointBytes,
  fourierLift,
  loadFourierCheckpoint,
  readParams,
  type FourierEval,
  type FourierForm,
  type FourierModel,
} from '../src/models/fourier';
import { testRuntime } from './helpers/gpu';

describe('fourier experiment (quick, seed 1)', () => {
  const cfg = FOURIER_QUICK;
  const bases: Partial<Record<FourierForm, { model: FourierModel; low: FourierEval }>> = {};
  let sparseBytes: Uint8Array | null = null;

  it('pre-trained on the low band, both bases beat the linear floor; the sparse base uses fewer atoms than the dense one', async () => {
    const rt = await testRuntime();
    const train = makeFourierSet(cfg, 'low', 'train', cfg.trainSamples);
    const test = makeFourierSet(cfg, 'low', 'test', cfg.valSamples);
    const floor = nmseOf(fitLinearFloor(makeFourierSet(cfg, 'low', 'floor', cfg.floorSamples)).predict(test), test);
    for (const form of ['dense', 'sparse'] as const) {
      const r = await pretrainFourier(rt, cfg, form, train);
      const low = await evaluateFourier(rt, r.model, test);
      bases[form] = { model: r.model, low };
      console.log(`[fourier quick] ${form}: low-band NMSE ${low.nmse.toFixed(3)} (linear floor ${floor.toFixed(3)}), atoms for 95 % of usage ${low.usedAtoms}/${cfg.atoms} (per signal ${low.usedAtomsPerSignal.toFixed(1)}), ${r.steps} steps in ${r.seconds.toFixed(1)} s`);
    }
    for (const form of ['dense', 'sparse'] as const) expect(bases[form]!.low.nmse).toBeLessThan(floor - 0.05);
    expect(bases.sparse!.low.usedAtoms).toBeLessThan(bases.dense!.low.usedAtoms - 10);
    sparseBytes = await fourierCheckpointBytes(bases.sparse!.model, {});
  }, 900_000);

  it('fine-tuned to the high band, atoms only beats coefficients only', async () => {
    const rt = await testRuntime();
    expect(sparseBytes).not.toBeNull();
    const train = makeFourierSet(cfg, 'high', 'train', cfg.trainSamples);
    const test = makeFourierSet(cfg, 'high', 'test', cfg.valSamples);
    const copy = copyBaselineMse(test);
    const out: Record<string, number> = {};
    for (const mode of ['atoms', 'coefficients'] as const) {
      const r = await finetuneFourier(rt, cfg, sparseBytes!, mode, train);
      try {
        out[mode] = (await evaluateFourier(rt, r.model, test)).nmse;
      } finally {
        r.model.destroy();
      }
    }
    console.log(`[fourier quick] high band after ${cfg.finetuneSteps} steps: atoms only ${out.atoms!.toFixed(3)}, coefficients only ${out.coefficients!.toFixed(3)} (copy ${(copy / signalVariance(test)).toFixed(3)})`);
    expect(out.atoms!).toBeLessThan(out.coefficients! - 0.2);
  }, 900_000);

  it('checkpoints round-trip; a mismatched file names the problem', async () => {
    const rt = await testRuntime();
    const other = buildFourierModel(rt, cfg, { form: 'sparse', train: 'coefficients' });
    const dense = buildFourierModel(rt, cfg, { form: 'dense', train: 'all' });
    const wide = buildFourierModel(rt, { ...cfg, atoms: cfg.atoms + 4 }, { form: 'sparse', train: 'all' });
    const untied = buildFourierModel(rt, { ...cfg, tie: 'untied' }, { form: 'sparse', train: 'all' });
    try {
      loadFourierCheckpoint(other, sparseBytes!);
      const a = await readParams(bases.sparse!.model.params);
      const b = await readParams(other.params);
      for (const [k, v] of a) expect(b.get(k), k).toEqual(v);
      expect(() => loadFourierCheckpoint(dense, sparseBytes!)).toThrow(/'fourier-sparse' model, expected 'fourier-dense'/);
      expect(() => loadFourierCheckpoint(wide, sparseBytes!)).toThrow(/tensor 'fourier.W_q' has shape \[128,64\], the model needs \[128,68\]/);
      expect(() => loadFourierCheckpoint(untied, sparseBytes!)).toThrow(/missing tensor 'fourier.W_s'[\s\S]*unexpected tensor 'fourier.log_eta'/);
    } finally {
      for (const m of [other, dense, wide, untied]) m.destroy();
      for (const b of Object.values(bases)) b.model.destroy();
    }
  });
});

describe('shipped base checkpoints', () => {
  it('public/checkpoints/fourier-{dense,sparse}.safetensors load into the full-size models and reproduce their recorded low-band NMSE', async () => {
    const rt = await testRuntime();
    for (const form of ['dense', 'sparse'] as const) {
      const bytes = new Uint8Array(readFileSync(`public/checkpoints/fourier-${form}.safetensors`));
      const model = buildFourierModel(rt, FOURIER_FULL, { form, train: 'all' });
      try {
        const meta = loadFourierCheckpoint(model, bytes);
        expect(JSON.parse(meta.config!)).toMatchObject({ dim: FOURIER_FULL.dim, atoms: FOURIER_FULL.atoms, iterations: FOURIER_FULL.iterations, seed: FOURIER_FULL.seed, dataSeed: FOURIER_FULL.dataSeed });
        const loaded = await readParams(model.params);
        expect(loaded.get('fourier.lift')).toEqual(fourierLift(FOURIER_FULL));
        const test = makeFourierSet(FOURIER_FULL, 'low', 'test', FOURIER_FULL.valSamples);
        const e = await evaluateFourier(rt, model, test);
        expect(Math.abs(e.nmse - Number(meta.low_band_nmse))).toBeLessThan(1e-3);
        expect(e.usedAtoms).toBe(Number(meta.used_atoms));
      } finally {
        model.destroy();
      }
    }
  }, 600_000);
});
