// Fourier toy (src/kernels/fourier.ts, model src/models/fourier.ts). Compact token layout: a
// batch holds B signals of `seq` samples; each signal is `tc` compact rows — its `tc − 1`
// observed tokens (row τ sits at time pos[r]) and, last, one "rest" row standing for all
// `seq − tc + 1` unobserved tokens (their inputs are 0, so they are identical). `lift` is the
// frozen [2, seq, cols] lift: E then F.
//   lift          X[r, c] = (xobs[r] − ŷ[r])·E[t, c] + F[t, c] on observed rows (ŷ = 0 without
//                 HAS_YHAT), 0 on rest rows; t = pos[r]
//   lift_bwd      dŷ[r] = −Σ_c dX[r, c]·E[t, c] on observed rows, 0 on rest rows     (overwrite)
//   readout       ŷ[r] = Σ_c Y[r, c]·E[t, c] on observed rows, 0 on rest rows
//   readout_bwd   dY[r, c] = dŷ[r]·E[t, c] on observed rows, 0 on rest rows           (overwrite)
//   readout_full  y[b, t] = x[b·tc + slot[b, t]] if slot ≥ 0 (an observed sample is its
//                 observation), else Σ_c Y[rest row of b, c]·E[t, c]
//   full_bwd      dY[r, c] = 0 on observed rows; Σ_{t: slot < 0} dy[b, t]·E[t, c] on the rest row
//                                                                                      (overwrite)
//   softmax_mult  in place on scores [B·tc, tc]: p_ij = w_j·e^{s_ij} / Σ_j' w_j'·e^{s_ij'}, with
//                 w = 1 except the last key (the rest row), w = mult: softmax attention over
//                 all seq tokens, the unobserved ones pooled into one key of multiplicity mult
//   row_norms     n[m] = sqrt(Σ_t P[m, t]²) (+ tiny), P [atoms, seq] (atom time profiles)
//   normalize     Dn[m, c] = D[m, c]/n[m]; with HAS_ETA also Wt[m, c] = exp(log_eta)·Dn[m, c]
//   tied_bwd      one workgroup: dDn[m, c] += η·G[m, c] (with ATOMS); dlog_eta += η·Σ G ⊙ Dn
//                 (with ETA)
//   normalize_bwd dD[m, c] (+)= dDn[m, c]/n[m] − (Σ_c' dDn[m, c']·D[m, c'])/n[m]³ · PE[m, c],
//                 PE = P·E (one thread per atom)
// Sums run in a fixed order: results are deterministic.

struct Params {
  n: u32,
  cols: u32,
  seq: u32,
  tc: u32,
  row_stride: u32,
  flags: u32,
  atoms: u32,
  mult: f32,
}

const HAS_YHAT: u32 = 1u;
const HAS_ETA: u32 = 2u;
const ACCUMULATE: u32 = 4u;
const ATOMS: u32 = 8u;
const ETA: u32 = 16u;

@group(0) @binding(0) var<uniform> p: Params;

fn flat_index(wg: vec3<u32>, lid: u32) -> u32 {
  return (wg.y * p.row_stride + wg.x) * 64u + lid;
}

fn is_rest(r: u32) -> bool {
  return r % p.tc == p.tc - 1u;
}

// ---- lift ----
@group(0) @binding(1) var<storage, read> lf_pos: array<f32>;
@group(0) @binding(2) var<storage, read> lf_xobs: array<f32>;
@group(0) @binding(3) var<storage, read> lf_yhat: array<f32>;
@group(0) @binding(4) var<storage, read> lf_lift: array<f32>;
@group(0) @binding(5) var<storage, read_write> lf_x: array<f32>;

@compute @workgroup_size(64)
fn lift(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, lid);
  if (i >= p.n * p.cols) { return; }
  let r = i / p.cols;
  let c = i % p.cols;
  if (is_rest(r)) {
    lf_x[i] = 0.0;
    return;
  }
  let t = u32(lf_pos[r]);
  var res = lf_xobs[r];
  if ((p.flags & HAS_YHAT) != 0u) { res = res - lf_yhat[r]; }
  let j = t * p.cols + c;
  lf_x[i] = res * lf_lift[j] + lf_lift[p.seq * p.cols + j];
}

// ---- lift backward ----
@group(0) @binding(1) var<storage, read> lb_pos: array<f32>;
@group(0) @binding(2) var<storage, read> lb_dx: array<f32>;
@group(0) @binding(3) var<storage, read> lb_lift: array<f32>;
@group(0) @binding(4) var<storage, read_write> lb_dyhat: array<f32>;

@compute @workgroup_size(64)
fn lift_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = flat_index(wg, lid);
  if (r >= p.n) { return; }
  if (is_rest(r)) {
    lb_dyhat[r] = 0.0;
    return;
  }
  let t = u32(lb_pos[r]);
  var acc = 0.0;
  for (var c = 0u; c < p.cols; c = c + 1u) {
    acc = acc + lb_dx[r * p.cols + c] * lb_lift[t * p.cols + c];
  }
  lb_dyhat[r] = -acc;
}

// ---- readout (observed rows) ----
@group(0) @binding(1) var<storage, read> ro_pos: array<f32>;
@group(0) @binding(2) var<storage, read> ro_y: array<f32>;
@group(0) @binding(3) var<storage, read> ro_lift: array<f32>;
@group(0) @binding(4) var<storage, read_write> ro_out: array<f32>;

@compute @workgroup_size(64)
fn readout(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = flat_index(wg, lid);
  if (r >= p.n) { return; }
  if (is_rest(r)) {
    ro_out[r] = 0.0;
    return;
  }
  let t = u32(ro_pos[r]);
  var acc = 0.0;
  for (var c = 0u; c < p.cols; c = c + 1u) {
    acc = acc + ro_y[r * p.cols + c] * ro_lift[t * p.cols + c];
  }
  ro_out[r] = acc;
}

// ---- readout backward (observed rows) ----
@group(0) @binding(1) var<storage, read> rb_pos: array<f32>;
@group(0) @binding(2) var<storage, read> rb_dout: array<f32>;
@group(0) @binding(3) var<storage, read> rb_lift: array<f32>;
@group(0) @binding(4) var<storage, read_write> rb_dy: array<f32>;

@compute @workgroup_size(64)
fn readout_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, lid);
  if (i >= p.n * p.cols) { return; }
  let r = i / p.cols;
  let c = i % p.cols;
  if (is_rest(r)) {
    rb_dy[i] = 0.0;
    return;
  }
  let t = u32(rb_pos[r]);
  rb_dy[i] = rb_dout[r] * rb_lift[t * p.cols + c];
}

// ---- full read-out: every sample of every signal (p.n = B·seq outputs) ----
@group(0) @binding(1) var<storage, read> rf_slot: array<f32>;
@group(0) @binding(2) var<storage, read> rf_xobs: array<f32>;
@group(0) @binding(3) var<storage, read> rf_y: array<f32>;
@group(0) @binding(4) var<storage, read> rf_lift: array<f32>;
@group(0) @binding(5) var<storage, read_write> rf_out: array<f32>;

@compute @workgroup_size(64)
fn readout_full(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, lid);
  if (i >= p.n) { return; }
  let b = i / p.seq;
  let t = i % p.seq;
  let s = rf_slot[i];
  if (s >= 0.0) {
    rf_out[i] = rf_xobs[b * p.tc + u32(s)];
    return;
  }
  let rest = b * p.tc + p.tc - 1u;
  var acc = 0.0;
  for (var c = 0u; c < p.cols; c = c + 1u) {
    acc = acc + rf_y[rest * p.cols + c] * rf_lift[t * p.cols + c];
  }
  rf_out[i] = acc;
}

// ---- full read-out backward (p.n = B·tc compact rows; writes dY [rows, cols]) ----
@group(0) @binding(1) var<storage, read> fb_slot: array<f32>;
@group(0) @binding(2) var<storage, read> fb_dout: array<f32>;
@group(0) @binding(3) var<storage, read> fb_lift: array<f32>;
@group(0) @binding(4) var<storage, read_write> fb_dy: array<f32>;

@compute @workgroup_size(64)
fn readout_full_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, lid);
  if (i >= p.n * p.cols) { return; }
  let r = i / p.cols;
  let c = i % p.cols;
  let b = r / p.tc;
  if (!is_rest(r)) {
    fb_dy[i] = 0.0;
    return;
  }
  var acc = 0.0;
  for (var t = 0u; t < p.seq; t = t + 1u) {
    if (fb_slot[b * p.seq + t] < 0.0) {
      acc = acc + fb_dout[b * p.seq + t] * fb_lift[t * p.cols + c];
    }
  }
  fb_dy[i] = acc;
}

// ---- softmax with a pooled last key (p.n = rows of scores, each tc long) ----
@group(0) @binding(1) var<storage, read_write> sm_rows: array<f32>;

@compute @workgroup_size(64)
fn softmax_mult(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = flat_index(wg, lid);
  if (r >= p.n) { return; }
  let base = r * p.tc;
  var mx = sm_rows[base];
  for (var j = 1u; j < p.tc; j = j + 1u) { mx = max(mx, sm_rows[base + j]); }
  var z = 0.0;
  for (var j = 0u; j < p.tc; j = j + 1u) {
    var e = exp(sm_rows[base + j] - mx);
    if (j == p.tc - 1u) { e = e * p.mult; }
    sm_rows[base + j] = e;
    z = z + e;
  }
  let inv = 1.0 / z;
  for (var j = 0u; j < p.tc; j = j + 1u) { sm_rows[base + j] = sm_rows[base + j] * inv; }
}

// ---- profile norms (p.n = atoms rows of p.seq) ----
@group(0) @binding(1) var<storage, read> rn_p: array<f32>;
@group(0) @binding(2) var<storage, read_write> rn_out: array<f32>;

@compute @workgroup_size(64)
fn row_norms(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let m = flat_index(wg, lid);
  if (m >= p.n) { return; }
  var acc = 0.0;
  for (var t = 0u; t < p.seq; t = t + 1u) {
    let v = rn_p[m * p.seq + t];
    acc = acc + v * v;
  }
  rn_out[m] = sqrt(acc + 1e-20);
}

// ---- normalize (p.n = atoms, p.cols = C) ----
@group(0) @binding(1) var<storage, read> nz_d: array<f32>;
@group(0) @binding(2) var<storage, read> nz_norms: array<f32>;
@group(0) @binding(3) var<storage, read> nz_log_eta: array<f32>;
@group(0) @binding(4) var<storage, read_write> nz_dn: array<f32>;
@group(0) @binding(5) var<storage, read_write> nz_wt: array<f32>;

@compute @workgroup_size(64)
fn normalize(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, lid);
  if (i >= p.n * p.cols) { return; }
  let v = nz_d[i] / nz_norms[i / p.cols];
  nz_dn[i] = v;
  if ((p.flags & HAS_ETA) != 0u) { nz_wt[i] = exp(nz_log_eta[0]) * v; }
}

// ---- tied backward: one workgroup of 64 (p.n = atoms·cols elements) ----
@group(0) @binding(1) var<storage, read> tb_g: array<f32>;
@group(0) @binding(2) var<storage, read> tb_dn: array<f32>;
@group(0) @binding(3) var<storage, read> tb_log_eta: array<f32>;
@group(0) @binding(4) var<storage, read_write> tb_ddn: array<f32>;
@group(0) @binding(5) var<storage, read_write> tb_dlog_eta: array<f32>;

var<workgroup> tb_part: array<f32, 64>;

@compute @workgroup_size(64)
fn tied_backward(@builtin(local_invocation_index) lid: u32) {
  let eta = exp(tb_log_eta[0]);
  var acc = 0.0;
  for (var i = lid; i < p.n; i = i + 64u) {
    let g = tb_g[i];
    if ((p.flags & ATOMS) != 0u) { tb_ddn[i] = tb_ddn[i] + eta * g; }
    acc = acc + g * tb_dn[i];
  }
  tb_part[lid] = acc;
  workgroupBarrier();
  if (lid == 0u && (p.flags & ETA) != 0u) {
    var s = 0.0;
    for (var j = 0u; j < 64u; j = j + 1u) { s = s + tb_part[j]; }
    tb_dlog_eta[0] = tb_dlog_eta[0] + eta * s;
  }
}

// ---- normalize backward (p.n = atoms; one thread per atom) ----
@group(0) @binding(1) var<storage, read> nb_ddn: array<f32>;
@group(0) @binding(2) var<storage, read> nb_d: array<f32>;
@group(0) @binding(3) var<storage, read> nb_norms: array<f32>;
@group(0) @binding(4) var<storage, read> nb_pe: array<f32>;
@group(0) @binding(5) var<storage, read_write> nb_dd: array<f32>;

@compute @workgroup_size(64)
fn normalize_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let m = flat_index(wg, lid);
  if (m >= p.n) { return; }
  let base = m * p.cols;
  var dot = 0.0;
  for (var c = 0u; c < p.cols; c = c + 1u) { dot = dot + nb_ddn[base + c] * nb_d[base + c]; }
  let n = nb_norms[m];
  let inv = 1.0 / n;
  let k = dot * inv * inv * inv;
  let acc = (p.flags & ACCUMULATE) != 0u;
  for (var c = 0u; c < p.cols; c = c + 1u) {
    var v = nb_ddn[base + c] * inv - k * nb_pe[base + c];
    if (acc) { v = v + nb_dd[base + c]; }
    nb_dd[base + c] = v;
  }
}
