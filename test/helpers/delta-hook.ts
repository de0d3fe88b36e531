/**
 * A test-local attention output hook: out += δ, with δ [dim] a trainable parameter. ΔO = δ is an
 * o_proj bias shift, so dL/dδ must equal a trainable copy's o_proj bias gradient at that block.
 * Used under frozen bases, where nothing below the attention needs its input gradient: the hook
 * records the `inputGrad` the attention passed it and fails if asked for its input gradient.
 */
import type { ParamRef } from '../../src/engine/param-pack';
import type { GpuRuntime } from '../../src/engine/runtime';
import { recordBroadcastAdd } from '../../src/kernels/elementwise';
import { recordColSum } from '../../src/kernels/reduce';
import type { AttentionOutputHook } from '../../src/nn/attention';

export function deltaOutputHook(rt: GpuRuntime, delta: ParamRef, rows: number, dim: number): { hook: AttentionOutputHook; seen: { inputGrad?: boolean } } {
  const seen: { inputGrad?: boolean } = {};
  const hook: AttentionOutputHook = {
    recordForward: (list, io) => recordBroadcastAdd(rt, list, delta.value, io.out),
    recordBackward: (list, io) => {
      seen.inputGrad = io.inputGrad;
      recordColSum(rt, list, { x: io.dout, out: delta.grad, rows, cols: dim });
      list.push({ kind: 'clear', label: 'dprobs=0', buffer: io.dprobs.buffer, offset: io.dprobs.offset, size: io.dprobs.byteLength });
    },
    recordBackwardInput: () => {
      throw new Error('no input gradient is needed below a frozen base');
    },
  };
  return { hook, seen };
}
