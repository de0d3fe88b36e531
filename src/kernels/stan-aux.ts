/**
 * STAN's AuxK bookkeeping on the GPU (shaders/stan_aux.wgsl): which latents are dead and the
 * input of the auxiliary top-k over them (EleutherAI sparsify's dead-latent revival; the adapter
 * side is in src/adapters/stan.ts). Per step, after the main top-k:
 *   recordAuxReset  since[i] = 0 for every latent that fired (a slot j < k' with a non-zero value);
 *   recordAuxMark   since[i] += 1 (saturating); dead[i] = since[i] > threshold ∧ mask[i] ≠ 0;
 *   recordAuxFill   zaux[r, i] = dead[i] ? z[r, i] : filler.
 * `since` is a u32 buffer (a Tensor of l elements read as u32). auxStepCpu is the reference.
 */
import type { CommandList, GpuRuntime } from '../engine/runtime';
import { defineParams, opt } from '../engine/uniform-params';
import type { Tensor } from '../engine/tensor';
import { grid1d } from './grid';
import { shader } from './shader-sources';

/** The smallest f32 the signed top-k can see: non-dead latents never beat a dead one. */
export const AUX_SIGNED_FILLER = -3.4e38;

function checkTensor(tag: string, role: string, t: Tensor, size: number): void {
  if (t.size < size) throw new Error(`${tag}: ${role} '${t.name}' has ${t.size} elements, needs ${size}`);
}
function checkInt(tag: string, name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new Error(`${tag}: ${name} must be an integer ≥ ${min}, got ${v}`);
}

const PARAMS = defineParams(
  { shaders: ['stan_aux'], struct: 'Params' },
  { n: 'u32', l: 'u32', k: 'u32', row_stride: 'u32', threshold: opt('u32'), filler: opt('f32'), _p0: 'u32', _p1: 'u32' },
);

function params(rt: GpuRuntime, a: { n: number; l: number; k: number; threshold?: number; filler?: number }, label: string): { u: GPUBuffer; g: { x: number; y: number } } {
  const g = grid1d(a.n, 64);
  return { u: rt.uniform(PARAMS.pack({ n: a.n, l: a.l, k: a.k, row_stride: g.x, threshold: a.threshold ?? 0, filler: a.filler ?? 0 }), label), g };
}

/** since[idx[r, j]] = 0 for j < k' (kOverride) where values[r, j] ≠ 0. */
export function recordAuxReset(rt: GpuRuntime, list: CommandList, a: { indices: Tensor; values: Tensor; kOverride: Tensor; since: Tensor; rows: number; k: number; l: number; label?: string }): void {
  const tag = `aux reset ${a.label ?? a.since.name}`;
  checkInt(tag, 'rows', a.rows, 1);
  checkInt(tag, 'k', a.k, 1);
  checkInt(tag, 'l', a.l, 1);
  checkTensor(tag, 'indices', a.indices, a.rows * a.k);
  checkTensor(tag, 'values', a.values, a.rows * a.k);
  checkTensor(tag, 'since', a.since, a.l);
  checkTensor(tag, 'kOverride', a.kOverride, 1);
  const { u, g } = params(rt, { n: a.rows * a.k, l: a.l, k: a.k }, `${tag}.params`);
  list.push(rt.dispatch(`stan.aux_reset(${a.label ?? a.since.name})`, rt.pipeline(shader('stan_aux'), 'aux_reset'), [u, a.indices, a.values, a.kOverride, a.since], [g.x, g.y]));
}

/** since[i] += 1 (saturating at 2³¹ − 1); dead[i] = since[i] > threshold and mask[i] ≠ 0. */
export function recordAuxMark(rt: GpuRuntime, list: CommandList, a: { since: Tensor; mask: Tensor; dead: Tensor; l: number; threshold: number; label?: string }): void {
  const tag = `aux mark ${a.label ?? a.since.name}`;
  checkInt(tag, 'l', a.l, 1);
  checkInt(tag, 'threshold', a.threshold, 0);
  checkTensor(tag, 'since', a.since, a.l);
  checkTensor(tag, 'mask', a.mask, a.l);
  checkTensor(tag, 'dead', a.dead, a.l);
  if (a.dead.buffer === a.since.buffer || a.dead.buffer === a.mask.buffer) throw new Error(`${tag}: dead must not share a buffer with since or mask`);
  const { u, g } = params(rt, { n: a.l, l: a.l, k: 1, threshold: a.threshold }, `${tag}.params`);
  list.push(rt.dispatch(`stan.aux_mark(${a.label ?? a.since.name})`, rt.pipeline(shader('stan_aux'), 'aux_mark'), [u, a.since, a.mask, a.dead], [g.x, g.y]));
}

/** out[r, i] = dead[i] ≠ 0 ? z[r, i] : filler. */
export function recordAuxFill(rt: GpuRuntime, list: CommandList, a: { z: Tensor; dead: Tensor; out: Tensor; rows: number; l: number; filler: number; label?: string }): void {
  const tag = `aux fill ${a.label ?? a.out.name}`;
  checkInt(tag, 'rows', a.rows, 1);
  checkInt(tag, 'l', a.l, 1);
  checkTensor(tag, 'z', a.z, a.rows * a.l);
  checkTensor(tag, 'dead', a.dead, a.l);
  checkTensor(tag, 'out', a.out, a.rows * a.l);
  if (a.out.buffer === a.z.buffer || a.out.buffer === a.dead.buffer) throw new Error(`${tag}: out must not share a buffer with z or dead`);
  const { u, g } = params(rt, { n: a.rows * a.l, l: a.l, k: 1, filler: a.filler }, `${tag}.params`);
  list.push(rt.dispatch(`stan.aux_fill(${a.label ?? a.out.name})`, rt.pipeline(shader('stan_aux'), 'aux_fill'), [u, a.z, a.dead, a.out], [g.x, g.y]));
}

/** Float64 reference of one step of the three kernels (since is updated in place). */
export function auxStepCpu(a: {
  indices: ArrayLike<number>;
  values: ArrayLike<number>;
  kActive: number;
  since: Uint32Array;
  mask: ArrayLike<number>;
  z: ArrayLike<number>;
  rows: number;
  k: number;
  l: number;
  threshold: number;
  filler: number;
}): { dead: Float64Array; zaux: Float64Array } {
  const { rows, k, l } = a;
  const kk = Math.max(1, Math.min(a.kActive, k));
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < kk; j++) {
      const i = a.indices[r * k + j]!;
      if (a.values[r * k + j] !== 0 && i < l) a.since[i] = 0;
    }
  const dead = new Float64Array(l);
  for (let i = 0; i < l; i++) {
    a.since[i] = Math.min(a.since[i]! + 1, 0x7fffffff);
    dead[i] = a.since[i]! > a.threshold && a.mask[i] !== 0 ? 1 : 0;
  }
  const zaux = new Float64Array(rows * l);
  for (let t = 0; t < rows * l; t++) zaux[t] = dead[t % l] ? a.z[t]! : a.filler;
  return { dead, zaux };
}
