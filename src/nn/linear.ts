/**
 * Linear: y = x·Wᵀ + b, W stored [out, in] (PyTorch layout, so exported weights match PEFT
 * conventions). Adapters (STAN, LoRA, SoRA) attach through `adapter` and add their delta to y.
 */
import type { ParamRef } from '../engine/param-pack';
import type { CommandList } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { recordMatmul } from '../kernels/matmul';
import { recordColSum } from '../kernels/reduce';
import { declareParam, isTrainable, type Activation, type BuildContext, type Layer } from './module';

/** What an adapter on a Linear must do. It owns its parameters and buffers. */
export interface LinearAdapterHook {
  /** y += Δ(x) */
  recordForward(list: CommandList, x: Tensor, y: Tensor): void;
  /** Parameter gradients from dy; and dx += (∂Δ/∂x)ᵀ·dy when dx is not null. */
  recordBackward(list: CommandList, x: Tensor, dy: Tensor, dx: Tensor | null): void;
}

export interface LinearOptions {
  inDim: number;
  outDim: number;
  bias?: boolean;
  frozen?: boolean;
  /** Fused epilogue: y = act(x·Wᵀ + b) (forward only; layers needing the backward keep the pre-activation). */
  activation?: 'none' | 'gelu';
  /** Fused residual: y = x·Wᵀ + b + residual. */
  residual?: Tensor;
  /** dx += instead of dx = (the input also feeds another branch). */
  accumulateDx?: boolean;
  /**
   * Split-K weight gradient for layers with many more rows than weights (a convolution's patch
   * matrix: rows = B·Ho·Wo): dW is summed from rows/dwRowsPerChunk partial products, one per
   * block of rows, computed in parallel (one batched matmul) and then added up in a fixed order
   * (a column sum). A single dW matmul would leave a [out, in] tile of a few workgroups looping
   * over every row. Must divide the row count. Default: one product.
   */
  dwRowsPerChunk?: number;
}

export class Linear implements Layer {
  readonly weight: ParamRef;
  readonly bias: ParamRef | null;
  readonly out: Activation;
  adapter: LinearAdapterHook | null = null;

  constructor(
    private readonly ctx: BuildContext,
    readonly name: string,
    readonly opts: LinearOptions,
    readonly input: Activation,
    rows: number,
  ) {
    const { inDim, outDim } = opts;
    const frozen = opts.frozen ?? false;
    const bound = 1 / Math.sqrt(inDim);
    this.weight = declareParam(ctx, `${name}.weight`, [outDim, inDim], { uniform: bound }, { frozen });
    this.bias = opts.bias === false ? null : declareParam(ctx, `${name}.bias`, [outDim], { uniform: bound }, { frozen, decay: false });
    this.rows = rows;
    const chunk = opts.dwRowsPerChunk;
    if (chunk !== undefined && (!Number.isInteger(chunk) || chunk < 1 || rows % chunk !== 0)) throw new Error(`${name}: dwRowsPerChunk=${chunk} must be a positive divisor of the ${rows} rows`);
    this.dwPartials = chunk !== undefined && chunk < rows && isTrainable(this.weight) ? ctx.rt.tensor([rows / chunk, outDim * inDim], `${name}.dW.partials`) : null;
    this.out = {
      value: ctx.rt.tensor([rows, outDim], `${name}.out`),
      grad: ctx.rt.tensor([rows, outDim], `${name}.out.grad`),
    };
  }
  readonly rows: number;
  private readonly dwPartials: Tensor | null;

  recordForward(list: CommandList): void {
    const { inDim, outDim } = this.opts;
    recordMatmul(this.ctx.rt, list, {
      a: this.input.value,
      b: this.weight.value,
      c: this.out.value,
      M: this.rows,
      N: outDim,
      K: inDim,
      transB: true,
      ...(this.bias ? { bias: this.bias.value } : {}),
      ...(this.opts.activation ? { activation: this.opts.activation } : {}),
      ...(this.opts.residual ? { residual: this.opts.residual } : {}),
      label: `${this.name}.fwd`,
    });
    this.adapter?.recordForward(list, this.input.value, this.out.value);
  }

  /** Parameter gradients from out.grad, and dx into input.grad unless `dx` is false (nothing upstream needs it). */
  recordBackward(list: CommandList, opts: { dx?: boolean } = {}): void {
    const rt = this.ctx.rt;
    const { inDim, outDim } = this.opts;
    const dy = this.out.grad!;
    const dx = opts.dx === false ? null : this.input.grad;
    if (this.opts.activation && this.opts.activation !== 'none') {
      throw new Error(`${this.name}: backward through a fused activation is not supported; keep the pre-activation (use a separate GELU)`);
    }
    if (dx) {
      // dx = dy · W      [rows, out] × [out, in]
      recordMatmul(rt, list, { a: dy, b: this.weight.value, c: dx, M: this.rows, N: inDim, K: outDim, accumulate: this.opts.accumulateDx ?? false, label: `${this.name}.dx` });
    }
    if (this.dwPartials) {
      // dW = Σ_chunks dy[chunk]ᵀ · x[chunk]: the chunk products in one batched matmul, then their sum.
      const r = this.opts.dwRowsPerChunk!;
      const chunks = this.rows / r;
      recordMatmul(rt, list, { a: dy, b: this.input.value, c: this.dwPartials, M: outDim, N: inDim, K: r, transA: true, batch: chunks, strideA: r * outDim, strideB: r * inDim, strideC: outDim * inDim, label: `${this.name}.dW.partials` });
      recordColSum(rt, list, { x: this.dwPartials, out: this.weight.grad, rows: chunks, cols: outDim * inDim });
    } else if (isTrainable(this.weight)) {
      // dW = dyᵀ · x     [out, rows] × [rows, in]
      recordMatmul(rt, list, { a: dy, b: this.input.value, c: this.weight.grad, M: outDim, N: inDim, K: this.rows, transA: true, label: `${this.name}.dW` });
    }
    if (this.bias && isTrainable(this.bias)) {
      recordColSum(rt, list, { x: dy, out: this.bias.grad, rows: this.rows, cols: outDim });
    }
    this.adapter?.recordBackward(list, this.input.value, dy, dx);
  }

  /** Whether anything of this layer takes a gradient: a trainable weight or bias, or an adapter. */
  get trains(): boolean {
    return isTrainable(this.weight) || (this.bias !== null && isTrainable(this.bias)) || this.adapter !== null;
  }
}
