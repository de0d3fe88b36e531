// ISTA / FISTA sparse coding, min_S ½‖X − S·D‖² + λ‖S‖₁, non-matmul parts (src/kernels/ista.ts):
//
//   power_matvec     w = G·v / ‖v‖                 (thread per row; ‖v‖ from the previous pass)
//   power_norm       out = scale·‖w‖                (one thread; the last pass writes L)
//   ista_step        s' = soft(y − g/L, λ/L);  y' = s' + β·(s' − s)   (in place, thread per element)
//   objective_part   per-thread Σ r², Σ |s|         (strided, fixed order)
//   objective_final  obj[index] = ½·Σ r² + λ·Σ |s|  (one thread)
//
// G is D·Dᵀ or Dᵀ·D (same non-zero spectrum), g = (y·D − X)·Dᵀ comes from matmuls, L = ‖D‖₂²
// lives on the GPU, λ in a storage buffer (changeable without re-recording). No barriers, no
// atomics: deterministic. Each entry point binds 0..n contiguously; entry points share numbers.

struct Params {
  n: u32,          // elements / rows of G
  row_stride: u32, // workgroups per dispatch-grid row
  n2: u32,         // objective: elements of s (n = elements of r)
  threads: u32,    // objective: partial threads
  index: u32,      // objective_final: output slot
  _pad: u32,
  beta: f32,       // ista_step: momentum (t_k − 1)/t_{k+1}; 0 for ISTA
  scale: f32,      // power_norm: multiplier (safety margin on the last pass)
}

@group(0) @binding(0) var<uniform> p: Params;

// power_matvec: (1) G (2) v (3) ‖v‖ (4) w
@group(0) @binding(1) var<storage, read> pm_g: array<f32>;
@group(0) @binding(2) var<storage, read> pm_v: array<f32>;
@group(0) @binding(3) var<storage, read> pm_nv: array<f32>;
@group(0) @binding(4) var<storage, read_write> pm_w: array<f32>;
// power_norm: (1) w (2) out
@group(0) @binding(1) var<storage, read> pn_w: array<f32>;
@group(0) @binding(2) var<storage, read_write> pn_out: array<f32>;
// ista_step: (1) L (2) λ (3) grad (4) y (5) s
@group(0) @binding(1) var<storage, read> is_l: array<f32>;
@group(0) @binding(2) var<storage, read> is_lam: array<f32>;
@group(0) @binding(3) var<storage, read> is_g: array<f32>;
@group(0) @binding(4) var<storage, read_write> is_y: array<f32>;
@group(0) @binding(5) var<storage, read_write> is_s: array<f32>;
// objective_part: (1) r (2) s (3) partials
@group(0) @binding(1) var<storage, read> op_r: array<f32>;
@group(0) @binding(2) var<storage, read> op_s: array<f32>;
@group(0) @binding(3) var<storage, read_write> op_out: array<f32>;
// objective_final: (1) λ (2) partials (3) obj
@group(0) @binding(1) var<storage, read> of_lam: array<f32>;
@group(0) @binding(2) var<storage, read> of_part: array<f32>;
@group(0) @binding(3) var<storage, read_write> of_obj: array<f32>;

fn flat(wg: vec3<u32>, lid: u32) -> u32 {
  return (wg.y * p.row_stride + wg.x) * 64u + lid;
}

@compute @workgroup_size(64)
fn power_matvec(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wg, lid);
  if (i >= p.n) { return; }
  var acc = 0.0;
  for (var j = 0u; j < p.n; j++) { acc += pm_g[i * p.n + j] * pm_v[j]; }
  pm_w[i] = acc / max(pm_nv[0], 1e-30);
}

@compute @workgroup_size(1)
fn power_norm() {
  var q = 0.0;
  for (var i = 0u; i < p.n; i++) {
    let v = pn_w[i];
    q += v * v;
  }
  pn_out[0] = p.scale * sqrt(q);
}

@compute @workgroup_size(64)
fn ista_step(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wg, lid);
  if (i >= p.n) { return; }
  let inv_l = 1.0 / is_l[0];
  let v = is_y[i] - is_g[i] * inv_l;
  let s_new = sign(v) * max(abs(v) - is_lam[0] * inv_l, 0.0);
  let s_old = is_s[i];
  is_s[i] = s_new;
  is_y[i] = s_new + p.beta * (s_new - s_old);
}

@compute @workgroup_size(64)
fn objective_part(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = flat(wg, lid);
  if (t >= p.threads) { return; }
  var a = 0.0;
  for (var i = t; i < p.n; i += p.threads) {
    let v = op_r[i];
    a += v * v;
  }
  var b = 0.0;
  for (var i = t; i < p.n2; i += p.threads) { b += abs(op_s[i]); }
  op_out[2u * t] = a;
  op_out[2u * t + 1u] = b;
}

@compute @workgroup_size(1)
fn objective_final() {
  var a = 0.0;
  var b = 0.0;
  for (var t = 0u; t < p.threads; t++) {
    a += of_part[2u * t];
    b += of_part[2u * t + 1u];
  }
  of_obj[p.index] = 0.5 * a + of_lam[0] * b;
}
