/**
 * Kernels of the transformer VAE (shaders/vae.wgsl), beside float64 CPU references:
 *  - patchify / unpatchify: the permutation between image layout [B, side, side] and patch-token
 *    layout [B, (side/patch)², patch²] (tokens row-major over the patch grid, pixels row-major
 *    inside a patch). Unpatchify's backward is patchify and vice versa.
 *  - sigmoid (images from logits; forward only).
 *  - BCE with logits: Σ_i max(x,0) − x·y + log(1+e^{−|x|}) into a [1] sum (strided partials +
 *    recordReduce), and optionally grad_i = scale·(σ(x_i) − y_i) (overwrite).
 *  - reparameterisation: z = μ + exp(½ logσ²)·ε, KL terms ½(μ² + σ² − 1 − logσ²) summed into a
 *    [1] tensor; backward: dμ = dz + s·μ, dlogσ² = ½·dz·ε·σ + s·½(σ² − 1) with s = β/B (the
 *    gradient of β·KL/B), overwriting dμ and dlogσ².
 *  - loss combine: rec = Σbce/B, kl = Σkl/B, loss = rec + β·kl (one thread).
 * β lives in a one-element GPU buffer (not a record-time constant), so a task can change it per
 * step with a queue write (KL warm-up) without re-recording anything.
 * Sums are formed in a fixed order (no atomics), so a step is bit-reproducible on a device.
 */
import type { CommandList, GpuRuntime } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { defineParams, opt } from '../engine/uniform-params';
import { grid1d } from './grid';
import { recordReduce, stridedThreads } from './reduce';
import { shader } from './shader-sources';

const WG = 64;

const PARAMS = defineParams(
  { shaders: ['vae'], struct: 'Params' },
  { n: 'u32', row_stride: 'u32', side: opt('u32'), psize: opt('u32'), flags: opt('u32'), threads: opt('u32'), scale: opt('f32', 1), lead: opt('u32') },
);

function need(what: string, t: Tensor, n: number): void {
  if (t.size !== n) throw new Error(`${what}: ${t.name} has ${t.size} elements, expected ${n}`);
}

function distinct(what: string, out: Tensor, ins: Tensor[]): void {
  for (const t of ins) if (t.buffer === out.buffer) throw new Error(`${what}: ${t.name} shares a GPU buffer with the output ${out.name}; a dispatch cannot read and write one buffer`);
}

export interface PatchShape {
  batch: number;
  side: number;
  patch: number;
  /**
   * All-zero tokens before each image's patches in patch layout (default 0): the encoder's CLS
   * slot (its embedding is then the embed bias + its position vector). Patch layout is
   * [B, lead + T, patch²]; unpatchify skips them.
   */
  lead?: number;
}

/** Values per image in patch layout: (lead + T)·patch². */
export function patchLayoutSize(s: PatchShape): number {
  return s.side * s.side + (s.lead ?? 0) * s.patch * s.patch;
}

function checkPatchShape(what: string, s: PatchShape): void {
  for (const k of ['batch', 'side', 'patch'] as const) {
    if (!Number.isInteger(s[k]) || s[k] < 1) throw new Error(`${what}: ${k}=${s[k]} must be a positive integer`);
  }
  if (s.side % s.patch !== 0) throw new Error(`${what}: image side ${s.side} is not a multiple of the patch side ${s.patch}`);
  const lead = s.lead ?? 0;
  if (!Number.isInteger(lead) || lead < 0) throw new Error(`${what}: lead=${lead} must be an integer ≥ 0`);
}

function recordPermute(rt: GpuRuntime, list: CommandList, what: string, s: PatchShape, src: Tensor, dst: Tensor, toImage: boolean): void {
  checkPatchShape(what, s);
  const nImage = s.batch * s.side * s.side;
  const nPatch = s.batch * patchLayoutSize(s);
  need(what, src, toImage ? nPatch : nImage);
  need(what, dst, toImage ? nImage : nPatch);
  distinct(what, dst, [src]);
  const n = dst.size;
  const g = grid1d(n, WG);
  const u = rt.uniform(PARAMS.pack({ n, row_stride: g.x, side: s.side, psize: s.patch, flags: toImage ? 1 : 0, lead: s.lead ?? 0 }), `${what}.params`);
  list.push(rt.dispatch(`${what}(${src.name}→${dst.name})`, rt.pipeline(shader('vae'), 'permute'), [u, src, dst], [g.x, g.y]));
}

/** dst (patch layout) = patchify(src (image layout)). Also the backward of unpatchify. */
export function recordPatchify(rt: GpuRuntime, list: CommandList, s: PatchShape, image: Tensor, patches: Tensor): void {
  recordPermute(rt, list, 'patchify', s, image, patches, false);
}

/** dst (image layout) = unpatchify(src (patch layout)). Also the backward of patchify. */
export function recordUnpatchify(rt: GpuRuntime, list: CommandList, s: PatchShape, patches: Tensor, image: Tensor): void {
  recordPermute(rt, list, 'unpatchify', s, patches, image, true);
}

/** y = σ(x), elementwise. */
export function recordSigmoid(rt: GpuRuntime, list: CommandList, x: Tensor, y: Tensor): void {
  need('sigmoid', y, x.size);
  distinct('sigmoid', y, [x]);
  const g = grid1d(x.size, WG);
  const u = rt.uniform(PARAMS.pack({ n: x.size, row_stride: g.x }), 'sigmoid.params');
  list.push(rt.dispatch(`sigmoid(${x.name})`, rt.pipeline(shader('vae'), 'sigmoid_forward'), [u, x, y], [g.x, g.y]));
}

/**
 * sum[0] = Σ BCE-with-logits over n = logits.size elements; with `grad`, grad = gradScale·(σ(x) − y)
 * (overwrite). 2–4 dispatches (strided partials, then recordReduce). Scratch is allocated here.
 */
export function recordBceWithLogits(
  rt: GpuRuntime,
  list: CommandList,
  a: { logits: Tensor; target: Tensor; sum: Tensor; grad?: Tensor; gradScale?: number },
): void {
  const n = a.logits.size;
  need('bce', a.target, n);
  if (a.grad) {
    need('bce', a.grad, n);
    distinct('bce', a.grad, [a.logits, a.target]);
  }
  const T = stridedThreads(n);
  const partials = rt.tensor([T], `bce.partials(${a.logits.name})`);
  const dummy = a.grad ? null : rt.tensor([1], `bce.nograd(${a.logits.name})`);
  const g = grid1d(T, WG);
  const u = rt.uniform(PARAMS.pack({ n, row_stride: g.x, threads: T, flags: a.grad ? 1 : 0, scale: a.gradScale ?? 1 }), 'bce.params');
  list.push(rt.dispatch(`bce.partial(${a.logits.name})`, rt.pipeline(shader('vae'), 'bce_partial_sums'), [u, a.logits, a.target, partials, a.grad ?? dummy!], [g.x, g.y]));
  recordReduce(rt, list, { x: partials, out: a.sum, op: 'sum' });
}

export interface ReparamTensors {
  mu: Tensor;
  logvar: Tensor;
  eps: Tensor;
}

/** z = μ + exp(½ logσ²)·ε; klSum[0] = Σ ½(μ² + σ² − 1 − logσ²). 2–4 dispatches; scratch allocated here. */
export function recordReparamForward(rt: GpuRuntime, list: CommandList, a: ReparamTensors & { z: Tensor; klSum: Tensor }): void {
  const n = a.mu.size;
  for (const t of [a.logvar, a.eps, a.z]) need('reparam', t, n);
  distinct('reparam', a.z, [a.mu, a.logvar, a.eps]);
  const terms = rt.tensor([n], `reparam.kl_terms(${a.mu.name})`);
  const g = grid1d(n, WG);
  const u = rt.uniform(PARAMS.pack({ n, row_stride: g.x }), 'reparam.params');
  list.push(rt.dispatch(`reparam_fwd(${a.mu.name})`, rt.pipeline(shader('vae'), 'reparam_forward'), [u, a.mu, a.logvar, a.eps, a.z, terms], [g.x, g.y]));
  recordReduce(rt, list, { x: terms, out: a.klSum, op: 'sum' });
}

/**
 * dμ, dlogσ² (overwrite) from dz and the gradient of β·Σkl/B: β = beta[0] (a [1] tensor read on
 * the GPU), B = batch.
 */
export function recordReparamBackward(rt: GpuRuntime, list: CommandList, a: ReparamTensors & { dz: Tensor; dmu: Tensor; dlogvar: Tensor; beta: Tensor; batch: number }): void {
  const n = a.mu.size;
  for (const t of [a.logvar, a.eps, a.dz, a.dmu, a.dlogvar]) need('reparam backward', t, n);
  if (a.beta.size < 1) throw new Error(`reparam backward: beta ${a.beta.name} is empty`);
  distinct('reparam backward', a.dmu, [a.mu, a.logvar, a.eps, a.dz, a.dlogvar, a.beta]);
  distinct('reparam backward', a.dlogvar, [a.mu, a.logvar, a.eps, a.dz, a.beta]);
  const g = grid1d(n, WG);
  const u = rt.uniform(PARAMS.pack({ n, row_stride: g.x, scale: 1 / a.batch }), 'reparam_bwd.params');
  list.push(rt.dispatch(`reparam_bwd(${a.mu.name})`, rt.pipeline(shader('vae'), 'reparam_backward'), [u, a.mu, a.logvar, a.eps, a.dz, a.dmu, a.dlogvar, a.beta], [g.x, g.y]));
}

/** rec = recSum/batch, kl = klSum/batch, loss = rec + β·kl with β = beta[0]; loss, rec, kl in three distinct buffers. */
export function recordVaeLossCombine(
  rt: GpuRuntime,
  list: CommandList,
  a: { recSum: Tensor; klSum: Tensor; loss: Tensor; rec: Tensor; kl: Tensor; batch: number; beta: Tensor },
): void {
  const outs = [a.loss, a.rec, a.kl];
  for (const o of outs) distinct('vae loss', o, [a.recSum, a.klSum, a.beta]);
  if (new Set(outs.map((o) => o.buffer)).size !== 3) throw new Error('vae loss: loss, rec and kl must be distinct buffers');
  const u = rt.uniform(PARAMS.pack({ n: 1, row_stride: 1, scale: 1 / a.batch }), 'vae_loss.params');
  list.push(rt.dispatch('vae_loss.combine', rt.pipeline(shader('vae'), 'loss_combine'), [u, a.recSum, a.klSum, a.loss, a.rec, a.kl, a.beta], [1]));
}

// ---------- CPU references (float64) ----------

/** Patch layout of images in image layout (or the inverse with toImage). */
export function permutePatchesCpu(src: ArrayLike<number>, s: PatchShape, toImage: boolean): Float64Array {
  checkPatchShape('permutePatchesCpu', s);
  const img = s.side * s.side;
  const perRow = s.side / s.patch;
  const pp = s.patch * s.patch;
  const per = patchLayoutSize(s);
  const lead = (s.lead ?? 0) * pp;
  const out = new Float64Array(s.batch * (toImage ? img : per));
  for (let b = 0; b < s.batch; b++) {
    for (let t = 0; t < perRow * perRow; t++) {
      for (let r = 0; r < pp; r++) {
        const y = Math.floor(t / perRow) * s.patch + Math.floor(r / s.patch);
        const x = (t % perRow) * s.patch + (r % s.patch);
        const iImg = b * img + y * s.side + x;
        const iPatch = b * per + lead + t * pp + r;
        if (toImage) out[iImg] = src[iPatch]!;
        else out[iPatch] = src[iImg]!;
      }
    }
  }
  return out;
}

export function sigmoidCpu(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** Σ BCE-with-logits and its gradient Σ-scaled by gradScale. */
export function bceWithLogitsCpu(logits: ArrayLike<number>, target: ArrayLike<number>, gradScale = 1): { sum: number; grad: Float64Array } {
  let sum = 0;
  const grad = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) {
    const x = logits[i]!;
    const y = target[i]!;
    sum += Math.max(x, 0) - x * y + Math.log1p(Math.exp(-Math.abs(x)));
    grad[i] = gradScale * (sigmoidCpu(x) - y);
  }
  return { sum, grad };
}

export function reparamForwardCpu(mu: ArrayLike<number>, logvar: ArrayLike<number>, eps: ArrayLike<number>): { z: Float64Array; klSum: number } {
  const z = new Float64Array(mu.length);
  let klSum = 0;
  for (let i = 0; i < mu.length; i++) {
    const sd = Math.exp(0.5 * logvar[i]!);
    z[i] = mu[i]! + sd * eps[i]!;
    klSum += 0.5 * (mu[i]! * mu[i]! + sd * sd - 1 - logvar[i]!);
  }
  return { z, klSum };
}

export function reparamBackwardCpu(
  mu: ArrayLike<number>,
  logvar: ArrayLike<number>,
  eps: ArrayLike<number>,
  dz: ArrayLike<number>,
  klScale: number,
): { dmu: Float64Array; dlogvar: Float64Array } {
  const dmu = new Float64Array(mu.length);
  const dlogvar = new Float64Array(mu.length);
  for (let i = 0; i < mu.length; i++) {
    const sd = Math.exp(0.5 * logvar[i]!);
    dmu[i] = dz[i]! + klScale * mu[i]!;
    dlogvar[i] = 0.5 * dz[i]! * eps[i]! * sd + klScale * 0.5 * (sd * sd - 1);
  }
  return { dmu, dlogvar };
}
