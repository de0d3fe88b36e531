import { describe, expect, it } from 'vitest';
import { CommandList } from '../src/engine/runtime';
import {
  LAYERNORM_PARAM_CHUNK_ROWS,
  layerNormBackwardCpu,
  layerNormForwardCpu,
  recordLayerNormBackward,
  recordLayerNormForward,
  type LayerNormLayout,
} from '../src/kernels/layernorm';
import { shader } from '../src/kernels/shader-sources';
import { checkGradient, randn64 } from './helpers/finite-diff';
import { maxRelError, randomArray, testRuntime } from './helpers/gpu';

const TOL = 1e-4;

interface Case {
  rows: number;
  dim: number;
  /** added to x: exercises the two-pass variance */
  offset?: number;
}

// rows > 32 take the two-stage dgamma/dbeta path, rows ≤ 32 the single-stage one.
const CASES: Case[] = [
  { rows: 1, dim: 3 },
  { rows: 1, dim: 1 },
  { rows: 5, dim: 65 },
  { rows: 33, dim: 3 },
  { rows: 70, dim: 130, offset: 10 },
  { rows: 97, dim: 64 },
];

async function runCase(layout: LayerNormLayout, c: Case, opts: { accumulateDx?: boolean; accumulateParams?: boolean; params?: 'both' | 'gamma' | 'beta' | 'none' } = {}) {
  const rt = await testRuntime();
  rt.device.pushErrorScope('validation'); // a rejected dispatch must fail the test, not just log
  const { rows, dim } = c;
  const seed = rows * 1000 + dim;
  const xs = randomArray(rows * dim, seed, -2 + (c.offset ?? 0), 2 + (c.offset ?? 0));
  const gs = randomArray(dim, seed + 1, 0.5, 1.5);
  const bs = randomArray(dim, seed + 2);
  const dys = randomArray(rows * dim, seed + 3);
  const dx0 = randomArray(rows * dim, seed + 4);
  const dg0 = randomArray(dim, seed + 5);
  const db0 = randomArray(dim, seed + 6);
  const which = opts.params ?? 'both';

  const x = rt.tensor([rows, dim], 'x', xs);
  const gamma = rt.tensor([dim], 'gamma', gs);
  const beta = rt.tensor([dim], 'beta', bs);
  const y = rt.tensor([rows, dim], 'y');
  const mean = rt.tensor([rows], 'mean');
  const rstd = rt.tensor([rows], 'rstd');
  const dy = rt.tensor([rows, dim], 'dy', dys);
  const dx = rt.tensor([rows, dim], 'dx', dx0);
  const dgamma = rt.tensor([dim], 'dgamma', dg0);
  const dbeta = rt.tensor([dim], 'dbeta', db0);

  const list = new CommandList('t');
  recordLayerNormForward(rt, list, { x, gamma, beta, y, mean, rstd, rows, dim, layout });
  const scratch = recordLayerNormBackward(rt, list, {
    x,
    gamma,
    mean,
    rstd,
    dy,
    dx,
    dgamma: which === 'both' || which === 'gamma' ? dgamma : undefined,
    dbeta: which === 'both' || which === 'beta' ? dbeta : undefined,
    rows,
    dim,
    accumulateDx: opts.accumulateDx,
    accumulateParams: opts.accumulateParams,
    layout,
  });
  rt.submit([list]);

  const ref = layerNormForwardCpu({ x: xs, gamma: gs, beta: bs, rows, dim });
  const gref = layerNormBackwardCpu({ x: xs, gamma: gs, dy: dys, rows, dim });
  const plus = (base: Float32Array, d: Float64Array, on: boolean | undefined) => (on ? d.map((v, i) => v + base[i]!) : d);
  const out = {
    y: maxRelError(await rt.read(y), ref.y),
    mean: maxRelError(await rt.read(mean), ref.mean),
    rstd: maxRelError(await rt.read(rstd), ref.rstd),
    dx: maxRelError(await rt.read(dx), plus(dx0, gref.dx, opts.accumulateDx)),
    dgamma: maxRelError(await rt.read(dgamma), which === 'both' || which === 'gamma' ? plus(dg0, gref.dgamma, opts.accumulateParams) : dg0),
    dbeta: maxRelError(await rt.read(dbeta), which === 'both' || which === 'beta' ? plus(db0, gref.dbeta, opts.accumulateParams) : db0),
  };
  for (const t of [x, gamma, beta, y, mean, rstd, dy, dx, dgamma, dbeta, ...scratch]) rt.release(t);
  const err = await rt.device.popErrorScope();
  expect(err?.message ?? null, 'WebGPU validation error').toBeNull();
  return out;
}

function expectAllBelow(errs: Record<string, number>, tol: number): void {
  for (const [k, v] of Object.entries(errs)) expect(v, k).toBeLessThan(tol);
}

describe('layernorm kernels vs float64 CPU reference', () => {
  it('shader compiles', async () => {
    const rt = await testRuntime();
    expect(await rt.shaderErrors(shader('layernorm'))).toEqual([]);
  });

  for (const layout of ['row', 'workgroup'] as const) {
    for (const c of CASES) {
      it(`${layout}: rows=${c.rows} dim=${c.dim}${c.offset ? ` offset=${c.offset}` : ''}`, async () => {
        expectAllBelow(await runCase(layout, c), TOL);
      });
    }
    it(`${layout}: accumulate dx and params (single- and two-stage)`, async () => {
      expectAllBelow(await runCase(layout, { rows: 9, dim: 65 }, { accumulateDx: true, accumulateParams: true }), TOL);
      expectAllBelow(await runCase(layout, { rows: 70, dim: 3 }, { accumulateDx: true, accumulateParams: true }), TOL);
    });
  }

  it('dgamma only, dbeta only, neither: the omitted outputs stay untouched', async () => {
    for (const params of ['gamma', 'beta', 'none'] as const) {
      for (const rows of [4, LAYERNORM_PARAM_CHUNK_ROWS + 7]) {
        expectAllBelow(await runCase('row', { rows, dim: 5 }, { params, accumulateParams: params === 'beta' }), TOL);
      }
    }
  });

  it('is deterministic (bitwise identical on repeat)', async () => {
    const rt = await testRuntime();
    const rows = 200;
    const dim = 48;
    const x = rt.tensor([rows, dim], 'x', randomArray(rows * dim, 1));
    const gamma = rt.tensor([dim], 'g', randomArray(dim, 2));
    const mean = rt.tensor([rows], 'm');
    const rstd = rt.tensor([rows], 'r');
    const y = rt.tensor([rows, dim], 'y');
    const beta = rt.tensor([dim], 'b');
    const dy = rt.tensor([rows, dim], 'dy', randomArray(rows * dim, 3));
    const dx = rt.tensor([rows, dim], 'dx');
    const dgamma = rt.tensor([dim], 'dg');
    const dbeta = rt.tensor([dim], 'db');
    const list = new CommandList('t');
    recordLayerNormForward(rt, list, { x, gamma, beta, y, mean, rstd, rows, dim, layout: 'workgroup' });
    recordLayerNormBackward(rt, list, { x, gamma, mean, rstd, dy, dx, dgamma, dbeta, rows, dim, layout: 'workgroup' });
    const reads = async () => [...(await rt.read(dx)), ...(await rt.read(dgamma)), ...(await rt.read(dbeta))];
    rt.submit([list]);
    const first = await reads();
    rt.submit([list]);
    expect(await reads()).toEqual(first);
  });

  it('rejects mismatched sizes', async () => {
    const rt = await testRuntime();
    const t = (n: number) => rt.tensor([n], 't');
    expect(() => recordLayerNormForward(rt, new CommandList('t'), { x: t(12), gamma: t(4), beta: t(3), y: t(12), mean: t(3), rstd: t(3), rows: 3, dim: 4 })).toThrow(/beta/);
  });
});

describe('layernorm CPU backward vs float64 finite differences', () => {
  for (const [rows, dim] of [
    [1, 1],
    [1, 3],
    [3, 5],
    [2, 17],
  ] as const) {
    it(`rows=${rows} dim=${dim}`, () => {
      const seed = rows * 31 + dim;
      const x = randn64(rows * dim, seed);
      const gamma = randn64(dim, seed + 1, 1);
      const beta = randn64(dim, seed + 2);
      const w = randn64(rows * dim, seed + 3); // loss = Σ w·y, so dy = w
      const loss = (xx: Float64Array, gg: Float64Array, bb: Float64Array) => {
        const { y } = layerNormForwardCpu({ x: xx, gamma: gg, beta: bb, rows, dim });
        let s = 0;
        for (let i = 0; i < y.length; i++) s += w[i]! * y[i]!;
        return s;
      };
      const g = layerNormBackwardCpu({ x, gamma, dy: w, rows, dim });
      expect(checkGradient((v) => loss(v, gamma, beta), x.slice(), g.dx)).toBeLessThan(1e-6);
      expect(checkGradient((v) => loss(x, v, beta), gamma.slice(), g.dgamma)).toBeLessThan(1e-6);
      expect(checkGradient((v) => loss(x, gamma, v), beta.slice(), g.dbeta)).toBeLessThan(1e-6);
      // Guard against a vacuous pass: the gradients are not all ~0.
      expect(Math.max(...g.dgamma.map(Math.abs), ...g.dbeta.map(Math.abs))).toBeGreaterThan(0.1);
    });
  }
});
