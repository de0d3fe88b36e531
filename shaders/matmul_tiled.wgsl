// C = epilogue(alpha · op(A) · op(B)) for real GPUs: shared-memory tiling in the style of
// TF.js's WebGPU matmul. Workgroup 8 × 8, 4 × 4 outputs per invocation (a 32 × 32 tile of C),
// K consumed 32 at a time through workgroup memory. z = batch.
//
// Two entry points over the same bindings:
//   main      — scalar; any M, N, K ≥ 1, either operand transposed.
//   main_vec4 — vec4 loads, tiles and stores; only when neither operand is transposed and
//               K, N, every stride and leading dimension are multiples of 4 (the host checks this), so a vec4
//               never straddles a row end and every buffer index is 16-byte aligned.
// Reads outside the matrices return 0, so partial tiles need no special case; writes outside
// are skipped.

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

// The same buffers seen as vec4 (used only by main_vec4; an entry point may not use both views).
@group(0) @binding(1) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> bias4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> residual4: array<vec4<f32>>;

const TILE: u32 = 32u;

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const GELU_C: f32 = 0.044715;

// Same formula as shaders/elementwise.wgsl: tanh via exp so it stays finite for large |u|.
fn gelu(v: f32) -> f32 {
  let u = SQRT_2_OVER_PI * (v + GELU_C * v * v * v);
  let e = exp(-2.0 * abs(u));
  let t = (1.0 - e) / (1.0 + e);
  return 0.5 * v * (1.0 + select(-t, t, u >= 0.0));
}

// ---------------- scalar path ----------------

var<workgroup> tile_a: array<array<f32, 32>, 32>; // [row][k]
var<workgroup> tile_b: array<array<f32, 32>, 32>; // [k][col]

// mm_readA: op(A)(row, k) of this batch, 0 outside the matrix.
fn read_a(batch: u32, row: u32, k: u32) -> f32 {
  if (row >= p.M || k >= p.K) { return 0.0; }
  let i = select(row * p.ld_a + k, k * p.ld_a + row, has(FLAG_TRANS_A));
  return a[base_a(batch) + i];
}

// mm_readB: op(B)(k, col) of this batch, 0 outside the matrix.
fn read_b(batch: u32, k: u32, col: u32) -> f32 {
  if (k >= p.K || col >= p.N) { return 0.0; }
  let i = select(k * p.ld_b + col, col * p.ld_b + k, has(FLAG_TRANS_B));
  return b[base_b(batch) + i];
}

// mm_write: the fused epilogue for one element.
fn write_c(batch: u32, row: u32, col: u32, v: f32) {
  if (row >= p.M || col >= p.N) { return; }
  var r = p.alpha * v;
  if (has(FLAG_BIAS)) { r = r + bias[col]; }
  if (has(FLAG_GELU)) { r = gelu(r); }
  let i = base_c(batch) + row * p.ld_c + col;
  if (has(FLAG_ACCUMULATE)) { r = r + c[i]; }
  if (has(FLAG_RESIDUAL)) { r = r + residual[i]; }
  c[i] = r;
}

@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let batch = wg.z;
  let tile_row = wg.y * TILE;
  let tile_col = wg.x * TILE;
  let tr = lid.y * 4u; // this invocation's rows within the tile
  let tc = lid.x * 4u; // and columns

  var acc: array<vec4<f32>, 4>; // acc[i] = row tr+i, columns tc..tc+3
  let num_tiles = (p.K + TILE - 1u) / TILE;
  for (var t = 0u; t < num_tiles; t = t + 1u) {
    let k0 = t * TILE;
    // Each invocation stages a 4 × 4 patch of both tiles. When an operand is transposed, its
    // contiguous dimension is k for B / row for A; lid.x then walks that dimension so
    // neighbouring invocations still read neighbouring addresses.
    for (var i = 0u; i < 4u; i = i + 1u) {
      for (var j = 0u; j < 4u; j = j + 1u) {
        if (has(FLAG_TRANS_A)) {
          tile_a[tc + j][tr + i] = read_a(batch, tile_row + tc + j, k0 + tr + i);
        } else {
          tile_a[tr + i][tc + j] = read_a(batch, tile_row + tr + i, k0 + tc + j);
        }
        if (has(FLAG_TRANS_B)) {
          tile_b[tc + j][tr + i] = read_b(batch, k0 + tc + j, tile_col + tr + i);
        } else {
          tile_b[tr + i][tc + j] = read_b(batch, k0 + tr + i, tile_col + tc + j);
        }
      }
    }
    workgroupBarrier();
    for (var k = 0u; k < TILE; k = k + 1u) {
      let bv = vec4<f32>(tile_b[k][tc], tile_b[k][tc + 1u], tile_b[k][tc + 2u], tile_b[k][tc + 3u]);
      for (var i = 0u; i < 4u; i = i + 1u) {
        acc[i] = fma(vec4<f32>(tile_a[tr + i][k]), bv, acc[i]);
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < 4u; i = i + 1u) {
    let row = tile_row + tr + i;
    write_c(batch, row, tile_col + tc, acc[i].x);
    write_c(batch, row, tile_col + tc + 1u, acc[i].y);
    write_c(batch, row, tile_col + tc + 2u, acc[i].z);
    write_c(batch, row, tile_col + tc + 3u, acc[i].w);
  }
}

// ---------------- vec4 path (no transposes; K, N, strides multiples of 4) ----------------

var<workgroup> tile_a4: array<array<vec4<f32>, 8>, 32>; // [row][k / 4]
var<workgroup> tile_b4: array<array<vec4<f32>, 8>, 32>; // [k][col / 4]

// A(row, k..k+3) of this batch, 0 outside the matrix (K % 4 == 0: all four or none are inside).
fn read_a_vec4(batch: u32, row: u32, k: u32) -> vec4<f32> {
  if (row >= p.M || k >= p.K) { return vec4<f32>(0.0); }
  return a4[(base_a(batch) + row * p.ld_a + k) / 4u];
}

// B(k, col..col+3) of this batch, 0 outside the matrix (N % 4 == 0).
fn read_b_vec4(batch: u32, k: u32, col: u32) -> vec4<f32> {
  if (k >= p.K || col >= p.N) { return vec4<f32>(0.0); }
  return b4[(base_b(batch) + k * p.ld_b + col) / 4u];
}

fn write_c_vec4(batch: u32, row: u32, col: u32, v: vec4<f32>) {
  if (row >= p.M || col >= p.N) { return; }
  var r = p.alpha * v;
  if (has(FLAG_BIAS)) { r = r + bias4[col / 4u]; }
  if (has(FLAG_GELU)) { r = vec4<f32>(gelu(r.x), gelu(r.y), gelu(r.z), gelu(r.w)); }
  let i = (base_c(batch) + row * p.ld_c + col) / 4u;
  if (has(FLAG_ACCUMULATE)) { r = r + c4[i]; }
  if (has(FLAG_RESIDUAL)) { r = r + residual4[i]; }
  c4[i] = r;
}

@compute @workgroup_size(8, 8)
fn main_vec4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let batch = wg.z;
  let tile_row = wg.y * TILE;
  let tile_col = wg.x * TILE;
  let tr = lid.y * 4u;
  let tc4 = lid.x; // this invocation's vec4 column within the tile (columns 4·lid.x .. +3)

  var acc: array<vec4<f32>, 4>;
  let num_tiles = (p.K + TILE - 1u) / TILE;
  for (var t = 0u; t < num_tiles; t = t + 1u) {
    let k0 = t * TILE;
    // 32 rows × 8 vec4s per tile = 4 vec4s per invocation for each operand.
    for (var i = 0u; i < 4u; i = i + 1u) {
      tile_a4[tr + i][tc4] = read_a_vec4(batch, tile_row + tr + i, k0 + tc4 * 4u);
      tile_b4[tr + i][tc4] = read_b_vec4(batch, k0 + tr + i, tile_col + tc4 * 4u);
    }
    workgroupBarrier();
    for (var k4 = 0u; k4 < TILE / 4u; k4 = k4 + 1u) {
      let b0 = tile_b4[k4 * 4u][tc4];
      let b1 = tile_b4[k4 * 4u + 1u][tc4];
      let b2 = tile_b4[k4 * 4u + 2u][tc4];
      let b3 = tile_b4[k4 * 4u + 3u][tc4];
      for (var i = 0u; i < 4u; i = i + 1u) {
        let av = tile_a4[tr + i][k4];
        acc[i] = fma(vec4<f32>(av.x), b0, acc[i]);
        acc[i] = fma(vec4<f32>(av.y), b1, acc[i]);
        acc[i] = fma(vec4<f32>(av.z), b2, acc[i]);
        acc[i] = fma(vec4<f32>(av.w), b3, acc[i]);
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < 4u; i = i + 1u) {
    write_c_vec4(batch, tile_row + tr + i, tile_col + tc4 * 4u, acc[i]);
  }
}
