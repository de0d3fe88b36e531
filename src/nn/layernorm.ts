/** LayerNorm over the last dimension, with saved mean/rstd for the backward. */
import type { ParamRef } from '../engine/param-pack';
import type { CommandList } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { recordLayerNormBackward, recordLayerNormForward } from '../kernels/layernorm';
import { declareParam, isTrainable, type Activation, type BuildContext, type Layer } from './module';

export class LayerNorm implements Layer {
  readonly gamma: ParamRef;
  readonly beta: ParamRef;
  readonly out: Activation;
  private readonly mean: Tensor;
  private readonly rstd: Tensor;

  constructor(
    private readonly ctx: BuildContext,
    readonly name: string,
    readonly dim: number,
    readonly input: Activation,
    readonly rows: number,
    readonly opts: { frozen?: boolean; accumulateDx?: boolean; eps?: number } = {},
  ) {
    const frozen = opts.frozen ?? false;
    this.gamma = declareParam(ctx, `${name}.weight`, [dim], { constant: 1 }, { frozen, decay: false });
    this.beta = declareParam(ctx, `${name}.bias`, [dim], { constant: 0 }, { frozen, decay: false });
    this.out = { value: ctx.rt.tensor([rows, dim], `${name}.out`), grad: ctx.rt.tensor([rows, dim], `${name}.out.grad`) };
    this.mean = ctx.rt.tensor([rows], `${name}.mean`);
    this.rstd = ctx.rt.tensor([rows], `${name}.rstd`);
  }

  recordForward(list: CommandList): void {
    recordLayerNormForward(this.ctx.rt, list, {
      x: this.input.value,
      gamma: this.gamma.value,
      beta: this.beta.value,
      y: this.out.value,
      mean: this.mean,
      rstd: this.rstd,
      rows: this.rows,
      dim: this.dim,
      eps: this.opts.eps ?? 1e-5,
    });
  }

  recordBackward(list: CommandList): void {
    if (!this.input.grad && !isTrainable(this.gamma)) return;
    recordLayerNormBackward(this.ctx.rt, list, {
      x: this.input.value,
      gamma: this.gamma.value,
      mean: this.mean,
      rstd: this.rstd,
      dy: this.out.grad!,
      dx: this.input.grad ?? this.ctx.rt.tensor([this.rows, this.dim], `${this.name}.dx.unused`),
      ...(isTrainable(this.gamma) ? { dgamma: this.gamma.grad, dbeta: this.beta.grad } : {}),
      rows: this.rows,
      dim: this.dim,
      accumulateDx: this.opts.accumulateDx ?? false,
    });
  }
}
