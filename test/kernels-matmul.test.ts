import { describe, expect, it } from 'vitest';
import { CommandList, type GpuRuntime } from '../src/engine/runtime';
import { readFileSync } from 'node:fs';
import { matmulCpu, matmulFlops, recordMatmul, regblockBlock, type MatmulArgs, type RegblockBlock } from '../src/kernels/matmul';
import { generate, OUT } from '../scripts/gen-matmul-regblock';
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
  lda?: number;
  ldb?: number;
  ldc?: number;
  heads?: number;
  headStrideA?: number;
  headStrideB?: number;
  headStrideC?: number;
}

/** Elements one operand spans (same rule as the kernel: outer batches, heads, leading dimension). */
function spanOf(c: Case, which: 'a' | 'b' | 'c'): number {
  const batch = c.batch ?? 1;
  const heads = c.heads ?? 1;
  const [rows, cols, ld, stride, hs] =
    which === 'a' ? [c.transA ? c.K : c.M, c.transA ? c.M : c.K, c.lda, c.strideA, c.headStrideA]
    : which === 'b' ? [c.transB ? c.N : c.K, c.transB ? c.K : c.N, c.ldb, c.strideB, c.headStrideB]
    : [c.M, c.N, c.ldc, c.strideC, c.headStrideC];
  const l = ld ?? cols;
  return (batch / heads - 1) * (stride ?? rows * l) + (heads - 1) * (hs ?? 0) + (rows - 1) * l + cols;
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
    (c.lda || c.ldb || c.ldc) && `ld ${c.lda ?? '-'}/${c.ldb ?? '-'}/${c.ldc ?? '-'}`,
    c.heads && `heads ${c.heads} (${c.headStrideA ?? 0}/${c.headStrideB ?? 0}/${c.headStrideC ?? 0})`,
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
async function check(variant: 'regblock' | 'tiled', c: Case, seed: number, block?: RegblockBlock): Promise<{ label: string }> {
  const rt = await testRuntime();
  const aLen = spanOf(c, 'a');
  const bLen = spanOf(c, 'b');
  const cLen = spanOf(c, 'c');
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
    lda: c.lda,
    ldb: c.ldb,
    ldc: c.ldc,
    heads: c.heads,
    headStrideA: c.headStrideA,
    headStrideB: c.headStrideB,
    headStrideC: c.headStrideC,
  };
  const list = new CommandList('matmul test');
  await withValidation(rt, () => {
    recordMatmul(rt, list, { ...opts, a, b, c: out, bias, residual, variant, ...(block ? { block } : {}) } satisfies MatmulArgs);
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
  // Several workgroups in both directions, partial at the edges (regblock tiles are 64 × 32 and 64 × 64).
  { M: 97, N: 45, K: 21 },
  { M: 130, N: 150, K: 9 },
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

// Leading dimensions and two-level (batch × heads) batches: the layouts of batched multi-head
// attention over [B, T, H·D] tensors (B = 2, T = 7, H = 3, D = 5: nothing a multiple of 4).
const strided: Case[] = [
  // Rows padded: A, B, C with row strides beyond their widths, batches at the default strides.
  { M: 9, N: 6, K: 5, lda: 8, ldb: 7, ldc: 10, batch: 2 },
  // S = Q·Kᵀ per (b, h) into probs [B, H, T, T].
  { M: 7, N: 7, K: 5, transB: true, batch: 6, heads: 3, lda: 15, ldb: 15, strideA: 105, strideB: 105, headStrideA: 5, headStrideB: 5, ldc: 7, strideC: 147, headStrideC: 49, alpha: 0.45 },
  // O = P·V back into [B, T, H·D], heads side by side in a row; accumulate + residual.
  { M: 7, N: 5, K: 7, batch: 6, heads: 3, lda: 7, strideA: 147, headStrideA: 49, ldb: 15, strideB: 105, headStrideB: 5, ldc: 15, strideC: 105, headStrideC: 5, accumulate: true, residual: true },
  // dK = dSᵀ·Q (A transposed).
  { M: 7, N: 5, K: 7, transA: true, batch: 6, heads: 3, lda: 7, strideA: 147, headStrideA: 49, ldb: 15, strideB: 105, headStrideB: 5, ldc: 15, strideC: 105, headStrideC: 5 },
  // One sequence position (T = 1), 8 heads of 3.
  { M: 1, N: 1, K: 3, transB: true, batch: 16, heads: 8, lda: 24, ldb: 24, strideA: 24, strideB: 24, headStrideA: 3, headStrideB: 3, ldc: 1, strideC: 8, headStrideC: 1 },
];

// Shapes that take the tiled kernel's vec4 entry point (K, N and strides multiples of 4).
const vec4Cases: Case[] = [
  { M: 33, N: 36, K: 68 },
  { M: 1, N: 4, K: 4 },
  { M: 40, N: 64, K: 32, batch: 3, strideA: 0, strideB: 64 * 32 + 4, strideC: 40 * 64 + 8, alpha: 0.5, bias: true, gelu: true },
  { M: 31, N: 12, K: 100, accumulate: true, residual: true },
  // P·V with heads (T = 12, H = 2, D = 8): every stride and leading dimension a multiple of 4.
  { M: 12, N: 8, K: 12, batch: 4, heads: 2, lda: 12, strideA: 288, headStrideA: 144, ldb: 16, strideB: 192, headStrideB: 8, ldc: 16, strideC: 192, headStrideC: 8 },
];

const kernels = [
  { variant: 'regblock', block: 'narrow', label: /^matmul_regblock\(/, seed: 100 },
  { variant: 'regblock', block: 'wide', label: /^matmul_regblock_wide\(/, seed: 300 },
  { variant: 'tiled', block: undefined, label: /^matmul_tiled\(/, seed: 500 },
] as const;
for (const k of kernels) {
  describe(`matmul ${k.variant}${k.block ? ` ${k.block}` : ''} vs float64 CPU`, () => {
    let seed: number = k.seed;
    for (const c of [...shapes, ...transposes, ...batched, ...epilogues, ...strided]) {
      const s = (seed += 10);
      it(describeCase(c), async () => {
        const { label } = await check(k.variant, c, s, k.block);
        expect(label).toMatch(k.label);
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
    for (const block of ['narrow', 'wide'] as const) {
      it(`${describeCase(c)} on regblock ${block}`, async () => {
        await check('regblock', c, s, block);
      });
    }
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

  it('regblock takes the 16 × 16 block where 64-column tiles pad N no more than 32-column ones', async () => {
    expect([1, 32, 33, 64, 65, 96, 97, 128, 129, 160, 192].map((n) => regblockBlock(n))).toEqual(
      ['narrow', 'narrow', 'wide', 'wide', 'narrow', 'narrow', 'wide', 'wide', 'narrow', 'narrow', 'wide'],
    );
    const rt = await testRuntime();
    const a = rt.tensor([64 * 4], 'a');
    const b = rt.tensor([4 * 128], 'b');
    const c = rt.tensor([64 * 128], 'c');
    const list = new CommandList('blocks');
    for (const N of [128, 96]) recordMatmul(rt, list, { a, b, c, M: 64, N, K: 4, variant: 'regblock' });
    expect(list.ops.map((op) => op.label.split('(')[0])).toEqual(['matmul_regblock_wide', 'matmul_regblock']);
    expect(() => recordMatmul(rt, list, { a, b, c, M: 2, N: 2, K: 2, variant: 'regblock', block: 'huge' as never })).toThrow(/unknown regblock block 'huge'/);
    for (const t of [a, b, c]) rt.release(t);
  });

  it('shaders/matmul_regblock.wgsl is scripts/gen-matmul-regblock.ts\'s output', () => {
    expect(readFileSync(OUT, 'utf8')).toBe(generate());
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
    expect(() => recordMatmul(rt, list, { ...base, batch: 2, strideA: 0, strideB: 0, strideC: 4 })).toThrow(/strideC 4 < 8: batches would write overlapping parts of C/);
    expect(() => recordMatmul(rt, list, { ...base, lda: 2 })).toThrow(/lda must be an integer ≥ 3, got 2/);
    expect(() => recordMatmul(rt, list, { ...base, M: 1, batch: 3, heads: 2, headStrideC: 4 })).toThrow(/batch 3 is not a multiple of heads 2/);
    expect(() => recordMatmul(rt, list, { ...base, M: 1, N: 2, batch: 2, heads: 2 })).toThrow(/heads = 2 needs headStrideC/);
    // Two heads of width 2 at head stride 1 in a row of 4: they overlap.
    expect(() => recordMatmul(rt, list, { ...base, M: 1, N: 2, batch: 2, heads: 2, headStrideA: 0, headStrideB: 0, headStrideC: 1, ldc: 4 })).toThrow(/headStrideC 1 with ldc 4: the 2 heads' 1×2 outputs would overlap/);
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
