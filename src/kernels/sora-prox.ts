/**
 * SoRA's proximal gate step (shaders/sora_prox.wgsl), beside its CPU reference:
 *   g ← T_ξ(g),  ξ = lr · lr_scale · λ (lr, lr_scale from StepParams, read when the dispatch runs),
 *   T_ξ(x) = x − ξ (x > ξ), x + ξ (x < −ξ), else 0 (NaN → 0),
 * then nonzero[0] = the number of gates ≠ 0, as f32. One thread (a gate has a few to a few hundred
 * entries). The adapter (src/adapters/sora.ts) records it after the optimizer.
 */
import type { CommandList, GpuRuntime } from '../engine/runtime';
import type { StepParams } from '../engine/step-params';
import type { Tensor } from '../engine/tensor';
import { defineParams } from '../engine/uniform-params';
import { shader } from './shader-sources';

const PARAMS = defineParams({ shaders: ['sora_prox'], struct: 'ProxParams' }, { rank: 'u32', lambda: 'f32', _p0: 'u32', _p1: 'u32' });

/** One dispatch: threshold `gate` [rank] in place and count its non-zeros into `nonzero` [1]. */
export function recordSoraProx(
  rt: GpuRuntime,
  list: CommandList,
  a: { stepParams: StepParams; gate: Tensor; nonzero: Tensor; rank: number; lambda: number; label: string },
): void {
  if (!Number.isInteger(a.rank) || a.rank < 1) throw new Error(`${a.label}: rank=${a.rank} must be a positive integer`);
  if (!(a.lambda >= 0) || !Number.isFinite(a.lambda)) throw new Error(`${a.label}: lambda=${a.lambda} must be a finite number ≥ 0`);
  if (a.gate.size < a.rank) throw new Error(`${a.label}: gate ${a.gate.name} has ${a.gate.size} < rank ${a.rank} elements`);
  if (a.nonzero.size < 1) throw new Error(`${a.label}: nonzero ${a.nonzero.name} is empty`);
  if (a.nonzero.buffer === a.gate.buffer) throw new Error(`${a.label}: gate and nonzero must live in different buffers (both are written)`);
  const u = rt.uniform(PARAMS.pack({ rank: a.rank, lambda: a.lambda }), `${a.label}.params`);
  list.push(rt.dispatch(a.label, rt.pipeline(shader('sora_prox'), 'main'), [a.stepParams.buffer, u, a.gate, a.nonzero], [1]));
}

/**
 * The same step on the CPU, in the kernel's f32 arithmetic (ξ = f32(f32(lr·lr_scale)·λ), each
 * shrink rounded to f32), so GPU results match it bit for bit, zeros and boundary cases included.
 */
export function soraProxCpu(gate: ArrayLike<number>, a: { lr: number; lrScale?: number; lambda: number }): { gate: Float32Array; nonzero: number } {
  const f = Math.fround;
  const xi = f(f(f(a.lr) * f(a.lrScale ?? 1)) * f(a.lambda));
  const out = new Float32Array(gate.length);
  let nonzero = 0;
  for (let j = 0; j < gate.length; j++) {
    const g = f(gate[j]!);
    const v = g > xi ? f(g - xi) : g < -xi ? f(g + xi) : 0;
    out[j] = v;
    if (v !== 0) nonzero++;
  }
  return { gate: out, nonzero };
}
