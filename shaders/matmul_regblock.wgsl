// C = epilogue(alpha · op(A) · op(B)) for SwiftShader (WebGPU on the CPU).
//
// No workgroup memory and no barriers: SwiftShader runs a workgroup that has barriers as
// coroutines that yield at every barrier, which made shared-memory tiling 5–10× slower than this.
// Each invocation keeps an 8 × 8 block of C in 16 vec4 accumulators and reads A and B straight
// from the storage buffers.
//
// What was measured on SwiftShader 5 (Subzero JIT, 2 cores) and shaped this file:
//  - Every storage load with a computed index costs about the same (a per-lane gather), whatever
//    the address pattern, so the block is as large as registers allow: 8 × 8 needs 16 loads per
//    64 FMAs (4 × 4: 8 per 16). vec4-typed bindings did not help (still one gather per component).
//  - Subzero does not unroll, inline away pointer parameters or hoist, so the k loop is unrolled
//    by hand, the accumulators are plain variables, each A value is loaded right before its FMAs,
//    and the epilogue is straight-line code in main. Helper functions with `var`s or pointer
//    parameters here cost 10–25 %.
//
// Layout: workgroup 4 × 4 invocations, a 32 × 32 tile of C; z = batch. Invocation (x, y) owns
// rows row0 .. row0+7 (row0 = tile_row + 8y) and columns col0 + 4j, j = 0..7 (col0 = tile_col + x),
// so the 4 invocations of a SIMD group touch neighbouring columns.
// Out-of-range rows and columns are clamped for reads and skipped when writing, so any
// M, N, K ≥ 1 works.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  flags: u32,    // FLAG_TRANS_* bits
  stride_a: u32, // elements between batches; 0 broadcasts one matrix to every batch
  stride_b: u32,
  stride_c: u32, // also the residual's stride (it has C's layout)
  alpha: f32,
}

// Transposes are uniform flags: they only change strides, computed once per invocation.
const FLAG_TRANS_A: u32 = 1u;      // A stored as [K, M] per batch
const FLAG_TRANS_B: u32 = 2u;      // B stored as [N, K] per batch

// The epilogue options are override constants: a disabled option must cost nothing, and on
// SwiftShader a uniform branch around it still cost 10 % each at K = 128. The price is one
// pipeline (0.3–1 s of compilation on SwiftShader) per combination actually used.
override HAS_BIAS: bool = false;     // + bias[col] after alpha
override GELU: bool = false;         // tanh GELU after the bias
override ACCUMULATE: bool = false;   // + C's old value
override HAS_RESIDUAL: bool = false; // + residual[same index as C]

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> residual: array<f32>;

fn has(flag: u32) -> bool {
  return (p.flags & flag) != 0u;
}

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const GELU_C: f32 = 0.044715;

// Same formula as shaders/elementwise.wgsl: tanh via exp so it stays finite for large |u|.
fn gelu4(v: vec4<f32>) -> vec4<f32> {
  let u = SQRT_2_OVER_PI * (v + GELU_C * v * v * v);
  let e = exp(-2.0 * abs(u));
  let t = (1.0 - e) / (1.0 + e);
  return 0.5 * v * (1.0 + select(-t, t, u >= vec4<f32>(0.0)));
}

fn read_b4(i: vec4<u32>, offset: u32) -> vec4<f32> {
  return vec4<f32>(b[i.x + offset], b[i.y + offset], b[i.z + offset], b[i.w + offset]);
}

// alpha, bias and GELU for 4 elements of a row.
fn finish4(v: vec4<f32>, bias4: vec4<f32>) -> vec4<f32> {
  let r = p.alpha * v + bias4;
  if (GELU) { return gelu4(r); }
  return r;
}

// C_old and/or the residual at 4 element indices (clamped, so always in bounds).
fn addend4(i: vec4<u32>) -> vec4<f32> {
  var s = vec4<f32>(0.0);
  if (ACCUMULATE) { s = s + vec4<f32>(c[i.x], c[i.y], c[i.z], c[i.w]); }
  if (HAS_RESIDUAL) { s = s + vec4<f32>(residual[i.x], residual[i.y], residual[i.z], residual[i.w]); }
  return s;
}

// mm_write for one row of the block: 8 values, at element indices i_lo / i_hi.
fn write_row(row: u32, i_lo: vec4<u32>, i_hi: vec4<u32>, ok_lo: vec4<bool>, ok_hi: vec4<bool>, lo: vec4<f32>, hi: vec4<f32>) {
  let in_row = row < p.M;
  if (in_row && ok_lo.x) { c[i_lo.x] = lo.x; }
  if (in_row && ok_lo.y) { c[i_lo.y] = lo.y; }
  if (in_row && ok_lo.z) { c[i_lo.z] = lo.z; }
  if (in_row && ok_lo.w) { c[i_lo.w] = lo.w; }
  if (in_row && ok_hi.x) { c[i_hi.x] = hi.x; }
  if (in_row && ok_hi.y) { c[i_hi.y] = hi.y; }
  if (in_row && ok_hi.z) { c[i_hi.z] = hi.z; }
  if (in_row && ok_hi.w) { c[i_hi.w] = hi.w; }
}

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

  // Clamped rows and columns: reads stay in bounds and every lane stays active.
  let last_row = vec4<u32>(M - 1u);
  let last_col = vec4<u32>(N - 1u);
  let rows_lo = min(vec4<u32>(row0) + vec4<u32>(0u, 1u, 2u, 3u), last_row);
  let rows_hi = min(vec4<u32>(row0) + vec4<u32>(4u, 5u, 6u, 7u), last_row);
  let cols_lo = vec4<u32>(col0) + vec4<u32>(0u, 4u, 8u, 12u);
  let cols_hi = vec4<u32>(col0) + vec4<u32>(16u, 20u, 24u, 28u);
  let col_lo = min(cols_lo, last_col);
  let col_hi = min(cols_hi, last_col);
  let ra_lo = wg.z * p.stride_a + rows_lo * rs_a;
  let ra_hi = wg.z * p.stride_a + rows_hi * rs_a;
  let cb_lo = wg.z * p.stride_b + col_lo * cs_b;
  let cb_hi = wg.z * p.stride_b + col_hi * cs_b;

  // acc(2r) = row r, columns 0..3 of the block; acc(2r+1) = row r, columns 4..7.
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  var acc4 = vec4<f32>(0.0);
  var acc5 = vec4<f32>(0.0);
  var acc6 = vec4<f32>(0.0);
  var acc7 = vec4<f32>(0.0);
  var acc8 = vec4<f32>(0.0);
  var acc9 = vec4<f32>(0.0);
  var acc10 = vec4<f32>(0.0);
  var acc11 = vec4<f32>(0.0);
  var acc12 = vec4<f32>(0.0);
  var acc13 = vec4<f32>(0.0);
  var acc14 = vec4<f32>(0.0);
  var acc15 = vec4<f32>(0.0);

  var ao = 0u; // k · cs_a
  var bo = 0u; // k · rs_b
  var k = 0u;
  let k_main = K & ~3u;
  for (; k < k_main; k = k + 4u) {
    // Four copies of the k step in the tail loop below, with ao/bo advanced between them.
    {
      let b_lo = read_b4(cb_lo, bo);
      let b_hi = read_b4(cb_hi, bo);
      let a0 = vec4<f32>(a[ra_lo.x + ao]); acc0 = fma(a0, b_lo, acc0); acc1 = fma(a0, b_hi, acc1);
      let a1 = vec4<f32>(a[ra_lo.y + ao]); acc2 = fma(a1, b_lo, acc2); acc3 = fma(a1, b_hi, acc3);
      let a2 = vec4<f32>(a[ra_lo.z + ao]); acc4 = fma(a2, b_lo, acc4); acc5 = fma(a2, b_hi, acc5);
      let a3 = vec4<f32>(a[ra_lo.w + ao]); acc6 = fma(a3, b_lo, acc6); acc7 = fma(a3, b_hi, acc7);
      let a4 = vec4<f32>(a[ra_hi.x + ao]); acc8 = fma(a4, b_lo, acc8); acc9 = fma(a4, b_hi, acc9);
      let a5 = vec4<f32>(a[ra_hi.y + ao]); acc10 = fma(a5, b_lo, acc10); acc11 = fma(a5, b_hi, acc11);
      let a6 = vec4<f32>(a[ra_hi.z + ao]); acc12 = fma(a6, b_lo, acc12); acc13 = fma(a6, b_hi, acc13);
      let a7 = vec4<f32>(a[ra_hi.w + ao]); acc14 = fma(a7, b_lo, acc14); acc15 = fma(a7, b_hi, acc15);
    }
    ao = ao + cs_a;
    bo = bo + rs_b;
    {
      let b_lo = read_b4(cb_lo, bo);
      let b_hi = read_b4(cb_hi, bo);
      let a0 = vec4<f32>(a[ra_lo.x + ao]); acc0 = fma(a0, b_lo, acc0); acc1 = fma(a0, b_hi, acc1);
      let a1 = vec4<f32>(a[ra_lo.y + ao]); acc2 = fma(a1, b_lo, acc2); acc3 = fma(a1, b_hi, acc3);
      let a2 = vec4<f32>(a[ra_lo.z + ao]); acc4 = fma(a2, b_lo, acc4); acc5 = fma(a2, b_hi, acc5);
      let a3 = vec4<f32>(a[ra_lo.w + ao]); acc6 = fma(a3, b_lo, acc6); acc7 = fma(a3, b_hi, acc7);
      let a4 = vec4<f32>(a[ra_hi.x + ao]); acc8 = fma(a4, b_lo, acc8); acc9 = fma(a4, b_hi, acc9);
      let a5 = vec4<f32>(a[ra_hi.y + ao]); acc10 = fma(a5, b_lo, acc10); acc11 = fma(a5, b_hi, acc11);
      let a6 = vec4<f32>(a[ra_hi.z + ao]); acc12 = fma(a6, b_lo, acc12); acc13 = fma(a6, b_hi, acc13);
      let a7 = vec4<f32>(a[ra_hi.w + ao]); acc14 = fma(a7, b_lo, acc14); acc15 = fma(a7, b_hi, acc15);
    }
    ao = ao + cs_a;
    bo = bo + rs_b;
    {
      let b_lo = read_b4(cb_lo, bo);
      let b_hi = read_b4(cb_hi, bo);
      let a0 = vec4<f32>(a[ra_lo.x + ao]); acc0 = fma(a0, b_lo, acc0); acc1 = fma(a0, b_hi, acc1);
      let a1 = vec4<f32>(a[ra_lo.y + ao]); acc2 = fma(a1, b_lo, acc2); acc3 = fma(a1, b_hi, acc3);
      let a2 = vec4<f32>(a[ra_lo.z + ao]); acc4 = fma(a2, b_lo, acc4); acc5 = fma(a2, b_hi, acc5);
      let a3 = vec4<f32>(a[ra_lo.w + ao]); acc6 = fma(a3, b_lo, acc6); acc7 = fma(a3, b_hi, acc7);
      let a4 = vec4<f32>(a[ra_hi.x + ao]); acc8 = fma(a4, b_lo, acc8); acc9 = fma(a4, b_hi, acc9);
      let a5 = vec4<f32>(a[ra_hi.y + ao]); acc10 = fma(a5, b_lo, acc10); acc11 = fma(a5, b_hi, acc11);
      let a6 = vec4<f32>(a[ra_hi.z + ao]); acc12 = fma(a6, b_lo, acc12); acc13 = fma(a6, b_hi, acc13);
      let a7 = vec4<f32>(a[ra_hi.w + ao]); acc14 = fma(a7, b_lo, acc14); acc15 = fma(a7, b_hi, acc15);
    }
    ao = ao + cs_a;
    bo = bo + rs_b;
    {
      let b_lo = read_b4(cb_lo, bo);
      let b_hi = read_b4(cb_hi, bo);
      let a0 = vec4<f32>(a[ra_lo.x + ao]); acc0 = fma(a0, b_lo, acc0); acc1 = fma(a0, b_hi, acc1);
      let a1 = vec4<f32>(a[ra_lo.y + ao]); acc2 = fma(a1, b_lo, acc2); acc3 = fma(a1, b_hi, acc3);
      let a2 = vec4<f32>(a[ra_lo.z + ao]); acc4 = fma(a2, b_lo, acc4); acc5 = fma(a2, b_hi, acc5);
      let a3 = vec4<f32>(a[ra_lo.w + ao]); acc6 = fma(a3, b_lo, acc6); acc7 = fma(a3, b_hi, acc7);
      let a4 = vec4<f32>(a[ra_hi.x + ao]); acc8 = fma(a4, b_lo, acc8); acc9 = fma(a4, b_hi, acc9);
      let a5 = vec4<f32>(a[ra_hi.y + ao]); acc10 = fma(a5, b_lo, acc10); acc11 = fma(a5, b_hi, acc11);
      let a6 = vec4<f32>(a[ra_hi.z + ao]); acc12 = fma(a6, b_lo, acc12); acc13 = fma(a6, b_hi, acc13);
      let a7 = vec4<f32>(a[ra_hi.w + ao]); acc14 = fma(a7, b_lo, acc14); acc15 = fma(a7, b_hi, acc15);
    }
    ao = ao + cs_a;
    bo = bo + rs_b;
  }
  for (; k < K; k = k + 1u) {
    let b_lo = read_b4(cb_lo, bo);
    let b_hi = read_b4(cb_hi, bo);
    let a0 = vec4<f32>(a[ra_lo.x + ao]); acc0 = fma(a0, b_lo, acc0); acc1 = fma(a0, b_hi, acc1);
    let a1 = vec4<f32>(a[ra_lo.y + ao]); acc2 = fma(a1, b_lo, acc2); acc3 = fma(a1, b_hi, acc3);
    let a2 = vec4<f32>(a[ra_lo.z + ao]); acc4 = fma(a2, b_lo, acc4); acc5 = fma(a2, b_hi, acc5);
    let a3 = vec4<f32>(a[ra_lo.w + ao]); acc6 = fma(a3, b_lo, acc6); acc7 = fma(a3, b_hi, acc7);
    let a4 = vec4<f32>(a[ra_hi.x + ao]); acc8 = fma(a4, b_lo, acc8); acc9 = fma(a4, b_hi, acc9);
    let a5 = vec4<f32>(a[ra_hi.y + ao]); acc10 = fma(a5, b_lo, acc10); acc11 = fma(a5, b_hi, acc11);
    let a6 = vec4<f32>(a[ra_hi.z + ao]); acc12 = fma(a6, b_lo, acc12); acc13 = fma(a6, b_hi, acc13);
    let a7 = vec4<f32>(a[ra_hi.w + ao]); acc14 = fma(a7, b_lo, acc14); acc15 = fma(a7, b_hi, acc15);
    ao = ao + cs_a;
    bo = bo + rs_b;
  }

  // Epilogue (mm_write): alpha, bias, GELU, then + C_old / + residual, then bounded stores.
  var bias_lo = vec4<f32>(0.0);
  var bias_hi = vec4<f32>(0.0);
  if (HAS_BIAS) {
    bias_lo = vec4<f32>(bias[col_lo.x], bias[col_lo.y], bias[col_lo.z], bias[col_lo.w]);
    bias_hi = vec4<f32>(bias[col_hi.x], bias[col_hi.y], bias[col_hi.z], bias[col_hi.w]);
  }
  let ok_lo = cols_lo < vec4<u32>(N);
  let ok_hi = cols_hi < vec4<u32>(N);
  let c_lo = wg.z * p.stride_c + rows_lo * N; // row starts in C (clamped rows)
  let c_hi = wg.z * p.stride_c + rows_hi * N;
  var i_lo: vec4<u32>;
  var i_hi: vec4<u32>;
  i_lo = c_lo.x + col_lo; i_hi = c_lo.x + col_hi;
  write_row(row0, i_lo, i_hi, ok_lo, ok_hi, finish4(acc0, bias_lo) + addend4(i_lo), finish4(acc1, bias_hi) + addend4(i_hi));
  i_lo = c_lo.y + col_lo; i_hi = c_lo.y + col_hi;
  write_row(row0 + 1u, i_lo, i_hi, ok_lo, ok_hi, finish4(acc2, bias_lo) + addend4(i_lo), finish4(acc3, bias_hi) + addend4(i_hi));
  i_lo = c_lo.z + col_lo; i_hi = c_lo.z + col_hi;
  write_row(row0 + 2u, i_lo, i_hi, ok_lo, ok_hi, finish4(acc4, bias_lo) + addend4(i_lo), finish4(acc5, bias_hi) + addend4(i_hi));
  i_lo = c_lo.w + col_lo; i_hi = c_lo.w + col_hi;
  write_row(row0 + 3u, i_lo, i_hi, ok_lo, ok_hi, finish4(acc6, bias_lo) + addend4(i_lo), finish4(acc7, bias_hi) + addend4(i_hi));
  i_lo = c_hi.x + col_lo; i_hi = c_hi.x + col_hi;
  write_row(row0 + 4u, i_lo, i_hi, ok_lo, ok_hi, finish4(acc8, bias_lo) + addend4(i_lo), finish4(acc9, bias_hi) + addend4(i_hi));
  i_lo = c_hi.y + col_lo; i_hi = c_hi.y + col_hi;
  write_row(row0 + 5u, i_lo, i_hi, ok_lo, ok_hi, finish4(acc10, bias_lo) + addend4(i_lo), finish4(acc11, bias_hi) + addend4(i_hi));
  i_lo = c_hi.z + col_lo; i_hi = c_hi.z + col_hi;
  write_row(row0 + 6u, i_lo, i_hi, ok_lo, ok_hi, finish4(acc12, bias_lo) + addend4(i_lo), finish4(acc13, bias_hi) + addend4(i_hi));
  i_lo = c_hi.w + col_lo; i_hi = c_hi.w + col_hi;
  write_row(row0 + 7u, i_lo, i_hi, ok_lo, ok_hi, finish4(acc14, bias_lo) + addend4(i_lo), finish4(acc15, bias_hi) + addend4(i_hi));
}
