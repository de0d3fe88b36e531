// Rank-dimension kernels of the low-rank adapters (LoRA, SoRA; src/adapters/low-rank.ts).
// Activations are [rows, rank] row-major; column j is rank dimension j.
//   scale_cols: dst[i, j] = src[i, j] · mask[j] (· gate[j] when HAS_GATE)   — forward u = h ⊙ s,
//               backward dh = du ⊙ s, with s = mask (LoRA) or gate ⊙ mask (SoRA);
//   gate_grad:  dst[j] = mask[j] · Σ_i src[i, j] · gate[i, j]              — SoRA's ∂L/∂g from du and h
//               (here `gate` is bound to h: both entry points share one binding layout).
// No barriers or workgroup memory (slow on SwiftShader); gate_grad is one thread per rank
// dimension with a plain loop over rows, so it is deterministic.

struct Params {
  n: u32,          // rows · rank
  rank: u32,
  rows: u32,
  row_stride: u32, // workgroups per grid row (x extent of the dispatch)
}

override HAS_GATE: u32 = 0u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> gate: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn scale_cols(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * p.row_stride + wg.x) * 256u + lid;
  if (i >= p.n) { return; }
  let j = i % p.rank;
  var s = mask[j];
  if (HAS_GATE != 0u) { s = gate[j] * s; }
  dst[i] = src[i] * s;
}

@compute @workgroup_size(64)
fn gate_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  if (j >= p.rank) { return; }
  var acc = 0.0;
  for (var i = 0u; i < p.rows; i++) {
    let k = i * p.rank + j;
    acc = acc + src[k] * gate[k];
  }
  dst[j] = mask[j] * acc;
}
