import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommandList } from '../src/engine/runtime';
import { Tensor } from '../src/engine/tensor';
import { mseLossCpu, recordMseLoss, recordSoftmaxCrossEntropy, softmaxCrossEntropyCpu } from '../src/kernels/loss';
import { shader } from '../src/kernels/shader-sources';
import { checkGradient, randn64 } from './helpers/finite-diff';
import { maxRelError, randomArray, testRuntime } from './helpers/gpu';

// A rejected dispatch (validation error) must fail the test, not just log.
beforeEach(async () => {
  (await testRuntime()).device.pushErrorScope('validation');
});
afterEach(async () => {
  const err = await (await testRuntime()).device.popErrorScope();
  expect(err?.message ?? null, 'WebGPU validation error').toBeNull();
});

function relErr(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);
}

/** 0/1 mask with roughly `density` ones (seeded). */
function mask01(n: number, seed: number, density = 0.6): Float32Array {
  return randomArray(n, seed, 0, 1).map((u) => (u < density ? 1 : 0));
}

describe('MSE loss: GPU vs float64 CPU', () => {
  it('loss.wgsl compiles', async () => {
    const rt = await testRuntime();
    expect(await rt.shaderErrors(shader('loss'))).toEqual([]);
  });

  for (const n of [1, 255, 256, 257, 100003]) {
    it(`unmasked, n=${n}`, async () => {
      const rt = await testRuntime();
      const ps = randomArray(n, n + 1, -2, 2);
      const ts = randomArray(n, n + 2, -2, 2);
      const pred = rt.tensor([n], 'pred', ps);
      const target = rt.tensor([n], 'target', ts);
      const grad = rt.tensor([n], 'grad', randomArray(n, 3)); // dirty: must be overwritten
      const loss = rt.tensor([1], 'loss');
      const list = new CommandList('t');
      recordMseLoss(rt, list, { pred, target, grad, loss, n, gradScale: 0.5 });
      rt.submit([list]);
      const want = mseLossCpu(ps, ts, { gradScale: 0.5 });
      expect(relErr((await rt.read(loss))[0]!, want.loss)).toBeLessThan(1e-4);
      expect(maxRelError(await rt.read(grad), want.grad)).toBeLessThan(1e-4);
    });
  }

  for (const n of [1, 257, 100003]) {
    it(`masked (mean over mask count), n=${n}`, async () => {
      const rt = await testRuntime();
      const ps = randomArray(n, n + 11, -2, 2);
      const ts = randomArray(n, n + 12, -2, 2);
      const ms = n === 1 ? new Float32Array([1]) : mask01(n, n + 13);
      const pred = rt.tensor([n], 'pred', ps);
      const target = rt.tensor([n], 'target', ts);
      const mask = rt.tensor([n], 'mask', ms);
      const grad = rt.tensor([n], 'grad', randomArray(n, 4));
      // loss as an offset view into a bigger buffer
      const lossBuf = rt.tensor([2 * (rt.align / 4)], 'lossBuf');
      const loss = new Tensor(lossBuf.buffer, rt.align, [1], 'loss');
      const list = new CommandList('t');
      recordMseLoss(rt, list, { pred, target, grad, loss, mask, n });
      expect(list.dispatchCount).toBe(n <= 65536 ? 3 : 4); // partial, (fold), final, grad
      rt.submit([list]);
      const want = mseLossCpu(ps, ts, { mask: ms });
      expect(relErr((await rt.read(loss))[0]!, want.loss)).toBeLessThan(1e-4);
      expect(maxRelError(await rt.read(grad), want.grad)).toBeLessThan(1e-4);
      // masked-out elements get exactly zero gradient
      const g = await rt.read(grad);
      for (let i = 0; i < n; i++) if (ms[i] === 0) expect(Math.abs(g[i]!)).toBe(0);
    });
  }

  it('all-zero mask gives loss 0 and gradient 0 (no NaN)', async () => {
    const rt = await testRuntime();
    const n = 300;
    const pred = rt.tensor([n], 'pred', randomArray(n, 1));
    const target = rt.tensor([n], 'target', randomArray(n, 2));
    const mask = rt.tensor([n], 'mask');
    const grad = rt.tensor([n], 'grad', randomArray(n, 3));
    const loss = rt.tensor([1], 'loss', [7]);
    const list = new CommandList('t');
    recordMseLoss(rt, list, { pred, target, grad, loss, mask, n });
    rt.submit([list]);
    expect((await rt.read(loss))[0]).toBe(0);
    expect(Array.from(await rt.read(grad)).every((v) => v === 0)).toBe(true);
  });

  it('without grad: loss only, and only the first n elements count', async () => {
    const rt = await testRuntime();
    const ps = randomArray(1000, 5);
    const ts = randomArray(1000, 6);
    const pred = rt.tensor([1000], 'pred', ps);
    const target = rt.tensor([1000], 'target', ts);
    const loss = rt.tensor([1], 'loss');
    const list = new CommandList('t');
    recordMseLoss(rt, list, { pred, target, loss, n: 999 });
    expect(list.dispatchCount).toBe(2);
    rt.submit([list]);
    expect(relErr((await rt.read(loss))[0]!, mseLossCpu(ps, ts, { n: 999 }).loss)).toBeLessThan(1e-4);
  });
});

describe('softmax cross-entropy: GPU vs float64 CPU', () => {
  const cases: [number, number][] = [
    [1, 2],
    [1, 3],
    [37, 3],
    [37, 10],
    [1, 10],
    [256, 10],
    [37, 127],
    [37, 128],
    [5, 1000],
    [4100, 3], // > 256 rows: pair folds before the final pass
  ];
  for (const [rows, classes] of cases) {
    for (const variant of ['thread', 'workgroup'] as const) {
      if (variant === 'workgroup' && rows > 300) continue; // barriers are slow on SwiftShader; the small cases cover it
      it(`rows=${rows}, classes=${classes}, ${variant} per row`, async () => {
        const rt = await testRuntime();
        const ls = randomArray(rows * classes, rows * 7 + classes, -4, 4);
        const lab = Float32Array.from(randomArray(rows, rows + classes), (u) => Math.floor(((u + 1) / 2) * classes) % classes);
        // Make some rows confidently correct so accuracy is not trivially 0 and p ≈ 1 is exercised.
        for (let r = 0; r < rows; r += 3) ls[r * classes + lab[r]!] = 9;
        const logits = rt.tensor([rows, classes], 'logits', ls);
        const labels = rt.tensor([rows], 'labels', lab);
        const grad = rt.tensor([rows, classes], 'grad', randomArray(rows * classes, 1));
        const loss = rt.tensor([1], 'loss');
        const accuracy = rt.tensor([1], 'accuracy');
        const list = new CommandList('t');
        recordSoftmaxCrossEntropy(rt, list, { logits, labels, grad, loss, accuracy, rows, classes, variant });
        rt.submit([list]);
        const want = softmaxCrossEntropyCpu(ls, lab, rows, classes);
        expect(relErr((await rt.read(loss))[0]!, want.loss)).toBeLessThan(1e-4);
        expect(relErr((await rt.read(accuracy))[0]!, want.accuracy)).toBeLessThan(1e-6);
        expect(maxRelError(await rt.read(grad), want.grad)).toBeLessThan(1e-4);
      });
    }
  }

  it('gradScale scales the gradient only', async () => {
    const rt = await testRuntime();
    const rows = 5;
    const classes = 4;
    const ls = randomArray(rows * classes, 3, -2, 2);
    const lab = new Float32Array([0, 1, 2, 3, 1]);
    const logits = rt.tensor([rows, classes], 'logits', ls);
    const labels = rt.tensor([rows], 'labels', lab);
    const grad = rt.tensor([rows, classes], 'grad');
    const loss = rt.tensor([1], 'loss');
    const list = new CommandList('t');
    recordSoftmaxCrossEntropy(rt, list, { logits, labels, grad, loss, rows, classes, gradScale: 8 });
    rt.submit([list]);
    const want = softmaxCrossEntropyCpu(ls, lab, rows, classes, 8);
    expect(relErr((await rt.read(loss))[0]!, want.loss)).toBeLessThan(1e-5);
    expect(maxRelError(await rt.read(grad), want.grad)).toBeLessThan(1e-5);
  });

  it('argmax ties pick the first index (as the CPU reference); no grad/accuracy tensors needed', async () => {
    const rt = await testRuntime();
    for (const [classes, variant] of [
      [4, 'thread'],
      [300, 'thread'],
      [300, 'workgroup'],
    ] as const) {
      const rows = 2;
      const ls = new Float32Array(rows * classes);
      // row 0: all equal → argmax 0 → correct for label 0; row 1: equal → argmax 0 ≠ label 2
      const lab = new Float32Array([0, 2]);
      const logits = rt.tensor([rows, classes], 'logits', ls);
      const labels = rt.tensor([rows], 'labels', lab);
      const loss = rt.tensor([1], 'loss');
      const acc = rt.tensor([1], 'acc');
      const list = new CommandList('t');
      recordSoftmaxCrossEntropy(rt, list, { logits, labels, loss, accuracy: acc, rows, classes, variant });
      rt.submit([list]);
      expect((await rt.read(acc))[0]).toBe(0.5);
      expect(relErr((await rt.read(loss))[0]!, Math.log(classes))).toBeLessThan(1e-5);
    }
  });

  it('large logits stay finite (max subtraction)', async () => {
    const rt = await testRuntime();
    const ls = new Float32Array([1000, -1000, 500, 80, 90, 100]);
    const lab = new Float32Array([1, 2]);
    const logits = rt.tensor([2, 3], 'logits', ls);
    const labels = rt.tensor([2], 'labels', lab);
    const grad = rt.tensor([2, 3], 'grad');
    const loss = rt.tensor([1], 'loss');
    const list = new CommandList('t');
    recordSoftmaxCrossEntropy(rt, list, { logits, labels, grad, loss, rows: 2, classes: 3 });
    rt.submit([list]);
    const want = softmaxCrossEntropyCpu(ls, lab, 2, 3);
    expect(relErr((await rt.read(loss))[0]!, want.loss)).toBeLessThan(1e-5);
    expect(maxRelError(await rt.read(grad), want.grad)).toBeLessThan(1e-5);
  });
});

describe('CPU loss gradients vs float64 central differences', () => {
  it('MSE (plain, masked, gradScale)', () => {
    const n = 17;
    const p = randn64(n, 1);
    const t = randn64(n, 2);
    const m = Float64Array.from(mask01(n, 3));
    for (const opts of [{}, { mask: m }, { gradScale: 3 }]) {
      const gs = (opts as { gradScale?: number }).gradScale ?? 1;
      const analytic = mseLossCpu(p, t, opts).grad;
      // f is the loss times gradScale (what the gradient is of); scaled by n so |grad| ~ 1.
      const f = (x: Float64Array) => n * gs * mseLossCpu(x, t, opts).loss;
      expect(checkGradient(f, p, analytic.map((v) => n * v), 1e-6)).toBeLessThan(1e-6);
    }
  });

  it('softmax cross-entropy (rows 1 and 5, classes 2, 3, 10)', () => {
    for (const [rows, classes] of [
      [1, 2],
      [5, 3],
      [5, 10],
    ] as const) {
      const x = randn64(rows * classes, rows * 10 + classes, 2);
      const lab = Array.from({ length: rows }, (_, r) => (r * 7 + 1) % classes);
      const analytic = softmaxCrossEntropyCpu(x, lab, rows, classes).grad;
      const f = (z: Float64Array) => rows * softmaxCrossEntropyCpu(z, lab, rows, classes).loss;
      expect(checkGradient(f, x, analytic.map((v) => rows * v), 1e-6)).toBeLessThan(1e-6);
    }
  });
});
