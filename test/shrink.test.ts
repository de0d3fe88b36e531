/**
 * Soft-threshold / ReLU-λ kernels and the non-zero counts vs their float64 references, on
 * awkward shapes (rows = 1, widths that are not multiples of the 64-wide workgroup, λ = 0,
 * every entry below λ), with masks, L1 weights, accumulation and λ changed between runs.
 */
import { describe, expect, it } from 'vitest';
import { CommandList } from '../src/engine/runtime';
import { recordRowNonzeros, recordShrinkBackward, recordShrinkForward, rowNonzerosCpu, shrinkBackwardCpu, shrinkCpu, type ShrinkKind } from '../src/kernels/shrink';
import { shader } from '../src/kernels/shader-sources';
import { maxRelError, randomArray, testRuntime } from './helpers/gpu';

const KINDS: ShrinkKind[] = ['soft', 'relu'];

/** Keeps every |x| at least `gap` away from λ (and −λ), so f32 rounding cannot flip a branch. */
function awayFrom(x: Float32Array, lambda: number, gap = 1e-3): Float32Array {
  return x.map((v) => {
    for (const t of [lambda, -lambda]) if (Math.abs(v - t) < gap) v = t + (v >= t ? gap : -gap);
    return v;
  });
}

describe('shrink kernels vs float64 CPU', () => {
  it('shrink.wgsl compiles', async () => {
    const rt = await testRuntime();
    expect(await rt.shaderErrors(shader('shrink'))).toEqual([]);
  });

  const shapes: [number, number, number][] = [
    // rows, cols, λ
    [1, 1, 0.3],
    [1, 70, 0],
    [3, 65, 0.25],
    [17, 100, 0.5],
    [5, 7, 2], // every |x| < λ: all zero
  ];
  for (const kind of KINDS) {
    for (const [rows, cols, lambda] of shapes) {
      it(`${kind} forward + backward, ${rows}×${cols}, λ=${lambda}, with and without mask/weights/accumulate`, async () => {
        const rt = await testRuntime();
        const n = rows * cols;
        const xs = awayFrom(randomArray(n, rows * 31 + cols, -1.5, 1.5), lambda);
        const dys = randomArray(n, cols * 7 + 1);
        const mask = Float32Array.from({ length: cols }, (_, i) => (i % 3 === 1 ? 0 : 1));
        const w = randomArray(cols, 99, 0, 0.5);
        const dxOld = randomArray(n, 5);
        const x = rt.tensor([rows, cols], 'x', xs);
        const dy = rt.tensor([rows, cols], 'dy', dys);
        const lam = rt.tensor([1], 'lambda', [lambda]);
        const m = rt.tensor([cols], 'mask', mask);
        const wt = rt.tensor([cols], 'w', w);
        const y = rt.tensor([rows, cols], 'y');
        const ym = rt.tensor([rows, cols], 'ym');
        const dx = rt.tensor([rows, cols], 'dx');
        const dxm = rt.tensor([rows, cols], 'dxm', dxOld);
        const list = new CommandList('t');
        recordShrinkForward(rt, list, { kind, x, y, lambda: lam, cols });
        recordShrinkForward(rt, list, { kind, x, y: ym, lambda: lam, cols, mask: m });
        recordShrinkBackward(rt, list, { kind, x, dy, dx, lambda: lam, cols });
        recordShrinkBackward(rt, list, { kind, x, dy, dx: dxm, lambda: lam, cols, mask: m, weights: wt, accumulate: true });
        rt.submit([list]);

        const yWant = shrinkCpu(kind, xs, lambda, cols);
        const yGot = await rt.read(y);
        expect(maxRelError(yGot, yWant)).toBeLessThan(1e-6);
        // Masked columns are exactly zero; the others equal the unmasked result.
        const ymGot = await rt.read(ym);
        expect(maxRelError(ymGot, shrinkCpu(kind, xs, lambda, cols, mask))).toBeLessThan(1e-6);
        for (let i = 0; i < n; i++) expect(ymGot[i]).toBe(mask[i % cols] === 0 ? 0 : yGot[i]); // +0 where masked
        expect(maxRelError(await rt.read(dx), shrinkBackwardCpu(kind, xs, dys, lambda, cols))).toBeLessThan(1e-6);
        expect(maxRelError(await rt.read(dxm), shrinkBackwardCpu(kind, xs, dys, lambda, cols, { mask, weights: w, dxOld }))).toBeLessThan(1e-6);

        const allBelow = xs.every((v) => Math.abs(v) < lambda);
        if (allBelow) {
          expect(Array.from(yGot).every((v) => v === 0)).toBe(true);
          expect(Array.from(await rt.read(dx)).every((v) => v === 0)).toBe(true);
        }
        if (lambda === 0 && kind === 'soft') expect(maxRelError(yGot, xs)).toBe(0);
      });
    }
  }

  it('matches finite differences of the forward away from the kinks', async () => {
    // σ is piecewise linear: the backward must be exactly the slope of the forward.
    const xs = awayFrom(randomArray(64, 4, -1, 1), 0.3, 0.01);
    for (const kind of KINDS) {
      const dx = shrinkBackwardCpu(kind, xs, new Float64Array(64).fill(1), 0.3, 8);
      for (let i = 0; i < 64; i++) {
        const e = 1e-4;
        const fd = (shrinkCpu(kind, [xs[i]! + e], 0.3, 1)[0]! - shrinkCpu(kind, [xs[i]! - e], 0.3, 1)[0]!) / (2 * e);
        expect(Math.abs(fd - dx[i]!)).toBeLessThan(1e-9);
      }
    }
  });

  it('λ is read from its buffer each run: a writeBuffer changes the result without re-recording', async () => {
    const rt = await testRuntime();
    const xv = awayFrom(awayFrom(randomArray(4 * 33, 8, -1, 1), 0.2), 0.6);
    const x = rt.tensor([4, 33], 'x', xv);
    const lam = rt.tensor([1], 'lambda', [0.2]);
    const y = rt.tensor([4, 33], 'y');
    const list = new CommandList('t');
    recordShrinkForward(rt, list, { kind: 'soft', x, y, lambda: lam, cols: 33 });
    rt.submit([list]);
    const a = await rt.read(y);
    rt.write(lam, [0.6]);
    rt.submit([list]);
    const b = await rt.read(y);
    expect(maxRelError(a, shrinkCpu('soft', xv, 0.2, 33))).toBeLessThan(1e-6);
    expect(maxRelError(b, shrinkCpu('soft', xv, 0.6, 33))).toBeLessThan(1e-6);
    expect(b.filter((v) => v !== 0).length).toBeLessThan(a.filter((v) => v !== 0).length);
  });

  for (const [rows, cols] of [
    [1, 1],
    [1, 130],
    [15, 9],
    [16, 64],
    [37, 100],
  ] as const) {
    it(`non-zeros per row and their mean, ${rows}×${cols}`, async () => {
      const rt = await testRuntime();
      const xs = shrinkCpu('soft', randomArray(rows * cols, rows + 3 * cols, -1, 1), 0.5, cols);
      const x = rt.tensor([rows, cols], 'x', Float32Array.from(xs));
      const counts = rt.tensor([rows], 'counts');
      const mean = rt.tensor([1], 'mean');
      const mean2 = rt.tensor([1], 'mean2');
      const list = new CommandList('t');
      recordRowNonzeros(rt, list, { x, rows, cols, mean, counts });
      recordRowNonzeros(rt, list, { x, rows, cols, mean: mean2 });
      expect(list.dispatchCount).toBe(4);
      rt.submit([list]);
      const want = rowNonzerosCpu(xs, rows, cols);
      expect(Array.from(await rt.read(counts))).toEqual(Array.from(want.counts));
      expect((await rt.read(mean))[0]).toBeCloseTo(want.mean, 5);
      expect((await rt.read(mean2))[0]).toBeCloseTo(want.mean, 5);
    });
  }

  it('rejects outputs aliasing inputs and mismatched sizes', async () => {
    const rt = await testRuntime();
    const x = rt.tensor([4, 8], 'x');
    const lam = rt.tensor([1], 'lambda');
    const list = new CommandList('t');
    expect(() => recordShrinkForward(rt, list, { kind: 'soft', x, y: x, lambda: lam, cols: 8 })).toThrow(/shares a buffer/);
    expect(() => recordShrinkForward(rt, list, { kind: 'soft', x, y: rt.tensor([4, 8], 'y'), lambda: lam, cols: 5 })).toThrow(/multiple of cols/);
    expect(() => recordShrinkBackward(rt, list, { kind: 'relu', x, dy: x, dx: x, lambda: lam, cols: 8 })).toThrow(/shares a buffer/);
    expect(() => recordRowNonzeros(rt, list, { x, rows: 5, cols: 8, mean: lam })).toThrow(/exceeds/);
    expect(list.dispatchCount).toBe(0);
  });
});
