/**
 * Float64 CPU reference of the dictionary-atoms adapter (src/adapters/atoms.ts) and of a whole
 * attention block with the adapter attached — the yardstick for the GPU path and itself checked
 * against central finite differences.
 *
 *   paper       ΔO = σ_λ(Ā·X·W_s)·D
 *   simplified  ΔO = Ā·σ_λ(X·W_s)·D
 * Ā = A for one head; for H heads the mean over heads (1/H)·Σ_h A^(h) (see atoms.ts).
 * σ_λ: soft-threshold, ReLU(x − λ), or top-k by signed value or |value| (src/kernels/topk.ts's selection rule,
 * on the f32-rounded pre-activation, as the GPU does). Masked atoms (mask 0) give code 0.
 * Optional penalty l1·(1/rows)·Σ_r Σ_m |S[r, m]|·‖D_m‖, counted as part of the loss in the
 * backward (its gradients are added), reported as `penalty`.
 */
import { attentionBackwardCpu, attentionForwardCpu } from '../kernels/attention';
import { atomPenaltyCpu, headBroadcastCpu, headMeanCpu } from '../kernels/atoms';
import { matmulCpu } from '../kernels/matmul';
import { shrinkActive, shrinkScalar } from '../kernels/shrink';
import { topkCpu } from '../kernels/topk';
import { linearBackward, linearForward, type Grads64, type Params64 } from '../nn/reference';

type Arr = ArrayLike<number>;

export type AtomsSigma = 'soft' | 'relu' | 'topk';
export type AtomsForm = 'paper' | 'simplified';

export interface AtomsCpuArgs {
  /** Attention input X [batch·seq, dim]. */
  x: Arr;
  /** Attention probabilities A [batch, heads, seq, seq]. */
  probs: Arr;
  /** W_s [dim, atoms]. */
  Ws: Arr;
  /** D [atoms, dim]. */
  D: Arr;
  batch: number;
  seq: number;
  heads: number;
  dim: number;
  atoms: number;
  sigma: AtomsSigma;
  lambda: number;
  k: number;
  /** Top-k selection: by signed value (default) or by |value|. */
  topk?: 'signed' | 'abs';
  form: AtomsForm;
  mask?: Arr;
  /** Top-k override k' (default k). */
  kOverride?: number;
  /** Norm-weighted L1 weight (0 = off). */
  l1?: number;
}

export interface AtomsCpuForward {
  /** ΔO [rows, dim]. */
  delta: Float64Array;
  /** Codes S [rows, atoms] (dense; top-k: zeros outside the selection). */
  S: Float64Array;
  /** σ's input [rows, atoms]: Ā·X·W_s (paper) or X·W_s (simplified). */
  pre: Float64Array;
  /** X·W_s [rows, atoms]. */
  Y: Float64Array;
  /** Ā [batch, seq, seq]. */
  abar: Float64Array;
  /** S·D [rows, dim] (simplified form's inner product; paper: equals delta). */
  Z: Float64Array;
  /** Top-k selection [rows, k] (indices of slots; live slots have mask ≠ 0 and j < k'). */
  indices: Uint32Array | null;
  /** Mean number of non-zero codes per row. */
  active: number;
  penalty: number;
}

function batched(a: Arr, b: Arr, o: { batch: number; M: number; N: number; K: number; transA?: boolean; transB?: boolean }): Float64Array {
  return matmulCpu(a, b, { M: o.M, N: o.N, K: o.K, batch: o.batch, transA: o.transA ?? false, transB: o.transB ?? false });
}

function sparsify(a: AtomsCpuArgs, pre: Float64Array, rows: number): { S: Float64Array; indices: Uint32Array | null } {
  const M = a.atoms;
  const S = new Float64Array(rows * M);
  if (a.sigma === 'topk') {
    const sel = topkCpu(pre, { rows, l: M, k: a.k, mode: a.topk ?? 'signed', ...(a.mask ? { mask: a.mask } : {}), kOverride: a.kOverride ?? a.k });
    const kk = Math.min(a.kOverride ?? a.k, a.k);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < kk; j++) {
        const m = sel.indices[r * a.k + j]!;
        if (a.mask && a.mask[m] === 0) continue;
        S[r * M + m] = pre[r * M + m]!;
      }
    }
    return { S, indices: sel.indices };
  }
  for (let i = 0; i < rows * M; i++) {
    const m = a.mask ? a.mask[i % M]! : 1;
    S[i] = m === 0 ? 0 : m * shrinkScalar(a.sigma, pre[i]!, a.lambda);
  }
  return { S, indices: null };
}

export function atomsForwardCpu(a: AtomsCpuArgs): AtomsCpuForward {
  const { batch: B, seq: T, heads: H, dim: C, atoms: M } = a;
  const rows = B * T;
  const abar = H === 1 ? Float64Array.from(a.probs) : headMeanCpu(a.probs, B, H, T);
  const Y = matmulCpu(a.x, a.Ws, { M: rows, N: M, K: C });
  const pre = a.form === 'paper' ? batched(abar, Y, { batch: B, M: T, N: M, K: T }) : Y;
  const { S, indices } = sparsify(a, pre, rows);
  const Z = matmulCpu(S, a.D, { M: rows, N: C, K: M });
  const delta = a.form === 'paper' ? Z : batched(abar, Z, { batch: B, M: T, N: C, K: T });
  let nz = 0;
  for (const v of S) if (v !== 0) nz++;
  const l1 = a.l1 ?? 0;
  const penalty = l1 > 0 ? atomPenaltyCpu(S, a.D, { rows, atoms: M, cols: C, coef: l1 / rows }).penalty : 0;
  return { delta, S, pre, Y, abar, Z, indices, active: nz / rows, penalty };
}

/**
 * Gradients of  Σ dout ⊙ ΔO + penalty  w.r.t. W_s, D, X (the adapter's direct path only, with A
 * held fixed) and A (dprobs [batch, heads, seq, seq]).
 */
export function atomsBackwardCpu(a: AtomsCpuArgs & { dout: Arr }): { dWs: Float64Array; dD: Float64Array; dx: Float64Array; dprobs: Float64Array } {
  const { batch: B, seq: T, heads: H, dim: C, atoms: M } = a;
  const rows = B * T;
  const f = atomsForwardCpu(a);
  const l1 = a.l1 ?? 0;
  const pen = l1 > 0 ? atomPenaltyCpu(f.S, a.D, { rows, atoms: M, cols: C, coef: l1 / rows }) : null;
  // G = ∂L/∂(S·D)
  const G = a.form === 'paper' ? Float64Array.from(a.dout) : batched(f.abar, a.dout, { batch: B, M: T, N: C, K: T, transA: true });
  const dD = matmulCpu(f.S, G, { M, N: C, K: rows, transA: true });
  if (pen) for (let i = 0; i < dD.length; i++) dD[i] = dD[i]! + pen.ddict[i]!;
  const dS = matmulCpu(G, a.D, { M: rows, N: M, K: C, transB: true });
  const dPre = new Float64Array(rows * M);
  const kk = Math.min(a.kOverride ?? a.k, a.k);
  for (let r = 0; r < rows; r++) {
    for (let m = 0; m < M; m++) {
      const i = r * M + m;
      const mk = a.mask ? a.mask[m]! : 1;
      if (mk === 0) continue;
      let live: boolean;
      if (a.sigma === 'topk') {
        live = false;
        for (let j = 0; j < kk; j++) if (f.indices![r * a.k + j] === m) live = true;
      } else live = shrinkActive(a.sigma, f.pre[i]!, a.lambda);
      if (!live) continue;
      let g = dS[i]!;
      if (pen) g += pen.weights[m]! * Math.sign(f.pre[i]!);
      dPre[i] = a.sigma === 'topk' ? g : mk * g;
    }
  }
  const dY = a.form === 'paper' ? batched(f.abar, dPre, { batch: B, M: T, N: M, K: T, transA: true }) : dPre;
  const dWs = matmulCpu(a.x, dY, { M: C, N: M, K: rows, transA: true });
  const dx = matmulCpu(dY, a.Ws, { M: rows, N: C, K: M, transB: true });
  const dAbar = a.form === 'paper' ? batched(dPre, f.Y, { batch: B, M: T, N: T, K: M, transB: true }) : batched(a.dout, f.Z, { batch: B, M: T, N: T, K: C, transB: true });
  const dprobs = H === 1 ? dAbar : headBroadcastCpu(dAbar, B, H, T);
  return { dWs, dD, dx, dprobs };
}

// ---------- A whole attention block (projections included) with the adapter ----------

export interface BlockShape {
  batch: number;
  seq: number;
  dim: number;
  heads: number;
  causal?: boolean;
}

export type AtomsAdapterCpu = Omit<AtomsCpuArgs, 'x' | 'probs' | 'batch' | 'seq' | 'heads' | 'dim'>;

function dims(s: BlockShape) {
  return { batch: s.batch, seq: s.seq, heads: s.heads, headDim: s.dim / s.heads, causal: s.causal ?? false };
}

/** out = attention block (q/k/v/o projections, as src/nn/reference.ts) + ΔO; also the penalty. */
export function attentionAtomsForward(p: Params64, name: string, x: Float64Array, s: BlockShape, ad: AtomsAdapterCpu): { out: Float64Array; penalty: number; probs: Float64Array; adapter: AtomsCpuForward } {
  const rows = s.batch * s.seq;
  const q = linearForward(p, `${name}.q_proj`, x, rows, s.dim, s.dim);
  const k = linearForward(p, `${name}.k_proj`, x, rows, s.dim, s.dim);
  const v = linearForward(p, `${name}.v_proj`, x, rows, s.dim, s.dim);
  const att = attentionForwardCpu({ q, k, v, ...dims(s) });
  const out = linearForward(p, `${name}.o_proj`, att.out, rows, s.dim, s.dim);
  const f = atomsForwardCpu({ ...ad, x, probs: att.probs, batch: s.batch, seq: s.seq, heads: s.heads, dim: s.dim });
  for (let i = 0; i < out.length; i++) out[i] = out[i]! + f.delta[i]!;
  return { out, penalty: f.penalty, probs: att.probs, adapter: f };
}

/**
 * Gradients of Σ dout ⊙ out + penalty: block parameter gradients accumulated into `g`, adapter
 * gradients and dx returned. dprobs of the adapter flows into the softmax backward.
 */
export function attentionAtomsBackward(
  p: Params64,
  g: Grads64,
  name: string,
  x: Float64Array,
  dout: Float64Array,
  s: BlockShape,
  ad: AtomsAdapterCpu,
): { dx: Float64Array; dWs: Float64Array; dD: Float64Array } {
  const rows = s.batch * s.seq;
  const q = linearForward(p, `${name}.q_proj`, x, rows, s.dim, s.dim);
  const k = linearForward(p, `${name}.k_proj`, x, rows, s.dim, s.dim);
  const v = linearForward(p, `${name}.v_proj`, x, rows, s.dim, s.dim);
  const att = attentionForwardCpu({ q, k, v, ...dims(s) });
  const ab = atomsBackwardCpu({ ...ad, x, probs: att.probs, batch: s.batch, seq: s.seq, heads: s.heads, dim: s.dim, dout });
  const dmixed = linearBackward(p, g, `${name}.o_proj`, att.out, dout, rows, s.dim, s.dim);
  const d = attentionBackwardCpu({ q, k, v, dout: dmixed, dprobsExtra: ab.dprobs, ...dims(s) });
  const dx = linearBackward(p, g, `${name}.q_proj`, x, d.dq, rows, s.dim, s.dim);
  const add = (u: Float64Array) => {
    for (let i = 0; i < dx.length; i++) dx[i] = dx[i]! + u[i]!;
  };
  add(linearBackward(p, g, `${name}.k_proj`, x, d.dk, rows, s.dim, s.dim));
  add(linearBackward(p, g, `${name}.v_proj`, x, d.dv, rows, s.dim, s.dim));
  add(ab.dx);
  return { dx, dWs: ab.dWs, dD: ab.dD };
}
