// AdamW with global gradient-norm clipping and a non-finite guard.
//
//   norm_partial  (one dispatch per pack): per-workgroup Σg² and a "saw NaN/Inf" flag
//   norm_final    (one dispatch):          gradNorm = √ΣΣg², nonFinite = any flag or norm not finite
//   update        (one dispatch per pack): clipped, bias-corrected Adam step with decoupled,
//                                          masked weight decay; a no-op when nonFinite is set
//
// Non-finite values are detected from the bit pattern (exponent all ones), which no
// fast-math assumption can optimise away. Sums are in a fixed order: deterministic.
//
// `acc` (one buffer): [0] gradNorm, [nf_index] nonFinite (both at aligned offsets so they are
// tensors of their own), then from part_off the (Σg², flag) pairs of every pack's workgroups.
// m and v share one buffer, interleaved per vec4: mv[2i] = m[4i..4i+4], mv[2i+1] = v[4i..4i+4].
// Each entry point uses bindings 0..k-1: norm_partial 0..2, norm_final 0..1, update 0..6.

struct StepParams { step: u32, slot: u32, lr: f32, lr_scale: f32, flags: u32, lambda: f32, _p0: u32, _p1: u32 }

struct AdamParams {
  len4: u32,        // vec4s in this pack
  chunk: u32,       // norm_partial: vec4s per workgroup
  base: u32,        // norm_partial: index of this pack's first partial; norm_final: total partials
  row_stride: u32,  // update: workgroups per grid row
  beta1: f32,
  beta2: f32,
  one_minus_beta1: f32, // 1 − β, computed in float64 on the CPU
  one_minus_beta2: f32,
  ln_beta1: f32,        // ln β (bias corrections 1 − βᵗ = −expm1(t·ln β))
  ln_beta2: f32,
  eps: f32,
  weight_decay: f32,
  clip_norm: f32,       // 0 = no clipping
  nf_index: u32,        // float index of nonFinite in acc
  part_off: u32,        // float index of the first partial pair in acc
  _p0: u32,
}

@group(0) @binding(0) var<uniform> ap: AdamParams;
@group(0) @binding(1) var<storage, read_write> acc: array<f32>;
@group(0) @binding(2) var<storage, read> grads: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> values: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> decay_mask: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> mv: array<vec4<f32>>;
@group(0) @binding(6) var<uniform> sp: StepParams;

const EXP_MASK: u32 = 0x7f800000u;

var<workgroup> sh_s: array<f32, 256>;
var<workgroup> sh_f: array<f32, 256>;

fn not_finite(x: f32) -> bool {
  return (bitcast<u32>(x) & EXP_MASK) == EXP_MASK;
}

fn any_not_finite4(g: vec4<f32>) -> bool {
  return any((bitcast<vec4<u32>>(g) & vec4<u32>(EXP_MASK)) == vec4<u32>(EXP_MASK));
}

// Σ of sh_s and max of sh_f over 256 threads into index 0 (256 → 16 → 1, fixed order).
fn wg_fold(lid: u32) {
  workgroupBarrier();
  if (lid < 16u) {
    var s = sh_s[lid];
    var f = sh_f[lid];
    for (var k = 1u; k < 16u; k++) { s += sh_s[lid + 16u * k]; f = max(f, sh_f[lid + 16u * k]); }
    sh_s[lid] = s;
    sh_f[lid] = f;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var s = sh_s[0];
    var f = sh_f[0];
    for (var k = 1u; k < 16u; k++) { s += sh_s[k]; f = max(f, sh_f[k]); }
    sh_s[0] = s;
    sh_f[0] = f;
  }
  workgroupBarrier();
}

@compute @workgroup_size(256)
fn norm_partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let start = wg.x * ap.chunk;
  let end = min(ap.len4, start + ap.chunk);
  var s = 0.0;
  var bad = false;
  for (var i = start + lid; i < end; i += 256u) {
    let g = grads[i];
    bad = bad || any_not_finite4(g);
    s += dot(g, g);
  }
  sh_s[lid] = s;
  sh_f[lid] = select(0.0, 1.0, bad);
  wg_fold(lid);
  if (lid == 0u) {
    let k = ap.part_off + 2u * (ap.base + wg.x);
    acc[k] = sh_s[0];
    acc[k + 1u] = sh_f[0];
  }
}

@compute @workgroup_size(256)
fn norm_final(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  var f = 0.0;
  for (var i = lid; i < ap.base; i += 256u) {
    let k = ap.part_off + 2u * i;
    s += acc[k];
    f = max(f, acc[k + 1u]);
  }
  sh_s[lid] = s;
  sh_f[lid] = f;
  wg_fold(lid);
  if (lid == 0u) {
    let norm = sqrt(sh_s[0]);
    acc[0] = norm;
    acc[ap.nf_index] = select(0.0, 1.0, sh_f[0] != 0.0 || not_finite(norm));
  }
}

// −expm1(x) = 1 − eˣ for x ≤ 0, without cancellation for small |x| (series there).
fn one_minus_exp(x: f32) -> f32 {
  if (x > -1e-2) {
    return -x * (1.0 + x * (0.5 + x * (1.0 / 6.0 + x * (1.0 / 24.0 + x * (1.0 / 120.0)))));
  }
  return 1.0 - exp(x);
}

@compute @workgroup_size(256)
fn update(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  if (acc[ap.nf_index] != 0.0) { return; } // keep the last good params and moments
  let i = (wg.y * ap.row_stride + wg.x) * 256u + lid;
  if (i >= ap.len4) { return; }
  let t = f32(sp.step + 1u);
  let bc1 = one_minus_exp(t * ap.ln_beta1);
  let bc2 = one_minus_exp(t * ap.ln_beta2);
  let lr = sp.lr * sp.lr_scale;
  var scale = 1.0;
  if (ap.clip_norm > 0.0) { scale = min(1.0, ap.clip_norm / (acc[0] + 1e-6)); }
  let g = grads[i] * scale;
  let m = ap.beta1 * mv[2u * i] + ap.one_minus_beta1 * g;
  let v = ap.beta2 * mv[2u * i + 1u] + ap.one_minus_beta2 * g * g;
  mv[2u * i] = m;
  mv[2u * i + 1u] = v;
  var w = values[i];
  w = w - (lr * ap.weight_decay) * decay_mask[i] * w;
  w = w - (lr / bc1) * m / (sqrt(v / bc2) + vec4<f32>(ap.eps));
  values[i] = w;
}
