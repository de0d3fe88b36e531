/**
 * shaders/sora_prox.wgsl through src/kernels/sora-prox.ts vs its CPU reference, bit for bit, on
 * awkward shapes (rank 1, a gate longer than the rank, odd and > 128 ranks) and awkward values
 * (exactly ±ξ, one ulp above, ±0, NaN, ±Inf, subnormals below ξ, ξ = 0).
 */
import { describe, expect, it } from 'vitest';
import { CommandList } from '../src/engine/runtime';
import { StepParams } from '../src/engine/step-params';
import { recordSoraProx, soraProxCpu } from '../src/kernels/sora-prox';
import { randomArray, testRuntime } from './helpers/gpu';

function ulpUp(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  u[0] = u[0]! + 1;
  return f[0]!;
}

describe('sora_prox vs CPU', () => {
  const cases = [
    { rank: 1, extra: 0, lr: 0.1, lrScale: 1, lambda: 2 },
    { rank: 7, extra: 3, lr: 0.2, lrScale: 0.5, lambda: 0.5 },
    { rank: 129, extra: 0, lr: 3e-3, lrScale: 0.7, lambda: 0.3 },
    { rank: 300, extra: 1, lr: 1e-3, lrScale: 1, lambda: 0 },
  ];
  for (const c of cases) {
    it(`rank ${c.rank} (gate ${c.rank + c.extra} long), lr ${c.lr}, lr_scale ${c.lrScale}, λ ${c.lambda}`, async () => {
      const rt = await testRuntime();
      const n = c.rank + c.extra;
      const xi = Math.fround(Math.fround(Math.fround(c.lr) * Math.fround(c.lrScale)) * Math.fround(c.lambda));
      const g = randomArray(n, c.rank * 13 + 1, -4 * xi - 1e-3, 4 * xi + 1e-3);
      const special = [xi, -xi, ulpUp(xi), -ulpUp(xi), 0, -0, NaN, Infinity, -Infinity, 1e-42, -1e-42];
      // WGSL may flush subnormals to zero: skip the specials whose result would be one (ξ = 0).
      const subnormal = (v: number) => v !== 0 && Math.abs(v) < 2 ** -126 && Math.abs(v) > xi;
      special.forEach((v, i) => {
        if (i < c.rank && !subnormal(v)) g[i] = v;
      });
      const gate = rt.tensor([n], 'gate', g);
      const nonzero = rt.tensor([1], 'nonzero', [-1]);
      const sp = new StepParams(rt);
      sp.set({ step: 3, slot: 0, lr: c.lr, lrScale: c.lrScale });
      const list = new CommandList('t');
      recordSoraProx(rt, list, { stepParams: sp, gate, nonzero, rank: c.rank, lambda: c.lambda, label: 'prox' });
      rt.submit([list]);
      const out = await rt.read(gate);
      const ref = soraProxCpu(g.subarray(0, c.rank), { lr: c.lr, lrScale: c.lrScale, lambda: c.lambda });
      // Bit for bit within the rank (−0 vs +0 included); entries past the rank untouched.
      expect(new Uint32Array(out.buffer, out.byteOffset, c.rank)).toEqual(new Uint32Array(ref.gate.buffer));
      expect(Array.from(out.subarray(c.rank))).toEqual(Array.from(g.subarray(c.rank)));
      expect(Array.from(await rt.read(nonzero))).toEqual([ref.nonzero]);
      if (c.rank >= special.length && c.lambda > 0) {
        // The reference itself: |g| ≤ ξ, NaN and subnormals below ξ → 0; one ulp above ξ survives; ±Inf stays ±Inf.
        expect(Array.from(ref.gate.subarray(0, 2))).toEqual([0, 0]);
        expect(ref.gate[2]).toBe(Math.fround(ulpUp(xi) - xi));
        expect(ref.gate[3]).toBe(-Math.fround(ulpUp(xi) - xi));
        expect(Array.from(ref.gate.subarray(4, 11))).toEqual([0, 0, 0, Infinity, -Infinity, 0, 0]);
      }
      rt.release(gate);
      rt.release(nonzero);
    });
  }

  it('rejects a bad rank, λ, short gate or an aliased output, naming the dispatch', async () => {
    const rt = await testRuntime();
    const gate = rt.tensor([4], 'gate');
    const nonzero = rt.tensor([1], 'nz');
    const sp = new StepParams(rt);
    const list = new CommandList('t');
    const base = { stepParams: sp, gate, nonzero, rank: 4, lambda: 0.1, label: 'layer.sora_prox' };
    expect(() => recordSoraProx(rt, list, { ...base, rank: 0 })).toThrow(/layer.sora_prox: rank=0/);
    expect(() => recordSoraProx(rt, list, { ...base, rank: 5 })).toThrow(/gate gate has 4 < rank 5/);
    expect(() => recordSoraProx(rt, list, { ...base, lambda: -1 })).toThrow(/lambda=-1/);
    expect(() => recordSoraProx(rt, list, { ...base, lambda: NaN })).toThrow(/lambda=NaN/);
    expect(() => recordSoraProx(rt, list, { ...base, nonzero: gate })).toThrow(/different buffers/);
    expect(list.ops.length).toBe(0);
    rt.release(gate);
    rt.release(nonzero);
  });
});
