import { describe, expect, it } from 'vitest';
import { CommandList } from '../src/engine/runtime';
import { broadcastAddCpu, geluBackwardCpu, geluCpu, recordAxpby, recordBroadcastAdd, recordGeluBackward, recordGeluForward } from '../src/kernels/elementwise';
import { maxRelError, randomArray, testRuntime } from './helpers/gpu';

describe('elementwise kernels vs CPU', () => {
  for (const n of [1, 255, 257, 1000]) {
    it(`gelu forward/backward, n=${n}`, async () => {
      const rt = await testRuntime();
      const xs = randomArray(n, 11 + n, -6, 6);
      const dys = randomArray(n, 7 + n);
      const x = rt.tensor([n], 'x', xs);
      const y = rt.tensor([n], 'y');
      const dy = rt.tensor([n], 'dy', dys);
      const dx = rt.tensor([n], 'dx');
      const list = new CommandList('t');
      recordGeluForward(rt, list, x, y);
      recordGeluBackward(rt, list, x, dy, dx);
      rt.submit([list]);
      expect(maxRelError(await rt.read(y), geluCpu(xs))).toBeLessThan(1e-5);
      expect(maxRelError(await rt.read(dx), geluBackwardCpu(xs, dys))).toBeLessThan(1e-5);
    });
  }
  it('axpby overwrites and accumulates', async () => {
    const rt = await testRuntime();
    const xs = randomArray(300, 1);
    const ys = randomArray(300, 2);
    const x = rt.tensor([300], 'x', xs);
    const y = rt.tensor([300], 'y', ys);
    const list = new CommandList('t');
    recordAxpby(rt, list, x, y, 2, 0.5);
    rt.submit([list]);
    const expected = Array.from(xs, (v, i) => 2 * v + 0.5 * ys[i]!);
    expect(maxRelError(await rt.read(y), expected)).toBeLessThan(1e-6);
  });
  for (const [period, rows] of [
    [1, 1],
    [3, 7],
    [5, 103], // 515 elements: three workgroups, the last partial
    [257, 2],
  ] as const) {
    it(`broadcast_add, period ${period} × ${rows} rows`, async () => {
      const rt = await testRuntime();
      const xs = randomArray(period, period + 5);
      const ys = randomArray(period * rows, rows + 9);
      const x = rt.tensor([period], 'x', xs);
      const y = rt.tensor([period * rows], 'y', ys);
      const list = new CommandList('t');
      recordBroadcastAdd(rt, list, x, y, -1.5);
      rt.submit([list]);
      expect(maxRelError(await rt.read(y), broadcastAddCpu(xs, ys, -1.5))).toBeLessThan(1e-6);
      rt.release(x);
      rt.release(y);
    });
  }
});
