// Losses: element/row passes that write gradients and per-thread (or per-row) partial sums as
// (a, b) pairs; reduce.wgsl's pair_fold / pair_final then sum the pairs in a fixed order (no
// atomics). Only ce_rows_wg uses barriers (it is for real GPUs; SwiftShader gets ce_rows_thread).
//
// Bindings are shared by all entry points and each entry point uses a prefix 0..k-1 of them:
//   MSE partial / grad: 0..5      CE rows: 0..4

struct LossParams {
  n: u32,          // MSE: elements; CE: rows
  chunk: u32,      // MSE partial: threads (stride)
  classes: u32,    // CE
  flags: u32,      // bit 0: mask present; bit 1: write the gradient in this pass
  grad_scale: f32, // factor on the gradient (see loss.ts)
  row_stride: u32, // workgroups per grid row for 2-D grids
  _p0: u32,
  _p1: u32,
}

const HAS_MASK: u32 = 1u;
const WRITE_GRAD: u32 = 2u;

@group(0) @binding(0) var<uniform> p: LossParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;           // pred | logits
@group(0) @binding(2) var<storage, read> b: array<f32>;           // target | labels (f32 class ids)
@group(0) @binding(3) var<storage, read_write> part: array<f32>;  // pairs (a, b) | MSE grad pass: [count]
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;  // dLoss/dpred | dLoss/dlogits (or a dummy)
@group(0) @binding(5) var<storage, read> mask: array<f32>;        // MSE mask (or a dummy when absent)

var<workgroup> sh_a: array<f32, 256>;
var<workgroup> sh_b: array<f32, 256>;
var<workgroup> sh_i: array<u32, 256>;

// Σ over 256 threads of (sh_a, sh_b) into index 0: 256 → 16 → 1 in a fixed order.
fn wg_sum2(lid: u32) {
  workgroupBarrier();
  if (lid < 16u) {
    var x = sh_a[lid];
    var y = sh_b[lid];
    for (var k = 1u; k < 16u; k++) { x += sh_a[lid + 16u * k]; y += sh_b[lid + 16u * k]; }
    sh_a[lid] = x;
    sh_b[lid] = y;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var x = sh_a[0];
    var y = sh_b[0];
    for (var k = 1u; k < 16u; k++) { x += sh_a[k]; y += sh_b[k]; }
    sh_a[0] = x;
    sh_b[0] = y;
  }
  workgroupBarrier();
}

// ---------- mean squared error ----------

fn thread_index(wg: vec3<u32>, lid: u32, width: u32) -> u32 {
  return (wg.y * p.row_stride + wg.x) * width + lid;
}

// Thread t of T (T = p.chunk) folds elements t, t+T, … into the pair (Σ m·d², Σ m), d = pred − target,
// m = mask or 1. Without a mask the gradient is written here too: grad = d · grad_scale (= 2·s/n).
@compute @workgroup_size(64)
fn mse_partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = thread_index(wg, lid, 64u);
  let T = p.chunk;
  if (t >= T) { return; }
  let masked = (p.flags & HAS_MASK) != 0u;
  let write_grad = (p.flags & WRITE_GRAD) != 0u;
  var sse = 0.0;
  var cnt = 0.0;
  for (var i = t; i < p.n; i += T) {
    let d = a[i] - b[i];
    var m = 1.0;
    if (masked) { m = mask[i]; }
    sse += m * d * d;
    cnt += m;
    if (write_grad) { grad[i] = m * d * p.grad_scale; }
  }
  part[2u * t] = sse;
  part[2u * t + 1u] = cnt;
}

// Masked MSE gradient once the mask count is known: grad = m·d·grad_scale / count (0 if count ≤ 0).
@compute @workgroup_size(256)
fn mse_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wg, lid, 256u);
  if (i >= p.n) { return; }
  let count = part[0];
  let s = select(0.0, p.grad_scale / count, count > 0.0);
  grad[i] = mask[i] * (a[i] - b[i]) * s;
}

// ---------- softmax cross-entropy ----------

fn label_of(r: u32) -> u32 {
  // Labels are exact small integers stored as f32; out-of-range values are clamped.
  return u32(clamp(b[r], 0.0, f32(p.classes - 1u)));
}

// log(1 + x) for x ≥ 0 without the cancellation of log(1.0 + x) at small x (a series there).
fn log1p_pos(x: f32) -> f32 {
  if (x < 1e-2) {
    return x * (1.0 - x * (0.5 - x * (1.0 / 3.0 - x * (0.25 - x * 0.2))));
  }
  return log(1.0 + x);
}

// Row loss from the max m, the label's logit, Σ e over all classes and Σ e over the
// classes other than the label (e_c = exp(a_c − m)). When the label holds the max, e_label = 1 and
// loss = log1p(Σ others), accurate for confident rows; otherwise both terms are positive.
fn row_loss(m: f32, a_lbl: f32, s: f32, s_other: f32) -> f32 {
  if (a_lbl >= m) { return log1p_pos(s_other); }
  return log(s) + (m - a_lbl);
}

// One thread per row (few classes, or SwiftShader where barriers are slow). Writes pair (loss_r, correct_r) and, if asked,
// grad = (softmax - onehot) · grad_scale.
@compute @workgroup_size(64)
fn ce_rows_thread(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = thread_index(wg, lid, 64u);
  if (r >= p.n) { return; }
  let C = p.classes;
  let base = r * C;
  var mx = a[base];
  var am = 0u;
  for (var c = 1u; c < C; c++) {
    let v = a[base + c];
    if (v > mx) { mx = v; am = c; }
  }
  let lbl = label_of(r);
  var s = 0.0;
  var s_other = 0.0;
  for (var c = 0u; c < C; c++) {
    let e = exp(a[base + c] - mx);
    s += e;
    if (c != lbl) { s_other += e; }
  }
  part[2u * r] = row_loss(mx, a[base + lbl], s, s_other);
  part[2u * r + 1u] = select(0.0, 1.0, am == lbl);
  if ((p.flags & WRITE_GRAD) != 0u) {
    // softmax − onehot; at the label −Σothers/s (no 1 − p cancellation).
    let inv = p.grad_scale / s;
    for (var c = 0u; c < C; c++) {
      grad[base + c] = select(exp(a[base + c] - mx), -s_other, c == lbl) * inv;
    }
  }
}

// One workgroup per row (many classes on real GPUs): same outputs as ce_rows_thread.
@compute @workgroup_size(256)
fn ce_rows_wg(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = wg.y * p.row_stride + wg.x; // uniform per workgroup
  if (r >= p.n) { return; }
  let C = p.classes;
  let base = r * C;
  // (max, first argmax): each thread over its stride, then 256 → 16 → 1 keeping the larger
  // value and, on ties, the smaller index.
  var mx = a[base];
  var am = 0u;
  for (var c = lid; c < C; c += 256u) {
    let v = a[base + c];
    if (v > mx || (v == mx && c < am)) { mx = v; am = c; }
  }
  sh_a[lid] = mx;
  sh_i[lid] = am;
  workgroupBarrier();
  if (lid < 16u) {
    var m = sh_a[lid];
    var i = sh_i[lid];
    for (var k = 1u; k < 16u; k++) {
      let v = sh_a[lid + 16u * k];
      let j = sh_i[lid + 16u * k];
      if (v > m || (v == m && j < i)) { m = v; i = j; }
    }
    sh_a[lid] = m;
    sh_i[lid] = i;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var m = sh_a[0];
    var i = sh_i[0];
    for (var k = 1u; k < 16u; k++) {
      let v = sh_a[k];
      let j = sh_i[k];
      if (v > m || (v == m && j < i)) { m = v; i = j; }
    }
    sh_a[0] = m;
    sh_i[0] = i;
  }
  workgroupBarrier();
  let row_max = sh_a[0];
  let row_arg = sh_i[0];
  workgroupBarrier();
  let lbl = label_of(r);
  var s = 0.0;
  var s_other = 0.0;
  for (var c = lid; c < C; c += 256u) {
    let e = exp(a[base + c] - row_max);
    s += e;
    if (c != lbl) { s_other += e; }
  }
  sh_a[lid] = s;
  sh_b[lid] = s_other;
  wg_sum2(lid);
  let total = sh_a[0];
  let total_other = sh_b[0];
  if (lid == 0u) {
    part[2u * r] = row_loss(row_max, a[base + lbl], total, total_other);
    part[2u * r + 1u] = select(0.0, 1.0, row_arg == lbl);
  }
  if ((p.flags & WRITE_GRAD) != 0u) {
    let inv = p.grad_scale / total;
    for (var c = lid; c < C; c += 256u) {
      grad[base + c] = select(exp(a[base + c] - row_max), -total_other, c == lbl) * inv;
    }
  }
}
