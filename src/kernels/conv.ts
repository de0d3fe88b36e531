/**
 * 2-D convolution kernels (shaders/conv.wgsl) beside float64 CPU references. A convolution is
 * im2col + the existing matmul (src/nn/conv2d.ts): im2col builds the patch matrix of an NHWC
 * batch, [B·Ho·Wo, kh·kw·C] (rows (b, oy, ox), columns (ky, kx, c), zero padding), so that
 * patches · Wᵀ with W [Cout, kh·kw·C] is the NHWC output [B·Ho·Wo, Cout]; col2im is its adjoint,
 * the input gradient from the patch matrix's gradient (a gather per input element, overwrite or
 * accumulate). One dispatch each, no barriers, deterministic.
 *
 * The references: im2colCpu / col2imCpu mirror the kernels; conv2dCpu is a direct (loop)
 * convolution, independent of im2col, for testing the composed layer.
 */
import type { CommandList, GpuRuntime } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { defineParams } from '../engine/uniform-params';
import { grid1d } from './grid';
import { shader } from './shader-sources';

const WG = 64;

export interface ConvShape {
  batch: number;
  height: number;
  width: number;
  /** Input channels. */
  channels: number;
  kernelH: number;
  kernelW: number;
  stride: number;
  /** Zero padding on every side. */
  pad: number;
}

/** Output height and width: ⌊(H + 2·pad − kh)/stride⌋ + 1. */
export function convOutSize(s: ConvShape): { ho: number; wo: number } {
  return { ho: Math.floor((s.height + 2 * s.pad - s.kernelH) / s.stride) + 1, wo: Math.floor((s.width + 2 * s.pad - s.kernelW) / s.stride) + 1 };
}

/** Columns of the patch matrix: kh·kw·C. */
export function convPatchSize(s: ConvShape): number {
  return s.kernelH * s.kernelW * s.channels;
}

export function checkConvShape(what: string, s: ConvShape): { ho: number; wo: number } {
  for (const k of ['batch', 'height', 'width', 'channels', 'kernelH', 'kernelW', 'stride'] as const) {
    if (!Number.isInteger(s[k]) || s[k] < 1) throw new Error(`${what}: ${k}=${s[k]} must be a positive integer`);
  }
  if (!Number.isInteger(s.pad) || s.pad < 0) throw new Error(`${what}: pad=${s.pad} must be an integer ≥ 0`);
  if (s.pad >= s.kernelH || s.pad >= s.kernelW) throw new Error(`${what}: pad=${s.pad} must be smaller than the kernel (${s.kernelH}×${s.kernelW}), or some outputs see only padding`);
  const o = convOutSize(s);
  if (o.ho < 1 || o.wo < 1) throw new Error(`${what}: a ${s.kernelH}×${s.kernelW} kernel does not fit a ${s.height}×${s.width} image with pad ${s.pad}`);
  const patches = s.batch * o.ho * o.wo * convPatchSize(s);
  if (patches > 2 ** 32 - 1) throw new Error(`${what}: the patch matrix has ${patches} elements, beyond 32-bit indexing`);
  return o;
}

const PARAMS = defineParams(
  { shaders: ['conv'], struct: 'Params' },
  { n: 'u32', row_stride: 'u32', batch: 'u32', h: 'u32', w: 'u32', c: 'u32', kh: 'u32', kw: 'u32', stride: 'u32', pad: 'u32', ho: 'u32', wo: 'u32', accumulate: 'u32', _p0: 'u32', _p1: 'u32', _p2: 'u32' },
);

function params(s: ConvShape, o: { ho: number; wo: number }, n: number, rowStride: number, accumulate: boolean): ArrayBuffer {
  return PARAMS.pack({ n, row_stride: rowStride, batch: s.batch, h: s.height, w: s.width, c: s.channels, kh: s.kernelH, kw: s.kernelW, stride: s.stride, pad: s.pad, ho: o.ho, wo: o.wo, accumulate });
}

function need(what: string, t: Tensor, n: number): void {
  if (t.size !== n) throw new Error(`${what}: ${t.name} has ${t.size} elements, expected ${n}`);
}

function distinct(what: string, a: Tensor, b: Tensor): void {
  if (a.buffer === b.buffer) throw new Error(`${what}: ${a.name} and ${b.name} share a GPU buffer; a dispatch cannot read and write one buffer`);
}

/** cols [B·Ho·Wo, kh·kw·C] = im2col(x [B, H, W, C]). */
export function recordIm2col(rt: GpuRuntime, list: CommandList, s: ConvShape, x: Tensor, cols: Tensor): void {
  const o = checkConvShape('im2col', s);
  need('im2col', x, s.batch * s.height * s.width * s.channels);
  const n = s.batch * o.ho * o.wo * convPatchSize(s);
  need('im2col', cols, n);
  distinct('im2col', x, cols);
  const g = grid1d(n, WG);
  const u = rt.uniform(params(s, o, n, g.x, false), 'im2col.params');
  list.push(rt.dispatch(`im2col(${x.name}→${cols.name})`, rt.pipeline(shader('conv'), 'im2col'), [u, x, cols], [g.x, g.y]));
}

/** dx [B, H, W, C] = col2im(dcols) (or += with accumulate): the adjoint of im2col. */
export function recordCol2im(rt: GpuRuntime, list: CommandList, s: ConvShape, dcols: Tensor, dx: Tensor, accumulate = false): void {
  const o = checkConvShape('col2im', s);
  need('col2im', dcols, s.batch * o.ho * o.wo * convPatchSize(s));
  const n = s.batch * s.height * s.width * s.channels;
  need('col2im', dx, n);
  distinct('col2im', dcols, dx);
  const g = grid1d(n, WG);
  const u = rt.uniform(params(s, o, n, g.x, accumulate), 'col2im.params');
  list.push(rt.dispatch(`col2im(${dcols.name}→${dx.name})`, rt.pipeline(shader('conv'), 'col2im'), [u, dcols, dx], [g.x, g.y]));
}

// ---------- CPU references (float64) ----------

function forEachTap(s: ConvShape, fn: (row: number, col: number, src: number) => void): void {
  const { ho, wo } = convOutSize(s);
  const { height: H, width: W, channels: C, kernelH: kh, kernelW: kw, stride, pad } = s;
  const K = kh * kw * C;
  for (let b = 0; b < s.batch; b++) {
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        const row = (b * ho + oy) * wo + ox;
        for (let ky = 0; ky < kh; ky++) {
          const y = oy * stride + ky - pad;
          for (let kx = 0; kx < kw; kx++) {
            const x = ox * stride + kx - pad;
            for (let c = 0; c < C; c++) {
              const inside = y >= 0 && y < H && x >= 0 && x < W;
              fn(row * K + (ky * kw + kx) * C + c, row, inside ? ((b * H + y) * W + x) * C + c : -1);
            }
          }
        }
      }
    }
  }
}

export function im2colCpu(x: ArrayLike<number>, s: ConvShape): Float64Array {
  const { ho, wo } = checkConvShape('im2colCpu', s);
  const out = new Float64Array(s.batch * ho * wo * convPatchSize(s));
  forEachTap(s, (o, _row, src) => {
    out[o] = src >= 0 ? x[src]! : 0;
  });
  return out;
}

export function col2imCpu(dcols: ArrayLike<number>, s: ConvShape): Float64Array {
  checkConvShape('col2imCpu', s);
  const dx = new Float64Array(s.batch * s.height * s.width * s.channels);
  forEachTap(s, (o, _row, src) => {
    if (src >= 0) dx[src]! += dcols[o]!;
  });
  return dx;
}

/**
 * Direct convolution y [B, Ho, Wo, Cout] = conv(x [B, H, W, C], w [Cout, kh, kw, C]) + bias, by
 * plain loops (no patch matrix).
 */
export function conv2dCpu(x: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number> | null, s: ConvShape, outChannels: number): Float64Array {
  const { ho, wo } = checkConvShape('conv2dCpu', s);
  const { height: H, width: W, channels: C, kernelH: kh, kernelW: kw, stride, pad } = s;
  const y = new Float64Array(s.batch * ho * wo * outChannels);
  for (let b = 0; b < s.batch; b++) {
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        for (let f = 0; f < outChannels; f++) {
          let acc = bias ? bias[f]! : 0;
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * stride + ky - pad;
            if (iy < 0 || iy >= H) continue;
            for (let kx = 0; kx < kw; kx++) {
              const ix = ox * stride + kx - pad;
              if (ix < 0 || ix >= W) continue;
              for (let c = 0; c < C; c++) acc += x[((b * H + iy) * W + ix) * C + c]! * w[((f * kh + ky) * kw + kx) * C + c]!;
            }
          }
          y[((b * ho + oy) * wo + ox) * outChannels + f] = acc;
        }
      }
    }
  }
  return y;
}
