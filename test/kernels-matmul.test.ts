import { describe, expect, it } from 'vitest';
import { CommandList, type GpuRuntime } from '../src/engine/runtime';
import { matmulCpu, matmulFlops, recordMatmul, type MatmulArgs } from '../src/kernels/matmul';
import { maxRelError, randomArray, testRuntime } from './helpers/gpu';

interface Case {
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  batch?: number;
  strideA?: number;
  strideB?: number;
  strideC?: number;
  alpha?: number;
  bias?: boolean;
  gelu?: boolean;
  accumulate?: boolean;
  residual?: boolean;
}

function span(batch: number, stride: number | undefined, perMatrix: number): number {
  return (batch - 1) * (stride ?? perMatrix) + perMatrix;
}

function describeCase(c: Case): string {
  const flags = [
    c.transA && 'transA',
    c.transB && 'transB',
    c.batch && `batch ${c.batch}`,
    c.strideA !== undefined && `strideA ${c.strideA}`,
    c.strideB !== undefined && `strideB ${c.strideB}`,
    c.strideC !== undefined && `strideC ${c.strideC}`,
    c.alpha !== undefined && `alpha ${c.alpha}`,
    c.bias && 'bias',
    c.gelu && 'gelu',
    c.accumulate && 'accumulate',
    c.residual && 'residual',
  ].filter(Boolean);
  return `${c.M}×${c.N}×${c.K}${flags.length ? ` (${flags.join(', ')})` : ''}`;
}

/** Fails the test on any WebGPU validation error raised while `fn` records and submits. */
async function withValidation(rt: GpuRuntime, fn: () => void): Promise<void> {
  rt.device.pushErrorScope('validation');
  fn();
  const err = await rt.device.popErrorScope();
  expect(err?.message ?? null).toBeNull();
}

/** Runs one case on the GPU and compares C's whole buffer (gaps between batches included). */
async function check(variant: 'regblock' | 'tiled', c: Case, seed: number): Promise<{ label: string }> {
  const rt = await testRuntime();
  const batch = c.batch ?? 1;
  const aLen = span(batch, c.strideA, c.M * c.K);
  const bLen = span(batch, c.strideB, c.K * c.N);
  const cLen = span(batch, c.strideC, c.M * c.N);
  const av = randomArray(aLen, seed);
  const bv = randomArray(bLen, seed + 1);
  // C starts dirty: a plain write must overwrite it, and elements between batches must survive.
  const cOld = randomArray(cLen, seed + 2);
  const biasV = c.bias ? randomArray(c.N, seed + 3) : undefined;
  const resV = c.residual ? randomArray(cLen, seed + 4) : undefined;

  const a = rt.tensor([aLen], 'a', av);
  const b = rt.tensor([bLen], 'b', bv);
  const out = rt.tensor([cLen], 'c', cOld);
  const bias = biasV ? rt.tensor([c.N], 'bias', biasV) : undefined;
  const residual = resV ? rt.tensor([cLen], 'residual', resV) : undefined;
  const opts = {
    M: c.M,
    N: c.N,
    K: c.K,
    transA: c.transA,
    transB: c.transB,
    batch: c.batch,
    strideA: c.strideA,
    strideB: c.strideB,
    strideC: c.strideC,
    alpha: c.alpha,
    activation: c.gelu ? ('gelu' as const) : ('none' as const),
    accumulate: c.accumulate,
  };
  const list = new CommandList('matmul test');
  await withValidation(rt, () => {
    recordMatmul(rt, list, { ...opts, a, b, c: out, bias, residual, variant } satisfies MatmulArgs);
    rt.submit([list]);
  });
  const got = await rt.read(out);
  const want = matmulCpu(av, bv, { ...opts, bias: biasV, residual: resV, cOld });
  expect(maxRelError(got, want)).toBeLessThanOrEqual(1e-4);
  for (const t of [a, b, out, bias, residual]) if (t) rt.release(t);
  return { label: list.ops[0]!.label };
}

const shapes: Case[] = [
  { M: 1, N: 1, K: 1 },
  { M: 1, N: 37, K: 19 },
  { M: 29, N: 1, K: 23 },
  { M: 33, N: 17, K: 65 },
  { M: 31, N: 64, K: 127 },
  { M: 5, N: 3, K: 2 },
  // Several workgroups in both directions, partial at the edges (regblock tiles are 64 × 32).
  { M: 97, N: 45, K: 21 },
];

const transposes: Case[] = [
  { M: 33, N: 17, K: 65, transA: true },
  { M: 33, N: 17, K: 65, transB: true },
  { M: 33, N: 17, K: 65, transA: true, transB: true },
  { M: 1, N: 7, K: 3, transA: true, transB: true },
];

const batched: Case[] = [
  { M: 9, N: 13, K: 11, batch: 3 },
  // A broadcast to every batch, C with a 5-element gap between batches.
  { M: 9, N: 13, K: 11, batch: 3, strideA: 0, strideC: 9 * 13 + 5 },
  // B broadcast and transposed, A padded.
  { M: 9, N: 13, K: 11, batch: 3, strideA: 9 * 11 + 3, strideB: 0, transB: true },
];

const epilogues: Case[] = [
  { M: 33, N: 17, K: 65, alpha: 0.37 },
  { M: 33, N: 17, K: 65, bias: true },
  { M: 33, N: 17, K: 65, alpha: 2.5, bias: true, gelu: true },
  { M: 33, N: 17, K: 65, accumulate: true },
  { M: 33, N: 17, K: 65, residual: true },
  {
    M: 19, N: 35, K: 9, transA: true, transB: true, batch: 3, strideA: 0, strideC: 19 * 35 + 2,
    alpha: -0.5, bias: true, gelu: true, accumulate: true, residual: true,
  },
];

// Shapes that take the tiled kernel's vec4 entry point (K, N and strides multiples of 4).
const vec4Cases: Case[] = [
  { M: 33, N: 36, K: 68 },
  { M: 1, N: 4, K: 4 },
  { M: 40, N: 64, K: 32, batch: 3, strideA: 0, strideB: 64 * 32 + 4, strideC: 40 * 64 + 8, alpha: 0.5, bias: true, gelu: true },
  { M: 31, N: 12, K: 100, accumulate: true, residual: true },
];

for (const variant of ['regblock', 'tiled'] as const) {
  describe(`matmul ${variant} vs float64 CPU`, () => {
    let seed = variant === 'regblock' ? 100 : 500;
    for (const c of [...shapes, ...transposes, ...batched, ...epilogues]) {
      const s = (seed += 10);
      it(describeCase(c), async () => {
        const { label } = await check(variant, c, s);
        expect(label).toMatch(variant === 'regblock' ? /^matmul_regblock\(/ : /^matmul_tiled\(/);
      });
    }
  });
}

describe('matmul tiled vec4 path', () => {
  let seed = 900;
  for (const c of vec4Cases) {
    const s = (seed += 10);
    it(describeCase(c), async () => {
      const { label } = await check('tiled', c, s);
      expect(label).toMatch(/^matmul_tiled_vec4\(/);
    });
    it(`${describeCase(c)} on regblock`, async () => {
      await check('regblock', c, s);
    });
  }
  it('falls back to the scalar entry point when a stride is not a multiple of 4', async () => {
    const { label } = await check('tiled', { M: 8, N: 8, K: 8, batch: 2, strideA: 66 }, 990);
    expect(label).toMatch(/^matmul_tiled\(/);
  });
});

describe('matmul argument checks', () => {
  it('auto picks regblock on SwiftShader and tiled elsewhere', async () => {
    const rt = await testRuntime();
    const a = rt.tensor([4], 'a');
    const b = rt.tensor([4], 'b');
    const c = rt.tensor([4], 'c');
    const list = new CommandList('auto');
    recordMatmul(rt, list, { a, b, c, M: 2, N: 2, K: 2 });
    expect(list.ops[0]!.label).toMatch(rt.isSwiftShader ? /^matmul_regblock\(/ : /^matmul_tiled/);
    for (const t of [a, b, c]) rt.release(t);
  });

  it('rejects undersized tensors, wrong bias, overlapping batches and aliasing, naming the tensors', async () => {
    const rt = await testRuntime();
    const a = rt.tensor([6], 'acts');
    const b = rt.tensor([12], 'weights');
    const c = rt.tensor([8], 'out');
    const bias3 = rt.tensor([3], 'b3');
    const list = new CommandList('bad');
    const base = { a, b, c, M: 2, N: 4, K: 3 };
    expect(() => recordMatmul(rt, list, base)).not.toThrow();
    expect(() => recordMatmul(rt, list, { ...base, K: 4 })).toThrow(/A 'acts' has 6 elements, needs 8/);
    expect(() => recordMatmul(rt, list, { ...base, N: 5 })).toThrow(/B 'weights' has 12 elements, needs 15/);
    expect(() => recordMatmul(rt, list, { ...base, batch: 2, strideA: 0, strideB: 0 })).toThrow(/C 'out' has 8 elements, needs 16/);
    expect(() => recordMatmul(rt, list, { ...base, bias: bias3 })).toThrow(/bias 'b3' has 3 elements, expected N = 4/);
    expect(() => recordMatmul(rt, list, { ...base, batch: 2, strideA: 0, strideB: 0, strideC: 4 })).toThrow(/strideC 4 < M·N = 8/);
    expect(() => recordMatmul(rt, list, { ...base, c: a.view([6]), M: 2, N: 3, K: 1 })).toThrow(/A 'acts' shares a GPU buffer with C/);
    expect(() => recordMatmul(rt, list, { ...base, residual: c })).toThrow(/residual 'out' shares a GPU buffer with C 'out'.*accumulate/);
    expect(() => recordMatmul(rt, list, { ...base, M: 0 })).toThrow(/M must be an integer ≥ 1, got 0/);
    expect(() => recordMatmul(rt, list, { ...base, strideA: -1 })).toThrow(/strideA must be an integer ≥ 0/);
    expect(list.ops.length).toBe(1);
    for (const t of [a, b, c, bias3]) rt.release(t);
  });

  it('matmulFlops counts 2·M·N·K per batch', () => {
    expect(matmulFlops(2, 3, 4)).toBe(48);
    expect(matmulFlops(2, 3, 4, 5)).toBe(240);
  });

  it('the CPU reference matches a hand-computed product', () => {
    // [[1,2],[3,4]] · [[5,6],[7,8]] = [[19,22],[43,50]]
    expect(Array.from(matmulCpu([1, 2, 3, 4], [5, 6, 7, 8], { M: 2, N: 2, K: 2 }))).toEqual([19, 22, 43, 50]);
    // A stored transposed: [[1,3],[2,4]] holds the same A.
    expect(Array.from(matmulCpu([1, 3, 2, 4], [5, 6, 7, 8], { M: 2, N: 2, K: 2, transA: true }))).toEqual([19, 22, 43, 50]);
    // B stored transposed, alpha, bias, accumulate.
    const r = matmulCpu([1, 2, 3, 4], [5, 7, 6, 8], { M: 2, N: 2, K: 2, transB: true, alpha: 2, bias: [1, -1], accumulate: true, cOld: [1, 1, 1, 1] });
    expect(Array.from(r)).toEqual([40, 44, 88, 100]);
  });
});
