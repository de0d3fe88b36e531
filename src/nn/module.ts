/**
 * What every layer is built with. Layers are built in three phases (llm.c style, no autograd):
 *   1. construct: declare parameters in a pack, allocate activations for a fixed row count;
 *   2. the packs are finalized (GPU memory for parameters);
 *   3. recordForward / recordBackward append kernels to command lists, once.
 * After that a step replays the lists; nothing is allocated or compiled per step.
 */
import type { ParamPack, ParamRef } from '../engine/param-pack';
import type { CommandList, GpuRuntime } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { Rng, uniformInit } from '../engine/rng';

export interface BuildContext {
  rt: GpuRuntime;
  /** Parameters that receive gradients and optimizer updates. */
  trainable: ParamPack;
  /** Parameters that never change (the frozen base). */
  frozen: ParamPack;
  rng: Rng;
  /** Per-parameter freeze flags: a parameter whose name this returns true for goes to the frozen pack. */
  freeze?: (paramName: string) => boolean;
}

export interface Layer {
  recordForward(list: CommandList): void;
  recordBackward(list: CommandList): void;
}

/** Declares a parameter in the trainable or the frozen pack. */
export function declareParam(
  ctx: BuildContext,
  name: string,
  shape: number[],
  init: Float32Array | { uniform: number } | { constant: number },
  opts: { frozen: boolean; decay?: boolean },
): ParamRef {
  const n = shape.reduce((a, b) => a * b, 1);
  let data: Float32Array;
  if (init instanceof Float32Array) data = init;
  else if ('uniform' in init) data = uniformInit(n, init.uniform, ctx.rng.fork(name));
  else data = new Float32Array(n).fill(init.constant);
  const pack = opts.frozen || ctx.freeze?.(name) ? ctx.frozen : ctx.trainable;
  return pack.add(name, shape, data, opts.decay === undefined ? {} : { decay: opts.decay });
}

export function isTrainable(p: ParamRef): boolean {
  return p.pack.trainable;
}

/** An activation plus its gradient buffer (null when no gradient flows there). */
export interface Activation {
  value: Tensor;
  grad: Tensor | null;
}
