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
import { isTrainable, type Activation, type BuildContext, type Layer } from './module';

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

  /** Whether anything in the block takes a gradient: a trainable parameter or an adapter. */
  get trains(): boolean {
    const a = this.attn;
    return [a.q, a.k, a.v, a.o, this.mlp.fc1, this.mlp.fc2].some((l) => l.trains) || a.outputAdapter !== null || [this.ln1.gamma, this.ln1.beta, this.ln2.gamma, this.ln2.beta].some(isTrainable);
  }

  /**
   * `inputGrad` false: nothing upstream needs the block input's gradient (no trainable parameter
   * or adapter below it), so the LN1 branch runs only as far as this block's own gradients need.
   */
  recordBackward(list: CommandList, opts: { inputGrad?: boolean } = {}): void {
    const rt = this.ctx.rt;
    const needIn = opts.inputGrad !== false && this.input.grad !== null;
    // d(attn.out) = dy (skip) + LN2 branch
    recordAxpby(rt, list, this.out.grad!, this.attn.out.grad!, 1, 0);
    this.mlp.recordBackward(list);
    this.ln2.recordBackward(list);
    // dx = d(attn.out) (skip) + LN1 branch; LN1's own parameters need the branch too.
    const branch = needIn || isTrainable(this.ln1.gamma) || isTrainable(this.ln1.beta);
    if (branch && this.input.grad) recordAxpby(rt, list, this.attn.out.grad!, this.input.grad, 1, 0);
    this.attn.recordBackward(list, { inputGrad: branch });
    if (branch) this.ln1.recordBackward(list);
  }
}

/**
 * The backward of a stack of blocks (forward order), top block first: a block runs only where
 * something at or below it takes a gradient, and reaches its input only where something below it
 * does (`below`: something under the first block trains or needs its input gradient). A frozen
 * base with adapters on block 1 skips block 0; adapters on block 0's attention skip its LN1 branch
 * as far as they allow.
 */
export function recordBlocksBackward(list: CommandList, blocks: readonly TransformerBlock[], below: boolean): void {
  const needs: boolean[] = [];
  let any = below;
  for (const b of blocks) {
    needs.push(any);
    any ||= b.trains;
  }
  for (let i = blocks.length - 1; i >= 0; i--) {
    const b = blocks[i]!;
    if (needs[i] || b.trains) b.recordBackward(list, { inputGrad: needs[i]! });
  }
}
