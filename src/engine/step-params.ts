/**
 * Per-step scalars the GPU needs (step number, metric slot, learning rate, …), in one small
 * uniform buffer rewritten with queue.writeBuffer before each submit — from a preallocated
 * ArrayBuffer, so a step allocates nothing. Layout: STEP_PARAMS below (32 bytes); every shader
 * that binds `struct StepParams` is checked against it by test/uniform-params.test.ts.
 */
import type { GpuRuntime } from './runtime';
import { defineParams, opt } from './uniform-params';

/** The WGSL struct, declared once (every shader that binds StepParams is checked against it). */
export const STEP_PARAMS = defineParams(
  { shaders: ['adamw', 'metrics', 'sora_prox', 'latent_stats'], struct: 'StepParams' },
  { step: 'u32', slot: 'u32', lr: 'f32', lr_scale: opt('f32', 1), flags: opt('u32'), lambda: opt('f32'), _p0: 'u32', _p1: 'u32' },
);

export class StepParams {
  readonly buffer: GPUBuffer;
  private readonly host = STEP_PARAMS.writer();
  private readonly values = { step: 0, slot: 0, lr: 0, lr_scale: 1, flags: 0, lambda: 0 };

  constructor(private readonly rt: GpuRuntime) {
    this.buffer = rt.uniform(this.host.host, 'step.params');
  }

  set(values: { step: number; slot: number; lr: number; lrScale?: number; flags?: number; lambda?: number }): void {
    const v = this.values;
    v.step = values.step;
    v.slot = values.slot;
    v.lr = values.lr;
    v.lr_scale = values.lrScale ?? 1;
    v.flags = values.flags ?? 0;
    v.lambda = values.lambda ?? 0;
    this.rt.device.queue.writeBuffer(this.buffer, 0, this.host.set(v));
  }
}
