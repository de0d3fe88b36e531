/**
 * Float64 CPU references of the composite layers (Linear, MLP, attention block, transformer
 * block), built from the kernels' own CPU references. They are the yardstick for the GPU
 * layers and are themselves checked against finite differences.
 * Parameters are passed as a name → Float64Array map using the GPU layers' parameter names.
 */
import { attentionBackwardCpu, attentionForwardCpu } from '../kernels/attention';
import { geluBackwardCpu, geluCpu } from '../kernels/elementwise';
import { layerNormBackwardCpu, layerNormForwardCpu } from '../kernels/layernorm';
import { matmulCpu } from '../kernels/matmul';
import { colSumCpu } from '../kernels/reduce';

export type Params64 = Map<string, Float64Array>;
export type Grads64 = Map<string, Float64Array>;

function get(p: Params64, name: string): Float64Array {
  const v = p.get(name);
  if (!v) throw new Error(`reference: missing parameter ${name}`);
  return v;
}

function add(a: Float64Array, b: ArrayLike<number>): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! + b[i]!;
  return out;
}

function accumulate(g: Grads64, name: string, v: Float64Array): void {
  const cur = g.get(name);
  g.set(name, cur ? add(cur, v) : v);
}

// ---------- Linear: y = x·Wᵀ + b ----------

export function linearForward(p: Params64, name: string, x: Float64Array, rows: number, inDim: number, outDim: number, bias = true): Float64Array {
  return matmulCpu(x, get(p, `${name}.weight`), { M: rows, N: outDim, K: inDim, transB: true, ...(bias ? { bias: get(p, `${name}.bias`) } : {}) });
}

export function linearBackward(p: Params64, g: Grads64, name: string, x: Float64Array, dy: Float64Array, rows: number, inDim: number, outDim: number, bias = true): Float64Array {
  accumulate(g, `${name}.weight`, matmulCpu(dy, x, { M: outDim, N: inDim, K: rows, transA: true }));
  if (bias) accumulate(g, `${name}.bias`, colSumCpu(dy, rows, outDim));
  return matmulCpu(dy, get(p, `${name}.weight`), { M: rows, N: inDim, K: outDim });
}

// ---------- LayerNorm ----------

export function layerNormForward(p: Params64, name: string, x: Float64Array, rows: number, dim: number): Float64Array {
  return layerNormForwardCpu({ x, gamma: get(p, `${name}.weight`), beta: get(p, `${name}.bias`), rows, dim }).y;
}

export function layerNormBackward(p: Params64, g: Grads64, name: string, x: Float64Array, dy: Float64Array, rows: number, dim: number): Float64Array {
  const r = layerNormBackwardCpu({ x, gamma: get(p, `${name}.weight`), dy, rows, dim });
  accumulate(g, `${name}.weight`, r.dgamma);
  accumulate(g, `${name}.bias`, r.dbeta);
  return r.dx;
}

// ---------- MLP ----------

export interface MlpShape {
  rows: number;
  dim: number;
  hidden: number;
}

export function mlpForward(p: Params64, name: string, x: Float64Array, s: MlpShape): Float64Array {
  const h = linearForward(p, `${name}.fc1`, x, s.rows, s.dim, s.hidden);
  return linearForward(p, `${name}.fc2`, geluCpu(h), s.rows, s.hidden, s.dim);
}

export function mlpBackward(p: Params64, g: Grads64, name: string, x: Float64Array, dy: Float64Array, s: MlpShape): Float64Array {
  const h = linearForward(p, `${name}.fc1`, x, s.rows, s.dim, s.hidden);
  const a = geluCpu(h);
  const da = linearBackward(p, g, `${name}.fc2`, a, dy, s.rows, s.hidden, s.dim);
  const dh = geluBackwardCpu(h, da);
  return linearBackward(p, g, `${name}.fc1`, x, dh, s.rows, s.dim, s.hidden);
}

// ---------- Multi-head attention (projections included) ----------

export interface AttnShape {
  batch: number;
  seq: number;
  dim: number;
  heads: number;
  causal?: boolean;
}

function attnDims(s: AttnShape) {
  return { batch: s.batch, seq: s.seq, heads: s.heads, headDim: s.dim / s.heads, causal: s.causal ?? false };
}

export function attentionForward(p: Params64, name: string, x: Float64Array, s: AttnShape): { out: Float64Array; probs: Float64Array } {
  const rows = s.batch * s.seq;
  const q = linearForward(p, `${name}.q_proj`, x, rows, s.dim, s.dim);
  const k = linearForward(p, `${name}.k_proj`, x, rows, s.dim, s.dim);
  const v = linearForward(p, `${name}.v_proj`, x, rows, s.dim, s.dim);
  const a = attentionForwardCpu({ q, k, v, ...attnDims(s) });
  return { out: linearForward(p, `${name}.o_proj`, a.out, rows, s.dim, s.dim), probs: a.probs };
}

export function attentionBackward(p: Params64, g: Grads64, name: string, x: Float64Array, dout: Float64Array, s: AttnShape): Float64Array {
  const rows = s.batch * s.seq;
  const q = linearForward(p, `${name}.q_proj`, x, rows, s.dim, s.dim);
  const k = linearForward(p, `${name}.k_proj`, x, rows, s.dim, s.dim);
  const v = linearForward(p, `${name}.v_proj`, x, rows, s.dim, s.dim);
  const a = attentionForwardCpu({ q, k, v, ...attnDims(s) });
  const dmixed = linearBackward(p, g, `${name}.o_proj`, a.out, dout, rows, s.dim, s.dim);
  const d = attentionBackwardCpu({ q, k, v, dout: dmixed, ...attnDims(s) });
  let dx = linearBackward(p, g, `${name}.q_proj`, x, d.dq, rows, s.dim, s.dim);
  dx = add(dx, linearBackward(p, g, `${name}.k_proj`, x, d.dk, rows, s.dim, s.dim));
  return add(dx, linearBackward(p, g, `${name}.v_proj`, x, d.dv, rows, s.dim, s.dim));
}

// ---------- Pre-LN transformer block ----------

export interface BlockShape extends AttnShape {
  hidden: number;
}

export function blockForward(p: Params64, name: string, x: Float64Array, s: BlockShape): Float64Array {
  const rows = s.batch * s.seq;
  const h = add(x, attentionForward(p, `${name}.attn`, layerNormForward(p, `${name}.ln1`, x, rows, s.dim), s).out);
  return add(h, mlpForward(p, `${name}.mlp`, layerNormForward(p, `${name}.ln2`, h, rows, s.dim), { rows, dim: s.dim, hidden: s.hidden }));
}

export function blockBackward(p: Params64, g: Grads64, name: string, x: Float64Array, dy: Float64Array, s: BlockShape): Float64Array {
  const rows = s.batch * s.seq;
  const n1 = layerNormForward(p, `${name}.ln1`, x, rows, s.dim);
  const h = add(x, attentionForward(p, `${name}.attn`, n1, s).out);
  const n2 = layerNormForward(p, `${name}.ln2`, h, rows, s.dim);
  const dn2 = mlpBackward(p, g, `${name}.mlp`, n2, dy, { rows, dim: s.dim, hidden: s.hidden });
  const dh = add(dy, layerNormBackward(p, g, `${name}.ln2`, h, dn2, rows, s.dim));
  const dn1 = attentionBackward(p, g, `${name}.attn`, n1, dh, s);
  return add(dh, layerNormBackward(p, g, `${name}.ln1`, x, dn1, rows, s.dim));
}
