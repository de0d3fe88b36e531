// LayerNorm over the last dimension of a [rows, dim] f32 matrix, forward and backward.
//
// Two layouts for the row-wise kernels, same arithmetic:
//   *_row : one thread per row, no barriers (SwiftShader runs barriers as coroutine yields).
//   *_wg  : one 64-thread workgroup per row, shared-memory tree sums (coalesced on real GPUs).
// dgamma/dbeta are column sums over rows, done without atomics so results are bit-reproducible:
// either one thread per column over all rows (param_grads), or per-chunk partials
// (param_partial) summed in a fixed order by param_reduce.
//
// Each entry point binds a contiguous range 0..n of its own variables (the runtime binds
// resources by position); variables of different entry points may share binding numbers.

struct Params {
  rows: u32,
  dim: u32,
  row_stride: u32, // x extent of the dispatch grid, in workgroups
  accumulate: u32, // 1: outputs +=, 0: outputs =
  eps: f32,
  chunk_rows: u32, // rows per partial (param_partial)
  chunks: u32,     // number of partials (param_partial / param_reduce)
  flags: u32,      // bit 0: write dgamma, bit 1: write dbeta
}

@group(0) @binding(0) var<uniform> p: Params;

const WG: u32 = 64u;

// ---------- forward: (1) x (2) gamma (3) beta (4) y (5) mean (6) rstd ----------
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> rstd_out: array<f32>;

// ---------- backward: (1) x (2) mean (3) rstd (4) dy, then per entry point ----------
@group(0) @binding(2) var<storage, read> mean_in: array<f32>;
@group(0) @binding(3) var<storage, read> rstd_in: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
// backward_dx_*: (5) gamma (6) dx
@group(0) @binding(5) var<storage, read> gamma_b: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;
// param_grads: (5) dgamma (6) dbeta
@group(0) @binding(5) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(6) var<storage, read_write> dbeta: array<f32>;
// param_partial: (5) partials [2][chunks][dim] (dgamma partials, then dbeta partials)
@group(0) @binding(5) var<storage, read_write> part_out: array<f32>;
// param_reduce: (1) partials (2) dgamma (3) dbeta
@group(0) @binding(1) var<storage, read> part_in: array<f32>;
@group(0) @binding(2) var<storage, read_write> dgamma_r: array<f32>;
@group(0) @binding(3) var<storage, read_write> dbeta_r: array<f32>;

var<workgroup> red: array<vec2<f32>, WG>;

fn flat_id(wg: vec3<u32>, lid: u32, size: u32) -> u32 {
  return (wg.y * p.row_stride + wg.x) * size + lid;
}

// Sum of `v` over the workgroup in a fixed tree order (deterministic). Uniform control flow only.
fn wg_sum(lid: u32, v: vec2<f32>) -> vec2<f32> {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier(); // `red` is reused by the next call
  return r;
}

// ----- forward -----

@compute @workgroup_size(64)
fn forward_row(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = flat_id(wg, lid, WG);
  if (r >= p.rows) { return; }
  let n = p.dim;
  let o = r * n;
  var s = 0.0;
  for (var c = 0u; c < n; c++) { s += x[o + c]; }
  let mu = s / f32(n);
  // Two-pass variance: no cancellation when |mean| >> std.
  var v = 0.0;
  for (var c = 0u; c < n; c++) { let d = x[o + c] - mu; v += d * d; }
  let rs = inverseSqrt(v / f32(n) + p.eps);
  for (var c = 0u; c < n; c++) { y[o + c] = (x[o + c] - mu) * rs * gamma[c] + beta[c]; }
  mean_out[r] = mu;
  rstd_out[r] = rs;
}

@compute @workgroup_size(64)
fn forward_wg(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = wg.y * p.row_stride + wg.x; // one workgroup per row: uniform, so barriers below are legal
  if (r >= p.rows) { return; }
  let n = p.dim;
  let o = r * n;
  var s = 0.0;
  for (var c = lid; c < n; c += WG) { s += x[o + c]; }
  let mu = wg_sum(lid, vec2<f32>(s, 0.0)).x / f32(n);
  var v = 0.0;
  for (var c = lid; c < n; c += WG) { let d = x[o + c] - mu; v += d * d; }
  let rs = inverseSqrt(wg_sum(lid, vec2<f32>(v, 0.0)).x / f32(n) + p.eps);
  for (var c = lid; c < n; c += WG) { y[o + c] = (x[o + c] - mu) * rs * gamma[c] + beta[c]; }
  if (lid == 0u) {
    mean_out[r] = mu;
    rstd_out[r] = rs;
  }
}

// ----- backward: dx = rstd · (g − mean(g) − x̂ · mean(g·x̂)),  g = dy·gamma, x̂ = (x − mean)·rstd -----

@compute @workgroup_size(64)
fn backward_dx_row(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = flat_id(wg, lid, WG);
  if (r >= p.rows) { return; }
  let n = p.dim;
  let o = r * n;
  let mu = mean_in[r];
  let rs = rstd_in[r];
  var sg = 0.0;
  var sgx = 0.0;
  for (var c = 0u; c < n; c++) {
    let g = dy[o + c] * gamma_b[c];
    sg += g;
    sgx += g * (x[o + c] - mu) * rs;
  }
  let mg = sg / f32(n);
  let mgx = sgx / f32(n);
  let add = p.accumulate == 1u;
  for (var c = 0u; c < n; c++) {
    let xh = (x[o + c] - mu) * rs;
    let d = rs * (dy[o + c] * gamma_b[c] - mg - xh * mgx);
    dx[o + c] = select(d, d + dx[o + c], add);
  }
}

@compute @workgroup_size(64)
fn backward_dx_wg(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = wg.y * p.row_stride + wg.x;
  if (r >= p.rows) { return; }
  let n = p.dim;
  let o = r * n;
  let mu = mean_in[r];
  let rs = rstd_in[r];
  var acc = vec2<f32>(0.0);
  for (var c = lid; c < n; c += WG) {
    let g = dy[o + c] * gamma_b[c];
    acc += vec2<f32>(g, g * (x[o + c] - mu) * rs);
  }
  let m = wg_sum(lid, acc) / f32(n);
  let add = p.accumulate == 1u;
  for (var c = lid; c < n; c += WG) {
    let xh = (x[o + c] - mu) * rs;
    let d = rs * (dy[o + c] * gamma_b[c] - m.x - xh * m.y);
    dx[o + c] = select(d, d + dx[o + c], add);
  }
}

// ----- dgamma = Σ_rows dy·x̂,  dbeta = Σ_rows dy -----

// (Σ dy·x̂, Σ dy) over rows [r0, r1) of column c, in row order.
fn column_sums(c: u32, r0: u32, r1: u32) -> vec2<f32> {
  let n = p.dim;
  var acc = vec2<f32>(0.0);
  for (var r = r0; r < r1; r++) {
    let g = dy[r * n + c];
    acc += vec2<f32>(g * (x[r * n + c] - mean_in[r]) * rstd_in[r], g);
  }
  return acc;
}

// One thread per column over all rows: used when rows are few (one chunk).
@compute @workgroup_size(64)
fn param_grads(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = flat_id(wg, lid, WG);
  if (c >= p.dim) { return; }
  let s = column_sums(c, 0u, p.rows);
  let add = p.accumulate == 1u;
  if ((p.flags & 1u) != 0u) { dgamma[c] = select(s.x, s.x + dgamma[c], add); }
  if ((p.flags & 2u) != 0u) { dbeta[c] = select(s.y, s.y + dbeta[c], add); }
}

// One thread per (chunk, column): partial sums over chunk_rows rows.
@compute @workgroup_size(64)
fn param_partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = flat_id(wg, lid, WG);
  if (t >= p.chunks * p.dim) { return; }
  let k = t / p.dim;
  let c = t % p.dim;
  let r0 = k * p.chunk_rows;
  let s = column_sums(c, r0, min(r0 + p.chunk_rows, p.rows));
  part_out[t] = s.x;
  part_out[p.chunks * p.dim + t] = s.y;
}

// One thread per column: sums the partials in chunk order.
@compute @workgroup_size(64)
fn param_reduce(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = flat_id(wg, lid, WG);
  if (c >= p.dim) { return; }
  let off = p.chunks * p.dim;
  var acc = vec2<f32>(0.0);
  for (var k = 0u; k < p.chunks; k++) {
    acc += vec2<f32>(part_in[k * p.dim + c], part_in[off + k * p.dim + c]);
  }
  let add = p.accumulate == 1u;
  if ((p.flags & 1u) != 0u) { dgamma_r[c] = select(acc.x, acc.x + dgamma_r[c], add); }
  if ((p.flags & 2u) != 0u) { dbeta_r[c] = select(acc.y, acc.y + dbeta_r[c], add); }
}
