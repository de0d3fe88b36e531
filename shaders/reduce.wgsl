// Deterministic reductions without atomics and (except row_sum_wg) without barriers or
// workgroup memory: on SwiftShader a barrier turns each workgroup into coroutines, which made a
// shared-memory tree ~40× slower than this. Every sum is formed in a fixed order (fixed thread
// count, fixed stride, fixed span), so results are bit-identical from run to run on a device.
//
//   stage 1  reduce_strided: T threads, thread t folds x[t], x[t+T], x[t+2T], …  (coalesced)
//   stage k  reduce_fold:    thread j folds x[j·span .. (j+1)·span)             (≤ 64 or ≤ 256)
// Pair variants carry two sums (a, b) for the losses; pair_final (one thread) applies the
// loss's scaling and writes the scalars.
//
// All entry points use bindings 0..k-1 contiguously (the runtime binds resources by index).

struct Params {
  n: u32,              // inputs (elements, or pairs for the pair entry points)
  threads: u32,        // threads doing work (outputs of this pass)
  span: u32,           // fold: inputs per thread
  row_stride: u32,     // workgroups per grid row (2-D grids)
  rows: u32,           // row/col sums
  cols: u32,
  accumulate: u32,     // row/col sums: 1 → y += result
  rows_per_chunk: u32, // col_sum: rows summed by one thread
  chunks: u32,         // col_sum: number of row chunks
  scale_a: f32,        // pair_final: y  = A·scale_a (then ÷ B when divide_by_b; 0 when B ≤ 0)
  scale_b: f32,        // pair_final: y2 = B·scale_b
  divide_by_b: u32,
}

// 0 sum, 1 sum of squares, 2 max |x|, 3 max (later stages of maxabs: inputs already ≥ 0).
override OP: u32 = 0u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> y2: array<f32>;

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

fn thread_index(wg: vec3<u32>, lid: u32) -> u32 {
  return (wg.y * p.row_stride + wg.x) * 64u + lid;
}

@compute @workgroup_size(64)
fn reduce_strided(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = thread_index(wg, lid);
  if (t >= p.threads) { return; }
  var acc = 0.0;
  for (var i = t; i < p.n; i += p.threads) { acc = combine(acc, load_op(x[i])); }
  y[t] = acc;
}

@compute @workgroup_size(64)
fn reduce_fold(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let j = thread_index(wg, lid);
  if (j >= p.threads) { return; }
  let start = j * p.span;
  let end = min(p.n, start + p.span);
  var acc = 0.0;
  for (var i = start; i < end; i++) { acc = combine(acc, load_op(x[i])); }
  y[j] = acc;
}

// Pairs (a, b) interleaved in x: thread j sums pairs [j·span, (j+1)·span) into y[2j], y[2j+1].
@compute @workgroup_size(64)
fn pair_fold(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let j = thread_index(wg, lid);
  if (j >= p.threads) { return; }
  let start = j * p.span;
  let end = min(p.n, start + p.span);
  var a = 0.0;
  var b = 0.0;
  for (var i = start; i < end; i++) { a += x[2u * i]; b += x[2u * i + 1u]; }
  y[2u * j] = a;
  y[2u * j + 1u] = b;
}

// One thread sums all n pairs, then y[0] = A·scale_a (÷ B when divide_by_b; 0 when B ≤ 0) and
// y2[0] = B·scale_b. Losses use it as their last stage (loss, and accuracy or mask count).
@compute @workgroup_size(1)
fn pair_final() {
  var a = 0.0;
  var b = 0.0;
  for (var i = 0u; i < p.n; i++) { a += x[2u * i]; b += x[2u * i + 1u]; }
  var ra = a * p.scale_a;
  if (p.divide_by_b != 0u) { ra = select(0.0, ra / b, b > 0.0); }
  y[0] = ra;
  y2[0] = b * p.scale_b;
}

// Row sums, one thread per row: y[r] (+)= Σ_c x[r·cols + c].
@compute @workgroup_size(64)
fn row_sum_thread(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = thread_index(wg, lid);
  if (r >= p.rows) { return; }
  let base = r * p.cols;
  var acc = 0.0;
  for (var c = 0u; c < p.cols; c++) { acc += x[base + c]; }
  if (p.accumulate != 0u) { acc += y[r]; }
  y[r] = acc;
}

// Row sums, one 256-thread workgroup per row (wide rows on real GPUs; barriers, so not used on
// SwiftShader by default). Fold 256 → 16 → 1 in a fixed order.
var<workgroup> sh: array<f32, 256>;

@compute @workgroup_size(256)
fn row_sum_wg(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = wg.y * p.row_stride + wg.x; // uniform per workgroup
  if (r >= p.rows) { return; }
  let base = r * p.cols;
  var acc = 0.0;
  for (var c = lid; c < p.cols; c += 256u) { acc += x[base + c]; }
  sh[lid] = acc;
  workgroupBarrier();
  if (lid < 16u) {
    var s = sh[lid];
    for (var k = 1u; k < 16u; k++) { s += sh[lid + 16u * k]; }
    sh[lid] = s;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var s = sh[0];
    for (var k = 1u; k < 16u; k++) { s += sh[k]; }
    if (p.accumulate != 0u) { s += y[r]; }
    y[r] = s;
  }
}

// Column sums in row chunks: thread t handles column t % cols over the rows of chunk t / cols
// and writes y[chunk·cols + col] (+= when accumulate). With chunks = 1 it is the final column
// sum; with chunks > 1 its output is the input of a second, single-chunk pass.
@compute @workgroup_size(64)
fn col_sum(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = thread_index(wg, lid);
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
