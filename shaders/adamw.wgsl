// AdamW with global gradient-norm clipping and a non-finite guard.
//
//   norm_partial  (one dispatch per pack): per-thread Σg² and a "saw NaN/Inf" flag (strided)
//   norm_fold     (0–2 dispatches):        fixed-span sums of those pairs
//   norm_final    (one dispatch, 1 thread): gradNorm = √Σ, nonFinite = any flag or norm not finite
//   update        (one dispatch per pack): clipped, bias-corrected Adam step with decoupled,
//                                          masked weight decay; a no-op when nonFinite is set
//
// Non-finite values are detected from the bit pattern (exponent all ones), which no
// fast-math assumption can optimise away. Sums are in a fixed order: deterministic. No
// barriers or workgroup memory (each barrier makes SwiftShader run a workgroup as coroutines).
//
// `acc` (one buffer): [0] gradNorm, [nf_index] nonFinite (both at aligned offsets so they are
// tensors of their own), then the (Σg², flag) pairs of every pack's threads, then fold outputs.
// m and v share one buffer, interleaved per vec4: mv[2i] = m[4i..4i+4], mv[2i+1] = v[4i..4i+4].
// Each entry point uses bindings 0..k-1: norm_partial 0..2, norm_fold/final 0..1, update 0..6.

struct StepParams { step: u32, slot: u32, lr: f32, lr_scale: f32, flags: u32, lambda: f32, _p0: u32, _p1: u32 }

struct AdamParams {
  len4: u32,        // vec4s in this pack
  threads: u32,     // norm_partial / norm_fold: threads doing work
  base: u32,        // norm_partial: index of this pack's first partial pair
  row_stride: u32,  // workgroups per grid row (2-D grids)
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
  in_off: u32,          // float index of the pairs this pass reads (norm_partial: writes)
  out_off: u32,         // norm_fold: float index of the pairs it writes
  count: u32,           // norm_fold / norm_final: pairs to read
  span: u32,            // norm_fold: pairs per thread
  _p0: u32,
  _p1: u32,
}

@group(0) @binding(0) var<uniform> ap: AdamParams;
@group(0) @binding(1) var<storage, read_write> acc: array<f32>;
@group(0) @binding(2) var<storage, read> grads: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> values: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> decay_mask: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> mv: array<vec4<f32>>;
@group(0) @binding(6) var<uniform> sp: StepParams;

const EXP_MASK: u32 = 0x7f800000u;

fn not_finite(x: f32) -> bool {
  return (bitcast<u32>(x) & EXP_MASK) == EXP_MASK;
}

fn any_not_finite4(g: vec4<f32>) -> bool {
  return any((bitcast<vec4<u32>>(g) & vec4<u32>(EXP_MASK)) == vec4<u32>(EXP_MASK));
}

fn thread_index(wg: vec3<u32>, lid: u32, width: u32) -> u32 {
  return (wg.y * ap.row_stride + wg.x) * width + lid;
}

// Thread t of T folds grads[t], grads[t+T], … (vec4s) into the pair (Σg², saw NaN/Inf).
@compute @workgroup_size(64)
fn norm_partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = thread_index(wg, lid, 64u);
  let T = ap.threads;
  if (t >= T) { return; }
  var s = 0.0;
  var bad = false;
  for (var i = t; i < ap.len4; i += T) {
    let g = grads[i];
    bad = bad || any_not_finite4(g);
    s += dot(g, g);
  }
  let k = ap.in_off + 2u * (ap.base + t);
  acc[k] = s;
  acc[k + 1u] = select(0.0, 1.0, bad);
}

// Thread j sums pairs [j·span, (j+1)·span) of the `count` pairs at in_off (flags: max) → out_off.
@compute @workgroup_size(64)
fn norm_fold(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let j = thread_index(wg, lid, 64u);
  if (j >= ap.threads) { return; }
  let start = j * ap.span;
  let end = min(ap.count, start + ap.span);
  var s = 0.0;
  var f = 0.0;
  for (var i = start; i < end; i++) {
    s += acc[ap.in_off + 2u * i];
    f = max(f, acc[ap.in_off + 2u * i + 1u]);
  }
  acc[ap.out_off + 2u * j] = s;
  acc[ap.out_off + 2u * j + 1u] = f;
}

// One thread: gradNorm = √Σ, nonFinite = any flag or the norm itself not finite (f32 overflow).
@compute @workgroup_size(1)
fn norm_final() {
  var s = 0.0;
  var f = 0.0;
  for (var i = 0u; i < ap.count; i++) {
    s += acc[ap.in_off + 2u * i];
    f = max(f, acc[ap.in_off + 2u * i + 1u]);
  }
  let norm = sqrt(s);
  acc[0] = norm;
  acc[ap.nf_index] = select(0.0, 1.0, f != 0.0 || not_finite(norm));
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
  let i = thread_index(wg, lid, 256u);
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
  if (ap.weight_decay != 0.0) { w = w - (lr * ap.weight_decay) * decay_mask[i] * w; } // no mask traffic without decay
  w = w - (lr / bc1) * m / (sqrt(v / bc2) + vec4<f32>(ap.eps));
  values[i] = w;
}
