// STAN AuxK: dead-latent revival (EleutherAI sparsify's auxiliary top-k, src/adapters/stan.ts).
// Per training step, after the main top-k:
//   aux_reset  one thread per (row, slot): a slot j < k' with a non-zero value fired → since[idx] = 0
//   aux_mark   one thread per latent: since[i] = min(since[i] + 1, cap);
//              dead[i] = 1 if since[i] > threshold and mask[i] ≠ 0, else 0
//   aux_fill   one thread per (row, latent): zaux[r, i] = z[r, i] where dead[i] ≠ 0, else `filler`
//              (0 for a top-k by |z|, −3.4e38 for a signed top-k), the input of the auxiliary top-k.
// since[] counts the steps since a latent last fired (u32, saturating at cap). No barriers.

struct Params {
  n: u32,          // aux_reset: rows·k; aux_mark: l; aux_fill: rows·l
  l: u32,
  k: u32,          // aux_reset: the code's slots per row
  row_stride: u32, // x extent of the dispatch grid, in workgroups
  threshold: u32,  // aux_mark: steps without firing after which a latent counts as dead
  filler: f32,     // aux_fill
  _p0: u32,
  _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

fn tid(wg: vec3<u32>, lid: u32) -> u32 {
  return (wg.y * p.row_stride + wg.x) * 64u + lid;
}

@group(0) @binding(1) var<storage, read> rs_idx: array<u32>;
@group(0) @binding(2) var<storage, read> rs_val: array<f32>;
@group(0) @binding(3) var<storage, read> rs_kbuf: array<u32>;
@group(0) @binding(4) var<storage, read_write> rs_since: array<atomic<u32>>;

@compute @workgroup_size(64)
fn aux_reset(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = tid(wg, lid);
  if (t >= p.n) { return; }
  let kk = clamp(rs_kbuf[0], 1u, p.k);
  if (t % p.k >= kk) { return; }
  if (rs_val[t] == 0.0) { return; }
  let i = rs_idx[t];
  if (i < p.l) { atomicStore(&rs_since[i], 0u); }
}

@group(0) @binding(1) var<storage, read_write> mk_since: array<u32>;
@group(0) @binding(2) var<storage, read> mk_mask: array<f32>;
@group(0) @binding(3) var<storage, read_write> mk_dead: array<f32>;

@compute @workgroup_size(64)
fn aux_mark(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = tid(wg, lid);
  if (i >= p.n) { return; }
  let s = min(mk_since[i] + 1u, 0x7fffffffu);
  mk_since[i] = s;
  mk_dead[i] = select(0.0, 1.0, s > p.threshold && mk_mask[i] != 0.0);
}

@group(0) @binding(1) var<storage, read> fl_z: array<f32>;
@group(0) @binding(2) var<storage, read> fl_dead: array<f32>;
@group(0) @binding(3) var<storage, read_write> fl_out: array<f32>;

@compute @workgroup_size(64)
fn aux_fill(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = tid(wg, lid);
  if (t >= p.n) { return; }
  fl_out[t] = select(p.filler, fl_z[t], fl_dead[t % p.l] != 0.0);
}
