// Softmax multi-head attention for sequences of at most 64, forward and backward.
//
// Layouts: q, k, v, out, dq, dk, dv, dout are [batch, seq, heads·head_dim] (head h = columns
// h·D..h·D+D-1); probs and dscores are [batch, heads, seq, seq].
//
// Every kernel gives each thread one output element (or one row for the softmax passes) and
// loops over ≤ 64 keys or ≤ head_dim: no barriers (coroutine yields on SwiftShader), no private
// arrays (gathers/spills), no atomics (deterministic), and B·H·T² or B·T·H·D threads, enough to
// fill a real GPU where one thread per attention row would not.
//
//   scores        S = scale·Q·Kᵀ, written into probs       (thread per (b, h, i, j))
//   softmax_rows  P = softmax(S) in place, causal mask → 0   (thread per (b, h, i))
//   pv            O = P·V                                    (thread per (b, t, h, d))
//   dprobs        dP = dO·Vᵀ + dP_extra → dscores            (thread per (b, h, i, j))
//   softmax_bwd   dS = P ⊙ (dP − rowsum(P ⊙ dP)) in place    (thread per (b, h, i))
//   grad_qk       dQ = scale·dS·K, dK = scale·dSᵀ·Q          (thread per (b, t, h, d))
//   grad_v        dV = Pᵀ·dO                                 (thread per (b, t, h, d))
// scores4, pv4, dprobs4, grad_qk4, grad_v4 (end of file) do the same with vec4 loads when
// head_dim % 4 == 0: 1.5–3× faster on SwiftShader, measured per kernel.
//
// Each entry point binds a contiguous range 0..n of its own variables (the runtime binds by
// position); variables of different entry points share binding numbers.

const WG: u32 = 64u;

struct Params {
  batch: u32,
  seq: u32,
  heads: u32,
  head_dim: u32,
  scale: f32,
  causal: u32,
  accumulate: u32, // 1: gradients +=, 0: =
  flags: u32,      // dprobs: bit 0 add dprobs_extra, bit 1 add dO·Vᵀ
  row_stride: u32, // x extent of the dispatch grid, in workgroups
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

// scores: (1) q (2) k (3) probs
@group(0) @binding(1) var<storage, read> s_q: array<f32>;
@group(0) @binding(2) var<storage, read> s_k: array<f32>;
@group(0) @binding(3) var<storage, read_write> s_out: array<f32>;
// softmax_rows: (1) probs;  softmax_bwd: (1) dscores (holding dP) (2) probs
@group(0) @binding(1) var<storage, read_write> rows_io: array<f32>;
@group(0) @binding(2) var<storage, read> sb_probs: array<f32>;
// pv: (1) probs (2) v (3) out;  grad_v: (1) probs (2) dout (3) dv  (both: probs × token matrix)
@group(0) @binding(1) var<storage, read> pm_probs: array<f32>;
@group(0) @binding(2) var<storage, read> pm_tok: array<f32>;
@group(0) @binding(3) var<storage, read_write> pm_out: array<f32>;
// dprobs: (1) dout (2) v (3) dprobs_extra (4) dscores
@group(0) @binding(1) var<storage, read> dp_dout: array<f32>;
@group(0) @binding(2) var<storage, read> dp_v: array<f32>;
@group(0) @binding(3) var<storage, read> dp_extra: array<f32>;
@group(0) @binding(4) var<storage, read_write> dp_out: array<f32>;
// grad_qk: (1) dscores (2) q (3) k (4) dq (5) dk
@group(0) @binding(1) var<storage, read> g_ds: array<f32>;
@group(0) @binding(2) var<storage, read> g_q: array<f32>;
@group(0) @binding(3) var<storage, read> g_k: array<f32>;
@group(0) @binding(4) var<storage, read_write> g_dq: array<f32>;
@group(0) @binding(5) var<storage, read_write> g_dk: array<f32>;

fn flat_id(wg: vec3<u32>, lid: u32) -> u32 {
  return (wg.y * p.row_stride + wg.x) * WG + lid;
}

// Element (b, h, i, j) of a [B, H, T, T] matrix, with the token offsets of rows i and j.
struct Pair {
  valid: bool,
  i: u32,
  j: u32,
  row: u32,  // index of (b, h, i) rows: offset of the row is row·T
  ti: u32,   // offset of (b, i, h, 0) in a [B, T, H·D] tensor
  tj: u32,   // offset of (b, j, h, 0)
}

fn pair_of(t: u32) -> Pair {
  let T = p.seq;
  var r: Pair;
  r.valid = t < p.batch * p.heads * T * T;
  r.j = t % T;
  r.row = t / T;
  r.i = r.row % T;
  let bh = r.row / T;
  let h = bh % p.heads;
  let b = bh / p.heads;
  let hd = p.heads * p.head_dim;
  let base = b * T * hd + h * p.head_dim;
  r.ti = base + r.i * hd;
  r.tj = base + r.j * hd;
  return r;
}

// Element (b, t, h, d) of a [B, T, H·D] tensor: its head's token stride and matrix offsets.
struct Elem {
  valid: bool,
  idx: u32,  // flat index into the [B, T, H·D] tensor
  t: u32,
  hd: u32,   // token stride H·D
  col0: u32, // offset of (b, 0, h, d): token u of this (head, d) is at col0 + u·hd
  mat: u32,  // offset of the (b, h) [T, T] matrix in probs/dscores
}

fn elem_of(idx: u32) -> Elem {
  let T = p.seq;
  let hd = p.heads * p.head_dim;
  var e: Elem;
  e.valid = idx < p.batch * T * hd;
  e.idx = idx;
  e.hd = hd;
  let c = idx % hd;
  let bt = idx / hd;
  e.t = bt % T;
  let b = bt / T;
  let h = c / p.head_dim;
  e.col0 = b * T * hd + c;
  e.mat = (b * p.heads + h) * T * T;
  return e;
}

fn visible(i: u32, j: u32) -> bool {
  return p.causal == 0u || j <= i;
}

// ---------- forward ----------

@compute @workgroup_size(64)
fn scores(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = flat_id(wg, lid);
  let e = pair_of(t);
  if (!e.valid) { return; }
  var dot = 0.0;
  if (visible(e.i, e.j)) {
    for (var d = 0u; d < p.head_dim; d++) { dot += s_q[e.ti + d] * s_k[e.tj + d]; }
  }
  s_out[t] = dot * p.scale; // masked entries are ignored by softmax_rows, then set to 0
}

@compute @workgroup_size(64)
fn softmax_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = flat_id(wg, lid);
  let T = p.seq;
  if (row >= p.batch * p.heads * T) { return; }
  let i = row % T;
  let n = select(T, i + 1u, p.causal == 1u); // visible keys 0..n-1
  let o = row * T;
  var m = rows_io[o];
  for (var j = 1u; j < n; j++) { m = max(m, rows_io[o + j]); }
  var sum = 0.0;
  for (var j = 0u; j < n; j++) {
    let e = exp(rows_io[o + j] - m); // max-subtracted: no overflow
    rows_io[o + j] = e;
    sum += e;
  }
  let inv = 1.0 / sum;
  for (var j = 0u; j < n; j++) { rows_io[o + j] *= inv; }
  for (var j = n; j < T; j++) { rows_io[o + j] = 0.0; } // causal mask: exactly zero
}

@compute @workgroup_size(64)
fn pv(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let e = elem_of(flat_id(wg, lid));
  if (!e.valid) { return; }
  let T = p.seq;
  let n = select(T, e.t + 1u, p.causal == 1u);
  let prow = e.mat + e.t * T;
  var acc = 0.0;
  for (var j = 0u; j < n; j++) { acc += pm_probs[prow + j] * pm_tok[e.col0 + j * e.hd]; }
  pm_out[e.idx] = acc;
}

// ---------- backward ----------

@compute @workgroup_size(64)
fn dprobs(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = flat_id(wg, lid);
  let e = pair_of(t);
  if (!e.valid) { return; }
  var g = 0.0;
  // Above the causal diagonal P = 0, so dS = 0 there whatever dP is: skip the work.
  if (visible(e.i, e.j)) {
    if ((p.flags & 2u) != 0u) {
      for (var d = 0u; d < p.head_dim; d++) { g += dp_dout[e.ti + d] * dp_v[e.tj + d]; }
    }
    if ((p.flags & 1u) != 0u) { g += dp_extra[t]; }
  }
  dp_out[t] = g;
}

@compute @workgroup_size(64)
fn softmax_bwd(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = flat_id(wg, lid);
  let T = p.seq;
  if (row >= p.batch * p.heads * T) { return; }
  let o = row * T;
  var rowdot = 0.0;
  for (var j = 0u; j < T; j++) { rowdot += sb_probs[o + j] * rows_io[o + j]; }
  for (var j = 0u; j < T; j++) { rows_io[o + j] = sb_probs[o + j] * (rows_io[o + j] - rowdot); }
}

@compute @workgroup_size(64)
fn grad_qk(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let e = elem_of(flat_id(wg, lid));
  if (!e.valid) { return; }
  let T = p.seq;
  let causal = p.causal == 1u;
  // dQ[t] = scale · Σ_j dS[t, j] K[j]   (j ≤ t when causal)
  let n = select(T, e.t + 1u, causal);
  let srow = e.mat + e.t * T;
  var aq = 0.0;
  for (var j = 0u; j < n; j++) { aq += g_ds[srow + j] * g_k[e.col0 + j * e.hd]; }
  // dK[t] = scale · Σ_i dS[i, t] Q[i]   (i ≥ t when causal)
  var ak = 0.0;
  for (var i = select(0u, e.t, causal); i < T; i++) { ak += g_ds[e.mat + i * T + e.t] * g_q[e.col0 + i * e.hd]; }
  aq *= p.scale;
  ak *= p.scale;
  let add = p.accumulate == 1u;
  g_dq[e.idx] = select(aq, aq + g_dq[e.idx], add);
  g_dk[e.idx] = select(ak, ak + g_dk[e.idx], add);
}

@compute @workgroup_size(64)
fn grad_v(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let e = elem_of(flat_id(wg, lid));
  if (!e.valid) { return; }
  let T = p.seq;
  // dV[t] = Σ_i P[i, t] dO[i]   (i ≥ t when causal)
  var acc = 0.0;
  for (var i = select(0u, e.t, p.causal == 1u); i < T; i++) { acc += pm_probs[e.mat + i * T + e.t] * pm_tok[e.col0 + i * e.hd]; }
  pm_out[e.idx] = select(acc, acc + pm_out[e.idx], p.accumulate == 1u);
}

// ---------- vec4 variants (head_dim % 4 == 0): same math, 4 head dims per load ----------
// Every token offset is then a multiple of 4, so the tensors can be bound as vec4 arrays.
// Threads own 4 adjacent d (one vec4) in pv4 / grad_qk4 / grad_v4: 4× fewer probs loads.

// scores4: (1) q (2) k (3) probs;  dprobs4: (1) dout (2) v (3) dprobs_extra (4) dscores
@group(0) @binding(1) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b4: array<vec4<f32>>;
// pv4: (1) probs (2) v (3) out;  grad_v4: (1) probs (2) dout (3) dv
@group(0) @binding(2) var<storage, read> pm_tok4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> pm_out4: array<vec4<f32>>;
// grad_qk4: (1) dscores (2) q (3) k (4) dq (5) dk
@group(0) @binding(2) var<storage, read> g_q4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> g_k4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> g_dq4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> g_dk4: array<vec4<f32>>;

fn dot4(ti: u32, tj: u32) -> f32 {
  let o_i = ti / 4u;
  let o_j = tj / 4u;
  var acc = vec4<f32>(0.0);
  for (var d = 0u; d < p.head_dim / 4u; d++) { acc += a4[o_i + d] * b4[o_j + d]; }
  return acc.x + acc.y + acc.z + acc.w;
}

@compute @workgroup_size(64)
fn scores4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = flat_id(wg, lid);
  let e = pair_of(t);
  if (!e.valid) { return; }
  var dot = 0.0;
  if (visible(e.i, e.j)) { dot = dot4(e.ti, e.tj); }
  s_out[t] = dot * p.scale;
}

@compute @workgroup_size(64)
fn dprobs4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = flat_id(wg, lid);
  let e = pair_of(t);
  if (!e.valid) { return; }
  var g = 0.0;
  if (visible(e.i, e.j)) {
    if ((p.flags & 2u) != 0u) { g = dot4(e.ti, e.tj); }
    if ((p.flags & 1u) != 0u) { g += dp_extra[t]; }
  }
  dp_out[t] = g;
}

// elem_of for the vec4 view: idx4 indexes vec4s; col0 and hd are in vec4 units.
fn elem4_of(idx4: u32) -> Elem {
  let e = elem_of(idx4 * 4u);
  var r = e;
  r.idx = idx4;
  r.valid = idx4 * 4u < p.batch * p.seq * p.heads * p.head_dim;
  r.col0 = e.col0 / 4u;
  r.hd = e.hd / 4u;
  return r;
}

@compute @workgroup_size(64)
fn pv4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let e = elem4_of(flat_id(wg, lid));
  if (!e.valid) { return; }
  let T = p.seq;
  let n = select(T, e.t + 1u, p.causal == 1u);
  let prow = e.mat + e.t * T;
  var acc = vec4<f32>(0.0);
  for (var j = 0u; j < n; j++) { acc += pm_probs[prow + j] * pm_tok4[e.col0 + j * e.hd]; }
  pm_out4[e.idx] = acc;
}

@compute @workgroup_size(64)
fn grad_qk4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let e = elem4_of(flat_id(wg, lid));
  if (!e.valid) { return; }
  let T = p.seq;
  let causal = p.causal == 1u;
  let n = select(T, e.t + 1u, causal);
  let srow = e.mat + e.t * T;
  var aq = vec4<f32>(0.0);
  for (var j = 0u; j < n; j++) { aq += g_ds[srow + j] * g_k4[e.col0 + j * e.hd]; }
  var ak = vec4<f32>(0.0);
  for (var i = select(0u, e.t, causal); i < T; i++) { ak += g_ds[e.mat + i * T + e.t] * g_q4[e.col0 + i * e.hd]; }
  aq *= p.scale;
  ak *= p.scale;
  let add = p.accumulate == 1u;
  g_dq4[e.idx] = select(aq, aq + g_dq4[e.idx], add);
  g_dk4[e.idx] = select(ak, ak + g_dk4[e.idx], add);
}

@compute @workgroup_size(64)
fn grad_v4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let e = elem4_of(flat_id(wg, lid));
  if (!e.valid) { return; }
  let T = p.seq;
  var acc = vec4<f32>(0.0);
  for (var i = select(0u, e.t, p.causal == 1u); i < T; i++) { acc += pm_probs[e.mat + i * T + e.t] * pm_tok4[e.col0 + i * e.hd]; }
  pm_out4[e.idx] = select(acc, acc + pm_out4[e.idx], p.accumulate == 1u);
}
