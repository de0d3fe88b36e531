import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommandList } from '../src/engine/runtime';
import { Tensor } from '../src/engine/tensor';
import { colSumCpu, recordColSum, recordReduce, recordRowSum, reduceCpu, rowSumCpu, type ReduceOp } from '../src/kernels/reduce';
import { shader } from '../src/kernels/shader-sources';
import { maxRelError, randomArray, testRuntime } from './helpers/gpu';

// A rejected dispatch (validation error) must fail the test, not just log.
beforeEach(async () => {
  (await testRuntime()).device.pushErrorScope('validation');
});
afterEach(async () => {
  const err = await (await testRuntime()).device.popErrorScope();
  expect(err?.message ?? null, 'WebGPU validation error').toBeNull();
});

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

  it('reduces only the first n elements when n is given; 1/2/3 dispatches; bit-identical replays', async () => {
    const rt = await testRuntime();
    const xs = randomArray(300000, 3);
    const x = rt.tensor([300000], 'x', xs);
    for (const [n, dispatches] of [
      [256, 1],
      [257, 2],
      [65536, 2],
      [65537, 3],
      [299999, 3],
    ] as const) {
      const out = rt.tensor([1], 'out');
      const list = new CommandList('t');
      recordReduce(rt, list, { x, out, op: 'sum', n });
      expect(list.dispatchCount, `n=${n}`).toBe(dispatches);
      rt.submit([list]);
      const a = (await rt.read(out))[0]!;
      rt.submit([list]);
      const b = (await rt.read(out))[0]!;
      expect(b).toBe(a);
      expect(Math.abs(a - reduceCpu(xs, 'sum', n)) / Math.sqrt(n), `n=${n}`).toBeLessThan(1e-4);
    }
  });

  it('rejects an output in the input buffer and n out of range', async () => {
    const rt = await testRuntime();
    const x = rt.tensor([10], 'x');
    expect(() => recordReduce(rt, new CommandList('t'), { x, out: x.view([10]), op: 'sum' })).toThrow(/shares/);
    expect(() => recordReduce(rt, new CommandList('t'), { x, out: rt.tensor([1], 'o'), op: 'sum', n: 11 })).toThrow(/n=11/);
  });

  for (const [rows, cols] of [
    [1, 1],
    [37, 10],
    [5, 255],
    [3, 256],
    [7, 1000],
    [300, 3],
  ] as const) {
    for (const variant of ['thread', 'workgroup'] as const) {
      it(`row sums ${rows}×${cols}, ${variant} per row (overwrite and accumulate)`, async () => {
        const rt = await testRuntime();
        const xs = randomArray(rows * cols, rows * 31 + cols);
        const init = randomArray(rows, 5);
        const x = rt.tensor([rows, cols], 'x', xs);
        const y = rt.tensor([rows], 'y', init);
        const yAcc = rt.tensor([rows], 'yAcc', init);
        const list = new CommandList('t');
        recordRowSum(rt, list, { x, out: y, rows, cols, variant });
        recordRowSum(rt, list, { x, out: yAcc, rows, cols, accumulate: true, variant });
        rt.submit([list]);
        const want = rowSumCpu(xs, rows, cols);
        expect(maxRelError(await rt.read(y), want)).toBeLessThan(1e-5);
        expect(maxRelError(await rt.read(yAcc), Array.from(want, (v, i) => v + init[i]!))).toBeLessThan(1e-5);
      });
    }
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
