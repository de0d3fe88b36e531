// STAN's sparse kernels: decode and backward from a sparse code (idx [rows, k] u32, val
// [rows, k] f32, as written by topk.wgsl), with E [l, n] and D [m, l] row-major.
// No workgroup memory, no barriers, no float atomics; every sum has a fixed order, so results
// are bit-identical from run to run.
//
//   decode        y[r, c] += s·Σ_j val[r,j]·D[c, idx[r,j]]              thread per (r, 4 columns)
//   dz            dz[r, j] = live(r,j) ? s·Σ_c dy[r,c]·D[c, idx[r,j]] : 0 thread per (r, j)
//   dx            dx[r, c] += Σ_j dz[r,j]·E[idx[r,j], c]                 thread per (r, 4 columns)
//   bucket_count  cnt[b, i] = #live pairs of row block b with idx = i    thread per block
//   bucket_colscan  cnt[b, i] → Σ_{b'<b} cnt[b', i]; total[i]           thread per latent
//   bucket_scan   start[i] = Σ_{i'<i} total[i'], start[l] = Σ             one thread
//   bucket_scatter  list[start[i] + …] = pair ids, in increasing order   thread per block
//   grad_e        dE[i, c] = Σ_{p ∈ bucket i} dz[p]·x[row(p), c]         thread per (i, 4 columns)
//   grad_d        dD[c, i] = s·Σ_{p ∈ bucket i} val[p]·dy[row(p), c]     thread per (i, 4 columns)
// where s = 1/k', k' = min(kbuf[0], k), and a pair (r, j) is live when j < k' and its latent is
// not masked off. Pair ids are r·k + j; the blocked counting sort is stable, so every bucket
// lists its pairs in increasing id order and the gathers sum in that order.
//
// Each entry point uses bindings 0..n-1 contiguously (the runtime binds by index); variables
// sharing a binding number are never used by the same entry point.

struct Params {
  rows: u32,
  l: u32,
  k: u32,          // allocated slots per row
  n: u32,          // E's columns (input dim)
  m: u32,          // D's rows (output dim)
  flags: u32,      // 1: mask present
  block_rows: u32, // rows per block (bucketing)
  blocks: u32,
  row_stride: u32, // workgroups per grid row (2-D grids): thread = (wg.y·row_stride + wg.x)·64 + lid
  _p0: u32,
  _p1: u32,
  _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

fn tid(wg: vec3<u32>, lid: u32) -> u32 {
  return (wg.y * p.row_stride + wg.x) * 64u + lid;
}

fn kk_of(kb: u32) -> u32 {
  return max(1u, min(kb, p.k));
}

// ---------------------------------------------------------------- decode
@group(0) @binding(1) var<storage, read> dec_val: array<f32>;
@group(0) @binding(2) var<storage, read> dec_idx: array<u32>;
@group(0) @binding(3) var<storage, read> dec_d: array<f32>;
@group(0) @binding(4) var<storage, read_write> dec_y: array<f32>;
@group(0) @binding(5) var<storage, read> dec_kbuf: array<u32>;

@compute @workgroup_size(64)
fn decode(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = tid(wg, lid);
  let c4 = (p.m + 3u) / 4u;
  if (t >= p.rows * c4) { return; }
  let r = t / c4;
  let c = (t % c4) * 4u;
  let kk = kk_of(dec_kbuf[0]);
  let l = p.l;
  // Clamp column reads inside D; results for c+q ≥ m are discarded.
  let c1 = min(c + 1u, p.m - 1u);
  let c2 = min(c + 2u, p.m - 1u);
  let c3 = min(c + 3u, p.m - 1u);
  var a = vec4<f32>(0.0);
  for (var j = 0u; j < kk; j++) {
    let v = dec_val[r * p.k + j];
    let i = dec_idx[r * p.k + j];
    a += v * vec4<f32>(dec_d[c * l + i], dec_d[c1 * l + i], dec_d[c2 * l + i], dec_d[c3 * l + i]);
  }
  let s = 1.0 / f32(kk);
  let o = r * p.m + c;
  dec_y[o] += s * a.x;
  if (c + 1u < p.m) { dec_y[o + 1u] += s * a.y; }
  if (c + 2u < p.m) { dec_y[o + 2u] += s * a.z; }
  if (c + 3u < p.m) { dec_y[o + 3u] += s * a.w; }
}

// ---------------------------------------------------------------- dz
@group(0) @binding(1) var<storage, read> dz_dy: array<f32>;
@group(0) @binding(2) var<storage, read> dz_d: array<f32>;
@group(0) @binding(3) var<storage, read> dz_idx: array<u32>;
@group(0) @binding(4) var<storage, read> dz_mask: array<f32>;
@group(0) @binding(5) var<storage, read> dz_kbuf: array<u32>;
@group(0) @binding(6) var<storage, read_write> dz_out: array<f32>;

@compute @workgroup_size(64)
fn dz(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = tid(wg, lid);
  if (t >= p.rows * p.k) { return; }
  let r = t / p.k;
  let j = t % p.k;
  let kk = kk_of(dz_kbuf[0]);
  let i = dz_idx[t];
  var live = j < kk;
  if (live && (p.flags & 1u) != 0u) { live = dz_mask[i] != 0.0; }
  var acc = 0.0;
  if (live) {
    let l = p.l;
    for (var c = 0u; c < p.m; c++) { acc += dz_dy[r * p.m + c] * dz_d[c * l + i]; }
    acc = acc / f32(kk);
  }
  dz_out[t] = acc;
}

// ---------------------------------------------------------------- dx
@group(0) @binding(1) var<storage, read> dx_dz: array<f32>;
@group(0) @binding(2) var<storage, read> dx_idx: array<u32>;
@group(0) @binding(3) var<storage, read> dx_e: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx_out: array<f32>;
@group(0) @binding(5) var<storage, read> dx_kbuf: array<u32>;

@compute @workgroup_size(64)
fn dx(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = tid(wg, lid);
  let c4 = (p.n + 3u) / 4u;
  if (t >= p.rows * c4) { return; }
  let r = t / c4;
  let c = (t % c4) * 4u;
  let kk = kk_of(dx_kbuf[0]);
  let n = p.n;
  let c1 = min(c + 1u, n - 1u);
  let c2 = min(c + 2u, n - 1u);
  let c3 = min(c + 3u, n - 1u);
  var a = vec4<f32>(0.0);
  for (var j = 0u; j < kk; j++) {
    let g = dx_dz[r * p.k + j];
    let e = dx_idx[r * p.k + j] * n;
    a += g * vec4<f32>(dx_e[e + c], dx_e[e + c1], dx_e[e + c2], dx_e[e + c3]);
  }
  let o = r * n + c;
  dx_out[o] += a.x;
  if (c + 1u < n) { dx_out[o + 1u] += a.y; }
  if (c + 2u < n) { dx_out[o + 2u] += a.z; }
  if (c + 3u < n) { dx_out[o + 3u] += a.w; }
}

// ---------------------------------------------------------------- bucketing
@group(0) @binding(1) var<storage, read> bk_idx: array<u32>;
@group(0) @binding(2) var<storage, read> bk_mask: array<f32>;
@group(0) @binding(3) var<storage, read> bk_kbuf: array<u32>;
@group(0) @binding(4) var<storage, read_write> bk_cnt: array<u32>;
@compute @workgroup_size(64)
fn bucket_count(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = tid(wg, lid);
  if (b >= p.blocks) { return; }
  let l = p.l;
  for (var i = 0u; i < l; i++) { bk_cnt[b * l + i] = 0u; }
  let kk = kk_of(bk_kbuf[0]);
  let r1 = min(p.rows, (b + 1u) * p.block_rows);
  for (var r = b * p.block_rows; r < r1; r++) {
    for (var j = 0u; j < kk; j++) {
      let i = bk_idx[r * p.k + j];
      if ((p.flags & 1u) != 0u && bk_mask[i] == 0.0) { continue; }
      bk_cnt[b * l + i] += 1u;
    }
  }
}

@group(0) @binding(1) var<storage, read_write> cs_cnt: array<u32>;
@group(0) @binding(2) var<storage, read_write> cs_total: array<u32>;

@compute @workgroup_size(64)
fn bucket_colscan(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = tid(wg, lid);
  if (i >= p.l) { return; }
  var run = 0u;
  for (var b = 0u; b < p.blocks; b++) {
    let c = cs_cnt[b * p.l + i];
    cs_cnt[b * p.l + i] = run;
    run += c;
  }
  cs_total[i] = run;
}

@group(0) @binding(1) var<storage, read> sc_total: array<u32>;
@group(0) @binding(2) var<storage, read_write> sc_start: array<u32>;

@compute @workgroup_size(1)
fn bucket_scan() {
  var run = 0u;
  for (var i = 0u; i < p.l; i++) {
    sc_start[i] = run;
    run += sc_total[i];
  }
  sc_start[p.l] = run;
}

@group(0) @binding(1) var<storage, read> st_idx: array<u32>;
@group(0) @binding(2) var<storage, read> st_mask: array<f32>;
@group(0) @binding(3) var<storage, read> st_kbuf: array<u32>;
@group(0) @binding(4) var<storage, read_write> st_cnt: array<u32>;
@group(0) @binding(5) var<storage, read> st_start: array<u32>;
@group(0) @binding(6) var<storage, read_write> st_list: array<u32>;

@compute @workgroup_size(64)
fn bucket_scatter(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = tid(wg, lid);
  if (b >= p.blocks) { return; }
  let l = p.l;
  let kk = kk_of(st_kbuf[0]);
  let r1 = min(p.rows, (b + 1u) * p.block_rows);
  for (var r = b * p.block_rows; r < r1; r++) {
    for (var j = 0u; j < kk; j++) {
      let pair = r * p.k + j;
      let i = st_idx[pair];
      if ((p.flags & 1u) != 0u && st_mask[i] == 0.0) { continue; }
      let o = st_cnt[b * l + i];
      st_cnt[b * l + i] = o + 1u;
      st_list[st_start[i] + o] = pair;
    }
  }
}

// ---------------------------------------------------------------- gathers
@group(0) @binding(1) var<storage, read> ge_start: array<u32>;
@group(0) @binding(2) var<storage, read> ge_list: array<u32>;
@group(0) @binding(3) var<storage, read> ge_w: array<f32>;   // dz (grad_e) or val (grad_d)
@group(0) @binding(4) var<storage, read> ge_src: array<f32>; // x [rows, n] (grad_e) or dy [rows, m] (grad_d)
@group(0) @binding(5) var<storage, read_write> ge_out: array<f32>;
@group(0) @binding(6) var<storage, read> ge_kbuf: array<u32>; // grad_d only

// Σ over bucket i of w[pair]·src[row(pair), c..c+3]; `width` = src's row length.
fn bucket_gather(i: u32, c: u32, width: u32) -> vec4<f32> {
  let c1 = min(c + 1u, width - 1u);
  let c2 = min(c + 2u, width - 1u);
  let c3 = min(c + 3u, width - 1u);
  var a = vec4<f32>(0.0);
  let s1 = ge_start[i + 1u];
  for (var q = ge_start[i]; q < s1; q++) {
    let pair = ge_list[q];
    let w = ge_w[pair];
    let o = (pair / p.k) * width;
    a += w * vec4<f32>(ge_src[o + c], ge_src[o + c1], ge_src[o + c2], ge_src[o + c3]);
  }
  return a;
}

@compute @workgroup_size(64)
fn grad_e(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = tid(wg, lid);
  let c4 = (p.n + 3u) / 4u;
  if (t >= p.l * c4) { return; }
  let i = t / c4;
  let c = (t % c4) * 4u;
  let a = bucket_gather(i, c, p.n);
  let o = i * p.n + c;
  ge_out[o] = a.x;
  if (c + 1u < p.n) { ge_out[o + 1u] = a.y; }
  if (c + 2u < p.n) { ge_out[o + 2u] = a.z; }
  if (c + 3u < p.n) { ge_out[o + 3u] = a.w; }
}

@compute @workgroup_size(64)
fn grad_d(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = tid(wg, lid);
  let c4 = (p.m + 3u) / 4u;
  if (t >= p.l * c4) { return; }
  let i = t / c4;
  let c = (t % c4) * 4u;
  let a = bucket_gather(i, c, p.m) / f32(kk_of(ge_kbuf[0]));
  let l = p.l;
  ge_out[c * l + i] = a.x;
  if (c + 1u < p.m) { ge_out[(c + 1u) * l + i] = a.y; }
  if (c + 2u < p.m) { ge_out[(c + 2u) * l + i] = a.z; }
  if (c + 3u < p.m) { ge_out[(c + 3u) * l + i] = a.w; }
}

// ================================================================ vec4 kernels (widths % 4 == 0)
// Each invocation owns 8 vec4 columns (32 floats) of one output row, so every index/weight load
// is shared by 32 multiply-adds and the loop body is straight-line: loads are clamped inside the
// row (results past the end are discarded), stores are guarded. Measured ~3× faster than the
// scalar kernels on SwiftShader. D is read through Dt = Dᵀ [l, m] (a copy made by `transpose`
// at the start of the forward), so a selected latent's decoder column is one contiguous row.

const V: u32 = 8u; // vec4 columns per invocation

struct Acc8 { a: array<vec4<f32>, 8> }

// ---------------------------------------------------------------- transpose: dst[c, r] = src[r, c]
@group(0) @binding(1) var<storage, read> tr_src: array<f32>;
@group(0) @binding(2) var<storage, read_write> tr_dst: array<f32>;

// p.rows × p.m is the source shape here (rows of src, cols of src).
@compute @workgroup_size(64)
fn transpose(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = tid(wg, lid);
  if (t >= p.rows * p.m) { return; }
  let c = t / p.rows; // destination row
  let r = t % p.rows;
  tr_dst[t] = tr_src[r * p.m + c];
}

// 4×4 blocks with vec4 loads and stores (rows % 4 == 0 and cols % 4 == 0).
@group(0) @binding(1) var<storage, read> tr4_src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> tr4_dst: array<vec4<f32>>;

@compute @workgroup_size(64)
fn transpose4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = tid(wg, lid);
  let r4 = p.rows / 4u; // source rows / 4 = destination vec4 columns
  let c4 = p.m / 4u;    // source vec4 columns
  if (t >= r4 * c4) { return; }
  let bc = t / r4; // block column of the source = block row of the destination
  let br = t % r4;
  let a = tr4_src[(4u * br) * c4 + bc];
  let b = tr4_src[(4u * br + 1u) * c4 + bc];
  let c = tr4_src[(4u * br + 2u) * c4 + bc];
  let d = tr4_src[(4u * br + 3u) * c4 + bc];
  tr4_dst[(4u * bc) * r4 + br] = vec4<f32>(a.x, b.x, c.x, d.x);
  tr4_dst[(4u * bc + 1u) * r4 + br] = vec4<f32>(a.y, b.y, c.y, d.y);
  tr4_dst[(4u * bc + 2u) * r4 + br] = vec4<f32>(a.z, b.z, c.z, d.z);
  tr4_dst[(4u * bc + 3u) * r4 + br] = vec4<f32>(a.w, b.w, c.w, d.w);
}

// ---------------------------------------------------------------- decode4: y[r, :] += s·Σ_j val·Dt[idx, :]
@group(0) @binding(1) var<storage, read> d4_val: array<f32>;
@group(0) @binding(2) var<storage, read> d4_idx: array<u32>;
@group(0) @binding(3) var<storage, read> d4_dt: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> d4_y: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> d4_kbuf: array<u32>;

@compute @workgroup_size(64)
fn decode4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = tid(wg, lid);
  let w4 = p.m / 4u;
  let groups = (w4 + V - 1u) / V;
  if (t >= p.rows * groups) { return; }
  let r = t / groups;
  let c = (t % groups) * V;
  let kk = kk_of(d4_kbuf[0]);
  let last = w4 - 1u;
  var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
  var a4 = vec4<f32>(0.0); var a5 = vec4<f32>(0.0); var a6 = vec4<f32>(0.0); var a7 = vec4<f32>(0.0);
  for (var j = 0u; j < kk; j++) {
    let v = d4_val[r * p.k + j];
    let o = d4_idx[r * p.k + j] * w4;
    a0 += v * d4_dt[o + min(c, last)];
    a1 += v * d4_dt[o + min(c + 1u, last)];
    a2 += v * d4_dt[o + min(c + 2u, last)];
    a3 += v * d4_dt[o + min(c + 3u, last)];
    a4 += v * d4_dt[o + min(c + 4u, last)];
    a5 += v * d4_dt[o + min(c + 5u, last)];
    a6 += v * d4_dt[o + min(c + 6u, last)];
    a7 += v * d4_dt[o + min(c + 7u, last)];
  }
  let s = 1.0 / f32(kk);
  let yo = r * w4 + c;
  d4_y[yo] += s * a0;
  if (c + 1u < w4) { d4_y[yo + 1u] += s * a1; }
  if (c + 2u < w4) { d4_y[yo + 2u] += s * a2; }
  if (c + 3u < w4) { d4_y[yo + 3u] += s * a3; }
  if (c + 4u < w4) { d4_y[yo + 4u] += s * a4; }
  if (c + 5u < w4) { d4_y[yo + 5u] += s * a5; }
  if (c + 6u < w4) { d4_y[yo + 6u] += s * a6; }
  if (c + 7u < w4) { d4_y[yo + 7u] += s * a7; }
}

// ---------------------------------------------------------------- dz4: 4 slots per invocation
@group(0) @binding(1) var<storage, read> z4_dy: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> z4_dt: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> z4_idx: array<u32>;
@group(0) @binding(4) var<storage, read> z4_mask: array<f32>;
@group(0) @binding(5) var<storage, read> z4_kbuf: array<u32>;
@group(0) @binding(6) var<storage, read_write> z4_out: array<f32>;

fn z4_live(j: u32, i: u32, kk: u32) -> bool {
  if (j >= kk) { return false; }
  if ((p.flags & 1u) != 0u) { return z4_mask[i] != 0.0; }
  return true;
}

@compute @workgroup_size(64)
fn dz4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = tid(wg, lid);
  let sg = (p.k + 3u) / 4u;
  if (t >= p.rows * sg) { return; }
  let r = t / sg;
  let j0 = (t % sg) * 4u;
  let kk = kk_of(z4_kbuf[0]);
  let w4 = p.m / 4u;
  let base = r * p.k;
  let lastj = p.k - 1u;
  let i0 = z4_idx[base + j0];
  let i1 = z4_idx[base + min(j0 + 1u, lastj)];
  let i2 = z4_idx[base + min(j0 + 2u, lastj)];
  let i3 = z4_idx[base + min(j0 + 3u, lastj)];
  let o0 = i0 * w4;
  let o1 = i1 * w4;
  let o2 = i2 * w4;
  let o3 = i3 * w4;
  var a = vec4<f32>(0.0);
  for (var c = 0u; c < w4; c++) {
    let g = z4_dy[r * w4 + c];
    a += vec4<f32>(dot(g, z4_dt[o0 + c]), dot(g, z4_dt[o1 + c]), dot(g, z4_dt[o2 + c]), dot(g, z4_dt[o3 + c]));
  }
  let s = 1.0 / f32(kk);
  z4_out[base + j0] = select(0.0, s * a.x, z4_live(j0, i0, kk));
  if (j0 + 1u < p.k) { z4_out[base + j0 + 1u] = select(0.0, s * a.y, z4_live(j0 + 1u, i1, kk)); }
  if (j0 + 2u < p.k) { z4_out[base + j0 + 2u] = select(0.0, s * a.z, z4_live(j0 + 2u, i2, kk)); }
  if (j0 + 3u < p.k) { z4_out[base + j0 + 3u] = select(0.0, s * a.w, z4_live(j0 + 3u, i3, kk)); }
}

// ---------------------------------------------------------------- dx4: dx[r, :] += Σ_j dz·E[idx, :]
@group(0) @binding(1) var<storage, read> x4_dz: array<f32>;
@group(0) @binding(2) var<storage, read> x4_idx: array<u32>;
@group(0) @binding(3) var<storage, read> x4_e: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> x4_dx: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> x4_kbuf: array<u32>;

@compute @workgroup_size(64)
fn dx4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = tid(wg, lid);
  let w4 = p.n / 4u;
  let groups = (w4 + V - 1u) / V;
  if (t >= p.rows * groups) { return; }
  let r = t / groups;
  let c = (t % groups) * V;
  let kk = kk_of(x4_kbuf[0]);
  let last = w4 - 1u;
  var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
  var a4 = vec4<f32>(0.0); var a5 = vec4<f32>(0.0); var a6 = vec4<f32>(0.0); var a7 = vec4<f32>(0.0);
  for (var j = 0u; j < kk; j++) {
    let v = x4_dz[r * p.k + j];
    let o = x4_idx[r * p.k + j] * w4;
    a0 += v * x4_e[o + min(c, last)];
    a1 += v * x4_e[o + min(c + 1u, last)];
    a2 += v * x4_e[o + min(c + 2u, last)];
    a3 += v * x4_e[o + min(c + 3u, last)];
    a4 += v * x4_e[o + min(c + 4u, last)];
    a5 += v * x4_e[o + min(c + 5u, last)];
    a6 += v * x4_e[o + min(c + 6u, last)];
    a7 += v * x4_e[o + min(c + 7u, last)];
  }
  let xo = r * w4 + c;
  x4_dx[xo] += a0;
  if (c + 1u < w4) { x4_dx[xo + 1u] += a1; }
  if (c + 2u < w4) { x4_dx[xo + 2u] += a2; }
  if (c + 3u < w4) { x4_dx[xo + 3u] += a3; }
  if (c + 4u < w4) { x4_dx[xo + 4u] += a4; }
  if (c + 5u < w4) { x4_dx[xo + 5u] += a5; }
  if (c + 6u < w4) { x4_dx[xo + 6u] += a6; }
  if (c + 7u < w4) { x4_dx[xo + 7u] += a7; }
}

// ---------------------------------------------------------------- gathers, vec4
@group(0) @binding(1) var<storage, read> g4_start: array<u32>;
@group(0) @binding(2) var<storage, read> g4_list: array<u32>;
@group(0) @binding(3) var<storage, read> g4_w: array<f32>;         // dz (grad_e4) or val (grad_d4)
@group(0) @binding(4) var<storage, read> g4_src: array<vec4<f32>>; // x (grad_e4) or dy (grad_d4)
@group(0) @binding(5) var<storage, read_write> g4_out: array<f32>;
@group(0) @binding(6) var<storage, read> g4_kbuf: array<u32>;      // grad_d4 only

fn gather8(i: u32, c: u32, w4: u32) -> Acc8 {
  let last = w4 - 1u;
  var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
  var a4 = vec4<f32>(0.0); var a5 = vec4<f32>(0.0); var a6 = vec4<f32>(0.0); var a7 = vec4<f32>(0.0);
  let s1 = g4_start[i + 1u];
  for (var q = g4_start[i]; q < s1; q++) {
    let pair = g4_list[q];
    let v = g4_w[pair];
    let o = (pair / p.k) * w4;
    a0 += v * g4_src[o + min(c, last)];
    a1 += v * g4_src[o + min(c + 1u, last)];
    a2 += v * g4_src[o + min(c + 2u, last)];
    a3 += v * g4_src[o + min(c + 3u, last)];
    a4 += v * g4_src[o + min(c + 4u, last)];
    a5 += v * g4_src[o + min(c + 5u, last)];
    a6 += v * g4_src[o + min(c + 6u, last)];
    a7 += v * g4_src[o + min(c + 7u, last)];
  }
  return Acc8(array<vec4<f32>, 8>(a0, a1, a2, a3, a4, a5, a6, a7));
}

@compute @workgroup_size(64)
fn grad_e4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = tid(wg, lid);
  let w4 = p.n / 4u;
  let groups = (w4 + V - 1u) / V;
  if (t >= p.l * groups) { return; }
  let i = t / groups;
  let c = (t % groups) * V;
  let acc = gather8(i, c, w4);
  for (var q = 0u; q < V; q++) {
    if (c + q < w4) {
      let o = i * p.n + 4u * (c + q);
      let a = acc.a[q];
      g4_out[o] = a.x;
      g4_out[o + 1u] = a.y;
      g4_out[o + 2u] = a.z;
      g4_out[o + 3u] = a.w;
    }
  }
}

@compute @workgroup_size(64)
fn grad_d4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = tid(wg, lid);
  let w4 = p.m / 4u;
  let groups = (w4 + V - 1u) / V;
  if (t >= p.l * groups) { return; }
  let i = t / groups;
  let c = (t % groups) * V;
  let acc = gather8(i, c, w4);
  let s = 1.0 / f32(kk_of(g4_kbuf[0]));
  let l = p.l;
  for (var q = 0u; q < V; q++) {
    if (c + q < w4) {
      let a = s * acc.a[q];
      let col = 4u * (c + q);
      g4_out[col * l + i] = a.x;
      g4_out[(col + 1u) * l + i] = a.y;
      g4_out[(col + 2u) * l + i] = a.z;
      g4_out[(col + 3u) * l + i] = a.w;
    }
  }
}
