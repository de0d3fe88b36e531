/**
 * STAN AuxK (dead-latent revival): the GPU bookkeeping (steps since firing, dead mask, masked
 * pre-activations) equals its float64 reference over several steps on awkward shapes with a k
 * override and a mask; in the adapter, the gradients with AuxK equal the main backward plus
 * auxScale × the backward of the auxiliary top-k over the dead latents (computed on the CPU from
 * the same pre-activations), touching dead latents only; AuxK off or nothing dead leaves the
 * gradients bit for bit; bad settings name the field.
 */
import { describe, expect, it } from 'vitest';
import { stanAdapter, type StanAdapter, type StanConfig } from '../src/adapters/stan';
import { CommandList } from '../src/engine/runtime';
import { auxStepCpu, AUX_SIGNED_FILLER, recordAuxFill, recordAuxMark, recordAuxReset } from '../src/kernels/stan-aux';
import { sparseBackwardCpu, stanBackwardCpu } from '../src/kernels/stan-sparse';
import { createTopKOverride, topkCpu } from '../src/kernels/topk';
import { buildLinearFit } from '../src/tasks/linear-fit';
import { randomArray, testRuntime } from './helpers/gpu';

describe('AuxK bookkeeping kernels vs the reference', () => {
  for (const c of [
    { rows: 5, l: 7, k: 3, kActive: 2, threshold: 1, filler: AUX_SIGNED_FILLER, mask: [1, 1, 0, 1, 1, 1, 1] },
    { rows: 1, l: 65, k: 1, kActive: 1, threshold: 2, filler: 0, mask: null },
    { rows: 33, l: 13, k: 5, kActive: 5, threshold: 3, filler: 0, mask: [1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1] },
  ]) {
    it(`rows ${c.rows}, l ${c.l}, k ${c.k} (k' ${c.kActive}), threshold ${c.threshold}`, async () => {
      const rt = await testRuntime();
      const { rows, l, k } = c;
      const mask = c.mask ?? new Array<number>(l).fill(1);
      const since = rt.tensor([l], 'since');
      const dead = rt.tensor([l], 'dead');
      const maskT = rt.tensor([l], 'mask', Float32Array.from(mask));
      const indices = rt.tensor([rows, k], 'indices');
      const values = rt.tensor([rows, k], 'values');
      const z = rt.tensor([rows, l], 'z');
      const zaux = rt.tensor([rows, l], 'zaux');
      const kbuf = createTopKOverride(rt, c.kActive, 'k');
      const list = new CommandList('aux');
      recordAuxReset(rt, list, { indices, values, kOverride: kbuf, since, rows, k, l });
      recordAuxMark(rt, list, { since, mask: maskT, dead, l, threshold: c.threshold });
      recordAuxFill(rt, list, { z, dead, out: zaux, rows, l, filler: c.filler });
      const sinceCpu = new Uint32Array(l);
      let everDead = 0;
      for (let step = 0; step < 6; step++) {
        // Each step fires a few latents, some slots with value 0 (not firing), some beyond k'.
        const idx = new Uint32Array(rows * k);
        const val = new Float32Array(rows * k);
        for (let r = 0; r < rows; r++)
          for (let j = 0; j < k; j++) {
            idx[r * k + j] = (r * 3 + j * 5 + step * (step % 2 ? 1 : 2)) % Math.min(l, 4 + step);
            val[r * k + j] = (r + j + step) % 4 === 0 ? 0 : 0.5 + j - r * 0.1;
          }
        const zv = randomArray(rows * l, 100 + step);
        rt.write(indices, new Float32Array(idx.buffer));
        rt.write(values, val);
        rt.write(z, zv);
        rt.submit([list]);
        const ref = auxStepCpu({ indices: idx, values: val, kActive: c.kActive, since: sinceCpu, mask, z: zv, rows, k, l, threshold: c.threshold, filler: c.filler });
        const gSince = new Uint32Array((await rt.read(since)).buffer);
        expect(Array.from(gSince), `since, step ${step}`).toEqual(Array.from(sinceCpu));
        expect(Array.from(await rt.read(dead)), `dead, step ${step}`).toEqual(Array.from(ref.dead));
        const gz = await rt.read(zaux);
        gz.forEach((v, i) => expect(v).toBe(Math.fround(ref.zaux[i]!)));
        everDead += ref.dead.reduce((a, b) => a + b, 0);
      }
      // Not vacuous: some latents were dead and some alive.
      expect(everDead).toBeGreaterThan(0);
      expect(Array.from(sinceCpu).some((s) => s <= c.threshold)).toBe(true);
    });
  }
});

describe('STAN with AuxK: gradients', () => {
  const rows = 6;
  const n = 5;
  const m = 3;
  async function grads(config: StanConfig, steps: number, mask?: number[]) {
    const rt = await testRuntime();
    const fit = buildLinearFit(rt, stanAdapter, config, { rows, inDim: n, outDim: m, inputGrad: false, seed: 9 });
    const a = fit.adapter as StanAdapter;
    const Dv = randomArray(m * a.l, 11, -0.8, 0.8);
    rt.write(a.D.value, Dv);
    if (mask) a.setMask(Float32Array.from(mask));
    const xv = randomArray(rows * n, 12);
    const dyv = randomArray(rows * m, 13);
    rt.write(fit.input.value, xv);
    rt.write(fit.base.out.grad!, dyv);
    // The same batch every step and no optimizer: the same latents fire each step.
    for (let s = 0; s < steps; s++) rt.submit([fit.graph.forward, fit.graph.backward]);
    const out = { dE: await rt.read(a.E.grad), dD: await rt.read(a.D.grad), z: await rt.read(a.preActivations), l: a.l, k: a.k, E: a.E.init, D: Dv, x: xv, dy: dyv };
    fit.destroy();
    return out;
  }

  it('dead latents get auxScale × the auxiliary backward; live ones are untouched', async () => {
    const base: StanConfig = { expansion: 3, k: 2, topk: 'signed' };
    const mask = [1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
    const off = await grads(base, 3, mask);
    const on = await grads({ ...base, auxK: 4, auxScale: 0.25, auxDeadSteps: 1 }, 3, mask);
    const { l, k } = on;
    // The main backward alone (CPU) equals the AuxK-off run.
    const main = stanBackwardCpu({ x: on.x, E: on.E, D: on.D, dy: on.dy, rows, n, m, l, k, mode: 'signed', mask });
    off.dE.forEach((v, i) => expect(v).toBeCloseTo(main.dE[i]!, 5));
    // Dead after 3 identical steps with threshold 1: never selected (and not masked off).
    const fired = new Set(Array.from(topkCpu(on.z, { rows, l, k }).indices));
    const dead: number[] = Array.from({ length: l }, (_, i) => (!fired.has(i) && mask[i] !== 0 ? 1 : 0));
    expect(dead.reduce((a, b) => a + b, 0)).toBeGreaterThan(4);
    const zaux = Array.from(on.z, (v, t) => (dead[t % l] ? v : AUX_SIGNED_FILLER));
    const sel = topkCpu(zaux, { rows, l, k: 4, mask: dead });
    const aux = sparseBackwardCpu({ x: on.x, dy: on.dy, E: on.E, D: on.D, indices: sel.indices, values: sel.values, rows, n, m, l, k: 4, mask: dead });
    let moved = 0;
    for (let i = 0; i < l; i++) {
      for (let q = 0; q < n; q++) {
        const want = main.dE[i * n + q]! + 0.25 * aux.dE[i * n + q]!;
        expect(on.dE[i * n + q]).toBeCloseTo(want, 5);
        if (!dead[i]) expect(on.dE[i * n + q]).toBe(off.dE[i * n + q]);
        else if (on.dE[i * n + q] !== 0) moved++;
      }
      for (let q = 0; q < m; q++) {
        expect(on.dD[q * l + i]).toBeCloseTo(main.dD[q * l + i]! + 0.25 * aux.dD[q * l + i]!, 5);
        if (!dead[i]) expect(on.dD[q * l + i]).toBe(off.dD[q * l + i]);
      }
    }
    expect(moved).toBeGreaterThan(0);
    // The masked-off latent stays off: no gradient from either path.
    for (let q = 0; q < n; q++) expect(on.dE[3 * n + q]).toBe(0);
  });

  it('before anything counts as dead the gradients are those without AuxK, bit for bit', async () => {
    const base: StanConfig = { expansion: 2, k: 3, topk: 'abs' };
    const off = await grads(base, 2);
    const on = await grads({ ...base, auxK: 3, auxDeadSteps: 5 }, 2);
    expect(Array.from(on.dE)).toEqual(Array.from(off.dE));
    expect(Array.from(on.dD)).toEqual(Array.from(off.dD));
  });

  it('settings are checked by field', async () => {
    const rt = await testRuntime();
    const mk = (c: Partial<StanConfig>) => () => buildLinearFit(rt, stanAdapter, { expansion: 2, k: 2, topk: 'signed', ...c } as StanConfig, { rows: 2, inDim: 4, outDim: 2, seed: 1 });
    expect(mk({ auxK: 9 })).toThrow(/auxK/);
    expect(mk({ auxK: -1 })).toThrow(/auxK/);
    expect(mk({ auxK: 2, k: 8 })).toThrow(/k = l/);
    expect(mk({ auxK: 2, auxScale: 0 })).toThrow(/auxScale/);
    expect(mk({ auxK: 2, auxDeadSteps: 0 })).toThrow(/auxDeadSteps/);
  });
});
