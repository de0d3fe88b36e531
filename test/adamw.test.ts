import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ParamPack } from '../src/engine/param-pack';
import { CommandList, type GpuRuntime } from '../src/engine/runtime';
import { StepParams } from '../src/engine/step-params';
import { shader } from '../src/kernels/shader-sources';
import { FINAL_MAX, foldPasses, stridedThreads } from '../src/kernels/reduce';
import { AdamW, adamwCpu, NORM_MAX_THREADS, NORM_PER_THREAD, type AdamWOptions } from '../src/kernels/adamw';
import { maxRelError, randomArray, testRuntime } from './helpers/gpu';

// A rejected dispatch (validation error) must fail the test, not just log.
beforeEach(async () => {
  (await testRuntime()).device.pushErrorScope('validation');
});
afterEach(async () => {
  const err = await (await testRuntime()).device.popErrorScope();
  expect(err?.message ?? null, 'WebGPU validation error').toBeNull();
});

interface Spec {
  name: string;
  shape: number[];
  decay: boolean;
}

/** Two trainable packs with awkward sizes and a mixed decay mask. */
function makePacks(rt: GpuRuntime, specs: Spec[][], seed: number): ParamPack[] {
  return specs.map((ps, k) => {
    const pack = new ParamPack(rt, `pack${k}`, true);
    ps.forEach((s, j) => {
      const n = s.shape.reduce((a, b) => a * b, 1);
      pack.add(s.name, s.shape, randomArray(n, seed + 31 * k + j, -1, 1), { decay: s.decay });
    });
    pack.finalize();
    return pack;
  });
}

/** Random gradients on the parameters, zero on alignment padding (as a real backward leaves it). */
function makeGrads(packs: ParamPack[], seed: number, scale: number): Float32Array[] {
  return packs.map((pack, k) => {
    const g = new Float32Array(pack.length);
    for (const p of pack.params) g.set(randomArray(p.size, seed + 977 * k + p.elementOffset, -scale, scale), p.elementOffset);
    return g;
  });
}

interface CpuState {
  p: Float64Array;
  m: Float64Array;
  v: Float64Array;
  mask: Float32Array;
}

async function cpuMirror(rt: GpuRuntime, packs: ParamPack[]): Promise<CpuState[]> {
  const out: CpuState[] = [];
  for (const pack of packs) {
    const p = Float64Array.from(await rt.read(pack.flatValues!));
    out.push({ p, m: new Float64Array(pack.length), v: new Float64Array(pack.length), mask: await rt.read(pack.decayMask!) });
  }
  return out;
}

/** Runs `steps` steps on GPU and CPU with the same gradients; compares after each. */
async function runAndCompare(opts: AdamWOptions, steps: number, gradScale: number, specs: Spec[][], expectClipped: boolean | null, expectFolds?: number) {
  const rt = await testRuntime();
  const packs = makePacks(rt, specs, 7);
  const opt = new AdamW(rt, packs, opts);
  const sp = new StepParams(rt);
  const list = new CommandList('opt');
  opt.record(list, sp);
  const normThreads = packs.reduce((t, pk) => t + stridedThreads(pk.length / 4, NORM_PER_THREAD, NORM_MAX_THREADS), 0);
  const folds = foldPasses(normThreads, FINAL_MAX).length;
  expect(list.dispatchCount).toBe(2 * packs.length + 1 + folds);
  if (expectFolds !== undefined) expect(folds).toBe(expectFolds);
  const cpu = await cpuMirror(rt, packs);
  const lr = 0.01;
  const lrScale = 0.5;
  for (let step = 0; step < steps; step++) {
    const grads = makeGrads(packs, 1000 + step, gradScale);
    packs.forEach((pk, k) => rt.write(pk.flatGrads!, grads[k]!));
    sp.set({ step, slot: 0, lr, lrScale });
    rt.submit([list]);
    const ref = adamwCpu(
      cpu.map((c, k) => ({ p: c.p, m: c.m, v: c.v, g: grads[k]!, decayMask: c.mask })),
      opts,
      { lr, lrScale, step },
    );
    if (expectClipped !== null) expect(ref.clipScale < 1, 'clipping active in the reference').toBe(expectClipped);
    const norm = (await rt.read(opt.gradNorm))[0]!;
    expect(Math.abs(norm - ref.gradNorm) / ref.gradNorm).toBeLessThan(1e-5);
    expect((await rt.read(opt.nonFinite))[0]).toBe(0);
    const state = await opt.readState();
    for (let k = 0; k < packs.length; k++) {
      const p = await rt.read(packs[k]!.flatValues!);
      const before = cpu[k]!.p;
      const r = ref.packs[k]!;
      expect(maxRelError(p, r.p), `params pack ${k} step ${step}`).toBeLessThan(1e-5);
      // The update itself (small next to the params) to 1e-4 of its own size.
      expect(maxRelError(Array.from(p, (x, i) => x - before[i]!), Array.from(r.p, (x, i) => x - before[i]!)), `update pack ${k} step ${step}`).toBeLessThan(1e-4);
      expect(maxRelError(state.m[k]!, r.m), `m pack ${k} step ${step}`).toBeLessThan(1e-4);
      expect(maxRelError(state.v[k]!, r.v), `v pack ${k} step ${step}`).toBeLessThan(1e-4);
      // Continue both from the GPU's state so errors do not compound between the two.
      cpu[k] = { p: Float64Array.from(p), m: Float64Array.from(state.m[k]!), v: Float64Array.from(state.v[k]!), mask: cpu[k]!.mask };
    }
  }
  opt.destroy();
  packs.forEach((p) => p.destroy());
  return { rt };
}

const SMALL: Spec[][] = [
  [
    { name: 'w', shape: [7, 37], decay: true },
    { name: 'b', shape: [1], decay: false },
    { name: 'w2', shape: [255], decay: true },
    { name: 'g', shape: [257], decay: false },
  ],
  [
    { name: 'u', shape: [3, 5], decay: true },
    { name: 'c', shape: [256], decay: false },
  ],
];

describe('AdamW: GPU vs float64 CPU', () => {
  it('adamw.wgsl compiles', async () => {
    const rt = await testRuntime();
    expect(await rt.shaderErrors(shader('adamw'))).toEqual([]);
  });

  it('several steps, weight decay on a mask, no clipping (bias correction from step 0)', async () => {
    await runAndCompare({ weightDecay: 0.1 }, 5, 1, SMALL, false, 0);
  });

  it('defaults: no weight decay, no clipping', async () => {
    await runAndCompare({}, 3, 1, SMALL, false);
  });

  it('several steps, clipping inactive (norm below clipNorm)', async () => {
    await runAndCompare({ weightDecay: 0.05, clipNorm: 1e3 }, 4, 0.1, SMALL, false);
  });

  it('several steps, clipping active, custom betas and eps', async () => {
    await runAndCompare({ weightDecay: 0.01, clipNorm: 0.5, beta1: 0.8, beta2: 0.99, eps: 1e-6 }, 4, 1, SMALL, true);
  });

  it('large pack (100003 + 1 elements), clipping active', async () => {
    await runAndCompare(
      { weightDecay: 0.1, clipNorm: 1 },
      2,
      1,
      [
        [
          { name: 'big', shape: [100003], decay: true },
          { name: 'bias', shape: [1], decay: false },
        ],
      ],
      true,
      1, // > 256 norm threads: one fold pass
    );
  });
});

describe('AdamW: non-finite guard', () => {
  for (const bad of [NaN, Infinity, -Infinity, 'overflow'] as const) {
    it(`${String(bad)} in a gradient: params and moments untouched, nonFinite = 1, then recovers`, async () => {
      const rt = await testRuntime();
      const packs = makePacks(rt, SMALL, 3);
      const opts: AdamWOptions = { weightDecay: 0.1, clipNorm: 1 };
      const opt = new AdamW(rt, packs, opts);
      const sp = new StepParams(rt);
      const list = new CommandList('opt');
      opt.record(list, sp);
      const good = (step: number) => {
        const g = makeGrads(packs, 50 + step, 1);
        packs.forEach((pk, k) => rt.write(pk.flatGrads!, g[k]!));
        sp.set({ step, slot: 0, lr: 0.01 });
        rt.submit([list]);
        return g;
      };
      good(0);
      good(1);
      const pBefore = await Promise.all(packs.map((pk) => rt.read(pk.flatValues!)));
      const sBefore = await opt.readState();
      // Step 2: one bad value in pack 1 (pack 0 is clean: the guard must be global).
      const g = makeGrads(packs, 99, 1);
      if (bad === 'overflow') {
        // every value finite, but Σg² overflows f32 → the norm is Inf
        g[0]!.fill(3e19, 0, 64);
      } else {
        g[1]![packs[1]!.get('c').elementOffset + 17] = bad;
      }
      packs.forEach((pk, k) => rt.write(pk.flatGrads!, g[k]!));
      sp.set({ step: 2, slot: 0, lr: 0.01 });
      rt.submit([list]);
      expect((await rt.read(opt.nonFinite))[0]).toBe(1);
      const sAfter = await opt.readState();
      for (let k = 0; k < packs.length; k++) {
        expect(Array.from(await rt.read(packs[k]!.flatValues!))).toEqual(Array.from(pBefore[k]!));
        expect(Array.from(sAfter.m[k]!)).toEqual(Array.from(sBefore.m[k]!));
        expect(Array.from(sAfter.v[k]!)).toEqual(Array.from(sBefore.v[k]!));
      }
      // Step 3 with good gradients proceeds from the preserved state, as the CPU reference does.
      const g3 = good(3);
      expect((await rt.read(opt.nonFinite))[0]).toBe(0);
      const masks = await Promise.all(packs.map((pk) => rt.read(pk.decayMask!)));
      const ref = adamwCpu(
        packs.map((pk, k) => ({ p: pBefore[k]!, m: sBefore.m[k]!, v: sBefore.v[k]!, g: g3[k]!, decayMask: masks[k]! })),
        opts,
        { lr: 0.01, step: 3 },
      );
      expect(ref.nonFinite).toBe(0);
      for (let k = 0; k < packs.length; k++) {
        expect(maxRelError(await rt.read(packs[k]!.flatValues!), ref.packs[k]!.p)).toBeLessThan(1e-5);
      }
      // The CPU reference makes the same call on the bad step.
      const refBad = adamwCpu(
        packs.map((pk, k) => ({ p: pBefore[k]!, m: sBefore.m[k]!, v: sBefore.v[k]!, g: g[k]!, decayMask: masks[k]! })),
        opts,
        { lr: 0.01, step: 2 },
      );
      expect(refBad.nonFinite).toBe(1);
      expect(Array.from(refBad.packs[0]!.p)).toEqual(Array.from(pBefore[0]!));
      opt.destroy();
      packs.forEach((p) => p.destroy());
    });
  }
});

describe('AdamW: state', () => {
  it('readState / writeState round trip, reset zeroes, errors name the pack', async () => {
    const rt = await testRuntime();
    const packs = makePacks(rt, SMALL, 11);
    const opt = new AdamW(rt, packs, {});
    const sp = new StepParams(rt);
    const list = new CommandList('opt');
    opt.record(list, sp);
    const g = makeGrads(packs, 5, 1);
    packs.forEach((pk, k) => rt.write(pk.flatGrads!, g[k]!));
    sp.set({ step: 0, slot: 0, lr: 0.01 });
    rt.submit([list]);
    const s = await opt.readState();
    expect(s.m.length).toBe(2);
    expect(s.m[0]!.length).toBe(packs[0]!.length);
    expect(s.m[0]!.some((x) => x !== 0)).toBe(true);
    // m after one step from zero is (1-β1)·g exactly up to f32 rounding
    expect(maxRelError(s.m[0]!, Array.from(g[0]!, (x) => 0.1 * x))).toBeLessThan(1e-6);
    expect(maxRelError(s.v[1]!, Array.from(g[1]!, (x) => 0.001 * x * x))).toBeLessThan(1e-5);
    opt.reset();
    const z = await opt.readState();
    expect(z.m.every((a) => a.every((x) => x === 0)) && z.v.every((a) => a.every((x) => x === 0))).toBe(true);
    const custom = { m: s.m.map((a) => a.map((_, i) => i * 0.5)), v: s.v.map((a) => a.map((_, i) => i + 1)) };
    opt.writeState(custom);
    const back = await opt.readState();
    expect(back.m.map((a) => Array.from(a))).toEqual(custom.m.map((a) => Array.from(a)));
    expect(back.v.map((a) => Array.from(a))).toEqual(custom.v.map((a) => Array.from(a)));
    expect(() => opt.writeState({ m: [s.m[0]!], v: [s.v[0]!] })).toThrow(/2 packs/);
    expect(() => opt.writeState({ m: [s.m[0]!, new Float32Array(3)], v: s.v })).toThrow(/pack1/);
    opt.destroy();
  });

  it('rejects frozen or unfinalized packs and bad options', async () => {
    const rt = await testRuntime();
    const frozen = new ParamPack(rt, 'frozen', false);
    frozen.add('w', [4], new Float32Array(4));
    frozen.finalize();
    expect(() => new AdamW(rt, [frozen], {})).toThrow(/frozen/);
    const raw = new ParamPack(rt, 'raw', true);
    raw.add('w', [4], new Float32Array(4));
    expect(() => new AdamW(rt, [raw], {})).toThrow(/not finalized/);
    raw.finalize();
    expect(() => new AdamW(rt, [raw], { beta2: 1 })).toThrow(/beta2/);
    expect(() => new AdamW(rt, [raw], { clipNorm: -1 })).toThrow(/clipNorm/);
  });
});
