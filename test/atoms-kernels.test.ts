/**
 * The atoms adapter's non-matmul kernels (shaders/atoms.wgsl) vs their float64 references, on
 * awkward shapes (rows = 1, atom counts that are not multiples of the 64-wide workgroup, k = 1,
 * k = M), with masks, k overrides, penalty weights and accumulation.
 */
import { describe, expect, it } from 'vitest';
import { CommandList } from '../src/engine/runtime';
import {
  atomPenaltyCpu,
  codeGradCpu,
  headBroadcastCpu,
  headMeanCpu,
  outerAtomCpu,
  recordAtomPenalty,
  recordAtomPenaltyGrad,
  recordAtomStats,
  recordCodeGrad,
  recordHeadBroadcast,
  recordHeadMean,
  recordOuterAtom,
  recordScatterCode,
  recordSparseDecode,
  scatterCodeCpu,
  sparseDecodeCpu,
} from '../src/kernels/atoms';
import { shader } from '../src/kernels/shader-sources';
import { createTopKOverride, recordTopK, topkCpu, writeTopKOverride } from '../src/kernels/topk';
import { maxRelError, randomArray, testRuntime } from './helpers/gpu';

describe('atoms kernels vs float64 CPU', () => {
  it('atoms.wgsl compiles', async () => {
    const rt = await testRuntime();
    expect(await rt.shaderErrors(shader('atoms'))).toEqual([]);
  });

  for (const [batch, heads, seq] of [
    [1, 1, 1],
    [2, 3, 5],
    [3, 4, 9],
  ] as const) {
    it(`head mean and its backward, b${batch} h${heads} s${seq}`, async () => {
      const rt = await testRuntime();
      const n = batch * heads * seq * seq;
      const ps = randomArray(n, n + 1, 0, 1);
      const ds = randomArray(batch * seq * seq, n + 2);
      const probs = rt.tensor([n], 'probs', ps);
      const abar = rt.tensor([batch * seq * seq], 'abar');
      const dabar = rt.tensor([batch * seq * seq], 'dabar', ds);
      const dprobs = rt.tensor([n], 'dprobs', randomArray(n, 9)); // overwritten
      const list = new CommandList('t');
      recordHeadMean(rt, list, { probs, abar, batch, heads, seq });
      recordHeadBroadcast(rt, list, { dabar, dprobs, batch, heads, seq });
      rt.submit([list]);
      expect(maxRelError(await rt.read(abar), headMeanCpu(ps, batch, heads, seq))).toBeLessThan(1e-6);
      expect(maxRelError(await rt.read(dprobs), headBroadcastCpu(ds, batch, heads, seq))).toBeLessThan(1e-6);
    });
  }

  for (const [rows, M, C, k] of [
    [1, 1, 1, 1],
    [1, 70, 3, 70],
    [5, 65, 7, 1],
    [13, 100, 12, 4],
  ] as const) {
    it(`top-k code: scatter, sparse decode, code gradient (mask, k override, weights; dense and slot layouts), rows ${rows}, M ${M}, C ${C}, k ${k}`, async () => {
      const rt = await testRuntime();
      const us = randomArray(rows * M, rows * 7 + M, -2, 2);
      const ds = randomArray(M * C, M + C);
      const dzs = randomArray(rows * C, rows + C + 1);
      const mask = Float32Array.from({ length: M }, (_, i) => (i % 4 === 2 ? 0 : 1));
      const w = randomArray(M, 17, 0, 0.3);
      const old = randomArray(rows * C, 23);
      const u = rt.tensor([rows, M], 'u', us);
      const dict = rt.tensor([M, C], 'D', ds);
      const dz = rt.tensor([rows, C], 'dz', dzs);
      const m = rt.tensor([M], 'mask', mask);
      const wt = rt.tensor([M], 'w', w);
      const idx = rt.tensor([rows, k], 'idx');
      const vals = rt.tensor([rows, k], 'vals');
      const kover = createTopKOverride(rt, k, 'kover');
      const dense = rt.tensor([rows, M], 'dense', randomArray(rows * M, 3)); // fully overwritten
      const out = rt.tensor([rows, C], 'out');
      const outAcc = rt.tensor([rows, C], 'outAcc', old);
      const du = rt.tensor([rows, M], 'du', randomArray(rows * M, 4)); // fully overwritten
      const duPlain = rt.tensor([rows, M], 'duPlain');
      const duSlots = rt.tensor([rows, k], 'duSlots', randomArray(rows * k, 5)); // fully overwritten
      const list = new CommandList('t');
      recordTopK(rt, list, { x: u, rows, l: M, k, indices: idx, values: vals, mode: 'abs', mask: m, kOverride: kover });
      recordScatterCode(rt, list, { indices: idx, values: vals, dense, rows, atoms: M, k });
      recordSparseDecode(rt, list, { indices: idx, values: vals, dict, out, rows, atoms: M, cols: C, k });
      recordSparseDecode(rt, list, { indices: idx, values: vals, dict, out: outAcc, rows, atoms: M, cols: C, k, accumulate: true });
      recordCodeGrad(rt, list, { indices: idx, values: vals, dz, dict, du, rows, atoms: M, cols: C, k, kOverride: kover, mask: m, weights: wt });
      recordCodeGrad(rt, list, { indices: idx, values: vals, dz, dict, du: duPlain, rows, atoms: M, cols: C, k, kOverride: kover });
      recordCodeGrad(rt, list, { indices: idx, values: vals, dz, dict, du: duSlots, rows, atoms: M, cols: C, k, kOverride: kover, mask: m, weights: wt, slots: true });
      for (const [pass, kk] of [k, Math.max(1, k - 1)].entries()) {
        writeTopKOverride(rt, kover, kk);
        rt.submit([list]);
        const sel = topkCpu(us, { rows, l: M, k, mode: 'abs', mask, kOverride: kk });
        const idxGot = new Uint32Array((await rt.read(idx)).buffer);
        expect(Array.from(idxGot)).toEqual(Array.from(sel.indices));
        const v = await rt.read(vals);
        expect(maxRelError(v, sel.values)).toBe(0);
        const denseWant = scatterCodeCpu(sel.indices, sel.values, { rows, atoms: M, k });
        expect(maxRelError(await rt.read(dense), denseWant)).toBe(0);
        const dec = sparseDecodeCpu(sel.indices, sel.values, ds, { rows, atoms: M, cols: C, k });
        expect(maxRelError(await rt.read(out), dec)).toBeLessThan(1e-5);
        expect(maxRelError(await rt.read(du), codeGradCpu(sel.indices, sel.values, dzs, ds, { rows, atoms: M, cols: C, k, kOverride: kk, mask, weights: w }))).toBeLessThan(1e-5);
        expect(maxRelError(await rt.read(duPlain), codeGradCpu(sel.indices, sel.values, dzs, ds, { rows, atoms: M, cols: C, k, kOverride: kk }))).toBeLessThan(1e-5);
        const slotsWant = codeGradCpu(sel.indices, sel.values, dzs, ds, { rows, atoms: M, cols: C, k, kOverride: kk, mask, weights: w, slots: true });
        expect(maxRelError(await rt.read(duSlots), slotsWant)).toBeLessThan(1e-5);
        if (kk < k) expect(slotsWant[k - 1]).toBe(0); // a dead slot
        if (pass === 0) expect(maxRelError(await rt.read(outAcc), dec.map((x, i) => x + old[i]!))).toBeLessThan(1e-5);
      }
    });
  }

  for (const [rows, M, C] of [
    [1, 1, 1],
    [9, 70, 5],
  ] as const) {
    it(`norm-weighted L1 penalty: stats, value, atom gradient; one atom's contribution, rows ${rows}, M ${M}, C ${C}`, async () => {
      const rt = await testRuntime();
      const ss = randomArray(rows * M, M + 5, -1, 1).map((v, i) => (i % 3 === 0 ? 0 : v));
      const ds = randomArray(M * C, M + 6).map((v, i) => (Math.floor(i / C) === 0 && M > 1 ? 0 : v)); // atom 0 all-zero (subgradient 0)
      const dd0 = randomArray(M * C, 8);
      const codes = rt.tensor([rows, M], 'S', ss);
      const dict = rt.tensor([M, C], 'D', ds);
      const absSum = rt.tensor([M], 'absSum');
      const norms = rt.tensor([M], 'norms');
      const weights = rt.tensor([M], 'weights');
      const pen = rt.tensor([1], 'penalty');
      const ddict = rt.tensor([M, C], 'dD', dd0);
      const contrib = rt.tensor([rows, C], 'contrib');
      const coef = 0.37;
      const atom = M - 1;
      const list = new CommandList('t');
      recordAtomStats(rt, list, { codes, dict, absSum, norms, weights, rows, atoms: M, cols: C, coef });
      recordAtomPenalty(rt, list, { absSum, norms, out: pen, atoms: M, coef });
      recordAtomPenaltyGrad(rt, list, { absSum, norms, dict, ddict, atoms: M, cols: C, coef });
      recordOuterAtom(rt, list, { codes, dict, out: contrib, rows, atoms: M, cols: C, atom });
      rt.submit([list]);
      const want = atomPenaltyCpu(ss, ds, { rows, atoms: M, cols: C, coef });
      expect(maxRelError(await rt.read(absSum), want.absSum)).toBeLessThan(1e-5);
      expect(maxRelError(await rt.read(norms), want.norms)).toBeLessThan(1e-5);
      expect(maxRelError(await rt.read(weights), want.weights)).toBeLessThan(1e-5);
      expect(Math.abs((await rt.read(pen))[0]! - want.penalty) / Math.max(1e-12, want.penalty)).toBeLessThan(1e-5);
      expect(maxRelError(await rt.read(ddict), want.ddict.map((g, i) => g + dd0[i]!))).toBeLessThan(1e-5);
      expect(maxRelError(await rt.read(contrib), outerAtomCpu(ss, ds, { rows, atoms: M, cols: C, atom }))).toBeLessThan(1e-6);
    });
  }

  it('rejects aliasing and out-of-range arguments', async () => {
    const rt = await testRuntime();
    const a = rt.tensor([4, 4], 'a');
    const list = new CommandList('t');
    expect(() => recordHeadMean(rt, list, { probs: a, abar: a, batch: 1, heads: 1, seq: 4 })).toThrow(/shares a buffer/);
    expect(() => recordOuterAtom(rt, list, { codes: a, dict: rt.tensor([4, 4], 'd'), out: rt.tensor([4, 4], 'o'), rows: 4, atoms: 4, cols: 4, atom: 4 })).toThrow(/atom=4/);
    expect(() => recordSparseDecode(rt, list, { indices: a, values: a, dict: a, out: rt.tensor([1], 'o'), rows: 4, atoms: 4, cols: 4, k: 4 })).toThrow(/out/);
    expect(list.dispatchCount).toBe(0);
  });
});
