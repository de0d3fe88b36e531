/**
 * Softmax multi-head attention (seq ≤ 64) on the GPU, beside float64 CPU references.
 *
 * q, k, v, out: [batch, seq, heads·headDim] row-major; head h uses columns h·headDim…(h+1)·headDim−1.
 * probs: [batch, heads, seq, seq], saved by the forward for the backward and for adapters and
 * visualisation. Causal masking gives exactly-zero probabilities above the diagonal.
 *
 * Dispatches: forward 1; backward 2 (per query row: dScores and dQ; per key: dK and dV).
 */
import type { CommandList, GpuRuntime } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { grid1d } from './grid';
import { shader } from './shader-sources';

/** The kernels keep one attention row in a private array of this many floats. */
export const MAX_ATTENTION_SEQ = 64;

export interface AttentionShape {
  batch: number;
  seq: number;
  heads: number;
  headDim: number;
  causal?: boolean;
  /** default 1/sqrt(headDim) */
  scale?: number;
}

export interface AttentionForwardArgs extends AttentionShape {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  out: Tensor;
  probs: Tensor;
}

export interface AttentionBackwardArgs extends AttentionShape {
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
export interface AttentionProbsBackwardArgs extends AttentionShape {
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
  batch: number;
  seq: number;
  heads: number;
  headDim: number;
  causal: boolean;
  scale: number;
}

function resolve(s: AttentionShape, what: string): Resolved {
  for (const k of ['batch', 'seq', 'heads', 'headDim'] as const) {
    if (!Number.isInteger(s[k]) || s[k] < 1) throw new Error(`${what}: ${k}=${s[k]} must be a positive integer`);
  }
  if (s.seq > MAX_ATTENTION_SEQ) throw new Error(`${what}: seq=${s.seq} exceeds the supported maximum ${MAX_ATTENTION_SEQ}`);
  const scale = s.scale ?? 1 / Math.sqrt(s.headDim);
  if (!Number.isFinite(scale)) throw new Error(`${what}: scale=${scale} is not finite`);
  return { batch: s.batch, seq: s.seq, heads: s.heads, headDim: s.headDim, causal: !!s.causal, scale };
}

function check(what: string, name: string, t: Tensor, n: number): void {
  if (t.size !== n) throw new Error(`${what}: ${name} (${t.name}) has ${t.size} elements, expected ${n}`);
}

function params(s: Resolved, rowStride: number, accumulate: boolean, flags: number): ArrayBuffer {
  const buf = new ArrayBuffer(48);
  const u = new Uint32Array(buf);
  u.set([s.batch, s.seq, s.heads, s.headDim]);
  new Float32Array(buf, 16, 1)[0] = s.scale;
  u.set([s.causal ? 1 : 0, accumulate ? 1 : 0, flags, rowStride], 5);
  return buf;
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
  const g = grid1d(s.batch * s.heads * s.seq, 64);
  const u = rt.uniform(params(s, g.x, false, 0), 'attention_fwd.params');
  list.push(rt.dispatch(`attention_fwd(${a.q.name})`, rt.pipeline(shader('attention'), 'forward'), [u, a.q, a.k, a.v, a.out, a.probs], [g.x, g.y]));
}

/** Shared by both backward entry points: dscores + dq per query row, then dk (and dv) per key. */
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
  const g = grid1d(s.batch * s.heads * s.seq, 64);
  const acc = !!a.accumulate;
  const flags = (dprobs ? 1 : 0) | (vPath ? 2 : 0);
  // Unused inputs are bound to probs (read-only aliasing is allowed) and skipped via flags.
  const u1 = rt.uniform(params(s, g.x, acc, flags), 'attention_bwd_rows.params');
  list.push(
    rt.dispatch(`attention_bwd_rows(${a.q.name})`, rt.pipeline(sh, 'backward_rows'), [u1, a.probs, a.k, dscores, a.dq, dprobs ?? a.probs, vPath?.dout ?? a.probs, vPath?.v ?? a.probs], [g.x, g.y]),
  );
  const u2 = rt.uniform(params(s, g.x, acc, 0), 'attention_bwd_cols.params');
  if (vPath) {
    list.push(rt.dispatch(`attention_bwd_cols(${a.q.name})`, rt.pipeline(sh, 'backward_cols'), [u2, a.q, dscores, a.dk, a.probs, vPath.dout, vPath.dv], [g.x, g.y]));
  } else {
    list.push(rt.dispatch(`attention_bwd_cols_dk(${a.q.name})`, rt.pipeline(sh, 'backward_cols_dk'), [u2, a.q, dscores, a.dk], [g.x, g.y]));
  }
  return scratch;
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
