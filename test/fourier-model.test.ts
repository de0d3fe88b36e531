/**
 * The Fourier model on the GPU (compact layout) against the float64 seq-token reference
 * (fourierForwardCpu): predictions, and every trainable parameter's gradient against central
 * finite differences of the reference objective, for dense/sparse × tied/untied and the
 * fine-tuning modes (frozen parts get none). A training step is one submit with no readback.
 */
import { describe, expect, it } from 'vitest';
import { CommandList } from '../src/engine/runtime';
import { makeFourierSet } from '../src/data/fourier-signals';
import { buildFourierModel, FOURIER_QUICK, fourierForwardCpu, readParams, type FourierConfig, type FourierForm, type FourierParamsCpu, type FourierTrain, type FourierTie } from '../src/models/fourier';
import { Trainer } from '../src/train/trainer';
import { randomArray, testRuntime } from './helpers/gpu';

// Awkward sizes: seq 10 with 3 observed (compact rows of 4), C = 21 ≥ 2·seq, M = 6, K = 3.
const TINY: FourierConfig = { ...FOURIER_QUICK, seq: 10, observed: 3, lowBand: [0, 4], highBand: [3, 5], bases: 2, dim: 21, atoms: 6, iterations: 3, batch: 3, lambda: 0.15, stepInit: 0.8 };

const KEY: Record<string, 'wq' | 'wk' | 'ws' | 'D' | 'logEta'> = { 'fourier.W_q': 'wq', 'fourier.W_k': 'wk', 'fourier.W_s': 'ws', 'fourier.D': 'D', 'fourier.log_eta': 'logEta' };

describe('fourier model: forward and gradients match the float64 seq-token reference', () => {
  const cases: [FourierForm, FourierTie, FourierTrain][] = [
    ['sparse', 'tied', 'all'],
    ['dense', 'tied', 'all'],
    ['sparse', 'untied', 'all'],
    ['sparse', 'tied', 'atoms'],
    ['sparse', 'tied', 'coefficients'],
    ['sparse', 'untied', 'atoms'],
  ];
  for (const [form, tie, train] of cases) {
    it(`${form}, ${tie}, train ${train}`, async () => {
      const rt = await testRuntime();
      const cfg = { ...TINY, tie };
      const set = makeFourierSet(cfg, 'low', 'train', cfg.batch);
      const model = buildFourierModel(rt, cfg, { form, train });
      try {
        const init = await readParams(model.params);
        // W_q starts at 0 (uniform attention): give it values so the attention gradients are exercised.
        const values = new Map<string, Float32Array>([
          ['fourier.W_q', randomArray(cfg.dim * cfg.atoms, 11, -0.6, 0.6)],
          ['fourier.W_k', init.get('fourier.W_k')!.map((v) => v * 3)],
          ['fourier.D', init.get('fourier.D')!],
        ]);
        if (tie === 'tied') values.set('fourier.log_eta', init.get('fourier.log_eta')!);
        else values.set('fourier.W_s', init.get('fourier.W_s')!);
        model.trainable.writeAll(values, { partial: true });
        model.frozen.writeAll(values, { partial: true });
        model.writeBatch(set, [0, 1, 2]);
        const list = new CommandList('check');
        list.push(model.trainable.zeroGradOp());
        list.append(model.forward);
        list.append(model.lossList);
        list.append(model.backward);
        rt.submit([list]);
        const y = await rt.read(model.prediction);
        const grads = await rt.read(model.trainable.flatGrads!);
        const p: FourierParamsCpu = {
          lift: init.get('fourier.lift')!,
          wq: values.get('fourier.W_q')!,
          wk: values.get('fourier.W_k')!,
          D: values.get('fourier.D')!,
          ...(tie === 'tied' ? { logEta: values.get('fourier.log_eta')![0]! } : { ws: values.get('fourier.W_s')! }),
        };
        const io = { values: set.values, mask: set.masks, target: set.signals, batch: cfg.batch, lambda: form === 'sparse' ? cfg.lambda : 0 };
        const ref = fourierForwardCpu(cfg, form, p, io);
        let yScale = 0;
        let yErr = 0;
        for (let i = 0; i < y.length; i++) {
          yScale = Math.max(yScale, Math.abs(ref.prediction[i]!));
          yErr = Math.max(yErr, Math.abs(y[i]! - ref.prediction[i]!));
        }
        expect(yScale).toBeGreaterThan(0.05);
        expect(yErr / yScale).toBeLessThan(1e-4);
        if (form === 'sparse') {
          const nz = ref.codes.filter((v) => v !== 0).length;
          expect(nz).toBeGreaterThan(0);
          expect(nz).toBeLessThan(ref.codes.length);
        }
        const coef = ['fourier.W_q', 'fourier.W_k', tie === 'tied' ? 'fourier.log_eta' : 'fourier.W_s'];
        const want = train === 'atoms' ? ['fourier.D'] : train === 'coefficients' ? coef : [...coef, 'fourier.D'];
        expect(model.trainable.params.map((q) => q.name)).toEqual(want);
        for (const ref2 of model.trainable.params) {
          const key = KEY[ref2.name]!;
          const g = grads.subarray(ref2.elementOffset, ref2.elementOffset + ref2.size);
          let worst = 0;
          let scale = 0;
          for (let i = 0; i < ref2.size; i += key === 'logEta' ? 1 : 2) {
            const h = 1e-5;
            const at = (delta: number) => {
              if (key === 'logEta') return fourierForwardCpu(cfg, form, { ...p, logEta: p.logEta! + delta }, io).objective;
              const arr = Float64Array.from(p[key as 'wq' | 'wk' | 'ws' | 'D']!);
              arr[i] = arr[i]! + delta;
              return fourierForwardCpu(cfg, form, { ...p, [key]: arr }, io).objective;
            };
            const fd = (at(h) - at(-h)) / (2 * h);
            worst = Math.max(worst, Math.abs(fd - g[i]!));
            scale = Math.max(scale, Math.abs(fd));
          }
          expect(scale, ref2.name).toBeGreaterThan(1e-5);
          expect(worst / scale, ref2.name).toBeLessThan(2e-3);
        }
      } finally {
        model.destroy();
      }
    }, 240_000);
  }

  it('a training step is one submit, no readback, nothing created', async () => {
    const rt = await testRuntime();
    const set = makeFourierSet(TINY, 'low', 'train', 12);
    const model = buildFourierModel(rt, TINY, { form: 'sparse', train: 'all' });
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
