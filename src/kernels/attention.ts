/**
 * Softmax multi-head attention on the GPU, beside float64 CPU references.
 *
 * q, k, v, out: [batch, seq, heads·headDim] row-major; head h uses columns h·headDim…(h+1)·headDim−1.
 * probs: [batch, heads, seq, seq], saved by the forward for the backward and for adapters and
 * visualisation. Causal masking gives exactly-zero probabilities above the diagonal.
 *
 * Two paths, same dispatch count, same results (both tested against the CPU reference):
 *  - 'rows' (shaders/attention.wgsl): each thread owns one output element and loops over ≤ 64
 *    keys or the head dims; any head count, seq ≤ 64.
 *  - 'matmul': the products are batched matmuls (src/kernels/matmul.ts) over B·H matrices —
 *    S = scale·Q·Kᵀ straight into probs, O = P·V; dP = dO·Vᵀ (+ dprobsExtra as the matmul's
 *    residual), dQ = scale·dS·K, dK = scale·dSᵀ·Q, dV = Pᵀ·dO — and only the row softmax and its
 *    backward stay attention.wgsl kernels (one thread per row; causal mask there). Any head
 *    count: head h of batch b of a [B, T, H·D] tensor is the matmul operand at offset
 *    b·T·H·D + h·D with row stride H·D (the matmul's two-level batch and leading dimensions), so
 *    no head is copied out. Any seq (no 64 limit).
 *  'auto' (the default) picks by shape, see chooseAttentionPath.
 *
 * Dispatches: forward 3 (scores, softmax, P·V); backward 4 (dP, softmax backward, dQ+dK or dQ
 * and dK, dV; the probs-only backward skips dV; the matmul path has one more, dQ and dK being
 * two products). Scratch: only dscores (see AttentionBackwardArgs), allocated at record time.
 */
import type { CommandList, GpuRuntime } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { defineParams } from '../engine/uniform-params';
import { grid1d } from './grid';
import { recordMatmul } from './matmul';
import { shader } from './shader-sources';

/** Longest sequence of the 'rows' path: its kernels loop over a whole row per thread (see attention.wgsl). */
export const MAX_ATTENTION_SEQ = 64;

export type AttentionPath = 'auto' | 'rows' | 'matmul';

/**
 * Shortest sequence for which 'auto' takes the matmul path (see chooseAttentionPath). Measured
 * with bench/attention-paths.ts (SwiftShader, 2 cores under load ≈ 13, 2048 tokens, one head,
 * ms fwd / fwd+bwd, rows vs matmul):
 *   seq  8, hd 32: 21 / 93 vs 123 / 258      seq  8, hd 128:  152 / 407 vs 549 / 1381
 *   seq 16, hd 32: 76 / 244 vs 100 / 297     seq 16, hd 128:  271 / 1152 vs 356 / 1365
 *   seq 32, hd 32: 126 / 362 vs 76 / 84      seq 32, hd 128:  411 / 1370 vs 257 / 526
 *   seq 64, hd 32: 301 / 807 vs 91 / 199     seq 64, hd 128: 1246 / 3219 vs 204 / 745
 * Below 32 the matmul's 64 × 32 tile is mostly padding (an 8 × 8 score matrix fills 1/32 of it).
 * Re-measured with 4 heads (2026-12-04, load ≈ 2–6, ms fwd+bwd rows vs matmul, head dim 32 / 128):
 *   seq 8: 116 vs 417 / 399 vs 1438;  seq 16: 225 vs 293 / 674 vs 889;
 *   seq 32: 371 vs 204 / 1362 vs 637; seq 64: 652 vs 175 / 2687 vs 646 — the same crossover.
 */
export const MATMUL_MIN_SEQ = 32;

/**
 * The 'auto' rule: 'matmul' for seq ≥ MATMUL_MIN_SEQ (or any seq above MAX_ATTENTION_SEQ, which
 * only it supports), 'rows' otherwise, for any head count (the batched multi-head matmul does per
 * head what the one-head path does; bench/attention-paths.ts measures both head counts).
 * Measured on SwiftShader only; on other adapters the matmul's tiled variant runs, and the same
 * rule is kept until measured there.
 */
export function chooseAttentionPath(s: { seq: number; heads: number; path?: AttentionPath }): 'rows' | 'matmul' {
  const path = s.path === undefined || s.path === 'auto' ? attentionPathDefault : s.path;
  if (path !== 'auto') return path;
  return s.seq >= MATMUL_MIN_SEQ || s.seq > MAX_ATTENTION_SEQ ? 'matmul' : 'rows';
}

let attentionPathDefault: AttentionPath = 'auto';

/**
 * What `path: 'auto'` (or none) means process-wide (default: the rule above). For the benchmark's before/after
 * rows only (src/bench/steps.ts records a model with the old per-row kernels and resets it);
 * returns the previous value.
 */
export function setAttentionPathDefault(path: AttentionPath): AttentionPath {
  const old = attentionPathDefault;
  attentionPathDefault = path;
  return old;
}


export interface AttentionShape {
  batch: number;
  seq: number;
  heads: number;
  headDim: number;
  causal?: boolean;
  /** default 1/sqrt(headDim) */
  scale?: number;
}

/**
 * Kernel choice, for tests and benchmarks: vec4 variants (4 head dims per load and per thread)
 * need headDim % 4 == 0 and are the default then; false forces the scalar kernels.
 */
export interface AttentionKernelOptions {
  vec4?: boolean;
  /** 'auto' (default): see chooseAttentionPath. */
  path?: AttentionPath;
}

export interface AttentionForwardArgs extends AttentionShape, AttentionKernelOptions {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  out: Tensor;
  probs: Tensor;
}

export interface AttentionBackwardArgs extends AttentionShape, AttentionKernelOptions {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  probs: Tensor;
  dout: Tensor;
  dq: Tensor;
  dk: Tensor;
  dv: Tensor;
  /** dq, dk, dv += … instead of = … */
  accumulate?: boolean;
  /**
   * Extra gradient w.r.t. probs ([batch, heads, seq, seq]) added to dO·Vᵀ before the softmax
   * backward: how a consumer of probs (the atoms adapter's ∂L/∂A) feeds its gradient back into
   * q and k. Only read; values above the causal diagonal are ignored (P = 0 there).
   */
  dprobsExtra?: Tensor;
  /**
   * Scratch for dScores ([batch, heads, seq, seq]); acquired from the pool when omitted and
   * returned by the record function so the owner can release it. After the list runs it holds
   * ∂L/∂S, S = scale·Q·Kᵀ being the softmax input.
   */
  dscores?: Tensor;
}

/**
 * Softmax backward from a given probs gradient alone (no V path): dS = P ⊙ (dP − rowsum(P ⊙ dP)),
 * dq = scale·dS·K, dk = scale·dSᵀ·Q. For adapters whose only use of attention is through probs.
 */
export interface AttentionProbsBackwardArgs extends AttentionShape, AttentionKernelOptions {
  q: Tensor;
  k: Tensor;
  probs: Tensor;
  dprobs: Tensor;
  dq: Tensor;
  dk: Tensor;
  accumulate?: boolean;
  dscores?: Tensor;
}

interface Resolved {
  path: 'rows' | 'matmul';
  vec4: boolean;
  batch: number;
  seq: number;
  heads: number;
  headDim: number;
  causal: boolean;
  scale: number;
}

function resolve(s: AttentionShape & AttentionKernelOptions, what: string): Resolved {
  for (const k of ['batch', 'seq', 'heads', 'headDim'] as const) {
    if (!Number.isInteger(s[k]) || s[k] < 1) throw new Error(`${what}: ${k}=${s[k]} must be a positive integer`);
  }
  if (s.path !== undefined && s.path !== 'auto' && s.path !== 'rows' && s.path !== 'matmul') throw new Error(`${what}: path '${String(s.path)}' must be 'auto', 'rows' or 'matmul'`);
  const path = chooseAttentionPath(s);
  if (path === 'rows' && s.seq > MAX_ATTENTION_SEQ) {
    throw new Error(`${what}: seq=${s.seq} exceeds the supported maximum ${MAX_ATTENTION_SEQ} of the 'rows' path (heads=${s.heads}); use path 'matmul' (or 'auto') for longer sequences`);
  }
  const scale = s.scale ?? 1 / Math.sqrt(s.headDim);
  if (!Number.isFinite(scale)) throw new Error(`${what}: scale=${scale} is not finite`);
  const vec4 = s.vec4 ?? s.headDim % 4 === 0;
  if (vec4 && s.headDim % 4 !== 0) throw new Error(`${what}: vec4 kernels need headDim % 4 == 0, got ${s.headDim}`);
  return { path, vec4, batch: s.batch, seq: s.seq, heads: s.heads, headDim: s.headDim, causal: !!s.causal, scale };
}

function check(what: string, name: string, t: Tensor, n: number): void {
  if (t.size !== n) throw new Error(`${what}: ${name} (${t.name}) has ${t.size} elements, expected ${n}`);
}

const PARAMS = defineParams(
  { shaders: ['attention'], struct: 'Params' },
  { batch: 'u32', seq: 'u32', heads: 'u32', head_dim: 'u32', scale: 'f32', causal: 'u32', accumulate: 'u32', flags: 'u32', row_stride: 'u32', _pad0: 'u32', _pad1: 'u32', _pad2: 'u32' },
);

function params(s: Resolved, rowStride: number, accumulate: boolean, flags: number): ArrayBuffer {
  return PARAMS.pack({ batch: s.batch, seq: s.seq, heads: s.heads, head_dim: s.headDim, scale: s.scale, causal: s.causal, accumulate, flags, row_stride: rowStride });
}

function tokenSize(s: Resolved): number {
  return s.batch * s.seq * s.heads * s.headDim;
}
function probsSize(s: Resolved): number {
  return s.batch * s.heads * s.seq * s.seq;
}

export function recordAttentionForward(rt: GpuRuntime, list: CommandList, a: AttentionForwardArgs): void {
  const s = resolve(a, 'attention forward');
  const n = tokenSize(s);
  for (const [name, t] of [['q', a.q], ['k', a.k], ['v', a.v], ['out', a.out]] as const) check('attention forward', name, t, n);
  check('attention forward', 'probs', a.probs, probsSize(s));
  const sh = shader('attention');
  const gp = grid1d(probsSize(s), 64);
  const gr = grid1d(s.batch * s.heads * s.seq, 64);
  const v4 = s.vec4 ? '4' : '';
  const gt = grid1d(s.vec4 ? n / 4 : n, 64); // vec4 kernels: one thread per 4 head dims
  const label = a.q.name;
  if (s.path === 'matmul') {
    const { tokA, tokB, tokC, matA, matC, batch } = headLayouts(s);
    const { seq: T, headDim: D } = s;
    recordMatmul(rt, list, { ...batch, ...tokA, ...tokB, ...matC, a: a.q, b: a.k, c: a.probs, M: T, N: T, K: D, transB: true, alpha: s.scale, label: `attention_scores(${label})` });
    list.push(rt.dispatch(`attention_softmax(${label})`, rt.pipeline(sh, 'softmax_rows'), [rt.uniform(params(s, gr.x, false, 0), 'attention_softmax.params'), a.probs], [gr.x, gr.y]));
    recordMatmul(rt, list, { ...batch, ...matA, ...tokB, ...tokC, a: a.probs, b: a.v, c: a.out, M: T, N: D, K: T, label: `attention_pv(${label})` });
    return;
  }
  list.push(rt.dispatch(`attention_scores(${label})`, rt.pipeline(sh, `scores${v4}`), [rt.uniform(params(s, gp.x, false, 0), 'attention_scores.params'), a.q, a.k, a.probs], [gp.x, gp.y]));
  list.push(rt.dispatch(`attention_softmax(${label})`, rt.pipeline(sh, 'softmax_rows'), [rt.uniform(params(s, gr.x, false, 0), 'attention_softmax.params'), a.probs], [gr.x, gr.y]));
  list.push(rt.dispatch(`attention_pv(${label})`, rt.pipeline(sh, `pv${v4}`), [rt.uniform(params(s, gt.x, false, 0), 'attention_pv.params'), a.probs, a.v, a.out], [gt.x, gt.y]));
}

/**
 * The matmul operands of the 'matmul' path: B·H matrices, z = b·H + h. Token tensors
 * [B, T, H·D]: head (b, h) at b·T·H·D + h·D, row stride H·D. probs-shaped [B, H, T, T]: (b, h)
 * at (b·H + h)·T², row stride T.
 */
function headLayouts(s: Resolved) {
  const { batch: B, seq: T, heads: H, headDim: D } = s;
  const hd = H * D;
  return {
    batch: { batch: B * H, heads: H },
    tokA: { strideA: T * hd, headStrideA: D, lda: hd },
    tokB: { strideB: T * hd, headStrideB: D, ldb: hd },
    tokC: { strideC: T * hd, headStrideC: D, ldc: hd },
    matA: { strideA: H * T * T, headStrideA: T * T, lda: T },
    matC: { strideC: H * T * T, headStrideC: T * T, ldc: T },
  } as const;
}

/** Shared by both backward entry points: dP → dS (in the dscores scratch) → dq, dk (and dv). */
function recordBackwardCore(
  rt: GpuRuntime,
  list: CommandList,
  what: string,
  s: Resolved,
  a: { q: Tensor; k: Tensor; probs: Tensor; dq: Tensor; dk: Tensor; accumulate?: boolean; dscores?: Tensor },
  dprobs: Tensor | undefined,
  vPath: { v: Tensor; dout: Tensor; dv: Tensor } | null,
): Tensor[] {
  const n = tokenSize(s);
  const np = probsSize(s);
  for (const [name, t] of [['q', a.q], ['k', a.k], ['dq', a.dq], ['dk', a.dk]] as const) check(what, name, t, n);
  check(what, 'probs', a.probs, np);
  if (dprobs) check(what, 'dprobs', dprobs, np);
  if (vPath) for (const [name, t] of [['v', vPath.v], ['dout', vPath.dout], ['dv', vPath.dv]] as const) check(what, name, t, n);

  const scratch: Tensor[] = [];
  let dscores = a.dscores;
  if (dscores) check(what, 'dscores', dscores, np);
  else scratch.push((dscores = rt.tensor([s.batch, s.heads, s.seq, s.seq], 'attention.dscores')));

  const sh = shader('attention');
  const gp = grid1d(np, 64);
  const gr = grid1d(s.batch * s.heads * s.seq, 64);
  const v4 = s.vec4 ? '4' : '';
  const gt = grid1d(s.vec4 ? n / 4 : n, 64);
  const acc = !!a.accumulate;
  const label = a.q.name;
  const flags = (dprobs ? 1 : 0) | (vPath ? 2 : 0);
  if (s.path === 'matmul') {
    recordMatmulBackward(rt, list, s, { ...a, dscores }, dprobs, vPath, { gp, gr, label });
    return scratch;
  }
  // Inputs a flag turns off are bound to probs (read-only aliasing is allowed) and never read.
  const u1 = rt.uniform(params(s, gp.x, false, flags), 'attention_dprobs.params');
  // Without the V path there is no dot product to vectorise, and the dummies (probs) may be
  // smaller than one vec4: keep the scalar kernel then.
  const dprobsEntry = vPath ? `dprobs${v4}` : 'dprobs';
  list.push(rt.dispatch(`attention_dprobs(${label})`, rt.pipeline(sh, dprobsEntry), [u1, vPath?.dout ?? a.probs, vPath?.v ?? a.probs, dprobs ?? a.probs, dscores], [gp.x, gp.y]));
  const u2 = rt.uniform(params(s, gr.x, false, 0), 'attention_softmax_bwd.params');
  list.push(rt.dispatch(`attention_softmax_bwd(${label})`, rt.pipeline(sh, 'softmax_bwd'), [u2, dscores, a.probs], [gr.x, gr.y]));
  const u3 = rt.uniform(params(s, gt.x, acc, 0), 'attention_grads.params');
  list.push(rt.dispatch(`attention_grad_qk(${label})`, rt.pipeline(sh, `grad_qk${v4}`), [u3, dscores, a.q, a.k, a.dq, a.dk], [gt.x, gt.y]));
  if (vPath) list.push(rt.dispatch(`attention_grad_v(${label})`, rt.pipeline(sh, `grad_v${v4}`), [u3, a.probs, vPath.dout, vPath.dv], [gt.x, gt.y]));
  return scratch;
}

/** The 'matmul' path of recordBackwardCore (any head count, see headLayouts). */
function recordMatmulBackward(
  rt: GpuRuntime,
  list: CommandList,
  s: Resolved,
  a: { q: Tensor; k: Tensor; probs: Tensor; dq: Tensor; dk: Tensor; accumulate?: boolean; dscores: Tensor },
  dprobs: Tensor | undefined,
  vPath: { v: Tensor; dout: Tensor; dv: Tensor } | null,
  g: { gp: { x: number; y: number }; gr: { x: number; y: number }; label: string },
): void {
  const sh = shader('attention');
  const { seq: T, headDim: D } = s;
  const { tokA, tokB, tokC, matA, matC, batch } = headLayouts(s);
  const { label } = g;
  const acc = !!a.accumulate;
  if (vPath) {
    // dP = dO·Vᵀ (+ dprobsExtra). Above the causal diagonal dP is not zeroed: softmax_bwd
    // multiplies it by P = 0 there, so dS is exactly 0 all the same.
    recordMatmul(rt, list, {
      ...batch, ...tokA, ...tokB, ...matC,
      a: vPath.dout, b: vPath.v, c: a.dscores, M: T, N: T, K: D, transB: true,
      ...(dprobs ? { residual: dprobs } : {}),
      label: `attention_dprobs(${label})`,
    });
  } else {
    // No product: the rows path's dprobs kernel (flags = 1) copies dprobs into dscores.
    const u1 = rt.uniform(params(s, g.gp.x, false, 1), 'attention_dprobs.params');
    list.push(rt.dispatch(`attention_dprobs(${label})`, rt.pipeline(sh, 'dprobs'), [u1, a.probs, a.probs, dprobs!, a.dscores], [g.gp.x, g.gp.y]));
  }
  const u2 = rt.uniform(params(s, g.gr.x, false, 0), 'attention_softmax_bwd.params');
  list.push(rt.dispatch(`attention_softmax_bwd(${label})`, rt.pipeline(sh, 'softmax_bwd'), [u2, a.dscores, a.probs], [g.gr.x, g.gr.y]));
  const common = { ...batch, ...matA, ...tokB, ...tokC, M: T, N: D, K: T, accumulate: acc } as const;
  recordMatmul(rt, list, { ...common, a: a.dscores, b: a.k, c: a.dq, alpha: s.scale, label: `attention_grad_q(${label})` });
  recordMatmul(rt, list, { ...common, a: a.dscores, b: a.q, c: a.dk, transA: true, alpha: s.scale, label: `attention_grad_k(${label})` });
  if (vPath) recordMatmul(rt, list, { ...common, a: a.probs, b: vPath.dout, c: vPath.dv, transA: true, label: `attention_grad_v(${label})` });
}

/**
 * dq, dk, dv from dout (and optionally `dprobsExtra`). Returns the scratch tensors it acquired
 * from the pool (dscores unless passed); release them when the list is discarded.
 */
export function recordAttentionBackward(rt: GpuRuntime, list: CommandList, a: AttentionBackwardArgs): Tensor[] {
  const s = resolve(a, 'attention backward');
  return recordBackwardCore(rt, list, 'attention backward', s, a, a.dprobsExtra, { v: a.v, dout: a.dout, dv: a.dv });
}

/** See AttentionProbsBackwardArgs. Returns acquired scratch like recordAttentionBackward. */
export function recordAttentionProbsBackward(rt: GpuRuntime, list: CommandList, a: AttentionProbsBackwardArgs): Tensor[] {
  const s = resolve(a, 'attention probs backward');
  return recordBackwardCore(rt, list, 'attention probs backward', s, a, a.dprobs, null);
}

// ---------- CPU references (float64) ----------

type Arr = ArrayLike<number>;

export function attentionForwardCpu(a: AttentionShape & { q: Arr; k: Arr; v: Arr }): { out: Float64Array; probs: Float64Array } {
  const s = resolve(a, 'attentionForwardCpu');
  const { batch: B, seq: T, heads: H, headDim: D, scale } = s;
  const hd = H * D;
  const out = new Float64Array(B * T * hd);
  const probs = new Float64Array(B * H * T * T);
  const row = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const tok = b * T * hd + h * D;
      const mat = (b * H + h) * T * T;
      for (let i = 0; i < T; i++) {
        const n = s.causal ? i + 1 : T;
        let m = -Infinity;
        for (let j = 0; j < n; j++) {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += a.q[tok + i * hd + d]! * a.k[tok + j * hd + d]!;
          row[j] = dot * scale;
          m = Math.max(m, row[j]!);
        }
        let sum = 0;
        for (let j = 0; j < n; j++) sum += row[j] = Math.exp(row[j]! - m);
        for (let j = 0; j < n; j++) probs[mat + i * T + j] = row[j]! / sum;
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let j = 0; j < n; j++) acc += probs[mat + i * T + j]! * a.v[tok + j * hd + d]!;
          out[tok + i * hd + d] = acc;
        }
      }
    }
  }
  return { out, probs };
}

/**
 * Gradients of L with ∂L/∂out = dout and ∂L/∂probs = dprobsExtra (optional; zero when omitted
 * or when dout/v are omitted, see attentionProbsBackwardCpu). probs are recomputed in float64.
 */
export function attentionBackwardCpu(
  a: AttentionShape & { q: Arr; k: Arr; v: Arr; dout: Arr; dprobsExtra?: Arr },
): { dq: Float64Array; dk: Float64Array; dv: Float64Array; dscores: Float64Array } {
  const s = resolve(a, 'attentionBackwardCpu');
  const { probs } = attentionForwardCpu(a);
  return backwardCpu(s, a.q, a.k, probs, a.dprobsExtra, { v: a.v, dout: a.dout });
}

/** Softmax backward from a probs gradient alone, with the given (not recomputed) probs. */
export function attentionProbsBackwardCpu(a: AttentionShape & { q: Arr; k: Arr; probs: Arr; dprobs: Arr }): { dq: Float64Array; dk: Float64Array; dscores: Float64Array } {
  const s = resolve(a, 'attentionProbsBackwardCpu');
  const { dq, dk, dscores } = backwardCpu(s, a.q, a.k, a.probs, a.dprobs, null);
  return { dq, dk, dscores };
}

function backwardCpu(s: Resolved, q: Arr, k: Arr, probs: Arr, dprobs: Arr | undefined, vPath: { v: Arr; dout: Arr } | null) {
  const { batch: B, seq: T, heads: H, headDim: D, scale } = s;
  const hd = H * D;
  const dq = new Float64Array(B * T * hd);
  const dk = new Float64Array(B * T * hd);
  const dv = new Float64Array(B * T * hd);
  const dscores = new Float64Array(B * H * T * T);
  const dp = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const tok = b * T * hd + h * D;
      const mat = (b * H + h) * T * T;
      for (let i = 0; i < T; i++) {
        const n = s.causal ? i + 1 : T;
        let rowdot = 0;
        for (let j = 0; j < n; j++) {
          let g = dprobs ? dprobs[mat + i * T + j]! : 0;
          if (vPath) for (let d = 0; d < D; d++) g += vPath.dout[tok + i * hd + d]! * vPath.v[tok + j * hd + d]!;
          dp[j] = g;
          rowdot += probs[mat + i * T + j]! * g;
        }
        for (let j = 0; j < n; j++) {
          const p = probs[mat + i * T + j]!;
          const ds = p * (dp[j]! - rowdot);
          dscores[mat + i * T + j] = ds;
          for (let d = 0; d < D; d++) {
            dq[tok + i * hd + d] += scale * ds * k[tok + j * hd + d]!;
            dk[tok + j * hd + d] += scale * ds * q[tok + i * hd + d]!;
            if (vPath) dv[tok + j * hd + d] += p * vPath.dout[tok + i * hd + d]!;
          }
        }
      }
    }
  }
  return { dq, dk, dv, dscores };
}
