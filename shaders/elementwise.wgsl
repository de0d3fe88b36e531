// Element-wise kernels over flat f32 arrays. 1-D work is spread over a 2-D grid of 256-wide
// workgroups so sizes beyond 65535×256 still fit the per-dimension dispatch limit.

struct Params {
  n: u32,          // element count
  row_stride: u32, // workgroups per grid row (x extent of the dispatch)
  alpha: f32,
  beta: f32,
  period: u32,     // broadcast_add: length of the added vector
  _p0: u32,
  _p1: u32,
  _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

fn flat_index(wg: vec3<u32>, lid: u32) -> u32 {
  return (wg.y * p.row_stride + wg.x) * 256u + lid;
}

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const GELU_C: f32 = 0.044715;

// tanh-approximation GELU (as GPT-2 / llm.c); tanh written via exp to stay finite for large |u|.
fn tanh_safe(u: f32) -> f32 {
  let e = exp(-2.0 * abs(u));
  let t = (1.0 - e) / (1.0 + e);
  return select(-t, t, u >= 0.0);
}

@compute @workgroup_size(256)
fn gelu_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, lid);
  if (i >= p.n) { return; }
  let v = x[i];
  y[i] = 0.5 * v * (1.0 + tanh_safe(SQRT_2_OVER_PI * (v + GELU_C * v * v * v)));
}

// y = alpha * x + beta * y   (beta = 0 overwrites; beta = 1 accumulates)
@compute @workgroup_size(256)
fn axpby(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, lid);
  if (i >= p.n) { return; }
  var acc = p.alpha * x[i];
  if (p.beta != 0.0) { acc = acc + p.beta * y[i]; }
  y[i] = acc;
}

// y[i] += alpha * x[i % period]   (add a [period] vector to every row; e.g. position embeddings)
@compute @workgroup_size(256)
fn broadcast_add(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, lid);
  if (i >= p.n) { return; }
  y[i] = y[i] + p.alpha * x[i % p.period];
}
