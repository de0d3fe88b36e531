/**
 * STAN App. A checks on constructed E/D whose answers are known analytically, plus Theorem 1
 * (singleton exact recovery) through the float64 STAN forward, and a read-back from a real adapter.
 */
import { describe, expect, it } from 'vitest';
import { blockIdentityErrors, identifiabilityReport, readStanMatrices, rowOrthonormalityError, singletonMargins } from '../src/analysis/identifiability';
import { stanAdapter, type StanAdapter } from '../src/adapters/stan';
import { stanForwardCpu } from '../src/kernels/stan-sparse';
import { buildLinearFit } from '../src/tasks/linear-fit';
import { testRuntime } from './helpers/gpu';

/** Row-major [rows, cols] from a function. */
const mat = (rows: number, cols: number, f: (r: number, c: number) => number) => Float64Array.from({ length: rows * cols }, (_, i) => f(Math.floor(i / cols), i % cols));
const eye = (rows: number, cols: number) => mat(rows, cols, (r, c) => (r === c ? 1 : 0));

describe('App. A: singleton margins, blockwise identity, row orthonormality', () => {
  it('E = [I; 0], D = [I 0]: margins 1, exact blockwise identity, ‖EEᵀ − I‖ = √(l − n)', () => {
    const n = 4;
    const l = 7;
    const E = eye(l, n);
    const D = eye(n, l);
    const r = identifiabilityReport(E, D, { l, n, m: n });
    expect(Array.from(r.carrier)).toEqual([0, 1, 2, 3]);
    expect(Array.from(r.margin)).toEqual([1, 1, 1, 1]);
    expect(Array.from(r.blockError!)).toEqual([0, 0, 0, 0]);
    expect(r.orthoError).toBeCloseTo(Math.sqrt(l - n), 12);
    expect(r.summary).toMatchObject({ minMargin: 1, positiveMargins: 4, distinctCarriers: true, maxBlockError: 0, assumption1: true, assumption2: true, assumption3: false });
    // l = n: all three assumptions hold.
    expect(identifiabilityReport(eye(n, n), eye(n, n), { l: n, n, m: n }).summary).toMatchObject({ assumption1: true, assumption2: true, assumption3: true });
  });

  it('permuted and scaled: E = Λ·P, D = Pᵀ·Λ⁻¹ keeps eq. 10 exact; margins are the scales; eq. 11 error is √Σ(s²−1)²', () => {
    const n = 3;
    const perm = [2, 0, 1]; // latent perm[p] carries coordinate p
    const s = [2, 0.5, 3]; // scale of latent i
    const E = mat(3, 3, (i, p) => (perm[p] === i ? s[i]! : 0));
    const D = mat(3, 3, (c, i) => (perm[c] === i ? 1 / s[i]! : 0));
    const r = identifiabilityReport(E, D, { l: 3, n, m: 3 });
    expect(Array.from(r.carrier)).toEqual(perm);
    expect(Array.from(r.margin)).toEqual(perm.map((i) => s[i]!));
    expect(r.summary.maxBlockError!).toBeLessThan(1e-15);
    expect(r.orthoError).toBeCloseTo(Math.sqrt(s.reduce((a, v) => a + (v * v - 1) ** 2, 0)), 12);
  });

  it('a rotation: EEᵀ = I exactly, γ_p = |cos θ| − |sin θ|, blockwise identity fails by a known amount', () => {
    const t = 0.3;
    const [c, sn] = [Math.cos(t), Math.sin(t)];
    const E = Float64Array.from([c, -sn, sn, c]); // rows orthonormal
    const D = eye(2, 2);
    expect(rowOrthonormalityError(E, 2, 2)).toBeLessThan(1e-15);
    const { carrier, margin } = singletonMargins(E, 2, 2);
    expect(Array.from(carrier)).toEqual([0, 1]);
    expect(margin[0]).toBeCloseTo(c - sn, 15);
    expect(margin[1]).toBeCloseTo(c - sn, 15);
    // D_{:,0}·E_{0,0} − e_0 = (c − 1, 0): error 1 − cos θ.
    const err = blockIdentityErrors(E, D, 2, 2, 2);
    expect(err[0]).toBeCloseTo(1 - c, 15);
    expect(err[1]).toBeCloseTo(1 - c, 15);
  });

  it('ties give margin 0 (assumption 1 fails) and the lower index as carrier; wrong decoder scale gives error |s − 1|', () => {
    const E = Float64Array.from([0.5, 0.2, -0.5, 1]); // column 0: |0.5| twice; column 1 carried by latent 1
    const r = identifiabilityReport(E, Float64Array.from([2 / 0.5, 0, 0, 1]), { l: 2, n: 2, m: 2 });
    expect(r.carrier[0]).toBe(0);
    expect(r.margin[0]).toBe(0);
    expect(r.summary.assumption1).toBe(false);
    expect(r.summary.positiveMargins).toBe(1);
    expect(r.blockError![0]).toBeCloseTo(1, 15); // 2·e_0 − e_0
    expect(r.summary.distinctCarriers).toBe(true);
    // One latent carrying both coordinates.
    const shared = identifiabilityReport(Float64Array.from([1, 1, 0.1, 0.1]), eye(2, 2), { l: 2, n: 2, m: 2 });
    expect(shared.summary.distinctCarriers).toBe(false);
    // blockScale folds the forward's 1/k into D.
    expect(blockIdentityErrors(eye(2, 2), Float64Array.from([3, 0, 0, 3]), 2, 2, 2, { blockScale: 1 / 3 })[0]).toBeCloseTo(0, 15);
    // m ≠ n: eq. 10 is undefined.
    expect(identifiabilityReport(eye(3, 2), eye(3, 3), { l: 3, n: 2, m: 3 }).blockError).toBeNull();
    expect(() => blockIdentityErrors(eye(3, 2), eye(3, 3), 3, 2, 3)).toThrow(/needs m = n/);
    expect(singletonMargins(Float64Array.from([-3, 2]), 1, 2).margin).toEqual(Float64Array.from([3, 2])); // l = 1
  });

  it('Theorem 1 through the STAN forward: with γ_p > 0 and eq. 10, Δ(α·e_p) = α·e_p (abs top-k, k = 1)', () => {
    const n = 5;
    const l = 8;
    // Carrier of p is latent p + 2 with weight (p + 1); other latents have smaller entries.
    const E = mat(l, n, (i, p) => (i === p + 2 ? p + 1 : 0.1 * Math.sin(i * 7 + p)));
    // Carrier columns of D are exactly e_p/(p+1); the other latents' columns are arbitrary.
    const D = mat(n, l, (c, i) => (i >= 2 && i < n + 2 ? (i === c + 2 ? 1 / (c + 1) : 0) : 0.3 * Math.cos(c + i)));
    const r = identifiabilityReport(E, D, { l, n, m: n });
    expect(r.summary.assumption1).toBe(true);
    expect(r.summary.maxBlockError!).toBeLessThan(1e-12);
    for (let p = 0; p < n; p++) {
      for (const alpha of [0.7, -2]) {
        const x = mat(1, n, (_, c) => (c === p ? alpha : 0));
        const { delta, indices } = stanForwardCpu({ x, E, D, rows: 1, n, m: n, l, k: 1, mode: 'abs' });
        expect(indices[0]).toBe(r.carrier[p]);
        for (let c = 0; c < n; c++) expect(delta[c]).toBeCloseTo(c === p ? alpha : 0, 12);
      }
    }
  });

  it('reads E and D back from a STAN adapter (unit-norm E rows: eq. 11 diagonal is exact)', async () => {
    const rt = await testRuntime();
    const fit = buildLinearFit(rt, stanAdapter, { expansion: 0.5, k: 2, topk: 'abs' }, { rows: 2, inDim: 8, outDim: 8, seed: 4 });
    const a = fit.adapter as StanAdapter;
    const { E, D } = await readStanMatrices(rt, a);
    expect(E.length).toBe(4 * 8);
    const r = identifiabilityReport(E, D, { l: 4, n: 8, m: 8 });
    // D = 0 at init: every blockwise-identity error is ‖e_p‖ = 1.
    expect(Array.from(r.blockError!)).toEqual(new Array(8).fill(1));
    // Off-diagonal Gram entries of random unit rows are non-zero, diagonal ones are 1 (to f32 rounding).
    let off = 0;
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) if (i !== j) {
      let g = 0;
      for (let c = 0; c < 8; c++) g += E[i * 8 + c]! * E[j * 8 + c]!;
      off += g * g;
    }
    expect(r.orthoError).toBeGreaterThan(Math.sqrt(off) - 1e-6);
    expect(r.orthoError).toBeLessThan(Math.sqrt(off) + 1e-6);
    fit.destroy();
  });
});
