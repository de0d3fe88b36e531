// 2-D convolution by im2col (src/kernels/conv.ts): the patch matrix of an NHWC image batch,
// and its adjoint col2im (the input gradient), as gathers. No barriers, no workgroup memory,
// no atomics: every output element is written by one invocation, sums in a fixed order.
//
// Layouts: images [B, H, W, C] (NHWC); patch matrix [B·Ho·Wo, kh·kw·C], row (b, oy, ox)
// row-major, column (ky, kx, c) row-major. Ho = ⌊(H + 2·pad − kh)/stride⌋ + 1, same for Wo.
// Out-of-image taps (padding) read as zero.

struct Params {
  n: u32,          // output elements of this dispatch
  row_stride: u32, // workgroups per grid row (2-D grids)
  batch: u32,
  h: u32,
  w: u32,
  c: u32,
  kh: u32,
  kw: u32,
  stride: u32,
  pad: u32,
  ho: u32,
  wo: u32,
  accumulate: u32, // col2im: 1 = add to the output instead of overwriting it
  _p0: u32,
  _p1: u32,
  _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

fn flat(wg: vec3<u32>, lid: u32) -> u32 {
  return (wg.y * p.row_stride + wg.x) * 64u + lid;
}

// dst = im2col(src): one invocation per patch-matrix element.
@compute @workgroup_size(64)
fn im2col(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let o = flat(wg, lid);
  if (o >= p.n) { return; }
  let k = p.kh * p.kw * p.c;
  let col = o % k;
  let row = o / k;
  let c = col % p.c;
  let kx = (col / p.c) % p.kw;
  let ky = col / (p.c * p.kw);
  let ox = row % p.wo;
  let oy = (row / p.wo) % p.ho;
  let b = row / (p.wo * p.ho);
  let y = i32(oy * p.stride + ky) - i32(p.pad);
  let x = i32(ox * p.stride + kx) - i32(p.pad);
  var v = 0.0;
  if (y >= 0 && y < i32(p.h) && x >= 0 && x < i32(p.w)) {
    v = src[((b * p.h + u32(y)) * p.w + u32(x)) * p.c + c];
  }
  dst[o] = v;
}

// dst (= dx, NHWC) = col2im(src (= dcols)): one invocation per image element, summing the
// patch-matrix entries that read it (ky, kx in order).
@compute @workgroup_size(64)
fn col2im(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let o = flat(wg, lid);
  if (o >= p.n) { return; }
  let c = o % p.c;
  let x = (o / p.c) % p.w;
  let y = (o / (p.c * p.w)) % p.h;
  let b = o / (p.c * p.w * p.h);
  let k = p.kh * p.kw * p.c;
  var sum = 0.0;
  for (var ky = 0u; ky < p.kh; ky++) {
    let ty = i32(y + p.pad) - i32(ky);
    if (ty < 0 || u32(ty) % p.stride != 0u) { continue; }
    let oy = u32(ty) / p.stride;
    if (oy >= p.ho) { continue; }
    for (var kx = 0u; kx < p.kw; kx++) {
      let tx = i32(x + p.pad) - i32(kx);
      if (tx < 0 || u32(tx) % p.stride != 0u) { continue; }
      let ox = u32(tx) / p.stride;
      if (ox >= p.wo) { continue; }
      sum += src[((b * p.ho + oy) * p.wo + ox) * k + (ky * p.kw + kx) * p.c + c];
    }
  }
  if (p.accumulate == 1u) {
    dst[o] = dst[o] + sum;
  } else {
    dst[o] = sum;
  }
}
