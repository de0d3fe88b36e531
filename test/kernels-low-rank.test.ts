/** shaders/low_rank.wgsl through src/kernels/low-rank.ts vs the float64 references, on awkward shapes (1 column, 1 row, more than one workgroup, columns not a multiple of 64). */
import { describe, expect, it } from 'vitest';
import { CommandList } from '../src/engine/runtime';
import { colDotGradCpu, recordColDotGrad, recordScaleCols, scaleColsCpu } from '../src/kernels/low-rank';
import { maxRelError, randomArray, testRuntime } from './helpers/gpu';

describe('low-rank column kernels vs CPU', () => {
  for (const [rows, cols] of [
    [1, 1],
    [7, 1],
    [1, 65],
    [33, 5],
    [300, 3],
    [17, 130],
  ] as const) {
    it(`scale_cols (mask, mask·scale) and col_dot, ${rows}×${cols}`, async () => {
      const rt = await testRuntime();
      const src = randomArray(rows * cols, rows * 31 + cols);
      const other = randomArray(rows * cols, rows * 7 + cols);
      const maskHost = Float32Array.from({ length: cols }, (_, j) => (j % 3 === 2 ? 0 : 1));
      const scaleHost = randomArray(cols, cols + 99);
      const t = (n: number, name: string, data?: Float32Array) => rt.tensor([n], name, data);
      const s = t(rows * cols, 'src', src);
      const o = t(rows * cols, 'other', other);
      const mask = t(cols, 'mask', maskHost);
      const scale = t(cols, 'scale', scaleHost);
      const d1 = t(rows * cols, 'd1');
      const d2 = t(rows * cols, 'd2');
      const g = t(cols, 'g', new Float32Array(cols).fill(123));
      const list = new CommandList('t');
      recordScaleCols(rt, list, { src: s, dst: d1, mask, rows, cols, label: 'masked' });
      recordScaleCols(rt, list, { src: s, dst: d2, mask, scale, rows, cols, label: 'scaled' });
      recordColDotGrad(rt, list, { a: s, b: o, mask, out: g, rows, cols, label: 'dot' });
      rt.submit([list]);
      expect(maxRelError(await rt.read(d1), scaleColsCpu(src, rows, cols, maskHost))).toBeLessThan(1e-6);
      expect(maxRelError(await rt.read(d2), scaleColsCpu(src, rows, cols, maskHost, scaleHost))).toBeLessThan(1e-6);
      expect(maxRelError(await rt.read(g), colDotGradCpu(src, other, rows, cols, maskHost))).toBeLessThan(1e-5);
      for (const x of [s, o, mask, scale, d1, d2, g]) rt.release(x);
    });
  }

  it('rejects shapes that do not fit the tensors', async () => {
    const rt = await testRuntime();
    const a = rt.tensor([6], 'a');
    const m = rt.tensor([2], 'm');
    expect(() => recordScaleCols(rt, new CommandList('t'), { src: a, dst: a, mask: m, rows: 2, cols: 4, label: 'x' })).toThrow(/a has 6 elements, expected 8/);
    expect(() => recordColDotGrad(rt, new CommandList('t'), { a, b: a, mask: m, out: m, rows: 2, cols: 3, label: 'x' })).toThrow(/m has 2 elements, expected 3/);
    rt.release(a);
    rt.release(m);
  });
});
