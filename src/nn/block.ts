/**
 * Pre-LN transformer block:  h = x + Attn(LN1(x));  y = h + MLP(LN2(h)).
 * Residual adds are fused into the output projections' matmul epilogues. In the backward the
 * skip connections copy the incoming gradient first, then the branches accumulate into it.
 */
import type { CommandList } from '../engine/runtime';
import { recordAxpby } from '../kernels/elementwise';
import { MultiHeadAttention } from './attention';
import { LayerNorm } from './layernorm';
import { Mlp } from './mlp';
import type { Activation, BuildContext, Layer } from './module';

export interface BlockOptions {
  dim: number;
  heads: number;
  mlpRatio?: number;
  batch: number;
  seq: number;
  causal?: boolean;
  frozen?: boolean;
}

export class TransformerBlock implements Layer {
  readonly ln1: LayerNorm;
  readonly attn: MultiHeadAttention;
  readonly ln2: LayerNorm;
  readonly mlp: Mlp;
  readonly out: Activation;

  constructor(
    private readonly ctx: BuildContext,
    readonly name: string,
    readonly opts: BlockOptions,
    readonly input: Activation,
  ) {
    const rows = opts.batch * opts.seq;
    const frozen = opts.frozen ?? false;
    const { dim } = opts;
    // dx of the block = skip gradient (copied in recordBackward) + LN1 branch (accumulated).
    this.ln1 = new LayerNorm(ctx, `${name}.ln1`, dim, input, rows, { frozen, accumulateDx: true });
    this.attn = new MultiHeadAttention(
      ctx,
      `${name}.attn`,
      { dim, heads: opts.heads, batch: opts.batch, seq: opts.seq, causal: opts.causal ?? false, frozen, residual: input.value },
      this.ln1.out,
    );
    this.ln2 = new LayerNorm(ctx, `${name}.ln2`, dim, this.attn.out, rows, { frozen, accumulateDx: true });
    this.mlp = new Mlp(ctx, `${name}.mlp`, { dim, hidden: Math.round(dim * (opts.mlpRatio ?? 4)), frozen, residual: this.attn.out.value }, this.ln2.out, rows);
    this.out = this.mlp.out;
  }

  recordForward(list: CommandList): void {
    this.ln1.recordForward(list);
    this.attn.recordForward(list);
    this.ln2.recordForward(list);
    this.mlp.recordForward(list);
  }

  recordBackward(list: CommandList): void {
    const rt = this.ctx.rt;
    // d(attn.out) = dy (skip) + LN2 branch
    recordAxpby(rt, list, this.out.grad!, this.attn.out.grad!, 1, 0);
    this.mlp.recordBackward(list);
    this.ln2.recordBackward(list);
    // dx = d(attn.out) (skip) + LN1 branch
    if (this.input.grad) recordAxpby(rt, list, this.attn.out.grad!, this.input.grad, 1, 0);
    this.attn.recordBackward(list);
    this.ln1.recordBackward(list);
  }
}
