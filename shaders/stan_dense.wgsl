// STAN's dense n-latents path (k = l, src/adapters/stan.ts): the code is the whole masked
// pre-activation, no selection. One thread per element, no barriers.
//   mask_cols  out[r, j] = x[r, j] · mask[j]      (x, out: [rows, l]; mask: [l])

struct Params {
  n: u32,          // rows · l
  l: u32,
  row_stride: u32, // x extent of the dispatch grid, in workgroups
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mask: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn mask_cols(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * p.row_stride + wg.x) * 64u + lid;
  if (i >= p.n) { return; }
  out[i] = x[i] * mask[i % p.l];
}
