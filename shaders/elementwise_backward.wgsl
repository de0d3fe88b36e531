// Backward of element-wise activations: dx = dy * f'(x). Separate file because it binds three arrays.

struct Params {
  n: u32,
  row_stride: u32,
  accumulate: u32, // 1: dx += …, 0: dx = …
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const GELU_C: f32 = 0.044715;

fn tanh_safe(u: f32) -> f32 {
  let e = exp(-2.0 * abs(u));
  let t = (1.0 - e) / (1.0 + e);
  return select(-t, t, u >= 0.0);
}

@compute @workgroup_size(256)
fn gelu_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * p.row_stride + wg.x) * 256u + lid;
  if (i >= p.n) { return; }
  let v = x[i];
  let u = SQRT_2_OVER_PI * (v + GELU_C * v * v * v);
  let t = tanh_safe(u);
  let du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C * v * v);
  let g = 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * du;
  var out = dy[i] * g;
  if (p.accumulate == 1u) { out = out + dx[i]; }
  dx[i] = out;
}
