/**
 * Batched matmul with a fused epilogue, C = act(alpha · op(A) · op(B) + bias) [+ C_old] [+ R],
 * as one dispatch. Two kernels behind one interface:
 *  - 'regblock' (shaders/matmul_regblock.wgsl): no workgroup memory, 16 × 8 outputs per
 *    invocation. The fast path on SwiftShader, where barriers are expensive.
 *  - 'tiled' (shaders/matmul_tiled.wgsl): TF.js-style shared-memory tiling for real GPUs, with a
 *    vec4 entry point when neither operand is transposed and K, N, strides are multiples of 4.
 * Transposes, batch strides and the epilogue live in the kernels' read/write helpers.
 */
import type { CommandList, GpuRuntime } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { defineParams } from '../engine/uniform-params';
import { shader } from './shader-sources';

export type MatmulVariant = 'auto' | 'regblock' | 'tiled';

export interface MatmulArgs {
  a: Tensor;
  b: Tensor;
  c: Tensor;
  M: number;
  N: number;
  K: number;
  /** A stored as [K, M] per batch instead of [M, K]. */
  transA?: boolean;
  /** B stored as [N, K] per batch instead of [K, N]. */
  transB?: boolean;
  /** Default 1; the dispatch's z extent. */
  batch?: number;
  /**
   * Elements between (outer) batches; 0 broadcasts the same matrix; defaults are dense (the
   * stored rows × the leading dimension: M·K, K·N, M·N for dense matrices).
   */
  strideA?: number;
  strideB?: number;
  strideC?: number;
  /**
   * Leading dimensions: elements between consecutive stored rows of A (as stored: [M, K], or
   * [K, M] with transA), B ([K, N] or [N, K]) and C / the residual ([M, N]). Defaults: dense
   * (K or M, N or K, N). With `heads` they express a head of a [batch, seq, H·D] tensor.
   */
  lda?: number;
  ldb?: number;
  ldc?: number;
  /**
   * Two-level batch: batch z = outer·heads + inner, matrix offset outer·stride + inner·headStride
   * (default 1: plain batches). E.g. multi-head attention's Q·Kᵀ over [B, T, H·D] tensors:
   * batch = B·H, heads = H, stride = T·H·D, headStride = D, ld = H·D.
   */
  heads?: number;
  headStrideA?: number;
  headStrideB?: number;
  headStrideC?: number;
  /** Scales the product (default 1). */
  alpha?: number;
  /** [N], added after alpha. */
  bias?: Tensor;
  /** Applied after the bias (tanh GELU, the formula of shaders/elementwise.wgsl). */
  activation?: 'none' | 'gelu';
  /** C = epilogue(product) + C_old (gradient accumulation). */
  accumulate?: boolean;
  /** C = epilogue(product) + R; R has C's layout (strideC) and must live in another buffer than C. */
  residual?: Tensor;
  /** 'auto' = regblock on SwiftShader, tiled elsewhere. */
  variant?: MatmulVariant;
  label?: string;
}

/** Rows × columns of C per workgroup, as in the shaders. */
const REGBLOCK_TILE = { rows: 64, cols: 32 };
const TILED_TILE = { rows: 32, cols: 32 };

/** Parameters the CPU reference shares with the GPU call. */
export type MatmulCpuArgs = Omit<MatmulArgs, 'a' | 'b' | 'c' | 'bias' | 'residual'> & {
  bias?: ArrayLike<number>;
  residual?: ArrayLike<number>;
  /** C's previous contents: required with `accumulate`; elements outside the product are kept. */
  cOld?: ArrayLike<number>;
};

interface Resolved {
  M: number;
  N: number;
  K: number;
  batch: number;
  strideA: number;
  strideB: number;
  strideC: number;
  lda: number;
  ldb: number;
  ldc: number;
  heads: number;
  hstrideA: number;
  hstrideB: number;
  hstrideC: number;
  transA: boolean;
  transB: boolean;
  alpha: number;
  gelu: boolean;
  accumulate: boolean;
}

function checkCount(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new Error(`matmul: ${name} must be an integer ≥ ${min}, got ${v}`);
}

/** Elements a batched strided matrix spans: the last batch's start plus one matrix of `rows` stored rows. */
function spanOf(r: Resolved, which: 'a' | 'b' | 'c'): number {
  const [rows, cols, ld, stride, hstride] =
    which === 'a' ? [r.transA ? r.K : r.M, r.transA ? r.M : r.K, r.lda, r.strideA, r.hstrideA]
    : which === 'b' ? [r.transB ? r.N : r.K, r.transB ? r.K : r.N, r.ldb, r.strideB, r.hstrideB]
    : [r.M, r.N, r.ldc, r.strideC, r.hstrideC];
  return (r.batch / r.heads - 1) * stride + (r.heads - 1) * hstride + (rows - 1) * ld + cols;
}

function resolve(tag: string, args: Omit<MatmulCpuArgs, 'bias' | 'residual' | 'cOld'>): Resolved {
  const { M, N, K } = args;
  checkCount(`${tag}: M`, M, 1);
  checkCount(`${tag}: N`, N, 1);
  checkCount(`${tag}: K`, K, 1);
  const batch = args.batch ?? 1;
  checkCount(`${tag}: batch`, batch, 1);
  const transA = args.transA ?? false;
  const transB = args.transB ?? false;
  const lda = args.lda ?? (transA ? M : K);
  const ldb = args.ldb ?? (transB ? K : N);
  const ldc = args.ldc ?? N;
  checkCount(`${tag}: lda`, lda, transA ? M : K);
  checkCount(`${tag}: ldb`, ldb, transB ? K : N);
  checkCount(`${tag}: ldc`, ldc, N);
  const heads = args.heads ?? 1;
  checkCount(`${tag}: heads`, heads, 1);
  if (batch % heads !== 0) throw new Error(`matmul ${tag}: batch ${batch} is not a multiple of heads ${heads}`);
  const strideA = args.strideA ?? (transA ? K : M) * lda;
  const strideB = args.strideB ?? (transB ? N : K) * ldb;
  const strideC = args.strideC ?? M * ldc;
  const hstrideA = args.headStrideA ?? 0;
  const hstrideB = args.headStrideB ?? 0;
  const hstrideC = args.headStrideC ?? 0;
  for (const [n, v] of [['strideA', strideA], ['strideB', strideB], ['strideC', strideC], ['headStrideA', hstrideA], ['headStrideB', hstrideB], ['headStrideC', hstrideC]] as const) checkCount(`${tag}: ${n}`, v, 0);
  if (heads > 1 && args.headStrideC === undefined) throw new Error(`matmul ${tag}: heads = ${heads} needs headStrideC (and usually headStrideA/B)`);
  const alpha = args.alpha ?? 1;
  if (!Number.isFinite(alpha)) throw new Error(`matmul ${tag}: alpha must be finite, got ${alpha}`);
  const activation = args.activation ?? 'none';
  if (activation !== 'none' && activation !== 'gelu') throw new Error(`matmul ${tag}: unknown activation '${String(activation)}'`);
  const r: Resolved = { M, N, K, batch, strideA, strideB, strideC, lda, ldb, ldc, heads, hstrideA, hstrideB, hstrideC, transA, transB, alpha, gelu: activation === 'gelu', accumulate: args.accumulate ?? false };
  // Batches writing overlapping parts of C would race. Matrices of one outer batch (heads) must
  // sit side by side within a row (hstrideC ≥ N and all of them within ldc) or one below the
  // other (hstrideC ≥ one matrix); outer batches must not overlap what the heads span.
  const oneC = (M - 1) * ldc + N;
  if (heads > 1 && !((hstrideC >= N && (heads - 1) * hstrideC + N <= ldc) || hstrideC >= oneC)) {
    throw new Error(`matmul ${tag}: headStrideC ${hstrideC} with ldc ${ldc}: the ${heads} heads' ${M}×${N} outputs would overlap`);
  }
  const outerC = (heads - 1) * hstrideC + oneC;
  if (batch / heads > 1 && strideC < (heads > 1 && hstrideC < oneC ? M * ldc : outerC)) {
    throw new Error(`matmul ${tag}: strideC ${strideC} < ${heads > 1 && hstrideC < oneC ? M * ldc : outerC}: batches would write overlapping parts of C`);
  }
  // Indices are u32 in the kernels.
  const largest = Math.max(spanOf(r, 'a'), spanOf(r, 'b'), spanOf(r, 'c'));
  if (largest > 2 ** 32 - 1) throw new Error(`matmul ${tag}: ${largest} elements exceed 32-bit indexing`);
  return r;
}

function checkTensorSize(tag: string, role: string, t: Tensor, need: number, what: string): void {
  if (t.size < need) throw new Error(`matmul ${tag}: ${role} '${t.name}' has ${t.size} elements, needs ${need} (${what})`);
}

/** A tiny buffer bound where bias/residual are off: the kernels' layouts always include them. */
function unused(rt: GpuRuntime): Tensor {
  return rt.sharedTensor('matmul.unused', [4]); // 16 B: the smallest vec4 binding
}

// Bits of Params.flags, as in both shaders.
const FLAG_TRANS_A = 1;
const FLAG_TRANS_B = 2;
const FLAG_BIAS = 4;
const FLAG_GELU = 8;
const FLAG_ACCUMULATE = 16;
const FLAG_RESIDUAL = 32;

/** Both matmul shaders share one Params struct. */
const PARAMS = defineParams(
  { shaders: ['matmul_tiled', 'matmul_regblock'], struct: 'Params' },
  {
    M: 'u32', N: 'u32', K: 'u32', flags: 'u32', stride_a: 'u32', stride_b: 'u32', stride_c: 'u32', alpha: 'f32',
    ld_a: 'u32', ld_b: 'u32', ld_c: 'u32', heads: 'u32', hstride_a: 'u32', hstride_b: 'u32', hstride_c: 'u32', _pad: 'u32',
  },
);

function paramsBuffer(r: Resolved, hasBias: boolean, hasResidual: boolean): ArrayBuffer {
  const flags =
    (r.transA ? FLAG_TRANS_A : 0) |
    (r.transB ? FLAG_TRANS_B : 0) |
    (hasBias ? FLAG_BIAS : 0) |
    (r.gelu ? FLAG_GELU : 0) |
    (r.accumulate ? FLAG_ACCUMULATE : 0) |
    (hasResidual ? FLAG_RESIDUAL : 0);
  return PARAMS.pack({
    M: r.M, N: r.N, K: r.K, flags, stride_a: r.strideA, stride_b: r.strideB, stride_c: r.strideC, alpha: r.alpha,
    ld_a: r.lda, ld_b: r.ldb, ld_c: r.ldc, heads: r.heads, hstride_a: r.hstrideA, hstride_b: r.hstrideB, hstride_c: r.hstrideC,
  });
}

/** Records one dispatch computing the batched product with its fused epilogue into `c`. */
export function recordMatmul(rt: GpuRuntime, list: CommandList, args: MatmulArgs): void {
  const { a, b, c, bias, residual } = args;
  const tag = args.label ?? `${a.name}·${b.name}→${c.name}`;
  const r = resolve(tag, args);
  const { M, N, K, batch } = r;

  const shapeA = r.transA ? `${K}×${M}` : `${M}×${K}`;
  const shapeB = r.transB ? `${N}×${K}` : `${K}×${N}`;
  const layout = (st: number, ld: number, hs: number) => `stride ${st}, ld ${ld}${r.heads > 1 ? `, heads ${r.heads} × ${hs}` : ''}`;
  checkTensorSize(tag, 'A', a, spanOf(r, 'a'), `batch ${batch} of ${shapeA}, ${layout(r.strideA, r.lda, r.hstrideA)}`);
  checkTensorSize(tag, 'B', b, spanOf(r, 'b'), `batch ${batch} of ${shapeB}, ${layout(r.strideB, r.ldb, r.hstrideB)}`);
  checkTensorSize(tag, 'C', c, spanOf(r, 'c'), `batch ${batch} of ${M}×${N}, ${layout(r.strideC, r.ldc, r.hstrideC)}`);
  if (bias && bias.size !== N) throw new Error(`matmul ${tag}: bias '${bias.name}' has ${bias.size} elements, expected N = ${N}`);
  if (residual) checkTensorSize(tag, 'residual', residual, spanOf(r, 'c'), `C's layout: batch ${batch} of ${M}×${N}, ${layout(r.strideC, r.ldc, r.hstrideC)}`);
  // WebGPU forbids one buffer being both written and read in a dispatch, even at disjoint ranges.
  const readers: [string, Tensor | undefined][] = [['A', a], ['B', b], ['bias', bias], ['residual', residual]];
  for (const [role, t] of readers) {
    if (t && t.buffer === c.buffer) {
      const hint = role === 'residual' ? ' (to add C to itself use accumulate)' : '';
      throw new Error(`matmul ${tag}: ${role} '${t.name}' shares a GPU buffer with C '${c.name}'; a dispatch cannot read and write one buffer${hint}`);
    }
  }

  const variant = args.variant ?? 'auto';
  if (variant !== 'auto' && variant !== 'regblock' && variant !== 'tiled') throw new Error(`matmul ${tag}: unknown variant '${String(variant)}'`);
  const useRegblock = variant === 'regblock' || (variant === 'auto' && rt.isSwiftShader);
  let pipeline: GPUComputePipeline;
  let name: string;
  const tile = useRegblock ? REGBLOCK_TILE : TILED_TILE;
  if (useRegblock) {
    name = 'matmul_regblock';
    // Epilogue options are compile-time here (see the shader): one pipeline per combination.
    pipeline = rt.pipeline(shader('matmul_regblock'), 'main', {
      HAS_BIAS: bias ? 1 : 0,
      GELU: r.gelu ? 1 : 0,
      ACCUMULATE: r.accumulate ? 1 : 0,
      HAS_RESIDUAL: residual ? 1 : 0,
    });
  } else {
    // vec4 indices must never straddle a row or batch boundary.
    const vec4 = !r.transA && !r.transB && K % 4 === 0 && N % 4 === 0 && [r.strideA, r.strideB, r.strideC, r.lda, r.ldb, r.ldc, r.hstrideA, r.hstrideB, r.hstrideC].every((v) => v % 4 === 0);
    name = vec4 ? 'matmul_tiled_vec4' : 'matmul_tiled';
    pipeline = rt.pipeline(shader('matmul_tiled'), vec4 ? 'main_vec4' : 'main');
  }
  const u = rt.uniform(paramsBuffer(r, !!bias, !!residual), `${name}.params`);
  const spare = unused(rt);
  list.push(
    rt.dispatch(`${name}(${tag})`, pipeline, [u, a, b, c, bias ?? spare, residual ?? spare], [Math.ceil(N / tile.cols), Math.ceil(M / tile.rows), batch]),
  );
}

/** Floating-point operations of the product (2·M·N·K per batch), for throughput figures. */
export function matmulFlops(M: number, N: number, K: number, batch = 1): number {
  return 2 * M * N * K * batch;
}

// ---------- CPU reference (float64) ----------

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/**
 * Float64 reference with the GPU semantics. Returns C's whole layout (span of all batches, or
 * cOld's length if longer); elements the product does not cover keep cOld's values (or 0).
 */
export function matmulCpu(a: ArrayLike<number>, b: ArrayLike<number>, args: MatmulCpuArgs): Float64Array {
  const r = resolve('cpu', args);
  const { M, N, K, batch } = r;
  const need = (what: string, arr: ArrayLike<number>, n: number): void => {
    if (arr.length < n) throw new Error(`matmulCpu: ${what} has ${arr.length} elements, needs ${n}`);
  };
  need('a', a, spanOf(r, 'a'));
  need('b', b, spanOf(r, 'b'));
  const cSpan = spanOf(r, 'c');
  if (args.bias && args.bias.length !== N) throw new Error(`matmulCpu: bias has ${args.bias.length} elements, expected ${N}`);
  if (args.residual) need('residual', args.residual, cSpan);
  if (r.accumulate && !args.cOld) throw new Error('matmulCpu: accumulate needs cOld');

  const out = new Float64Array(Math.max(cSpan, args.cOld?.length ?? 0));
  if (args.cOld) for (let i = 0; i < args.cOld.length; i++) out[i] = args.cOld[i]!;
  const base = (z: number, stride: number, hstride: number) => Math.floor(z / r.heads) * stride + (z % r.heads) * hstride;
  for (let z = 0; z < batch; z++) {
    const baseA = base(z, r.strideA, r.hstrideA);
    const baseB = base(z, r.strideB, r.hstrideB);
    const baseC = base(z, r.strideC, r.hstrideC);
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = a[baseA + (r.transA ? k * r.lda + i : i * r.lda + k)]!;
          const bv = b[baseB + (r.transB ? j * r.ldb + k : k * r.ldb + j)]!;
          s += av * bv;
        }
        let v = r.alpha * s;
        if (args.bias) v += args.bias[j]!;
        if (r.gelu) v = 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v * v * v)));
        const ci = baseC + i * r.ldc + j;
        if (r.accumulate) v += out[ci]!;
        if (args.residual) v += args.residual[ci]!;
        out[ci] = v;
      }
    }
  }
  return out;
}
