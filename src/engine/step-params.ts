/**
 * Per-step scalars the GPU needs (step number, metric slot, learning rate, …), in one small
 * uniform buffer rewritten with queue.writeBuffer before each submit — from a preallocated
 * ArrayBuffer, so a step allocates nothing. Layout (std140-compatible, 32 bytes):
 *   u32 step, u32 slot, f32 lr, f32 lr_scale, u32 flags, f32 lambda, u32 _pad0, u32 _pad1
 * WGSL side: `struct StepParams { step: u32, slot: u32, lr: f32, lr_scale: f32, flags: u32, lambda: f32, _p0: u32, _p1: u32 }`
 */
import type { GpuRuntime } from './runtime';

export const STEP_PARAMS_WGSL = `struct StepParams { step: u32, slot: u32, lr: f32, lr_scale: f32, flags: u32, lambda: f32, _p0: u32, _p1: u32 }`;

export class StepParams {
  readonly buffer: GPUBuffer;
  private readonly host = new ArrayBuffer(32);
  private readonly u32 = new Uint32Array(this.host);
  private readonly f32 = new Float32Array(this.host);

  constructor(private readonly rt: GpuRuntime) {
    this.buffer = rt.uniform(this.host, 'step.params');
  }

  set(values: { step: number; slot: number; lr: number; lrScale?: number; flags?: number; lambda?: number }): void {
    this.u32[0] = values.step >>> 0;
    this.u32[1] = values.slot >>> 0;
    this.f32[2] = values.lr;
    this.f32[3] = values.lrScale ?? 1;
    this.u32[4] = (values.flags ?? 0) >>> 0;
    this.f32[5] = values.lambda ?? 0;
    this.rt.device.queue.writeBuffer(this.buffer, 0, this.host);
  }
}
