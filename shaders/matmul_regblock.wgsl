// C = epilogue(alpha · op(A) · op(B)) for SwiftShader (WebGPU on the CPU).
//
// No workgroup memory and no barriers: SwiftShader runs a workgroup that has barriers as
// coroutines that yield at every barrier, which made shared-memory tiling 5–10× slower than this.
// Instead each invocation keeps an 8 × 8 block of C in registers (16 vec4 accumulators) and reads
// A and B straight from the storage buffers.
//
// SwiftShader runs 4 consecutive invocations as one SIMD group. Invocations of a group share
// local_id.y (the workgroup is 4 wide), so they read the same A element (a broadcast load), and
// their columns are interleaved (col = tile_col + lid.x + 4·j) so they read 4 consecutive B
// elements (one vector load) when B is not transposed. Measured on SwiftShader 5 (Subzero):
// 8 × 8 per invocation beat 8 × 4 and 4 × 4, and vec4-typed bindings with 4 consecutive
// columns per invocation were ~2× slower (the lanes' vec4s make strided gathers).
//
// Out-of-range rows and columns are clamped for reads (every lane stays active, so loads keep
// their fast paths) and skipped when writing, so any M, N, K ≥ 1 works.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  flags: u32,    // FLAG_* bits
  stride_a: u32, // elements between batches; 0 broadcasts one matrix to every batch
  stride_b: u32,
  stride_c: u32, // also the residual's stride (it has C's layout)
  alpha: f32,
}

// Flags are uniforms rather than override constants: on SwiftShader every pipeline variant costs
// 0.3–1 s to compile, and these branches sit outside the inner loop.
const FLAG_TRANS_A: u32 = 1u;      // A stored as [K, M] per batch
const FLAG_TRANS_B: u32 = 2u;      // B stored as [N, K] per batch
const FLAG_BIAS: u32 = 4u;         // + bias[col] after alpha
const FLAG_GELU: u32 = 8u;         // tanh GELU after the bias
const FLAG_ACCUMULATE: u32 = 16u;  // + C's old value
const FLAG_RESIDUAL: u32 = 32u;    // + residual[same index as C]

fn has(flag: u32) -> bool {
  return (p.flags & flag) != 0u;
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> residual: array<f32>;

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const GELU_C: f32 = 0.044715;

// Same formula as shaders/elementwise.wgsl: tanh via exp so it stays finite for large |u|.
fn gelu(v: f32) -> f32 {
  let u = SQRT_2_OVER_PI * (v + GELU_C * v * v * v);
  let e = exp(-2.0 * abs(u));
  let t = (1.0 - e) / (1.0 + e);
  return 0.5 * v * (1.0 + select(-t, t, u >= 0.0));
}

fn read_a4(i: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(a[i.x], a[i.y], a[i.z], a[i.w]);
}

fn read_b4(i: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(b[i.x], b[i.y], b[i.z], b[i.w]);
}

// One k step: acc[2r] holds row r, columns 0..3 of the block; acc[2r+1] columns 4..7.
// Constant indices only, so the compiler keeps acc in registers.
fn mac(acc: ptr<function, array<vec4<f32>, 16>>, a_lo: vec4<f32>, a_hi: vec4<f32>, b_lo: vec4<f32>, b_hi: vec4<f32>) {
  (*acc)[0] = fma(vec4<f32>(a_lo.x), b_lo, (*acc)[0]);
  (*acc)[1] = fma(vec4<f32>(a_lo.x), b_hi, (*acc)[1]);
  (*acc)[2] = fma(vec4<f32>(a_lo.y), b_lo, (*acc)[2]);
  (*acc)[3] = fma(vec4<f32>(a_lo.y), b_hi, (*acc)[3]);
  (*acc)[4] = fma(vec4<f32>(a_lo.z), b_lo, (*acc)[4]);
  (*acc)[5] = fma(vec4<f32>(a_lo.z), b_hi, (*acc)[5]);
  (*acc)[6] = fma(vec4<f32>(a_lo.w), b_lo, (*acc)[6]);
  (*acc)[7] = fma(vec4<f32>(a_lo.w), b_hi, (*acc)[7]);
  (*acc)[8] = fma(vec4<f32>(a_hi.x), b_lo, (*acc)[8]);
  (*acc)[9] = fma(vec4<f32>(a_hi.x), b_hi, (*acc)[9]);
  (*acc)[10] = fma(vec4<f32>(a_hi.y), b_lo, (*acc)[10]);
  (*acc)[11] = fma(vec4<f32>(a_hi.y), b_hi, (*acc)[11]);
  (*acc)[12] = fma(vec4<f32>(a_hi.z), b_lo, (*acc)[12]);
  (*acc)[13] = fma(vec4<f32>(a_hi.z), b_hi, (*acc)[13]);
  (*acc)[14] = fma(vec4<f32>(a_hi.w), b_lo, (*acc)[14]);
  (*acc)[15] = fma(vec4<f32>(a_hi.w), b_hi, (*acc)[15]);
}

// mm_write: the fused epilogue for one element.
fn write_c(c_base: u32, row: u32, col: u32, v: f32) {
  if (row >= p.M || col >= p.N) { return; }
  var r = p.alpha * v;
  if (has(FLAG_BIAS)) { r = r + bias[col]; }
  if (has(FLAG_GELU)) { r = gelu(r); }
  let i = c_base + row * p.N + col;
  if (has(FLAG_ACCUMULATE)) { r = r + c[i]; }
  if (has(FLAG_RESIDUAL)) { r = r + residual[i]; }
  c[i] = r;
}

// Columns of an 8-wide row block are col0 + 4·j.
fn write_row(c_base: u32, row: u32, col0: u32, lo: vec4<f32>, hi: vec4<f32>) {
  write_c(c_base, row, col0, lo.x);
  write_c(c_base, row, col0 + 4u, lo.y);
  write_c(c_base, row, col0 + 8u, lo.z);
  write_c(c_base, row, col0 + 12u, lo.w);
  write_c(c_base, row, col0 + 16u, hi.x);
  write_c(c_base, row, col0 + 20u, hi.y);
  write_c(c_base, row, col0 + 24u, hi.z);
  write_c(c_base, row, col0 + 28u, hi.w);
}

// Workgroup 4 × 4 invocations, 8 × 8 outputs each: a 32 × 32 tile of C; z = batch.
@compute @workgroup_size(4, 4)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = p.M;
  let N = p.N;
  let K = p.K;
  let row0 = wg.y * 32u + lid.y * 8u;
  let col0 = wg.x * 32u + lid.x;

  // A(r, k) = a[base_a + r·rs_a + k·cs_a];  B(k, n) = b[base_b + k·rs_b + n·cs_b].
  let rs_a = select(K, 1u, has(FLAG_TRANS_A));
  let cs_a = select(1u, M, has(FLAG_TRANS_A));
  let rs_b = select(N, 1u, has(FLAG_TRANS_B));
  let cs_b = select(1u, K, has(FLAG_TRANS_B));
  let base_a = wg.z * p.stride_a;
  let base_b = wg.z * p.stride_b;

  let last_row = vec4<u32>(M - 1u);
  let last_col = vec4<u32>(N - 1u);
  let a_lo = base_a + min(vec4<u32>(row0) + vec4<u32>(0u, 1u, 2u, 3u), last_row) * rs_a;
  let a_hi = base_a + min(vec4<u32>(row0) + vec4<u32>(4u, 5u, 6u, 7u), last_row) * rs_a;
  let b_lo = base_b + min(vec4<u32>(col0) + vec4<u32>(0u, 4u, 8u, 12u), last_col) * cs_b;
  let b_hi = base_b + min(vec4<u32>(col0) + vec4<u32>(16u, 20u, 24u, 28u), last_col) * cs_b;

  var acc: array<vec4<f32>, 16>;
  var ao = 0u; // k · cs_a
  var bo = 0u; // k · rs_b
  var k = 0u;
  // Unrolled by 4: SwiftShader's Subzero backend does not unroll, and loop overhead showed.
  let k_main = K & ~3u;
  for (; k < k_main; k = k + 4u) {
    mac(&acc, read_a4(a_lo + ao), read_a4(a_hi + ao), read_b4(b_lo + bo), read_b4(b_hi + bo));
    ao = ao + cs_a;
    bo = bo + rs_b;
    mac(&acc, read_a4(a_lo + ao), read_a4(a_hi + ao), read_b4(b_lo + bo), read_b4(b_hi + bo));
    ao = ao + cs_a;
    bo = bo + rs_b;
    mac(&acc, read_a4(a_lo + ao), read_a4(a_hi + ao), read_b4(b_lo + bo), read_b4(b_hi + bo));
    ao = ao + cs_a;
    bo = bo + rs_b;
    mac(&acc, read_a4(a_lo + ao), read_a4(a_hi + ao), read_b4(b_lo + bo), read_b4(b_hi + bo));
    ao = ao + cs_a;
    bo = bo + rs_b;
  }
  for (; k < K; k = k + 1u) {
    mac(&acc, read_a4(a_lo + ao), read_a4(a_hi + ao), read_b4(b_lo + bo), read_b4(b_hi + bo));
    ao = ao + cs_a;
    bo = bo + rs_b;
  }

  let c_base = wg.z * p.stride_c;
  write_row(c_base, row0, col0, acc[0], acc[1]);
  write_row(c_base, row0 + 1u, col0, acc[2], acc[3]);
  write_row(c_base, row0 + 2u, col0, acc[4], acc[5]);
  write_row(c_base, row0 + 3u, col0, acc[6], acc[7]);
  write_row(c_base, row0 + 4u, col0, acc[8], acc[9]);
  write_row(c_base, row0 + 5u, col0, acc[10], acc[11]);
  write_row(c_base, row0 + 6u, col0, acc[12], acc[13]);
  write_row(c_base, row0 + 7u, col0, acc[14], acc[15]);
}
