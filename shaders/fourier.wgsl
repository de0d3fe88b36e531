// Fourier toy task (src/tasks/fourier.ts): the per-token lift of a 1-D signal into `cols`
// features and its transpose, the read-out. Token r of a batch is time step t = r % seq.
//   lift      X[r, c] = res[r]·E[t, c] + m[r]·F[t, c],  res[r] = xobs[r] − m[r]·ŷ[r]
//             (the observed residual m ⊙ (x − ŷ); xobs is already zero where m = 0; without
//             HAS_YHAT, ŷ = 0). `lift` holds E then F, each [seq, cols].
//   lift_bwd  dŷ[r] = −m[r]·Σ_c dX[r, c]·E[t, c]             (one thread per row, overwrite)
//   readout   ŷ[r] = Σ_c Y[r, c]·E[t, c]                       (one thread per row)
//   read_bwd  dY[r, c] = dŷ[r]·E[t, c]                          (overwrite)
// Sums run in a fixed order: the results are deterministic.

struct Params {
  rows: u32,
  cols: u32,
  seq: u32,
  row_stride: u32,
  flags: u32,
  _p0: u32,
  _p1: u32,
  _p2: u32,
}

const HAS_YHAT: u32 = 1u;

@group(0) @binding(0) var<uniform> p: Params;

fn flat_index(wg: vec3<u32>, lid: u32) -> u32 {
  return (wg.y * p.row_stride + wg.x) * 64u + lid;
}

// ---- lift ----
@group(0) @binding(1) var<storage, read> lf_xobs: array<f32>;
@group(0) @binding(2) var<storage, read> lf_mask: array<f32>;
@group(0) @binding(3) var<storage, read> lf_yhat: array<f32>;
@group(0) @binding(4) var<storage, read> lf_lift: array<f32>;
@group(0) @binding(5) var<storage, read_write> lf_x: array<f32>;

@compute @workgroup_size(64)
fn lift(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, lid);
  if (i >= p.rows * p.cols) { return; }
  let r = i / p.cols;
  let c = i % p.cols;
  let t = r % p.seq;
  let m = lf_mask[r];
  var res = lf_xobs[r];
  if ((p.flags & HAS_YHAT) != 0u) { res = res - m * lf_yhat[r]; }
  let tc = p.seq * p.cols;
  let j = t * p.cols + c;
  lf_x[i] = res * lf_lift[j] + m * lf_lift[tc + j];
}

// ---- lift backward ----
@group(0) @binding(1) var<storage, read> lb_dx: array<f32>;
@group(0) @binding(2) var<storage, read> lb_mask: array<f32>;
@group(0) @binding(3) var<storage, read> lb_lift: array<f32>;
@group(0) @binding(4) var<storage, read_write> lb_dyhat: array<f32>;

@compute @workgroup_size(64)
fn lift_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = flat_index(wg, lid);
  if (r >= p.rows) { return; }
  let t = r % p.seq;
  var acc = 0.0;
  for (var c = 0u; c < p.cols; c = c + 1u) {
    acc = acc + lb_dx[r * p.cols + c] * lb_lift[t * p.cols + c];
  }
  lb_dyhat[r] = -lb_mask[r] * acc;
}

// ---- readout ----
@group(0) @binding(1) var<storage, read> ro_y: array<f32>;
@group(0) @binding(2) var<storage, read> ro_lift: array<f32>;
@group(0) @binding(3) var<storage, read_write> ro_out: array<f32>;

@compute @workgroup_size(64)
fn readout(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = flat_index(wg, lid);
  if (r >= p.rows) { return; }
  let t = r % p.seq;
  var acc = 0.0;
  for (var c = 0u; c < p.cols; c = c + 1u) {
    acc = acc + ro_y[r * p.cols + c] * ro_lift[t * p.cols + c];
  }
  ro_out[r] = acc;
}

// ---- readout backward ----
@group(0) @binding(1) var<storage, read> rb_dout: array<f32>;
@group(0) @binding(2) var<storage, read> rb_lift: array<f32>;
@group(0) @binding(3) var<storage, read_write> rb_dy: array<f32>;

@compute @workgroup_size(64)
fn readout_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, lid);
  if (i >= p.rows * p.cols) { return; }
  let r = i / p.cols;
  let c = i % p.cols;
  let t = r % p.seq;
  rb_dy[i] = rb_dout[r] * rb_lift[t * p.cols + c];
}
