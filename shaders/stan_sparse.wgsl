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
