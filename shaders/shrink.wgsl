// Sparsity non-linearities (dictionary-atoms adapter, ISTA) and non-zero counts.
//
//   shrink_forward   y = mask[col] · σ_λ(x)
//   shrink_backward  dx (+)= mask[col] · σ'_λ(x) · (dy + w[col] · sign(x))
//   count_partial    per-row non-zero counts (optional output) and per-thread sums of them
//   count_final      mean non-zeros per row = Σ partials / rows   (one thread)
//
// σ_λ is soft-thresholding sign(x)·max(|x| − λ, 0) or ReLU(x − λ). λ is read from a storage
// buffer (lam[0]) so it can change between steps with queue.writeBuffer, without re-recording.
// σ' is taken as 0 at the kink (|x| = λ, resp. x = λ). The optional w term is the gradient of a
// weighted L1 penalty Σ w[col]·|y| on the output (atoms: ‖D_m‖-weighted code penalty).
//
// Element-parallel, no barriers, no atomics, no workgroup memory (barriers are very slow on
// SwiftShader). Counts are integers summed in a fixed order: deterministic and exact (< 2^24).
// Each entry point binds 0..k contiguously; entry points share binding numbers.

struct Params {
  n: u32,          // elements (forward/backward)
  cols: u32,       // row length (mask / weight period; count row width)
  row_stride: u32, // workgroups per dispatch-grid row
  flags: u32,      // bit0 relu (else soft), bit1 mask, bit2 weights, bit3 accumulate, bit4 write per-row counts
  rows: u32,       // count: rows
  chunk: u32,      // count: rows per partial thread
  parts: u32,      // count: partial threads
  _pad: u32,
}

const RELU: u32 = 1u;
const HAS_MASK: u32 = 2u;
const HAS_WEIGHTS: u32 = 4u;
const ACCUMULATE: u32 = 8u;
const WRITE_COUNTS: u32 = 16u;

@group(0) @binding(0) var<uniform> p: Params;

// shrink_forward: (1) lam (2) x (3) mask (4) y
@group(0) @binding(1) var<storage, read> f_lam: array<f32>;
@group(0) @binding(2) var<storage, read> f_x: array<f32>;
@group(0) @binding(3) var<storage, read> f_mask: array<f32>;
@group(0) @binding(4) var<storage, read_write> f_y: array<f32>;

// shrink_backward: (1) lam (2) x (3) dy (4) mask (5) w (6) dx
@group(0) @binding(1) var<storage, read> b_lam: array<f32>;
@group(0) @binding(2) var<storage, read> b_x: array<f32>;
@group(0) @binding(3) var<storage, read> b_dy: array<f32>;
@group(0) @binding(4) var<storage, read> b_mask: array<f32>;
@group(0) @binding(5) var<storage, read> b_w: array<f32>;
@group(0) @binding(6) var<storage, read_write> b_dx: array<f32>;

// count_partial: (1) x (2) counts (3) partials;  count_final: (1) partials (2) out
@group(0) @binding(1) var<storage, read> c_x: array<f32>;
@group(0) @binding(2) var<storage, read_write> c_counts: array<f32>;
@group(0) @binding(3) var<storage, read_write> c_partials: array<f32>;
@group(0) @binding(1) var<storage, read> cf_partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> cf_out: array<f32>;

fn flat(wg: vec3<u32>, lid: u32) -> u32 {
  return (wg.y * p.row_stride + wg.x) * 64u + lid;
}

fn sigma(v: f32, lam: f32) -> f32 {
  if ((p.flags & RELU) != 0u) { return max(v - lam, 0.0); }
  return sign(v) * max(abs(v) - lam, 0.0);
}

// σ'(v) ∈ {0, 1}; for soft-threshold the active side's sign is sign(v).
fn is_active(v: f32, lam: f32) -> bool {
  if ((p.flags & RELU) != 0u) { return v > lam; }
  return abs(v) > lam;
}

@compute @workgroup_size(64)
fn shrink_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wg, lid);
  if (i >= p.n) { return; }
  var y = sigma(f_x[i], f_lam[0]);
  if ((p.flags & HAS_MASK) != 0u) {
    let m = f_mask[i % p.cols];
    y = select(y * m, 0.0, m == 0.0); // an atom switched off gives exactly +0
  }
  f_y[i] = y;
}

@compute @workgroup_size(64)
fn shrink_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wg, lid);
  if (i >= p.n) { return; }
  let v = b_x[i];
  var g = 0.0;
  if (is_active(v, b_lam[0])) {
    g = b_dy[i];
    let col = i % p.cols;
    if ((p.flags & HAS_WEIGHTS) != 0u) { g = g + b_w[col] * sign(v); }
    if ((p.flags & HAS_MASK) != 0u) { g = g * b_mask[col]; }
  }
  if ((p.flags & ACCUMULATE) != 0u) { g = g + b_dx[i]; }
  b_dx[i] = g;
}

// Thread t counts the non-zeros of rows [t·chunk, (t+1)·chunk).
@compute @workgroup_size(64)
fn count_partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = flat(wg, lid);
  if (t >= p.parts) { return; }
  let r0 = t * p.chunk;
  let r1 = min(p.rows, r0 + p.chunk);
  var total = 0.0;
  for (var r = r0; r < r1; r++) {
    let base = r * p.cols;
    var c = 0.0;
    for (var j = 0u; j < p.cols; j++) { c += select(0.0, 1.0, c_x[base + j] != 0.0); }
    if ((p.flags & WRITE_COUNTS) != 0u) { c_counts[r] = c; }
    total += c;
  }
  c_partials[t] = total;
}

@compute @workgroup_size(1)
fn count_final() {
  var s = 0.0;
  for (var t = 0u; t < p.parts; t++) { s += cf_partials[t]; }
  cf_out[0] = s / f32(p.rows);
}
