// Softmax multi-head attention for sequences of at most 64, forward and backward.
//
// Layouts: q, k, v, out, dq, dk, dv are [batch, seq, heads·head_dim] (head h = columns
// h·D..h·D+D-1); probs and dscores are [batch, heads, seq, seq].
// One thread per (batch, head, row), looping over ≤ 64 keys with the row kept in a private
// array: no barriers (slow on SwiftShader), no atomics (deterministic), K/V rows are shared by
// all threads of a head, so real GPUs serve them from cache.
//
//   forward       S = scale·Q·Kᵀ (+ causal mask), P = softmax(S), O = P·V
//   backward_rows dP = dO·Vᵀ + dP_extra, dS = P ⊙ (dP − rowsum(P ⊙ dP)), dQ = scale·dS·K
//   backward_cols dK = scale·dSᵀ·Q, dV = Pᵀ·dO    (one thread per key column)
//
// Each entry point binds a contiguous range 0..n (the runtime binds by position);
// backward_cols_dk binds a prefix of backward_cols' bindings so both share dk_column().

const MAX_SEQ: u32 = 64u;
const WG: u32 = 64u;

struct Params {
  batch: u32,
  seq: u32,
  heads: u32,
  head_dim: u32,
  scale: f32,
  causal: u32,
  accumulate: u32, // 1: gradients +=, 0: =
  flags: u32,      // backward_rows: bit 0 add dprobs_extra, bit 1 dP includes dO·Vᵀ
  row_stride: u32, // x extent of the dispatch grid, in workgroups
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

// forward: (1) q (2) k (3) v (4) out (5) probs
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> probs_out: array<f32>;

// backward_rows: (1) probs (2) k (3) dscores (4) dq (5) dprobs_extra (6) dout (7) v
@group(0) @binding(1) var<storage, read> probs_r: array<f32>;
@group(0) @binding(2) var<storage, read> k_r: array<f32>;
@group(0) @binding(3) var<storage, read_write> dscores_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> dq: array<f32>;
@group(0) @binding(5) var<storage, read> dprobs_extra: array<f32>;
@group(0) @binding(6) var<storage, read> dout_r: array<f32>;
@group(0) @binding(7) var<storage, read> v_r: array<f32>;

// backward_cols: (1) q (2) dscores (3) dk (4) probs (5) dout (6) dv;  backward_cols_dk: (1)–(3)
@group(0) @binding(1) var<storage, read> q_c: array<f32>;
@group(0) @binding(2) var<storage, read> dscores_in: array<f32>;
@group(0) @binding(3) var<storage, read_write> dk: array<f32>;
@group(0) @binding(4) var<storage, read> probs_c: array<f32>;
@group(0) @binding(5) var<storage, read> dout_c: array<f32>;
@group(0) @binding(6) var<storage, read_write> dv: array<f32>;

struct Row {
  valid: bool,
  b: u32,
  h: u32,
  i: u32,     // query row (forward, backward_rows) or key column (backward_cols)
  mat: u32,   // offset of the [seq, seq] matrix of (b, h) in probs/dscores
  tok: u32,   // offset of element (b, 0, h, 0) in q/k/v: token t of this head starts at tok + t·hd
  hd: u32,    // heads·head_dim: the token stride
}

fn row_of(wg: vec3<u32>, lid: u32) -> Row {
  let t = (wg.y * p.row_stride + wg.x) * WG + lid;
  var r: Row;
  r.valid = t < p.batch * p.heads * p.seq;
  r.i = t % p.seq;
  let bh = t / p.seq;
  r.h = bh % p.heads;
  r.b = bh / p.heads;
  r.mat = bh * p.seq * p.seq;
  r.hd = p.heads * p.head_dim;
  r.tok = r.b * p.seq * r.hd + r.h * p.head_dim;
  return r;
}

// ---------- forward ----------

@compute @workgroup_size(64)
fn forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = row_of(wg, lid);
  if (!r.valid) { return; }
  let T = p.seq;
  let D = p.head_dim;
  let qo = r.tok + r.i * r.hd;
  // Keys visible to row i: all, or 0..i when causal (masked probabilities are exactly 0).
  let n = select(T, r.i + 1u, p.causal == 1u);
  var s: array<f32, MAX_SEQ>;
  var m = -3.0e38;
  for (var j = 0u; j < n; j++) {
    let ko = r.tok + j * r.hd;
    var dot = 0.0;
    for (var d = 0u; d < D; d++) { dot += q[qo + d] * k[ko + d]; }
    s[j] = dot * p.scale;
    m = max(m, s[j]);
  }
  var sum = 0.0;
  for (var j = 0u; j < n; j++) {
    s[j] = exp(s[j] - m); // max-subtracted: no overflow
    sum += s[j];
  }
  let inv = 1.0 / sum;
  let po = r.mat + r.i * T;
  for (var j = 0u; j < T; j++) {
    var pj = 0.0;
    if (j < n) { pj = s[j] * inv; s[j] = pj; }
    probs_out[po + j] = pj;
  }
  for (var d = 0u; d < D; d++) {
    var acc = 0.0;
    for (var j = 0u; j < n; j++) { acc += s[j] * v[r.tok + j * r.hd + d]; }
    out[qo + d] = acc;
  }
}

// ---------- backward, per query row: dscores and dq ----------

@compute @workgroup_size(64)
fn backward_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = row_of(wg, lid);
  if (!r.valid) { return; }
  let T = p.seq;
  let D = p.head_dim;
  let qo = r.tok + r.i * r.hd;
  let po = r.mat + r.i * T;
  let n = select(T, r.i + 1u, p.causal == 1u);
  let use_extra = (p.flags & 1u) != 0u;
  let use_dout = (p.flags & 2u) != 0u;
  var ds: array<f32, MAX_SEQ>;
  var rowdot = 0.0;
  for (var j = 0u; j < n; j++) {
    var g = 0.0;
    if (use_dout) {
      let vo = r.tok + j * r.hd;
      for (var d = 0u; d < D; d++) { g += dout_r[qo + d] * v_r[vo + d]; }
    }
    if (use_extra) { g += dprobs_extra[po + j]; }
    ds[j] = g;
    rowdot += probs_r[po + j] * g;
  }
  for (var j = 0u; j < T; j++) {
    var g = 0.0;
    // Masked entries have P = 0, hence dS = 0 whatever dP_extra holds there.
    if (j < n) { g = probs_r[po + j] * (ds[j] - rowdot); ds[j] = g; }
    dscores_out[po + j] = g;
  }
  let add = p.accumulate == 1u;
  for (var d = 0u; d < D; d++) {
    var acc = 0.0;
    for (var j = 0u; j < n; j++) { acc += ds[j] * k_r[r.tok + j * r.hd + d]; }
    acc *= p.scale;
    dq[qo + d] = select(acc, acc + dq[qo + d], add);
  }
}

// ---------- backward, per key column: dk (and dv) ----------

// dK_j = scale · Σ_i dS_ij Q_i, rows i ≥ j only when causal (dS is 0 above the diagonal).
fn dk_column(r: Row) {
  let T = p.seq;
  let D = p.head_dim;
  let j = r.i;
  let i0 = select(0u, j, p.causal == 1u);
  var col: array<f32, MAX_SEQ>;
  for (var i = i0; i < T; i++) { col[i] = dscores_in[r.mat + i * T + j]; }
  let ko = r.tok + j * r.hd;
  let add = p.accumulate == 1u;
  for (var d = 0u; d < D; d++) {
    var acc = 0.0;
    for (var i = i0; i < T; i++) { acc += col[i] * q_c[r.tok + i * r.hd + d]; }
    acc *= p.scale;
    dk[ko + d] = select(acc, acc + dk[ko + d], add);
  }
}

@compute @workgroup_size(64)
fn backward_cols(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = row_of(wg, lid);
  if (!r.valid) { return; }
  dk_column(r);
  // dV_j = Σ_i P_ij dO_i
  let T = p.seq;
  let D = p.head_dim;
  let j = r.i;
  let i0 = select(0u, j, p.causal == 1u);
  var col: array<f32, MAX_SEQ>;
  for (var i = i0; i < T; i++) { col[i] = probs_c[r.mat + i * T + j]; }
  let vo = r.tok + j * r.hd;
  let add = p.accumulate == 1u;
  for (var d = 0u; d < D; d++) {
    var acc = 0.0;
    for (var i = i0; i < T; i++) { acc += col[i] * dout_c[r.tok + i * r.hd + d]; }
    dv[vo + d] = select(acc, acc + dv[vo + d], add);
  }
}

@compute @workgroup_size(64)
fn backward_cols_dk(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = row_of(wg, lid);
  if (!r.valid) { return; }
  dk_column(r);
}
