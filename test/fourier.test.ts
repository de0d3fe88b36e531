/**
 * The Fourier toy's model on the GPU (quick size):
 *  - forward and every parameter gradient match the float64 reference (finite differences), for
 *    the dense and the sparse form, with the norm-weighted L1 penalty; frozen parts get none;
 *  - a training step is one submit with no readback, nothing created per step;
 *  - pre-trained on the low band, the sparse base beats copying the observations (the linear
 *    floor is printed beside it), and uses fewer atoms than the dense form (per signal, per token);
 *  - fine-tuning all of the sparse base's parameters on the high band lowers its high-band MSE;
 *  - base checkpoints round-trip, and a mismatched file fails with a message naming the tensor.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CommandList } from '../src/engine/runtime';
import {
  buildFourierModel,
  copyBaselineMse,
  evaluateFourier,
  fitLinearFloor,
  FOURIER_FULL,
  FOURIER_QUICK,
  fourierCheckpointBytes,
  fourierForwardCpu,
  fourierLift,
  loadFourierCheckpoint,
  makeFourierSet,
  mseOf,
  pretrainFourier,
  readParams,
  signalVariance,
  trainFourier,
  type FourierConfig,
  type FourierEval,
  type FourierForm,
  type FourierModel,
} from '../src/models/fourier';
import { Trainer } from '../src/train/trainer';
import { randomArray, testRuntime } from './helpers/gpu';

const TINY: FourierConfig = { ...FOURIER_QUICK, seq: 8, observed: 3, lowBand: [0, 3], bases: 2, dim: 8, atoms: 8, iterations: 2, batch: 2, lambda: 0.3, l1: 0.1 };

describe('fourier model: gradients', () => {
  for (const [form, train] of [
    ['sparse', 'all'],
    ['dense', 'all'],
    ['sparse', 'atoms'],
  ] as const) {
    it(`forward and gradients match the float64 reference (${form}, train ${train})`, async () => {
      const rt = await testRuntime();
      const set = makeFourierSet(TINY, 'low', 'train', 2);
      const model = buildFourierModel(rt, TINY, { form, train });
      try {
        // Larger coefficient weights than the initialisation so that codes and attention are far from trivial.
        const init = await readParams(model.params);
        const p = {
          lift: init.get('fourier.lift')!,
          // W_q starts at 0 (uniform attention); give it values so the attention gradients are exercised.
          wq: randomArray(init.get('fourier.W_q')!.length, 11, -1, 1),
          wk: init.get('fourier.W_k')!.map((v) => v * 3),
          ws: init.get('fourier.W_s')!.map((v) => v * 3),
          D: init.get('fourier.D')!,
        };
        const values = new Map([
          ['fourier.W_q', p.wq],
          ['fourier.W_k', p.wk],
          ['fourier.W_s', p.ws],
          ['fourier.D', p.D],
        ]);
        model.trainable.writeAll(values, { partial: true });
        model.frozen.writeAll(values, { partial: true });
        model.graph(set).loadBatch(0);
        const list = new CommandList('check');
        list.push(model.trainable.zeroGradOp());
        list.append(model.forward);
        list.append(model.lossList);
        list.append(model.backward);
        rt.submit([list]);
        const y = await rt.read(model.prediction);
        const grads = await rt.read(model.trainable.flatGrads!);
        const sparse = form === 'sparse';
        const io = { xobs: set.observed, mask: set.masks, target: set.signals, batch: 2, lambda: sparse ? TINY.lambda : 0, l1: sparse ? TINY.l1 : 0 };
        const ref = fourierForwardCpu(TINY, form, p, io);
        let yScale = 0;
        let yErr = 0;
        for (let i = 0; i < y.length; i++) {
          yScale = Math.max(yScale, Math.abs(ref.prediction[i]!));
          yErr = Math.max(yErr, Math.abs(y[i]! - ref.prediction[i]!));
        }
        expect(yScale).toBeGreaterThan(0.05);
        expect(yErr / yScale).toBeLessThan(1e-4);
        if (sparse) {
          const nz = ref.codes.filter((v) => v !== 0).length;
          expect(nz).toBeGreaterThan(0);
          expect(nz).toBeLessThan(ref.codes.length);
        }
        const trainedNames = model.trainable.params.map((q) => q.name);
        expect(trainedNames).toEqual(train === 'atoms' ? ['fourier.D'] : ['fourier.W_q', 'fourier.W_k', 'fourier.W_s', 'fourier.D']);
        const keyOf: Record<string, 'wq' | 'wk' | 'ws' | 'D'> = { 'fourier.W_q': 'wq', 'fourier.W_k': 'wk', 'fourier.W_s': 'ws', 'fourier.D': 'D' };
        for (const ref2 of model.trainable.params) {
          const key = keyOf[ref2.name]!;
          const g = grads.subarray(ref2.elementOffset, ref2.elementOffset + ref2.size);
          let worst = 0;
          let scale = 0;
          for (let i = 0; i < ref2.size; i += 3) {
            const arr = Float64Array.from(p[key]);
            const h = 1e-5;
            arr[i] = arr[i]! + h;
            const fp = fourierForwardCpu(TINY, form, { ...p, [key]: arr }, io).objective;
            arr[i] = arr[i]! - 2 * h;
            const fm = fourierForwardCpu(TINY, form, { ...p, [key]: arr }, io).objective;
            const fd = (fp - fm) / (2 * h);
            worst = Math.max(worst, Math.abs(fd - g[i]!));
            scale = Math.max(scale, Math.abs(fd));
          }
          expect(scale, ref2.name).toBeGreaterThan(1e-4);
          expect(worst / scale, ref2.name).toBeLessThan(2e-3);
        }
      } finally {
        model.destroy();
      }
    });
  }

  it('a training step is one submit, no readback, nothing created', async () => {
    const rt = await testRuntime();
    const cfg = { ...TINY, batch: 4 };
    const set = makeFourierSet(cfg, 'low', 'train', 16);
    const model = buildFourierModel(rt, cfg, { form: 'sparse', train: 'all' });
    const trainer = new Trainer(rt, model.graph(set), { lr: 1e-2, metricInterval: 4 });
    try {
      await trainer.run(2);
      const before = rt.counters;
      await trainer.run(6);
      const after = rt.counters;
      await trainer.drain();
      expect(trainer.lastStepCounters!.submits).toBe(1);
      expect(trainer.lastStepCounters!.readbacks).toBe(0);
      expect(after.buffers - before.buffers).toBe(0);
      expect(after.pipelines - before.pipelines).toBe(0);
      expect(after.bindGroups - before.bindGroups).toBe(0);
    } finally {
      trainer.destroy();
      model.destroy();
    }
  });
});

describe('fourier experiment (quick)', () => {
  const cfg = FOURIER_QUICK;
  const bases: Partial<Record<FourierForm, { model: FourierModel; val: FourierEval }>> = {};
  let sparseBytes: Uint8Array | null = null;

  it('pre-trained on the low band, the sparse base beats copying the observations and uses fewer atoms than the dense form', async () => {
    const rt = await testRuntime();
    const train = makeFourierSet(cfg, 'low', 'train', cfg.trainSamples);
    const val = makeFourierSet(cfg, 'low', 'val', cfg.valSamples);
    const v = signalVariance(val);
    const copy = copyBaselineMse(val);
    const floor = mseOf(fitLinearFloor(makeFourierSet(cfg, 'low', 'floor', cfg.floorSamples)).predict(val), val.signals);
    for (const form of ['dense', 'sparse'] as const) {
      const r = await pretrainFourier(rt, cfg, form, train);
      const model = r.model;
      const e = await evaluateFourier(rt, model, val);
      bases[form] = { model, val: e };
      console.log(
        `[fourier quick] ${form}: low-band NMSE ${e.nmse.toFixed(3)} (copy ${(copy / v).toFixed(3)}, linear floor ${(floor / v).toFixed(3)}), ` +
          `atoms for 95 % usage ${e.usedAtoms}/${cfg.atoms} (per signal ${e.usedAtomsPerSignal.toFixed(1)}), non-zero codes per token ${e.activePerToken.toFixed(1)}, ${r.steps} steps in ${r.seconds.toFixed(1)} s`,
      );
    }
    expect(bases.sparse!.val.mse).toBeLessThan(copy);
    // Fewer atoms: per signal (the atoms that make up 95 % of a signal's reconstruction) and per token.
    expect(bases.sparse!.val.usedAtomsPerSignal).toBeLessThan(bases.dense!.val.usedAtomsPerSignal);
    expect(bases.sparse!.val.activePerToken).toBeLessThan(bases.dense!.val.activePerToken);
    sparseBytes = await fourierCheckpointBytes(bases.sparse!.model, {});
  }, 400_000);

  it('fine-tuning all parameters of the sparse base on the high band lowers its high-band MSE', async () => {
    const rt = await testRuntime();
    expect(sparseBytes).not.toBeNull();
    const train = makeFourierSet(cfg, 'high', 'train', cfg.trainSamples);
    const val = makeFourierSet(cfg, 'high', 'val', cfg.valSamples);
    const before = await evaluateFourier(rt, bases.sparse!.model, val);
    const model = buildFourierModel(rt, cfg, { form: 'sparse', train: 'both' });
    try {
      loadFourierCheckpoint(model, sparseBytes!);
      const same = await evaluateFourier(rt, model, val);
      expect(same.mse).toBe(before.mse);
      await trainFourier(rt, model, train, { steps: cfg.finetuneSteps, lr: cfg.finetuneLr });
      const after = await evaluateFourier(rt, model, val);
      console.log(`[fourier quick] fine-tune atoms + coefficients: high-band NMSE ${before.nmse.toFixed(3)} → ${after.nmse.toFixed(3)} (copy ${(copyBaselineMse(val) / signalVariance(val)).toFixed(3)})`);
      expect(after.mse).toBeLessThan(before.mse);
    } finally {
      model.destroy();
    }
  }, 200_000);

  it('checkpoints round-trip; a mismatched file names the problem', async () => {
    const rt = await testRuntime();
    const other = buildFourierModel(rt, cfg, { form: 'sparse', train: 'coefficients' });
    const dense = buildFourierModel(rt, cfg, { form: 'dense', train: 'all' });
    const wide = buildFourierModel(rt, { ...cfg, atoms: cfg.atoms + 4 }, { form: 'sparse', train: 'all' });
    try {
      loadFourierCheckpoint(other, sparseBytes!);
      const a = await readParams(bases.sparse!.model.params);
      const b = await readParams(other.params);
      for (const [k, v] of a) expect(b.get(k), k).toEqual(v);
      expect(() => loadFourierCheckpoint(dense, sparseBytes!)).toThrow(/'fourier-sparse' model, expected 'fourier-dense'/);
      expect(() => loadFourierCheckpoint(wide, sparseBytes!)).toThrow(/tensor 'fourier.W_q' has shape \[64,32\], the model needs \[64,36\]/);
    } finally {
      other.destroy();
      dense.destroy();
      wide.destroy();
      for (const b of Object.values(bases)) b.model.destroy();
    }
  });
});

describe('shipped base checkpoints', () => {
  it('public/checkpoints/fourier-{dense,sparse}.safetensors load into the full-size models; the sparse one reproduces its recorded low-band NMSE', async () => {
    const rt = await testRuntime();
    for (const form of ['dense', 'sparse'] as const) {
      const bytes = new Uint8Array(readFileSync(`public/checkpoints/fourier-${form}.safetensors`));
      const model = buildFourierModel(rt, FOURIER_FULL, { form, train: 'all' });
      try {
        const meta = loadFourierCheckpoint(model, bytes);
        expect(JSON.parse(meta.config!)).toMatchObject({ dim: FOURIER_FULL.dim, atoms: FOURIER_FULL.atoms, iterations: FOURIER_FULL.iterations, seed: FOURIER_FULL.seed });
        const loaded = await readParams(model.params);
        expect(loaded.get('fourier.lift')).toEqual(fourierLift(FOURIER_FULL));
        if (form === 'sparse') {
          const val = makeFourierSet(FOURIER_FULL, 'low', 'val', FOURIER_FULL.valSamples);
          const e = await evaluateFourier(rt, model, val);
          expect(Math.abs(e.nmse - Number(meta.low_band_nmse))).toBeLessThan(1e-3);
          expect(e.mse).toBeLessThan(copyBaselineMse(val));
        }
      } finally {
        model.destroy();
      }
    }
  });
});
