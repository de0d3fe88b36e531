// C = epilogue(alpha · op(A) · op(B)) for SwiftShader (WebGPU on the CPU).
//
// No workgroup memory and no barriers: SwiftShader runs a workgroup that has barriers as
// coroutines that yield at every barrier, which made shared-memory tiling 5–10× slower than this.
// Each invocation keeps a 16 × 8 block of C in 32 vec4 accumulators and reads A and B straight
// from the storage buffers.
//
// What was measured on SwiftShader 5 (Subzero JIT, 2 cores) and shaped this file:
//  - Every storage load with a computed index costs about the same (a per-lane gather), whatever
//    the address pattern, so the block is large: 16 × 8 needs 24 loads per 128 FMAs and ran
//    ~20 % faster than 8 × 8 (16 per 64), which beat 8 × 4 and 4 × 4. vec4-typed bindings did
//    not help (still one gather per component).
//  - The k loop is unrolled ×4 by hand (Subzero does not unroll). Accumulators are plain
//    variables updated inline, each A value loaded right before its FMAs: a k-step helper taking
//    the accumulators through a pointer, with all loads up front, was ~10 % slower.
//  - Unused epilogue options must cost nothing (override constants, below): at K = 128 the
//    epilogue is a noticeable share of the work.
//
// Layout: workgroup 4 × 4 invocations, a 64 × 32 tile of C (rows × columns); z = batch.
// Invocation (x, y) owns rows row0 .. row0+15 (row0 = tile_row + 16y) and columns col0 + 4j,
// j = 0..7 (col0 = tile_col + x), so the 4 invocations of a SIMD group touch neighbouring columns.
// Out-of-range rows and columns are clamped for reads and skipped when writing, so any
// M, N, K ≥ 1 works.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  flags: u32,    // FLAG_TRANS_* bits
  stride_a: u32, // elements between (outer) batches; 0 broadcasts one matrix to every batch
  stride_b: u32,
  stride_c: u32, // also the residual's stride (it has C's layout)
  alpha: f32,
  ld_a: u32,     // row stride of A as stored (K, or M when transposed, for dense matrices)
  ld_b: u32,     // row stride of B as stored (N, or K when transposed)
  ld_c: u32,     // row stride of C and the residual (N when dense)
  heads: u32,    // batch z = outer·heads + inner (1: plain batches)
  hstride_a: u32, // elements between inner batches (heads) of A
  hstride_b: u32,
  hstride_c: u32,
  _pad: u32,
}

// Offset of batch z's matrix: z = outer·heads + inner. With heads = H and the head strides set to
// the head width, a [batch, seq, H·D] tensor is H·batch matrices [seq, D] with row stride H·D.
fn base_a(z: u32) -> u32 { return (z / p.heads) * p.stride_a + (z % p.heads) * p.hstride_a; }
fn base_b(z: u32) -> u32 { return (z / p.heads) * p.stride_b + (z % p.heads) * p.hstride_b; }
fn base_c(z: u32) -> u32 { return (z / p.heads) * p.stride_c + (z % p.heads) * p.hstride_c; }

// Transposes are uniform flags: they only change strides, computed once per invocation.
const FLAG_TRANS_A: u32 = 1u;      // A stored as [K, M] per batch
const FLAG_TRANS_B: u32 = 2u;      // B stored as [N, K] per batch

// The epilogue options are override constants so a disabled one costs nothing: as uniform flags
// the whole matmul measured 10–25 % slower at K = 128 on SwiftShader. The price is one pipeline
// (0.3–1 s of compilation on SwiftShader) per combination actually used.
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
  let row0 = wg.y * 64u + lid.y * 16u;
  let col0 = wg.x * 32u + lid.x;

  // A(r, k) = a[base_a(z) + r·rs_a + k·cs_a];  B(k, n) = b[base_b(z) + k·rs_b + n·cs_b].
  let rs_a = select(p.ld_a, 1u, has(FLAG_TRANS_A));
  let cs_a = select(1u, p.ld_a, has(FLAG_TRANS_A));
  let rs_b = select(p.ld_b, 1u, has(FLAG_TRANS_B));
  let cs_b = select(1u, p.ld_b, has(FLAG_TRANS_B));

  // Clamped rows and columns: reads stay in bounds and every lane stays active.
  let last_row = vec4<u32>(M - 1u);
  let last_col = vec4<u32>(N - 1u);
  let rows_0 = min(vec4<u32>(row0) + vec4<u32>(0u, 1u, 2u, 3u), last_row);
  let rows_1 = min(vec4<u32>(row0) + vec4<u32>(4u, 5u, 6u, 7u), last_row);
  let rows_2 = min(vec4<u32>(row0) + vec4<u32>(8u, 9u, 10u, 11u), last_row);
  let rows_3 = min(vec4<u32>(row0) + vec4<u32>(12u, 13u, 14u, 15u), last_row);
  let cols_lo = vec4<u32>(col0) + vec4<u32>(0u, 4u, 8u, 12u);
  let cols_hi = vec4<u32>(col0) + vec4<u32>(16u, 20u, 24u, 28u);
  let col_lo = min(cols_lo, last_col);
  let col_hi = min(cols_hi, last_col);
  let za = base_a(wg.z);
  let zb = base_b(wg.z);
  let ra_0 = za + rows_0 * rs_a;
  let ra_1 = za + rows_1 * rs_a;
  let ra_2 = za + rows_2 * rs_a;
  let ra_3 = za + rows_3 * rs_a;
  let cb_lo = zb + col_lo * cs_b;
  let cb_hi = zb + col_hi * cs_b;

  // acc(2r) = row r of the block, its columns 0..3; acc(2r+1) = row r, columns 4..7.
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
  var acc16 = vec4<f32>(0.0);
  var acc17 = vec4<f32>(0.0);
  var acc18 = vec4<f32>(0.0);
  var acc19 = vec4<f32>(0.0);
  var acc20 = vec4<f32>(0.0);
  var acc21 = vec4<f32>(0.0);
  var acc22 = vec4<f32>(0.0);
  var acc23 = vec4<f32>(0.0);
  var acc24 = vec4<f32>(0.0);
  var acc25 = vec4<f32>(0.0);
  var acc26 = vec4<f32>(0.0);
  var acc27 = vec4<f32>(0.0);
  var acc28 = vec4<f32>(0.0);
  var acc29 = vec4<f32>(0.0);
  var acc30 = vec4<f32>(0.0);
  var acc31 = vec4<f32>(0.0);

  var ao = 0u; // k · cs_a
  var bo = 0u; // k · rs_b
  var k = 0u;
  let k_main = K & ~3u;
  for (; k < k_main; k = k + 4u) {
    // Four copies of the tail loop's body.
    {
      let b_lo = read_b4(cb_lo, bo);
      let b_hi = read_b4(cb_hi, bo);
      let a0 = vec4<f32>(a[ra_0.x + ao]); acc0 = fma(a0, b_lo, acc0); acc1 = fma(a0, b_hi, acc1);
      let a1 = vec4<f32>(a[ra_0.y + ao]); acc2 = fma(a1, b_lo, acc2); acc3 = fma(a1, b_hi, acc3);
      let a2 = vec4<f32>(a[ra_0.z + ao]); acc4 = fma(a2, b_lo, acc4); acc5 = fma(a2, b_hi, acc5);
      let a3 = vec4<f32>(a[ra_0.w + ao]); acc6 = fma(a3, b_lo, acc6); acc7 = fma(a3, b_hi, acc7);
      let a4 = vec4<f32>(a[ra_1.x + ao]); acc8 = fma(a4, b_lo, acc8); acc9 = fma(a4, b_hi, acc9);
      let a5 = vec4<f32>(a[ra_1.y + ao]); acc10 = fma(a5, b_lo, acc10); acc11 = fma(a5, b_hi, acc11);
      let a6 = vec4<f32>(a[ra_1.z + ao]); acc12 = fma(a6, b_lo, acc12); acc13 = fma(a6, b_hi, acc13);
      let a7 = vec4<f32>(a[ra_1.w + ao]); acc14 = fma(a7, b_lo, acc14); acc15 = fma(a7, b_hi, acc15);
      let a8 = vec4<f32>(a[ra_2.x + ao]); acc16 = fma(a8, b_lo, acc16); acc17 = fma(a8, b_hi, acc17);
      let a9 = vec4<f32>(a[ra_2.y + ao]); acc18 = fma(a9, b_lo, acc18); acc19 = fma(a9, b_hi, acc19);
      let a10 = vec4<f32>(a[ra_2.z + ao]); acc20 = fma(a10, b_lo, acc20); acc21 = fma(a10, b_hi, acc21);
      let a11 = vec4<f32>(a[ra_2.w + ao]); acc22 = fma(a11, b_lo, acc22); acc23 = fma(a11, b_hi, acc23);
      let a12 = vec4<f32>(a[ra_3.x + ao]); acc24 = fma(a12, b_lo, acc24); acc25 = fma(a12, b_hi, acc25);
      let a13 = vec4<f32>(a[ra_3.y + ao]); acc26 = fma(a13, b_lo, acc26); acc27 = fma(a13, b_hi, acc27);
      let a14 = vec4<f32>(a[ra_3.z + ao]); acc28 = fma(a14, b_lo, acc28); acc29 = fma(a14, b_hi, acc29);
      let a15 = vec4<f32>(a[ra_3.w + ao]); acc30 = fma(a15, b_lo, acc30); acc31 = fma(a15, b_hi, acc31);
    }
    ao = ao + cs_a;
    bo = bo + rs_b;
    {
      let b_lo = read_b4(cb_lo, bo);
      let b_hi = read_b4(cb_hi, bo);
      let a0 = vec4<f32>(a[ra_0.x + ao]); acc0 = fma(a0, b_lo, acc0); acc1 = fma(a0, b_hi, acc1);
      let a1 = vec4<f32>(a[ra_0.y + ao]); acc2 = fma(a1, b_lo, acc2); acc3 = fma(a1, b_hi, acc3);
      let a2 = vec4<f32>(a[ra_0.z + ao]); acc4 = fma(a2, b_lo, acc4); acc5 = fma(a2, b_hi, acc5);
      let a3 = vec4<f32>(a[ra_0.w + ao]); acc6 = fma(a3, b_lo, acc6); acc7 = fma(a3, b_hi, acc7);
      let a4 = vec4<f32>(a[ra_1.x + ao]); acc8 = fma(a4, b_lo, acc8); acc9 = fma(a4, b_hi, acc9);
      let a5 = vec4<f32>(a[ra_1.y + ao]); acc10 = fma(a5, b_lo, acc10); acc11 = fma(a5, b_hi, acc11);
      let a6 = vec4<f32>(a[ra_1.z + ao]); acc12 = fma(a6, b_lo, acc12); acc13 = fma(a6, b_hi, acc13);
      let a7 = vec4<f32>(a[ra_1.w + ao]); acc14 = fma(a7, b_lo, acc14); acc15 = fma(a7, b_hi, acc15);
      let a8 = vec4<f32>(a[ra_2.x + ao]); acc16 = fma(a8, b_lo, acc16); acc17 = fma(a8, b_hi, acc17);
      let a9 = vec4<f32>(a[ra_2.y + ao]); acc18 = fma(a9, b_lo, acc18); acc19 = fma(a9, b_hi, acc19);
      let a10 = vec4<f32>(a[ra_2.z + ao]); acc20 = fma(a10, b_lo, acc20); acc21 = fma(a10, b_hi, acc21);
      let a11 = vec4<f32>(a[ra_2.w + ao]); acc22 = fma(a11, b_lo, acc22); acc23 = fma(a11, b_hi, acc23);
      let a12 = vec4<f32>(a[ra_3.x + ao]); acc24 = fma(a12, b_lo, acc24); acc25 = fma(a12, b_hi, acc25);
      let a13 = vec4<f32>(a[ra_3.y + ao]); acc26 = fma(a13, b_lo, acc26); acc27 = fma(a13, b_hi, acc27);
      let a14 = vec4<f32>(a[ra_3.z + ao]); acc28 = fma(a14, b_lo, acc28); acc29 = fma(a14, b_hi, acc29);
      let a15 = vec4<f32>(a[ra_3.w + ao]); acc30 = fma(a15, b_lo, acc30); acc31 = fma(a15, b_hi, acc31);
    }
    ao = ao + cs_a;
    bo = bo + rs_b;
    {
      let b_lo = read_b4(cb_lo, bo);
      let b_hi = read_b4(cb_hi, bo);
      let a0 = vec4<f32>(a[ra_0.x + ao]); acc0 = fma(a0, b_lo, acc0); acc1 = fma(a0, b_hi, acc1);
      let a1 = vec4<f32>(a[ra_0.y + ao]); acc2 = fma(a1, b_lo, acc2); acc3 = fma(a1, b_hi, acc3);
      let a2 = vec4<f32>(a[ra_0.z + ao]); acc4 = fma(a2, b_lo, acc4); acc5 = fma(a2, b_hi, acc5);
      let a3 = vec4<f32>(a[ra_0.w + ao]); acc6 = fma(a3, b_lo, acc6); acc7 = fma(a3, b_hi, acc7);
      let a4 = vec4<f32>(a[ra_1.x + ao]); acc8 = fma(a4, b_lo, acc8); acc9 = fma(a4, b_hi, acc9);
      let a5 = vec4<f32>(a[ra_1.y + ao]); acc10 = fma(a5, b_lo, acc10); acc11 = fma(a5, b_hi, acc11);
      let a6 = vec4<f32>(a[ra_1.z + ao]); acc12 = fma(a6, b_lo, acc12); acc13 = fma(a6, b_hi, acc13);
      let a7 = vec4<f32>(a[ra_1.w + ao]); acc14 = fma(a7, b_lo, acc14); acc15 = fma(a7, b_hi, acc15);
      let a8 = vec4<f32>(a[ra_2.x + ao]); acc16 = fma(a8, b_lo, acc16); acc17 = fma(a8, b_hi, acc17);
      let a9 = vec4<f32>(a[ra_2.y + ao]); acc18 = fma(a9, b_lo, acc18); acc19 = fma(a9, b_hi, acc19);
      let a10 = vec4<f32>(a[ra_2.z + ao]); acc20 = fma(a10, b_lo, acc20); acc21 = fma(a10, b_hi, acc21);
      let a11 = vec4<f32>(a[ra_2.w + ao]); acc22 = fma(a11, b_lo, acc22); acc23 = fma(a11, b_hi, acc23);
      let a12 = vec4<f32>(a[ra_3.x + ao]); acc24 = fma(a12, b_lo, acc24); acc25 = fma(a12, b_hi, acc25);
      let a13 = vec4<f32>(a[ra_3.y + ao]); acc26 = fma(a13, b_lo, acc26); acc27 = fma(a13, b_hi, acc27);
      let a14 = vec4<f32>(a[ra_3.z + ao]); acc28 = fma(a14, b_lo, acc28); acc29 = fma(a14, b_hi, acc29);
      let a15 = vec4<f32>(a[ra_3.w + ao]); acc30 = fma(a15, b_lo, acc30); acc31 = fma(a15, b_hi, acc31);
    }
    ao = ao + cs_a;
    bo = bo + rs_b;
    {
      let b_lo = read_b4(cb_lo, bo);
      let b_hi = read_b4(cb_hi, bo);
      let a0 = vec4<f32>(a[ra_0.x + ao]); acc0 = fma(a0, b_lo, acc0); acc1 = fma(a0, b_hi, acc1);
      let a1 = vec4<f32>(a[ra_0.y + ao]); acc2 = fma(a1, b_lo, acc2); acc3 = fma(a1, b_hi, acc3);
      let a2 = vec4<f32>(a[ra_0.z + ao]); acc4 = fma(a2, b_lo, acc4); acc5 = fma(a2, b_hi, acc5);
      let a3 = vec4<f32>(a[ra_0.w + ao]); acc6 = fma(a3, b_lo, acc6); acc7 = fma(a3, b_hi, acc7);
      let a4 = vec4<f32>(a[ra_1.x + ao]); acc8 = fma(a4, b_lo, acc8); acc9 = fma(a4, b_hi, acc9);
      let a5 = vec4<f32>(a[ra_1.y + ao]); acc10 = fma(a5, b_lo, acc10); acc11 = fma(a5, b_hi, acc11);
      let a6 = vec4<f32>(a[ra_1.z + ao]); acc12 = fma(a6, b_lo, acc12); acc13 = fma(a6, b_hi, acc13);
      let a7 = vec4<f32>(a[ra_1.w + ao]); acc14 = fma(a7, b_lo, acc14); acc15 = fma(a7, b_hi, acc15);
      let a8 = vec4<f32>(a[ra_2.x + ao]); acc16 = fma(a8, b_lo, acc16); acc17 = fma(a8, b_hi, acc17);
      let a9 = vec4<f32>(a[ra_2.y + ao]); acc18 = fma(a9, b_lo, acc18); acc19 = fma(a9, b_hi, acc19);
      let a10 = vec4<f32>(a[ra_2.z + ao]); acc20 = fma(a10, b_lo, acc20); acc21 = fma(a10, b_hi, acc21);
      let a11 = vec4<f32>(a[ra_2.w + ao]); acc22 = fma(a11, b_lo, acc22); acc23 = fma(a11, b_hi, acc23);
      let a12 = vec4<f32>(a[ra_3.x + ao]); acc24 = fma(a12, b_lo, acc24); acc25 = fma(a12, b_hi, acc25);
      let a13 = vec4<f32>(a[ra_3.y + ao]); acc26 = fma(a13, b_lo, acc26); acc27 = fma(a13, b_hi, acc27);
      let a14 = vec4<f32>(a[ra_3.z + ao]); acc28 = fma(a14, b_lo, acc28); acc29 = fma(a14, b_hi, acc29);
      let a15 = vec4<f32>(a[ra_3.w + ao]); acc30 = fma(a15, b_lo, acc30); acc31 = fma(a15, b_hi, acc31);
    }
    ao = ao + cs_a;
    bo = bo + rs_b;
  }
  for (; k < K; k = k + 1u) {
    let b_lo = read_b4(cb_lo, bo);
    let b_hi = read_b4(cb_hi, bo);
    let a0 = vec4<f32>(a[ra_0.x + ao]); acc0 = fma(a0, b_lo, acc0); acc1 = fma(a0, b_hi, acc1);
    let a1 = vec4<f32>(a[ra_0.y + ao]); acc2 = fma(a1, b_lo, acc2); acc3 = fma(a1, b_hi, acc3);
    let a2 = vec4<f32>(a[ra_0.z + ao]); acc4 = fma(a2, b_lo, acc4); acc5 = fma(a2, b_hi, acc5);
    let a3 = vec4<f32>(a[ra_0.w + ao]); acc6 = fma(a3, b_lo, acc6); acc7 = fma(a3, b_hi, acc7);
    let a4 = vec4<f32>(a[ra_1.x + ao]); acc8 = fma(a4, b_lo, acc8); acc9 = fma(a4, b_hi, acc9);
    let a5 = vec4<f32>(a[ra_1.y + ao]); acc10 = fma(a5, b_lo, acc10); acc11 = fma(a5, b_hi, acc11);
    let a6 = vec4<f32>(a[ra_1.z + ao]); acc12 = fma(a6, b_lo, acc12); acc13 = fma(a6, b_hi, acc13);
    let a7 = vec4<f32>(a[ra_1.w + ao]); acc14 = fma(a7, b_lo, acc14); acc15 = fma(a7, b_hi, acc15);
    let a8 = vec4<f32>(a[ra_2.x + ao]); acc16 = fma(a8, b_lo, acc16); acc17 = fma(a8, b_hi, acc17);
    let a9 = vec4<f32>(a[ra_2.y + ao]); acc18 = fma(a9, b_lo, acc18); acc19 = fma(a9, b_hi, acc19);
    let a10 = vec4<f32>(a[ra_2.z + ao]); acc20 = fma(a10, b_lo, acc20); acc21 = fma(a10, b_hi, acc21);
    let a11 = vec4<f32>(a[ra_2.w + ao]); acc22 = fma(a11, b_lo, acc22); acc23 = fma(a11, b_hi, acc23);
    let a12 = vec4<f32>(a[ra_3.x + ao]); acc24 = fma(a12, b_lo, acc24); acc25 = fma(a12, b_hi, acc25);
    let a13 = vec4<f32>(a[ra_3.y + ao]); acc26 = fma(a13, b_lo, acc26); acc27 = fma(a13, b_hi, acc27);
    let a14 = vec4<f32>(a[ra_3.z + ao]); acc28 = fma(a14, b_lo, acc28); acc29 = fma(a14, b_hi, acc29);
    let a15 = vec4<f32>(a[ra_3.w + ao]); acc30 = fma(a15, b_lo, acc30); acc31 = fma(a15, b_hi, acc31);
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
  let zc = base_c(wg.z);
  let c_0 = zc + rows_0 * p.ld_c;
  let c_1 = zc + rows_1 * p.ld_c;
  let c_2 = zc + rows_2 * p.ld_c;
  let c_3 = zc + rows_3 * p.ld_c;
  var i_lo: vec4<u32>;
  var i_hi: vec4<u32>;
  i_lo = c_0.x + col_lo; i_hi = c_0.x + col_hi;
  write_row(row0 + 0u, i_lo, i_hi, ok_lo, ok_hi, finish4(acc0, bias_lo) + addend4(i_lo), finish4(acc1, bias_hi) + addend4(i_hi));
  i_lo = c_0.y + col_lo; i_hi = c_0.y + col_hi;
  write_row(row0 + 1u, i_lo, i_hi, ok_lo, ok_hi, finish4(acc2, bias_lo) + addend4(i_lo), finish4(acc3, bias_hi) + addend4(i_hi));
  i_lo = c_0.z + col_lo; i_hi = c_0.z + col_hi;
  write_row(row0 + 2u, i_lo, i_hi, ok_lo, ok_hi, finish4(acc4, bias_lo) + addend4(i_lo), finish4(acc5, bias_hi) + addend4(i_hi));
  i_lo = c_0.w + col_lo; i_hi = c_0.w + col_hi;
  write_row(row0 + 3u, i_lo, i_hi, ok_lo, ok_hi, finish4(acc6, bias_lo) + addend4(i_lo), finish4(acc7, bias_hi) + addend4(i_hi));
  i_lo = c_1.x + col_lo; i_hi = c_1.x + col_hi;
  write_row(row0 + 4u, i_lo, i_hi, ok_lo, ok_hi, finish4(acc8, bias_lo) + addend4(i_lo), finish4(acc9, bias_hi) + addend4(i_hi));
  i_lo = c_1.y + col_lo; i_hi = c_1.y + col_hi;
  write_row(row0 + 5u, i_lo, i_hi, ok_lo, ok_hi, finish4(acc10, bias_lo) + addend4(i_lo), finish4(acc11, bias_hi) + addend4(i_hi));
  i_lo = c_1.z + col_lo; i_hi = c_1.z + col_hi;
  write_row(row0 + 6u, i_lo, i_hi, ok_lo, ok_hi, finish4(acc12, bias_lo) + addend4(i_lo), finish4(acc13, bias_hi) + addend4(i_hi));
  i_lo = c_1.w + col_lo; i_hi = c_1.w + col_hi;
  write_row(row0 + 7u, i_lo, i_hi, ok_lo, ok_hi, finish4(acc14, bias_lo) + addend4(i_lo), finish4(acc15, bias_hi) + addend4(i_hi));
  i_lo = c_2.x + col_lo; i_hi = c_2.x + col_hi;
  write_row(row0 + 8u, i_lo, i_hi, ok_lo, ok_hi, finish4(acc16, bias_lo) + addend4(i_lo), finish4(acc17, bias_hi) + addend4(i_hi));
  i_lo = c_2.y + col_lo; i_hi = c_2.y + col_hi;
  write_row(row0 + 9u, i_lo, i_hi, ok_lo, ok_hi, finish4(acc18, bias_lo) + addend4(i_lo), finish4(acc19, bias_hi) + addend4(i_hi));
  i_lo = c_2.z + col_lo; i_hi = c_2.z + col_hi;
  write_row(row0 + 10u, i_lo, i_hi, ok_lo, ok_hi, finish4(acc20, bias_lo) + addend4(i_lo), finish4(acc21, bias_hi) + addend4(i_hi));
  i_lo = c_2.w + col_lo; i_hi = c_2.w + col_hi;
  write_row(row0 + 11u, i_lo, i_hi, ok_lo, ok_hi, finish4(acc22, bias_lo) + addend4(i_lo), finish4(acc23, bias_hi) + addend4(i_hi));
  i_lo = c_3.x + col_lo; i_hi = c_3.x + col_hi;
  write_row(row0 + 12u, i_lo, i_hi, ok_lo, ok_hi, finish4(acc24, bias_lo) + addend4(i_lo), finish4(acc25, bias_hi) + addend4(i_hi));
  i_lo = c_3.y + col_lo; i_hi = c_3.y + col_hi;
  write_row(row0 + 13u, i_lo, i_hi, ok_lo, ok_hi, finish4(acc26, bias_lo) + addend4(i_lo), finish4(acc27, bias_hi) + addend4(i_hi));
  i_lo = c_3.z + col_lo; i_hi = c_3.z + col_hi;
  write_row(row0 + 14u, i_lo, i_hi, ok_lo, ok_hi, finish4(acc28, bias_lo) + addend4(i_lo), finish4(acc29, bias_hi) + addend4(i_hi));
  i_lo = c_3.w + col_lo; i_hi = c_3.w + col_hi;
  write_row(row0 + 15u, i_lo, i_hi, ok_lo, ok_hi, finish4(acc30, bias_lo) + addend4(i_lo), finish4(acc31, bias_hi) + addend4(i_hi));
}
