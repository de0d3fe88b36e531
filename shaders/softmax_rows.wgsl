// Row softmax with argmax, for classifier outputs (src/kernels/softmax-rows.ts): one thread per
// row (class counts are small), no barriers. probs[r, :] = softmax(logits[r, :]);
// pred[r] = first index of the row maximum, as f32.

struct Params {
  rows: u32,
  classes: u32,
  row_stride: u32, // workgroups per grid row (2-D grids)
  _p: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> probs: array<f32>;
@group(0) @binding(3) var<storage, read_write> pred: array<f32>;

@compute @workgroup_size(64)
fn softmax_argmax(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = (wg.y * p.row_stride + wg.x) * 64u + lid;
  if (r >= p.rows) { return; }
  let base = r * p.classes;
  var mx = logits[base];
  var am = 0u;
  for (var c = 1u; c < p.classes; c++) {
    let v = logits[base + c];
    if (v > mx) { mx = v; am = c; }
  }
  var s = 0.0;
  for (var c = 0u; c < p.classes; c++) {
    let e = exp(logits[base + c] - mx);
    probs[base + c] = e;
    s += e;
  }
  let inv = 1.0 / s;
  for (var c = 0u; c < p.classes; c++) { probs[base + c] = probs[base + c] * inv; }
  pred[r] = f32(am);
}
