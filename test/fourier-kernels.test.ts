/**
 * The Fourier toy's kernels (src/kernels/fourier.ts) against their float64 CPU references, on
 * awkward shapes: 3 signals of seq 11 with 4 observed (compact rows of 5), C = 13 features,
 * 7 atoms; plus the argument checks.
 */
import { describe, expect, it } from 'vitest';
import { CommandList } from '../src/engine/runtime';
import {
  liftBackwardCpu,
  liftCpu,
  normalizeBackwardCpu,
  normalizeCpu,
  readoutBackwardCpu,
  readoutCpu,
  readoutFullBackwardCpu,
  readoutFullCpu,
  recordLift,
  recordLiftBackward,
  recordNormalize,
  recordNormalizeBackward,
  recordReadout,
  recordReadoutBackward,
  recordReadoutFull,
  recordReadoutFullBackward,
  recordRowNorms,
  recordSoftmaxMult,
  recordTiedBackward,
  rowNormsCpu,
  softmaxMultCpu,
  tiedBackwardCpu,
} from '../src/kernels/fourier';
import { maxRelError, randomArray, testRuntime } from './helpers/gpu';

const B = 3;
const T = 11;
const O = 4;
const TC = O + 1;
const ROWS = B * TC;
const C = 13;
const M = 7;
const shape = { rows: ROWS, tc: TC, cols: C, seq: T };

/** Observed positions per signal (ascending), as compact pos [ROWS] and slot [B·T]. */
function layout(): { pos: Float32Array; slot: Float32Array } {
  const pos = new Float32Array(ROWS);
  const slot = new Float32Array(B * T).fill(-1);
  const sets = [[0, 3, 4, 10], [1, 2, 7, 9], [5, 6, 8, 10]];
  sets.forEach((ts, b) => ts.forEach((t, j) => {
    pos[b * TC + j] = t;
    slot[b * T + t] = j;
  }));
  return { pos, slot };
}

async function run(build: (rt: Awaited<ReturnType<typeof testRuntime>>, list: CommandList) => void): Promise<void> {
  const rt = await testRuntime();
  const list = new CommandList('t');
  build(rt, list);
  rt.submit([list]);
}

describe('fourier kernels match their float64 references', () => {
  const { pos, slot } = layout();
  const lift = randomArray(2 * T * C, 1);

  it('lift (with and without ŷ) and its backward', async () => {
    const rt = await testRuntime();
    const xobs = randomArray(ROWS, 2);
    const yhat = randomArray(ROWS, 3);
    const dx = randomArray(ROWS * C, 4);
    const t = { pos: rt.tensor([ROWS], 'pos', pos), xobs: rt.tensor([ROWS], 'x', xobs), yhat: rt.tensor([ROWS], 'y', yhat), lift: rt.tensor([2, T, C], 'lift', lift) };
    const x0 = rt.tensor([ROWS, C], 'x0');
    const x1 = rt.tensor([ROWS, C], 'x1');
    const dxT = rt.tensor([ROWS, C], 'dx', dx);
    const dy = rt.tensor([ROWS], 'dy', randomArray(ROWS, 9));
    await run((r, l) => {
      recordLift(r, l, { ...shape, ...t, yhat: null, x: x0 });
      recordLift(r, l, { ...shape, ...t, x: x1 });
      recordLiftBackward(r, l, { ...shape, pos: t.pos, dx: dxT, lift: t.lift, dyhat: dy });
    });
    expect(maxRelError(await rt.read(x0), liftCpu({ ...shape, pos, xobs, yhat: null, lift }))).toBeLessThan(1e-6);
    const want1 = liftCpu({ ...shape, pos, xobs, yhat, lift });
    expect(maxRelError(await rt.read(x1), want1)).toBeLessThan(1e-6);
    // Rest rows are exactly 0 (the unobserved tokens' input), observed rows are not.
    const got1 = await rt.read(x1);
    for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) expect(got1[(b * TC + O) * C + c]).toBe(0);
    const back = await rt.read(dy);
    expect(maxRelError(back, liftBackwardCpu({ ...shape, pos, dx, lift }))).toBeLessThan(1e-6);
    for (let b = 0; b < B; b++) expect(back[b * TC + O]).toBe(0);
  });

  it('readout, its backward, the full read-out (observed samples are the observations) and its backward', async () => {
    const rt = await testRuntime();
    const y = randomArray(ROWS * C, 5);
    const xobs = randomArray(ROWS, 6);
    const dout = randomArray(ROWS, 7);
    const dfull = randomArray(B * T, 8);
    const posT = rt.tensor([ROWS], 'pos', pos);
    const slotT = rt.tensor([B * T], 'slot', slot);
    const liftT = rt.tensor([2, T, C], 'lift', lift);
    const yT = rt.tensor([ROWS, C], 'y', y);
    const out = rt.tensor([ROWS], 'out');
    const dY = rt.tensor([ROWS, C], 'dY');
    const full = rt.tensor([B * T], 'full');
    const dY2 = rt.tensor([ROWS, C], 'dY2');
    await run((r, l) => {
      recordReadout(r, l, { ...shape, pos: posT, y: yT, lift: liftT, out });
      recordReadoutBackward(r, l, { ...shape, pos: posT, dout: r.tensor([ROWS], 'do', dout), lift: liftT, dy: dY });
      recordReadoutFull(r, l, { ...shape, slot: slotT, xobs: r.tensor([ROWS], 'xo', xobs), y: yT, lift: liftT, out: full });
      recordReadoutFullBackward(r, l, { ...shape, slot: slotT, dout: r.tensor([B * T], 'df', dfull), lift: liftT, dy: dY2 });
    });
    expect(maxRelError(await rt.read(out), readoutCpu({ ...shape, pos, y, lift }))).toBeLessThan(1e-6);
    expect(maxRelError(await rt.read(dY), readoutBackwardCpu({ ...shape, pos, dout, lift }))).toBeLessThan(1e-6);
    const f = await rt.read(full);
    expect(maxRelError(f, readoutFullCpu({ ...shape, slot, xobs, y, lift }))).toBeLessThan(1e-6);
    expect(f[0 * T + 3]).toBe(xobs[0 * TC + 1]);
    expect(maxRelError(await rt.read(dY2), readoutFullBackwardCpu({ ...shape, slot, dout: dfull, lift }))).toBeLessThan(1e-6);
  });

  it('softmax with a pooled last key', async () => {
    const rt = await testRuntime();
    const s = randomArray(ROWS * TC, 11, -4, 4);
    const t = rt.tensor([ROWS, TC], 's', s);
    await run((r, l) => recordSoftmaxMult(r, l, { scores: t, rows: ROWS, tc: TC, mult: 7 }));
    const got = await rt.read(t);
    const want = softmaxMultCpu(s, ROWS, TC, 7);
    expect(maxRelError(got, want)).toBeLessThan(1e-6);
    // Equal scores: each observed key gets 1/(O + mult), the pooled key mult/(O + mult).
    const z = softmaxMultCpu(new Float64Array(TC), 1, TC, 7);
    expect(z[0]).toBeCloseTo(1 / 11, 12);
    expect(z[TC - 1]).toBeCloseTo(7 / 11, 12);
  });

  it('row norms, normalize (with and without η), tied backward and normalize backward', async () => {
    const rt = await testRuntime();
    const P = randomArray(M * T, 12);
    const d = randomArray(M * C, 13);
    const g = randomArray(M * C, 14);
    const ddn0 = randomArray(M * C, 15);
    const pe = randomArray(M * C, 16);
    const dd0 = randomArray(M * C, 17);
    const logEta = 0.7;
    const norms = rt.tensor([M], 'n');
    const dT = rt.tensor([M, C], 'd', d);
    const dn = rt.tensor([M, C], 'dn');
    const dn2 = rt.tensor([M, C], 'dn2');
    const wt = rt.tensor([M, C], 'wt');
    const le = rt.tensor([1], 'le', [logEta]);
    const ddn = rt.tensor([M, C], 'ddn', ddn0);
    const dle = rt.tensor([1], 'dle', [0.25]);
    const dd = rt.tensor([M, C], 'dd', dd0);
    await run((r, l) => {
      recordRowNorms(r, l, { p: r.tensor([M, T], 'p', P), norms, atoms: M, seq: T });
      recordNormalize(r, l, { d: dT, norms, dn, atoms: M, cols: C, logEta: le, wt });
      recordNormalize(r, l, { d: dT, norms, dn: dn2, atoms: M, cols: C });
      recordTiedBackward(r, l, { g: r.tensor([M, C], 'g', g), dn, logEta: le, ddn, dlogEta: dle, n: M * C });
      recordNormalizeBackward(r, l, { ddn, d: dT, norms, pe: r.tensor([M, C], 'pe', pe), dd, atoms: M, cols: C, accumulate: true });
    });
    const n = rowNormsCpu(P, M, T);
    expect(maxRelError(await rt.read(norms), n)).toBeLessThan(1e-6);
    const { dn: dnW, wt: wtW } = normalizeCpu(d, n, M, C, logEta);
    expect(maxRelError(await rt.read(dn), dnW)).toBeLessThan(1e-6);
    expect(maxRelError(await rt.read(dn2), dnW)).toBeLessThan(1e-6);
    expect(maxRelError(await rt.read(wt), wtW!)).toBeLessThan(1e-6);
    const tb = tiedBackwardCpu(g, dnW, logEta);
    const ddnW = tb.ddn.map((v, i) => v + ddn0[i]!);
    expect(maxRelError(await rt.read(ddn), ddnW)).toBeLessThan(1e-5);
    expect((await rt.read(dle))[0]).toBeCloseTo(0.25 + tb.dlogEta, 3);
    const nb = normalizeBackwardCpu(ddnW, d, n, pe, M, C).map((v, i) => v + dd0[i]!);
    expect(maxRelError(await rt.read(dd), nb)).toBeLessThan(1e-5);
  });

  it('normalize backward is the derivative of D ↦ D/‖D·Eᵀ‖ (finite differences, float64)', () => {
    const E = Float64Array.from(randomArray(T * C, 21));
    const D = Float64Array.from(randomArray(M * C, 22));
    const w = Float64Array.from(randomArray(M * C, 23));
    const f = (Dv: Float64Array) => {
      let s = 0;
      for (let m = 0; m < M; m++) {
        let n2 = 0;
        for (let t = 0; t < T; t++) {
          let p = 0;
          for (let c = 0; c < C; c++) p += Dv[m * C + c]! * E[t * C + c]!;
          n2 += p * p;
        }
        for (let c = 0; c < C; c++) s += (w[m * C + c]! * Dv[m * C + c]!) / Math.sqrt(n2 + 1e-20);
      }
      return s;
    };
    const P = new Float64Array(M * T);
    for (let m = 0; m < M; m++) for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) P[m * T + t]! += D[m * C + c]! * E[t * C + c]!;
    const PE = new Float64Array(M * C);
    for (let m = 0; m < M; m++) for (let c = 0; c < C; c++) for (let t = 0; t < T; t++) PE[m * C + c]! += P[m * T + t]! * E[t * C + c]!;
    const g = normalizeBackwardCpu(w, D, rowNormsCpu(P, M, T), PE, M, C);
    for (let i = 0; i < M * C; i += 5) {
      const h = 1e-6;
      const a = D.slice();
      a[i] = a[i]! + h;
      const b2 = D.slice();
      b2[i] = b2[i]! - h;
      expect(g[i]).toBeCloseTo((f(a) - f(b2)) / (2 * h), 5);
    }
  });

  it('rejects bad shapes with a message naming the argument', async () => {
    const rt = await testRuntime();
    const l = new CommandList('bad');
    const small = rt.tensor([3], 'small');
    expect(() => recordLift(rt, l, { ...shape, pos: small, xobs: small, yhat: null, lift: small, x: small })).toThrow(/pos \(small\) has 3 elements, needs 15/);
    expect(() => recordLift(rt, l, { ...shape, rows: 14, pos: small, xobs: small, yhat: null, lift: small, x: small })).toThrow(/rows=14 is not a multiple of tc=5/);
    expect(() => recordSoftmaxMult(rt, l, { scores: small, rows: 1, tc: 3, mult: 0 })).toThrow(/mult=0/);
    expect(() => recordTiedBackward(rt, l, { g: small, dn: small, logEta: small, ddn: null, dlogEta: null, n: 3 })).toThrow(/nothing to compute/);
  });
});
