/**
 * ISTA / FISTA sparse coding on the GPU: the power-iteration L, the iterates and the objective
 * vs the float64 reference run on the same iterations; support recovery of a known 3-sparse
 * code over an incoherent unit-norm dictionary; one submit, no readback while solving.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../src/engine/rng';
import { CommandList, diffCounters, type GpuRuntime } from '../src/engine/runtime';
import { istaCpu, istaObjectiveCpu, powerIterationCpu, recordIsta, recordPowerIteration, sparseEncode, type IstaMethod } from '../src/kernels/ista';
import { matmulCpu } from '../src/kernels/matmul';
import { shader } from '../src/kernels/shader-sources';
import { maxRelError, randomArray, testRuntime } from './helpers/gpu';

/** D [M, C] with unit-norm rows (Gaussian directions), a k-sparse S* [N, M] with |s| ∈ [0.5, 1.5], X = S*·D. */
function sparseProblem(seed: number, N: number, M: number, C: number, nnz: number) {
  const rng = new Rng(seed);
  const D = new Float64Array(M * C);
  for (let m = 0; m < M; m++) {
    let q = 0;
    for (let c = 0; c < C; c++) q += (D[m * C + c] = rng.normal()) ** 2;
    for (let c = 0; c < C; c++) D[m * C + c] = D[m * C + c]! / Math.sqrt(q);
  }
  const S = new Float64Array(N * M);
  for (let n = 0; n < N; n++) {
    for (const m of rng.shuffle(Array.from({ length: M }, (_, i) => i)).slice(0, nnz)) S[n * M + m] = (rng.next() < 0.5 ? -1 : 1) * rng.uniform(0.5, 1.5);
  }
  // Round D to f32 first so GPU and CPU see the same dictionary; X from the rounded D.
  const D32 = Float32Array.from(D);
  const X32 = Float32Array.from(matmulCpu(S, D32, { M: N, N: C, K: M }));
  let coherence = 0;
  for (let i = 0; i < M; i++) {
    for (let j = i + 1; j < M; j++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += D[i * C + c]! * D[j * C + c]!;
      coherence = Math.max(coherence, Math.abs(s));
    }
  }
  return { D32, X32, S, coherence };
}

async function solve(rt: GpuRuntime, D: Float32Array, X: Float32Array, a: { N: number; M: number; C: number; lambda: number; iterations: number; method?: IstaMethod; gram?: boolean; objective?: boolean }) {
  const dict = rt.tensor([a.M, a.C], 'D', D);
  const x = rt.tensor([a.N, a.C], 'X', X);
  const codes = rt.tensor([a.N, a.M], 'S');
  const objective = a.objective ? rt.tensor([a.iterations], 'objective') : undefined;
  const list = new CommandList('ista');
  const rec = recordIsta(rt, list, {
    dictionary: dict,
    x,
    codes,
    atoms: a.M,
    dim: a.C,
    signals: a.N,
    lambda: a.lambda,
    iterations: a.iterations,
    ...(a.method ? { method: a.method } : {}),
    ...(a.gram !== undefined ? { gram: a.gram } : {}),
    ...(objective ? { objective } : {}),
  });
  const before = rt.counters;
  rt.submit([list]);
  const during = diffCounters(rt.counters, before);
  return { dict, x, codes, objective, rec, list, during };
}

describe('ISTA / FISTA sparse coding', () => {
  it('ista.wgsl compiles', async () => {
    const rt = await testRuntime();
    expect(await rt.shaderErrors(shader('ista'))).toEqual([]);
  });

  it('power iteration: L = ‖D‖₂² (GPU vs float64 power iteration vs the exact top eigenvalue)', async () => {
    const rt = await testRuntime();
    const n = 5;
    // A symmetric PSD matrix with known spectrum: Q·diag(9, 4, 2, 1, 0.5)·Qᵀ (Q from Gram–Schmidt).
    const eig = [9, 4, 2, 1, 0.5];
    const raw = randomArray(n * n, 3);
    const Q: number[][] = [];
    for (let i = 0; i < n; i++) {
      const v = Array.from({ length: n }, (_, j) => raw[i * n + j]!);
      for (const q of Q) {
        const d = v.reduce((s, x, j) => s + x * q[j]!, 0);
        for (let j = 0; j < n; j++) v[j] = v[j]! - d * q[j]!;
      }
      const nv = Math.hypot(...v);
      Q.push(v.map((x) => x / nv));
    }
    const G = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let e = 0; e < n; e++) G[i * n + j] += Q[e]![i]! * eig[e]! * Q[e]![j]!;
    const gram = rt.tensor([n, n], 'G', Float32Array.from(G));
    const out = rt.tensor([1], 'L');
    const list = new CommandList('power');
    recordPowerIteration(rt, list, { gram, n, out, iterations: 40 });
    expect(list.dispatchCount).toBe(80);
    rt.submit([list]);
    const gpu = (await rt.read(out))[0]!;
    const cpu = powerIterationCpu(G, n, 40);
    expect(Math.abs(cpu - 9) / 9).toBeLessThan(1e-6);
    expect(Math.abs(gpu - cpu) / cpu).toBeLessThan(1e-5);
    // A replay restarts from the same vector: same L.
    rt.submit([list]);
    expect((await rt.read(out))[0]).toBe(gpu);
  });

  const cases: { name: string; N: number; M: number; C: number; method: IstaMethod; gram?: boolean; lambda: number }[] = [
    { name: 'FISTA, Gram form (M ≤ 2C), M ≤ C', N: 7, M: 12, C: 20, method: 'fista', lambda: 0.05 },
    { name: 'FISTA, two-matmul form (M > 2C), power iteration on DᵀD', N: 9, M: 70, C: 13, method: 'fista', lambda: 0.02 },
    { name: 'ISTA, two-matmul form forced, one signal', N: 1, M: 33, C: 17, method: 'ista', gram: false, lambda: 0.1 },
    { name: 'FISTA, λ = 0 (least squares)', N: 5, M: 10, C: 16, method: 'fista', lambda: 0 },
  ];
  for (const c of cases) {
    it(`GPU vs float64 on the same iterations: ${c.name}`, async () => {
      const rt = await testRuntime();
      const iterations = 30;
      const D = randomArray(c.M * c.C, c.M + 7 * c.C, -1, 1);
      const X = randomArray(c.N * c.C, c.N + 3, -1, 1);
      const g = await solve(rt, D, X, { ...c, iterations, objective: true });
      expect(g.during.submits).toBe(1);
      expect(g.during.readbacks).toBe(0);
      const L = (await rt.read(g.rec.lipschitz))[0]!;
      const ref = istaCpu(D, X, { atoms: c.M, dim: c.C, signals: c.N, lambda: c.lambda, iterations, method: c.method });
      expect(Math.abs(L - ref.lipschitz) / ref.lipschitz).toBeLessThan(1e-4);
      // The iterates, from the GPU's own L (rounding of L alone would otherwise dominate).
      const same = istaCpu(D, X, { atoms: c.M, dim: c.C, signals: c.N, lambda: c.lambda, iterations, method: c.method, lipschitz: L });
      const codes = await rt.read(g.codes);
      expect(maxRelError(codes, same.codes)).toBeLessThan(2e-3);
      const obj = await rt.read(g.objective!);
      expect(maxRelError(obj, same.objective)).toBeLessThan(1e-3);
      expect(obj[iterations - 1]).toBeCloseTo(istaObjectiveCpu(D, X, codes, { atoms: c.M, dim: c.C, signals: c.N, lambda: c.lambda }), 3);
      // Progress: the objective fell from its value at S = 0.
      const at0 = istaObjectiveCpu(D, X, new Float64Array(c.N * c.M), { atoms: c.M, dim: c.C, signals: c.N, lambda: c.lambda });
      expect(obj[iterations - 1]!).toBeLessThan(0.9 * at0);
      if (c.method === 'ista') for (let k = 1; k < iterations; k++) expect(obj[k]!).toBeLessThanOrEqual(obj[k - 1]! * (1 + 1e-5)); // ISTA is monotone
    });
  }

  it('recovers the support of a known 3-sparse code (precision = recall = 1)', async () => {
    const rt = await testRuntime();
    const N = 24;
    const M = 96;
    const C = 48;
    const lambda = 0.05;
    let instances = 0;
    for (const seed of [1, 3, 4, 6]) {
      const p = sparseProblem(seed, N, M, C, 3);
      expect(p.coherence).toBeLessThan(0.65); // incoherent, unit-norm atoms
      // Non-degenerate: the float64 lasso solution (many iterations) has exactly the true support,
      // with a dual margin off the support (|Dᵀ·r| ≤ 0.95λ) — then the GPU must find it.
      const ref = istaCpu(p.D32, p.X32, { atoms: M, dim: C, signals: N, lambda, iterations: 400 });
      const r = matmulCpu(ref.codes, p.D32, { M: N, N: C, K: M }).map((v, i) => p.X32[i]! - v);
      const corr = matmulCpu(r, p.D32, { M: N, N: M, K: C, transB: true });
      let margin = 0;
      for (let i = 0; i < N * M; i++) if (p.S[i] === 0) margin = Math.max(margin, Math.abs(corr[i]!) / lambda);
      const refSupportExact = ref.codes.every((v, i) => (v !== 0) === (p.S[i] !== 0));
      if (!refSupportExact || margin > 0.95) continue;
      instances++;
      const g = await solve(rt, p.D32, p.X32, { N, M, C, lambda, iterations: 200 });
      const codes = await rt.read(g.codes);
      let tp = 0;
      let fp = 0;
      let fn = 0;
      for (let i = 0; i < N * M; i++) {
        const truth = p.S[i] !== 0;
        const got = codes[i] !== 0;
        if (truth && got) tp++;
        else if (got) fp++;
        else if (truth) fn++;
        if (truth) {
          expect(Math.sign(codes[i]!)).toBe(Math.sign(p.S[i]!));
          expect(Math.abs(codes[i]! - p.S[i]!)).toBeLessThan(0.2); // shrinkage bias only
        }
      }
      expect(tp / (tp + fp), `precision, seed ${seed}`).toBe(1);
      expect(tp / (tp + fn), `recall, seed ${seed}`).toBe(1);
    }
    expect(instances).toBeGreaterThanOrEqual(3);
  });

  it('λ from a buffer: a larger λ re-run without re-recording gives a sparser code', async () => {
    const rt = await testRuntime();
    const p = sparseProblem(7, 8, 40, 24, 3);
    const lam = rt.tensor([1], 'lambda', [0.01]);
    const dict = rt.tensor([40, 24], 'D', p.D32);
    const x = rt.tensor([8, 24], 'X', p.X32);
    const codes = rt.tensor([8, 40], 'S');
    const list = new CommandList('ista');
    const rec = recordIsta(rt, list, { dictionary: dict, x, codes, atoms: 40, dim: 24, signals: 8, lambda: lam, iterations: 60 });
    rt.submit([list]);
    const a = await rt.read(codes);
    rt.write(lam, [0.8]);
    rt.submit([list]);
    const b = await rt.read(codes);
    const nnz = (v: Float32Array) => v.filter((s) => s !== 0).length;
    expect(nnz(b)).toBeLessThan(nnz(a));
    const ref = istaCpu(p.D32, p.X32, { atoms: 40, dim: 24, signals: 8, lambda: 0.8, iterations: 60, lipschitz: (await rt.read(rec.lipschitz))[0]! });
    expect(maxRelError(b, ref.codes)).toBeLessThan(2e-3);
  });

  it('sparseEncode: the awaited convenience matches recordIsta', async () => {
    const rt = await testRuntime();
    const D = randomArray(20 * 10, 5, -1, 1);
    const X = randomArray(3 * 10, 6, -1, 1);
    const dict = rt.tensor([20, 10], 'D', D);
    const x = rt.tensor([3, 10], 'X', X);
    const r = await sparseEncode(rt, { dictionary: dict, x, atoms: 20, dim: 10, signals: 3, lambda: 0.05, iterations: 25, withObjective: true });
    const ref = istaCpu(D, X, { atoms: 20, dim: 10, signals: 3, lambda: 0.05, iterations: 25, lipschitz: r.lipschitz });
    expect(maxRelError(r.codes, ref.codes)).toBeLessThan(2e-3);
    expect(r.objective!.length).toBe(25);
  });

  it('rejects bad arguments', async () => {
    const rt = await testRuntime();
    const d = rt.tensor([4, 3], 'D');
    const x = rt.tensor([2, 3], 'X');
    const s = rt.tensor([2, 4], 'S');
    const list = new CommandList('bad');
    const base = { dictionary: d, x, codes: s, atoms: 4, dim: 3, signals: 2, lambda: 0.1, iterations: 3 };
    expect(() => recordIsta(rt, list, { ...base, lambda: -1 })).toThrow(/lambda/);
    expect(() => recordIsta(rt, list, { ...base, iterations: 0 })).toThrow(/iterations/);
    expect(() => recordIsta(rt, list, { ...base, atoms: 5 })).toThrow(/dictionary/);
    expect(() => recordIsta(rt, list, { ...base, codes: x })).toThrow(/codes/);
    expect(list.dispatchCount).toBe(0);
  });
});
