/** MLP: Linear(dim → hidden) → GELU → Linear(hidden → dim), optional fused residual on the output. */
import type { CommandList } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { recordGeluBackward, recordGeluForward } from '../kernels/elementwise';
import { Linear } from './linear';
import type { Activation, BuildContext, Layer } from './module';

export interface MlpOptions {
  dim: number;
  hidden: number;
  frozen?: boolean;
  residual?: Tensor;
  accumulateDx?: boolean;
}

export class Mlp implements Layer {
  readonly fc1: Linear;
  readonly fc2: Linear;
  private readonly act: Activation;
  readonly out: Activation;

  constructor(
    private readonly ctx: BuildContext,
    readonly name: string,
    readonly opts: MlpOptions,
    readonly input: Activation,
    readonly rows: number,
  ) {
    const frozen = opts.frozen ?? false;
    this.fc1 = new Linear(ctx, `${name}.fc1`, { inDim: opts.dim, outDim: opts.hidden, frozen, accumulateDx: opts.accumulateDx ?? false }, input, rows);
    this.act = { value: ctx.rt.tensor([rows, opts.hidden], `${name}.gelu`), grad: ctx.rt.tensor([rows, opts.hidden], `${name}.gelu.grad`) };
    this.fc2 = new Linear(ctx, `${name}.fc2`, { inDim: opts.hidden, outDim: opts.dim, frozen, ...(opts.residual ? { residual: opts.residual } : {}) }, this.act, rows);
    this.out = this.fc2.out;
  }

  recordForward(list: CommandList): void {
    this.fc1.recordForward(list);
    recordGeluForward(this.ctx.rt, list, this.fc1.out.value, this.act.value);
    this.fc2.recordForward(list);
  }

  recordBackward(list: CommandList): void {
    this.fc2.recordBackward(list);
    recordGeluBackward(this.ctx.rt, list, this.fc1.out.value, this.act.grad!, this.fc1.out.grad!);
    this.fc1.recordBackward(list);
  }
}
