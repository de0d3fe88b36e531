/**
 * Multi-head self-attention: q, k, v projections, softmax attention, output projection.
 * The attention probabilities are kept (they are the "coefficients" of the atoms paper's
 * dictionary view of attention), and an output adapter (atoms) can add ΔO to the block output.
 */
import type { CommandList } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { recordAttentionBackward, recordAttentionForward, type AttentionPath } from '../kernels/attention';
import { Linear } from './linear';
import type { Activation, BuildContext, Layer } from './module';

export interface AttentionOutputHook {
  /** out += ΔO(x, probs) */
  recordForward(list: CommandList, io: { x: Tensor; probs: Tensor; out: Tensor }): void;
  /**
   * Parameter gradients and dprobs (overwrite); runs before the attention backward, which adds
   * dprobs in. `inputGrad` false: nothing upstream needs the attention input's gradient (no
   * recordBackwardInput follows), so dprobs is needed only for q/k's own gradients.
   */
  recordBackward(list: CommandList, io: { x: Tensor; probs: Tensor; dout: Tensor; dprobs: Tensor; inputGrad?: boolean }): void;
  /** dx += (∂ΔO/∂x)ᵀ·dout; runs after q/k/v have written dx. */
  recordBackwardInput(list: CommandList, io: { x: Tensor; probs: Tensor; dout: Tensor; dx: Tensor }): void;
}

export interface AttentionOptions {
  dim: number;
  heads: number;
  batch: number;
  seq: number;
  causal?: boolean;
  frozen?: boolean;
  /** Residual added to the output projection (the block's skip connection). */
  residual?: Tensor;
  accumulateDx?: boolean;
  /** Attention kernels: 'auto' (default) picks by shape, see chooseAttentionPath in src/kernels/attention.ts. */
  attentionPath?: AttentionPath;
}

export class MultiHeadAttention implements Layer {
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly o: Linear;
  readonly probs: Tensor;
  /** Gradient w.r.t. probs, only allocated when an output hook needs it. */
  dprobs: Tensor | null = null;
  private readonly mixed: Activation;
  outputAdapter: AttentionOutputHook | null = null;
  readonly out: Activation;

  constructor(
    private readonly ctx: BuildContext,
    readonly name: string,
    readonly opts: AttentionOptions,
    readonly input: Activation,
  ) {
    const { dim, heads, batch, seq } = opts;
    if (dim % heads !== 0) throw new Error(`${name}: dim ${dim} is not divisible by heads ${heads}`);
    const rows = batch * seq;
    const frozen = opts.frozen ?? false;
    // q/k/v all read the same input: the first writes dx, the others accumulate into it.
    this.q = new Linear(ctx, `${name}.q_proj`, { inDim: dim, outDim: dim, frozen, accumulateDx: opts.accumulateDx ?? false }, input, rows);
    this.k = new Linear(ctx, `${name}.k_proj`, { inDim: dim, outDim: dim, frozen, accumulateDx: true }, input, rows);
    this.v = new Linear(ctx, `${name}.v_proj`, { inDim: dim, outDim: dim, frozen, accumulateDx: true }, input, rows);
    this.mixed = { value: ctx.rt.tensor([rows, dim], `${name}.mixed`), grad: ctx.rt.tensor([rows, dim], `${name}.mixed.grad`) };
    this.probs = ctx.rt.tensor([batch, heads, seq, seq], `${name}.probs`);
    this.o = new Linear(ctx, `${name}.o_proj`, { inDim: dim, outDim: dim, frozen, ...(opts.residual ? { residual: opts.residual } : {}) }, this.mixed, rows);
    this.out = this.o.out;
  }

  private get shape() {
    const { batch, seq, heads, dim, causal, attentionPath } = this.opts;
    return { batch, seq, heads, headDim: dim / heads, causal: causal ?? false, path: attentionPath ?? 'auto' };
  }

  recordForward(list: CommandList): void {
    this.q.recordForward(list);
    this.k.recordForward(list);
    this.v.recordForward(list);
    recordAttentionForward(this.ctx.rt, list, {
      ...this.shape,
      q: this.q.out.value,
      k: this.k.out.value,
      v: this.v.out.value,
      out: this.mixed.value,
      probs: this.probs,
    });
    this.o.recordForward(list);
    this.outputAdapter?.recordForward(list, { x: this.input.value, probs: this.probs, out: this.out.value });
  }

  /**
   * With `inputGrad` false nothing upstream needs the input's gradient: the attention's own
   * backward (o_proj dx, the attention kernels, q/k/v) runs only as far as a trainable weight or
   * an adapter on q/k/v/o needs it — for a frozen attention with only an output adapter, just the
   * adapter's parameter gradients.
   */
  recordBackward(list: CommandList, opts: { inputGrad?: boolean } = {}): void {
    const rt = this.ctx.rt;
    const needIn = opts.inputGrad !== false && this.input.grad !== null;
    const core = needIn || this.q.trains || this.k.trains || this.v.trains;
    if (this.outputAdapter) {
      this.dprobs ??= rt.tensor(this.probs.shape, `${this.name}.dprobs`);
      // Parameter grads and dprobs now; its dx contribution after q/k/v have written dx (below).
      this.outputAdapter.recordBackward(list, { x: this.input.value, probs: this.probs, dout: this.out.grad!, dprobs: this.dprobs, inputGrad: needIn });
    }
    if (core || this.o.trains) this.o.recordBackward(list, { dx: core });
    if (!core) return;
    recordAttentionBackward(rt, list, {
      ...this.shape,
      q: this.q.out.value,
      k: this.k.out.value,
      v: this.v.out.value,
      probs: this.probs,
      dout: this.mixed.grad!,
      dq: this.q.out.grad!,
      dk: this.k.out.grad!,
      dv: this.v.out.grad!,
      ...(this.dprobs ? { dprobsExtra: this.dprobs } : {}),
    });
    this.q.recordBackward(list, { dx: needIn });
    this.k.recordBackward(list, { dx: needIn });
    this.v.recordBackward(list, { dx: needIn });
    if (this.outputAdapter && needIn) {
      this.outputAdapter.recordBackwardInput(list, { x: this.input.value, probs: this.probs, dout: this.out.grad!, dx: this.input.grad! });
    }
  }
}
