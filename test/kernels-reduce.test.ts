import { describe, expect, it } from 'vitest';
import { CommandList } from '../src/engine/runtime';
import { Tensor } from '../src/engine/tensor';
import { colSumCpu, recordColSum, recordReduce, recordRowSum, reduceCpu, rowSumCpu, type ReduceOp } from '../src/kernels/reduce';
import { shader } from '../src/kernels/shader-sources';
import { maxRelError, randomArray, testRuntime } from './helpers/gpu';

describe('reductions vs float64 CPU', () => {
  it('reduce.wgsl compiles', async () => {
    const rt = await testRuntime();
    expect(await rt.shaderErrors(shader('reduce'))).toEqual([]);
  });

  for (const n of [1, 255, 256, 257, 1024, 1025, 100003]) {
    it(`sum / sumsq / maxabs, n=${n}`, async () => {
      const rt = await testRuntime();
      const xs = randomArray(n, 100 + n, -2, 3);
      const x = rt.tensor([n], 'x', xs);
      // Outputs at aligned offsets of one buffer: exercises offset views as `out`.
      const outs = rt.tensor([3 * (rt.align / 4)], 'outs');
      const ops: ReduceOp[] = ['sum', 'sumsq', 'maxabs'];
      const list = new CommandList('t');
      ops.forEach((op, k) => recordReduce(rt, list, { x, out: new Tensor(outs.buffer, k * rt.align, [1], `out.${op}`), op }));
      rt.submit([list]);
      const got = await rt.read(outs);
      ops.forEach((op, k) => {
        const want = reduceCpu(xs, op);
        expect(Math.abs(got[k * (rt.align / 4)]! - want) / Math.max(Math.abs(want), reduceCpu(xs, 'maxabs')), op).toBeLessThan(1e-4);
      });
    });
  }

  it('reduces only the first n elements when n is given, and is deterministic', async () => {
    const rt = await testRuntime();
    const xs = randomArray(5000, 3);
    const x = rt.tensor([5000], 'x', xs);
    const out = rt.tensor([2], 'out');
    const o0 = out.view([2]);
    const list = new CommandList('t');
    recordReduce(rt, list, { x, out: o0, op: 'sum', n: 4097 });
    rt.submit([list]);
    const a = (await rt.read(out))[0]!;
    rt.submit([list]);
    const b = (await rt.read(out))[0]!;
    expect(b).toBe(a); // bit-identical replay
    expect(Math.abs(a - reduceCpu(xs, 'sum', 4097)) / 50).toBeLessThan(1e-5);
  });

  for (const [rows, cols] of [
    [1, 1],
    [37, 10],
    [5, 255],
    [3, 256],
    [7, 1000],
    [300, 3],
  ] as const) {
    it(`row sums ${rows}×${cols} (overwrite and accumulate)`, async () => {
      const rt = await testRuntime();
      const xs = randomArray(rows * cols, rows * 31 + cols);
      const init = randomArray(rows, 5);
      const x = rt.tensor([rows, cols], 'x', xs);
      const y = rt.tensor([rows], 'y', init);
      const yAcc = rt.tensor([rows], 'yAcc', init);
      const list = new CommandList('t');
      recordRowSum(rt, list, { x, out: y, rows, cols });
      recordRowSum(rt, list, { x, out: yAcc, rows, cols, accumulate: true });
      rt.submit([list]);
      const want = rowSumCpu(xs, rows, cols);
      expect(maxRelError(await rt.read(y), want)).toBeLessThan(1e-5);
      expect(maxRelError(await rt.read(yAcc), Array.from(want, (v, i) => v + init[i]!))).toBeLessThan(1e-5);
    });
  }

  for (const [rows, cols] of [
    [1, 1],
    [37, 10],
    [64, 3],
    [65, 7],
    [1000, 3],
    [4099, 33],
  ] as const) {
    it(`column sums ${rows}×${cols} (overwrite and accumulate)`, async () => {
      const rt = await testRuntime();
      const xs = randomArray(rows * cols, rows * 17 + cols);
      const init = randomArray(cols, 9);
      const x = rt.tensor([rows, cols], 'x', xs);
      const y = rt.tensor([cols], 'y', init);
      const yAcc = rt.tensor([cols], 'yAcc', init);
      const list = new CommandList('t');
      recordColSum(rt, list, { x, out: y, rows, cols });
      recordColSum(rt, list, { x, out: yAcc, rows, cols, accumulate: true });
      rt.submit([list]);
      const want = colSumCpu(xs, rows, cols);
      // Relative to the column sums' scale (~√rows for uniform inputs).
      expect(maxRelError(await rt.read(y), want)).toBeLessThan(1e-4);
      expect(maxRelError(await rt.read(yAcc), Array.from(want, (v, i) => v + init[i]!))).toBeLessThan(1e-4);
    });
  }
});
