/**
 * The VAE's kernels (src/kernels/vae.ts) and the classifier's softmax/argmax against their float64
 * CPU references, and the references' gradients against float64 central finite differences.
 */
import { describe, expect, it } from 'vitest';
import { CommandList } from '../src/engine/runtime';
import { recordSoftmaxArgmax, softmaxArgmaxCpu } from '../src/kernels/softmax-rows';
import {
  bceWithLogitsCpu,
  patchLayoutSize,
  permutePatchesCpu,
  recordBceWithLogits,
  recordPatchify,
  recordReparamBackward,
  recordReparamForward,
  recordSigmoid,
  recordUnpatchify,
  recordVaeLossCombine,
  reparamBackwardCpu,
  reparamForwardCpu,
  sigmoidCpu,
} from '../src/kernels/vae';
import { checkGradient, dot, randn64 } from './helpers/finite-diff';
import { maxRelError, randomArray, testRuntime } from './helpers/gpu';

describe('patchify / unpatchify', () => {
  it('CPU reference: patch t holds the t-th patch of the grid, and unpatchify inverts patchify', () => {
    const s = { batch: 2, side: 6, patch: 3 };
    const img = Float64Array.from({ length: 72 }, (_, i) => i);
    const p = permutePatchesCpu(img, s, false);
    // image 0, token 1 (top row, second patch): rows 0..2, columns 3..5
    expect(Array.from(p.subarray(9, 18))).toEqual([3, 4, 5, 9, 10, 11, 15, 16, 17]);
    // image 1, token 2 (second row of patches, first patch): rows 3..5, columns 0..2
    expect(Array.from(p.subarray(36 + 18, 36 + 27))).toEqual([54, 55, 56, 60, 61, 62, 66, 67, 68]);
    expect(Array.from(permutePatchesCpu(p, s, true))).toEqual(Array.from(img));
  });

  for (const s of [
    { batch: 3, side: 28, patch: 7 },
    { batch: 1, side: 8, patch: 4 },
    { batch: 5, side: 6, patch: 1 },
  ]) {
    it(`GPU = CPU, batch ${s.batch}, ${s.side}×${s.side}, patch ${s.patch}`, async () => {
      const rt = await testRuntime();
      const n = s.batch * s.side * s.side;
      const xs = randomArray(n, n);
      const x = rt.tensor([n], 'img', xs);
      const p = rt.tensor([n], 'patches');
      const back = rt.tensor([n], 'img2');
      const list = new CommandList('t');
      recordPatchify(rt, list, s, x, p);
      recordUnpatchify(rt, list, s, p, back);
      rt.submit([list]);
      expect(Array.from(await rt.read(p))).toEqual(Array.from(permutePatchesCpu(xs, s, false), Math.fround));
      expect(Array.from(await rt.read(back))).toEqual(Array.from(xs));
    });
  }

  for (const s of [
    { batch: 3, side: 28, patch: 7, lead: 1 },
    { batch: 2, side: 6, patch: 3, lead: 2 },
  ]) {
    it(`with ${s.lead} leading zero token(s) (CLS slot): GPU = CPU, zeros in front, unpatchify skips them, batch ${s.batch}, ${s.side}×${s.side}`, async () => {
      const rt = await testRuntime();
      const n = s.batch * s.side * s.side;
      const per = patchLayoutSize(s);
      expect(per).toBe(s.side * s.side + s.lead * s.patch * s.patch);
      const xs = randomArray(n, n + 1);
      const x = rt.tensor([n], 'img', xs);
      const p = rt.tensor([s.batch * per], 'patches');
      const back = rt.tensor([n], 'img2');
      const list = new CommandList('t');
      recordPatchify(rt, list, s, x, p);
      recordUnpatchify(rt, list, s, p, back);
      rt.submit([list]);
      const cpu = permutePatchesCpu(xs, s, false);
      const plain = permutePatchesCpu(xs, { ...s, lead: 0 }, false);
      const lead = s.lead * s.patch * s.patch;
      for (let b = 0; b < s.batch; b++) {
        expect(Array.from(cpu.subarray(b * per, b * per + lead))).toEqual(new Array(lead).fill(0));
        expect(Array.from(cpu.subarray(b * per + lead, (b + 1) * per))).toEqual(Array.from(plain.subarray(b * s.side * s.side, (b + 1) * s.side * s.side)));
      }
      expect(Array.from(await rt.read(p))).toEqual(Array.from(cpu, Math.fround));
      expect(Array.from(await rt.read(back))).toEqual(Array.from(xs));
      expect(Array.from(permutePatchesCpu(cpu, s, true))).toEqual(Array.from(xs, Number));
    });
  }

  it('rejects a patch tensor of the wrong size for the leading tokens', async () => {
    const rt = await testRuntime();
    const s = { batch: 2, side: 4, patch: 2, lead: 1 };
    expect(() => recordPatchify(rt, new CommandList('t'), s, rt.tensor([32], 'x'), rt.tensor([32], 'y'))).toThrow(/expected 40/);
  });

  it('rejects a side that is not a multiple of the patch', async () => {
    const rt = await testRuntime();
    const t = rt.tensor([50], 'x');
    const u = rt.tensor([50], 'y');
    expect(() => recordPatchify(rt, new CommandList('t'), { batch: 2, side: 5, patch: 2 }, t, u)).toThrow(/not a multiple/);
  });
});

describe('sigmoid and BCE with logits', () => {
  it('CPU gradient matches finite differences (≤ 1e-6)', () => {
    const x = randn64(40, 1, 3);
    const y = Float64Array.from(randomArray(40, 2, 0, 1));
    const { grad } = bceWithLogitsCpu(x, y, 0.7);
    const err = checkGradient((v) => 0.7 * bceWithLogitsCpu(v, y).sum, x, grad);
    expect(err).toBeLessThan(1e-6);
  });

  for (const n of [1, 300, 5000, 70_000]) {
    it(`GPU sum and gradient = CPU, n=${n}`, async () => {
      const rt = await testRuntime();
      const xs = randomArray(n, 3 + n, -12, 12);
      const ys = randomArray(n, 4 + n, 0, 1);
      const logits = rt.tensor([n], 'logits', xs);
      const target = rt.tensor([n], 'target', ys);
      const grad = rt.tensor([n], 'grad');
      const sum = rt.tensor([1], 'sum');
      const sig = rt.tensor([n], 'sig');
      const list = new CommandList('t');
      recordBceWithLogits(rt, list, { logits, target, sum, grad, gradScale: 0.25 });
      recordSigmoid(rt, list, logits, sig);
      rt.submit([list]);
      const ref = bceWithLogitsCpu(xs, ys, 0.25);
      expect(Math.abs((await rt.read(sum))[0]! - ref.sum) / ref.sum).toBeLessThan(1e-5);
      expect(maxRelError(await rt.read(grad), ref.grad)).toBeLessThan(1e-5);
      expect(maxRelError(await rt.read(sig), Array.from(xs, sigmoidCpu))).toBeLessThan(1e-6);
    });
  }

  it('large |logits| stay finite and accurate (log1p of tiny exponentials)', async () => {
    const rt = await testRuntime();
    const xs = Float32Array.from([30, -30, 80, -80, 12, -12, 0]);
    const ys = Float32Array.from([1, 0, 1, 0, 1, 0, 0.5]);
    const logits = rt.tensor([7], 'logits', xs);
    const target = rt.tensor([7], 'target', ys);
    const sum = rt.tensor([1], 'sum');
    const list = new CommandList('t');
    recordBceWithLogits(rt, list, { logits, target, sum });
    rt.submit([list]);
    const got = (await rt.read(sum))[0]!;
    const want = bceWithLogitsCpu(xs, ys).sum;
    expect(Math.abs(got - want) / want).toBeLessThan(1e-5);
  });
});

describe('reparameterisation and KL', () => {
  const n = 24;
  const mu = randn64(n, 10);
  const logvar = randn64(n, 11, 0.8);
  const eps = randn64(n, 12);
  const dz = randn64(n, 13);
  const klScale = 0.3;
  // L = dz·z + klScale·Σkl: its gradients are exactly what reparamBackwardCpu returns.
  const L = (m: Float64Array, lv: Float64Array) => {
    const r = reparamForwardCpu(m, lv, eps);
    return dot(dz, r.z) + klScale * r.klSum;
  };

  it('CPU backward matches finite differences (≤ 1e-6)', () => {
    const { dmu, dlogvar } = reparamBackwardCpu(mu, logvar, eps, dz, klScale);
    expect(checkGradient((m) => L(m, logvar), Float64Array.from(mu), dmu)).toBeLessThan(1e-6);
    expect(checkGradient((lv) => L(mu, lv), Float64Array.from(logvar), dlogvar)).toBeLessThan(1e-6);
  });

  it('GPU forward/backward = CPU (β read from a buffer); combine writes rec, kl, loss', async () => {
    const rt = await testRuntime();
    const f = (a: Float64Array, name: string) => rt.tensor([n], name, Float32Array.from(a));
    const [m, lv, e, d] = [f(mu, 'mu'), f(logvar, 'logvar'), f(eps, 'eps'), f(dz, 'dz')];
    const z = rt.tensor([n], 'z');
    const klSum = rt.tensor([1], 'klSum');
    const dmu = rt.tensor([n], 'dmu');
    const dlv = rt.tensor([n], 'dlogvar');
    const recSum = rt.tensor([1], 'recSum', [12]);
    const beta = rt.tensor([1], 'beta', [0.5]);
    const klBeta = rt.tensor([1], 'klBeta', [klScale * 4]);
    const [loss, rec, kl] = ['loss', 'rec', 'kl'].map((s) => rt.tensor([1], s)) as [typeof z, typeof z, typeof z];
    const list = new CommandList('t');
    recordReparamForward(rt, list, { mu: m, logvar: lv, eps: e, z, klSum });
    recordReparamBackward(rt, list, { mu: m, logvar: lv, eps: e, dz: d, dmu, dlogvar: dlv, beta: klBeta, batch: 4 });
    recordVaeLossCombine(rt, list, { recSum, klSum, loss, rec, kl, batch: 4, beta });
    rt.submit([list]);
    const f32 = (a: Float64Array) => Float64Array.from(Float32Array.from(a));
    const fwd = reparamForwardCpu(f32(mu), f32(logvar), f32(eps));
    const bwd = reparamBackwardCpu(f32(mu), f32(logvar), f32(eps), f32(dz), klScale);
    expect(maxRelError(await rt.read(z), fwd.z)).toBeLessThan(1e-5);
    expect(Math.abs((await rt.read(klSum))[0]! - fwd.klSum) / fwd.klSum).toBeLessThan(1e-5);
    expect(maxRelError(await rt.read(dmu), bwd.dmu)).toBeLessThan(1e-5);
    expect(maxRelError(await rt.read(dlv), bwd.dlogvar)).toBeLessThan(1e-5);
    const klv = fwd.klSum / 4;
    expect((await rt.read(rec))[0]).toBeCloseTo(3, 6);
    expect((await rt.read(kl))[0]! / klv).toBeCloseTo(1, 5);
    expect((await rt.read(loss))[0]! / (3 + 0.5 * klv)).toBeCloseTo(1, 5);
  });
});

describe('softmax + argmax rows', () => {
  for (const [rows, classes] of [
    [1, 10],
    [130, 10],
    [7, 3],
  ] as const) {
    it(`GPU = CPU, ${rows}×${classes}`, async () => {
      const rt = await testRuntime();
      const xs = randomArray(rows * classes, rows + classes, -8, 8);
      const logits = rt.tensor([rows, classes], 'logits', xs);
      const probs = rt.tensor([rows, classes], 'probs');
      const pred = rt.tensor([rows], 'pred');
      const list = new CommandList('t');
      recordSoftmaxArgmax(rt, list, { logits, probs, pred, rows, classes });
      rt.submit([list]);
      const ref = softmaxArgmaxCpu(xs, rows, classes);
      expect(maxRelError(await rt.read(probs), ref.probs)).toBeLessThan(1e-5);
      expect(Array.from(await rt.read(pred))).toEqual(Array.from(ref.pred));
    });
  }
});
