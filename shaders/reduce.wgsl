// Deterministic reductions without atomics. Every partial sum is formed in a fixed order (fixed
// chunk per workgroup, fixed stride per thread, fixed tree), so results are bit-identical from
// run to run on one device.
//
// Workgroup-level combine: 256 per-thread values → 16 (each of 16 threads folds a stride-16
// column) → 1 (thread 0 folds 16). Three barriers instead of eight: barriers are expensive on
// SwiftShader (coroutine yields) and the extra serial work is 31 adds.
//
// All entry points use bindings 0..k-1 contiguously (the runtime binds resources by index).

struct Params {
  n: u32,           // reduce/pair: elements (pairs for the pair entry points) in x
  chunk: u32,       // reduce/pair: elements per workgroup
  rows: u32,        // row/col sums
  cols: u32,
  row_stride: u32,  // workgroups (row_sum_wg) or workgroups of 256 threads per grid row
  accumulate: u32,  // row/col sums: 1 → y += result
  rows_per_chunk: u32, // col_sum: rows summed by one thread
  chunks: u32,      // col_sum: number of row chunks
  scale_a: f32,     // pair_final: y  = sum_a * scale_a  (then / sum_b if divide_by_b)
  scale_b: f32,     // pair_final: y2 = sum_b * scale_b
  divide_by_b: u32,
  _p0: u32,
}

// 0 sum, 1 sum of squares, 2 max |x|, 3 max (second stage of maxabs: inputs already ≥ 0).
override OP: u32 = 0u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> y2: array<f32>;

var<workgroup> sh: array<f32, 256>;
var<workgroup> sh_b: array<f32, 256>;

fn load_op(v: f32) -> f32 {
  switch OP {
    case 1u: { return v * v; }
    case 2u: { return abs(v); }
    default: { return v; }
  }
}

fn combine(a: f32, b: f32) -> f32 {
  if (OP >= 2u) { return max(a, b); }
  return a + b;
}

// Folds sh[0..256) into sh[0] with `combine`. Call from uniform control flow.
fn wg_fold(lid: u32) {
  workgroupBarrier();
  if (lid < 16u) {
    var acc = sh[lid];
    for (var k = 1u; k < 16u; k++) { acc = combine(acc, sh[lid + 16u * k]); }
    sh[lid] = acc;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var acc = sh[0];
    for (var k = 1u; k < 16u; k++) { acc = combine(acc, sh[k]); }
    sh[0] = acc;
  }
  workgroupBarrier();
}

// Same, always summing, for two values at once (sh and sh_b).
fn wg_sum2(lid: u32) {
  workgroupBarrier();
  if (lid < 16u) {
    var a = sh[lid];
    var b = sh_b[lid];
    for (var k = 1u; k < 16u; k++) { a += sh[lid + 16u * k]; b += sh_b[lid + 16u * k]; }
    sh[lid] = a;
    sh_b[lid] = b;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var a = sh[0];
    var b = sh_b[0];
    for (var k = 1u; k < 16u; k++) { a += sh[k]; b += sh_b[k]; }
    sh[0] = a;
    sh_b[0] = b;
  }
  workgroupBarrier();
}

// Workgroup w reduces x[w·chunk, min(n, (w+1)·chunk)) into y[w]. The first stage uses OP on a
// tensor; the second stage runs the same entry point with one workgroup over the partials.
@compute @workgroup_size(256)
fn reduce(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let start = wg.x * p.chunk;
  let end = min(p.n, start + p.chunk);
  var acc = 0.0;
  for (var i = start + lid; i < end; i += 256u) { acc = combine(acc, load_op(x[i])); }
  sh[lid] = acc;
  wg_fold(lid);
  if (lid == 0u) { y[wg.x] = sh[0]; }
}

// Pairs (a, b) stored interleaved in x: partial sums of chunk pairs per workgroup → y[2w], y[2w+1].
@compute @workgroup_size(256)
fn pair_partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let start = wg.x * p.chunk;
  let end = min(p.n, start + p.chunk);
  var a = 0.0;
  var b = 0.0;
  for (var i = start + lid; i < end; i += 256u) { a += x[2u * i]; b += x[2u * i + 1u]; }
  sh[lid] = a;
  sh_b[lid] = b;
  wg_sum2(lid);
  if (lid == 0u) {
    y[2u * wg.x] = sh[0];
    y[2u * wg.x + 1u] = sh_b[0];
  }
}

// One workgroup: sums all n pairs of x, then y[0] = A·scale_a (÷ B when divide_by_b; 0 when
// B ≤ 0), y2[0] = B·scale_b. Losses use it as their last stage (loss, accuracy or mask count).
@compute @workgroup_size(256)
fn pair_final(@builtin(local_invocation_index) lid: u32) {
  var a = 0.0;
  var b = 0.0;
  for (var i = lid; i < p.n; i += 256u) { a += x[2u * i]; b += x[2u * i + 1u]; }
  sh[lid] = a;
  sh_b[lid] = b;
  wg_sum2(lid);
  if (lid == 0u) {
    var ra = sh[0] * p.scale_a;
    let rb = sh_b[0];
    if (p.divide_by_b != 0u) { ra = select(0.0, ra / rb, rb > 0.0); }
    y[0] = ra;
    y2[0] = rb * p.scale_b;
  }
}

// Row sums, one workgroup per row (wide rows): y[r] (+)= Σ_c x[r·cols + c].
@compute @workgroup_size(256)
fn row_sum_wg(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = wg.y * p.row_stride + wg.x; // uniform per workgroup
  if (r >= p.rows) { return; }
  let base = r * p.cols;
  var acc = 0.0;
  for (var c = lid; c < p.cols; c += 256u) { acc += x[base + c]; }
  sh[lid] = acc;
  wg_fold(lid);
  if (lid == 0u) {
    var v = sh[0];
    if (p.accumulate != 0u) { v += y[r]; }
    y[r] = v;
  }
}

// Row sums, one thread per row (narrow rows).
@compute @workgroup_size(256)
fn row_sum_thread(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = (wg.y * p.row_stride + wg.x) * 256u + lid;
  if (r >= p.rows) { return; }
  let base = r * p.cols;
  var acc = 0.0;
  for (var c = 0u; c < p.cols; c++) { acc += x[base + c]; }
  if (p.accumulate != 0u) { acc += y[r]; }
  y[r] = acc;
}

// Column sums in row chunks: thread t handles column t % cols over rows of chunk t / cols and
// writes y[chunk·cols + col] (+= when accumulate). With chunks = 1 it is the final column sum;
// with chunks > 1 its output is the partial input of a second, single-chunk pass.
@compute @workgroup_size(256)
fn col_sum(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = (wg.y * p.row_stride + wg.x) * 256u + lid;
  let col = t % p.cols;
  let chunk = t / p.cols;
  if (chunk >= p.chunks) { return; }
  let r0 = chunk * p.rows_per_chunk;
  let r1 = min(p.rows, r0 + p.rows_per_chunk);
  var acc = 0.0;
  for (var r = r0; r < r1; r++) { acc += x[r * p.cols + col]; }
  let o = chunk * p.cols + col;
  if (p.accumulate != 0u) { acc += y[o]; }
  y[o] = acc;
}
