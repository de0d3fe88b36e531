/**
 * Conv2d on NHWC activations as im2col + a Linear: the patch matrix [B·Ho·Wo, kh·kw·Cin]
 * (src/kernels/conv.ts) times Wᵀ with W [Cout, kh·kw·Cin] plus the bias is the NHWC output
 * [B·Ho·Wo, Cout]; the backward is the Linear's (dW, db, dpatches) then col2im into the input
 * gradient. The weight is stored [Cout, kh, kw, Cin] flattened (PyTorch's conv weight is
 * [Cout, Cin, kh, kw]: permute when exporting). Initialisation: U(±1/√(kh·kw·Cin)), PyTorch's
 * default bound.
 *
 * Parameter names: `${name}.weight`, `${name}.bias`.
 */
import type { ParamRef } from '../engine/param-pack';
import type { CommandList } from '../engine/runtime';
import { checkConvShape, convPatchSize, recordCol2im, recordIm2col, type ConvShape } from '../kernels/conv';
import { Linear } from './linear';
import type { Activation, BuildContext, Layer } from './module';

export interface Conv2dOptions {
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride?: number;
  pad?: number;
  frozen?: boolean;
  /** dx += instead of dx = (the input also feeds another branch). */
  accumulateDx?: boolean;
}

export class Conv2d implements Layer {
  readonly shape: ConvShape;
  readonly outHeight: number;
  readonly outWidth: number;
  /** The patch matrix (and its gradient when the input has one). */
  readonly patches: Activation;
  readonly linear: Linear;
  /** NHWC output [B·Ho·Wo, Cout] (and its gradient). */
  readonly out: Activation;

  constructor(
    private readonly ctx: BuildContext,
    readonly name: string,
    readonly opts: Conv2dOptions,
    /** NHWC input [B, H, W, Cin]. */
    readonly input: Activation,
    geometry: { batch: number; height: number; width: number },
  ) {
    this.shape = { ...geometry, channels: opts.inChannels, kernelH: opts.kernel, kernelW: opts.kernel, stride: opts.stride ?? 1, pad: opts.pad ?? 0 };
    const o = checkConvShape(name, this.shape);
    this.outHeight = o.ho;
    this.outWidth = o.wo;
    const need = geometry.batch * geometry.height * geometry.width * opts.inChannels;
    if (input.value.size !== need) throw new Error(`${name}: input ${input.value.name} has ${input.value.size} elements, a [${geometry.batch}, ${geometry.height}, ${geometry.width}, ${opts.inChannels}] batch needs ${need}`);
    const rows = geometry.batch * o.ho * o.wo;
    const K = convPatchSize(this.shape);
    this.patches = { value: ctx.rt.tensor([rows, K], `${name}.patches`), grad: input.grad ? ctx.rt.tensor([rows, K], `${name}.patches.grad`) : null };
    // dW split per image (Ho·Wo rows each): see LinearOptions.dwRowsPerChunk.
    this.linear = new Linear(ctx, name, { inDim: K, outDim: opts.outChannels, frozen: opts.frozen ?? false, dwRowsPerChunk: o.ho * o.wo }, this.patches, rows);
    this.out = this.linear.out;
  }

  get weight(): ParamRef {
    return this.linear.weight;
  }

  get bias(): ParamRef {
    return this.linear.bias!;
  }

  recordForward(list: CommandList): void {
    recordIm2col(this.ctx.rt, list, this.shape, this.input.value, this.patches.value);
    this.linear.recordForward(list);
  }

  recordBackward(list: CommandList): void {
    this.linear.recordBackward(list);
    if (this.input.grad) recordCol2im(this.ctx.rt, list, this.shape, this.patches.grad!, this.input.grad, this.opts.accumulateDx ?? false);
  }
}
