/**
 * The smallest adapter task: a frozen random Linear (y = x·W0ᵀ + b) with any adapter attached,
 * trained with MSE towards   target = x·W0ᵀ + b + Δ*(x),   Δ*(x) = scale · relu(x·Aᵀ) · Bᵀ
 * (A [hidden, in], B [out, hidden] fixed random; a few hidden units, so the delta is non-linear
 * and "sparse" — each input switches on only some of them). At step 0 an adapter whose delta is
 * zero has loss E‖Δ*(x)‖²/out; a good fit drives it towards 0.
 *
 * Used by the adapter tests and the `stan-linear` benchmark; any AdapterMath that attaches to
 * a 'linear' site works. Batches cycle through a fixed dataset of `samples` rows in a seeded
 * order (a pure function of the epoch, so a resumed run sees the same batches).
 */
import type { Adapter, AdapterMath } from '../adapters/adapter';
import { ParamPack } from '../engine/param-pack';
import { Rng } from '../engine/rng';
import { EpochOrder } from '../data/epoch-order';
import { CommandList, type GpuRuntime } from '../engine/runtime';
import type { StepParams } from '../engine/step-params';
import type { Tensor } from '../engine/tensor';
import { recordMseLoss } from '../kernels/loss';
import { Linear } from '../nn/linear';
import type { Activation, BuildContext } from '../nn/module';
import type { TrainGraph } from '../train/trainer';

export interface LinearFitConfig {
  /** Rows per batch. */
  rows: number;
  inDim: number;
  outDim: number;
  /** Dataset size in rows (a multiple of `rows` is best); default = rows (full batch). */
  samples?: number;
  /** Hidden units of the target delta (default 8). */
  hidden?: number;
  /** Scale of the target delta (default 1). */
  deltaScale?: number;
  /** Give the input a gradient buffer, so the Linear (and the adapter) record dx. Default false. */
  inputGrad?: boolean;
  /** Base Linear bias (default true). */
  bias?: boolean;
  /** Parameter path of the base Linear (default 'base'). */
  path?: string;
  seed: number;
}

export interface LinearFit {
  base: Linear;
  adapter: Adapter;
  graph: TrainGraph;
  input: Activation;
  /** The adapted output [rows, outDim]. */
  output: Tensor;
  target: Tensor;
  packs: { trainable: ParamPack; frozen: ParamPack };
  /** The dataset: x [samples, inDim], y [samples, outDim] (the target). */
  data: { x: Float32Array; y: Float32Array };
  /** Base weights as initialised: W0 [out, in], b [out] (zeros without bias). */
  base0: { weight: Float32Array; bias: Float32Array };
  rows: number;
  /** Writes `x` ([rows, inDim]) as the input, runs the recorded forward and reads the output (tests; one readback). */
  evaluate(x: Float32Array): Promise<Float32Array>;
  destroy(): void;
}

export function makeLinearFitTargetDelta(cfg: LinearFitConfig): { A: Float32Array; B: Float32Array; hidden: number } {
  const hidden = cfg.hidden ?? 8;
  const rng = new Rng((cfg.seed ^ 0x1f1e) >>> 0);
  const A = Float32Array.from({ length: hidden * cfg.inDim }, () => rng.uniform(-1, 1) * Math.sqrt(3 / cfg.inDim));
  const B = Float32Array.from({ length: cfg.outDim * hidden }, () => rng.uniform(-1, 1));
  return { A, B, hidden };
}

export function buildLinearFit<C extends object>(rt: GpuRuntime, factory: AdapterMath<C>, config: C, cfg: LinearFitConfig): LinearFit {
  const { value, scope } = rt.scoped(`linear-fit(${factory.kind})`, () => build(rt, factory, config, cfg));
  return {
    ...value,
    destroy: () => {
      value.adapter.destroy();
      scope.dispose();
    },
  };
}

function build<C extends object>(rt: GpuRuntime, factory: AdapterMath<C>, config: C, cfg: LinearFitConfig): Omit<LinearFit, 'destroy'> {
  const { rows, inDim, outDim } = cfg;
  const samples = cfg.samples ?? rows;
  if (!(Number.isInteger(rows) && rows >= 1)) throw new Error(`linear-fit: rows must be an integer ≥ 1, got ${rows}`);
  if (!(Number.isInteger(samples) && samples >= rows)) throw new Error(`linear-fit: samples must be an integer ≥ rows (${rows}), got ${samples}`);
  if (!factory.sites.includes('linear')) throw new Error(`linear-fit: adapter '${factory.kind}' does not attach to linear sites`);
  const path = cfg.path ?? 'base';
  const trainable = new ParamPack(rt, 'adapter', true);
  const frozen = new ParamPack(rt, 'frozen', false);
  const ctx: BuildContext = { rt, trainable, frozen, rng: new Rng(cfg.seed) };
  const input: Activation = {
    value: rt.tensor([rows, inDim], 'x'),
    grad: cfg.inputGrad ? rt.tensor([rows, inDim], 'x.grad') : null,
  };
  const base = new Linear(ctx, path, { inDim, outDim, frozen: true, bias: cfg.bias ?? true }, input, rows);
  const site = { kind: 'linear' as const, path, layer: base, rows };
  factory.validate(config, site);
  const adapter = factory.attach(ctx, site, config);
  trainable.finalize();
  frozen.finalize();

  const target = rt.tensor([rows, outDim], 'target');
  const lossValue = rt.tensor([1], 'loss');
  const forward = new CommandList('forward');
  const loss = new CommandList('loss');
  const backward = new CommandList('backward');
  base.recordForward(forward);
  recordMseLoss(rt, loss, { pred: base.out.value, target, grad: base.out.grad!, loss: lossValue, n: rows * outDim });
  base.recordBackward(backward);

  // Dataset and target.
  const W0 = base.weight.init;
  const b0 = base.bias ? base.bias.init : new Float32Array(outDim);
  const { A, B, hidden } = makeLinearFitTargetDelta(cfg);
  const scale = cfg.deltaScale ?? 1;
  const drng = new Rng((cfg.seed * 31 + 7) >>> 0);
  const x = Float32Array.from({ length: samples * inDim }, () => drng.uniform(-1, 1));
  const y = new Float32Array(samples * outDim);
  const h = new Float64Array(hidden);
  for (let s = 0; s < samples; s++) {
    for (let j = 0; j < hidden; j++) {
      let a = 0;
      for (let i = 0; i < inDim; i++) a += x[s * inDim + i]! * A[j * inDim + i]!;
      h[j] = Math.max(0, a);
    }
    for (let o = 0; o < outDim; o++) {
      let v = b0[o]!;
      for (let i = 0; i < inDim; i++) v += x[s * inDim + i]! * W0[o * inDim + i]!;
      let d = 0;
      for (let j = 0; j < hidden; j++) d += h[j]! * B[o * hidden + j]!;
      y[s * outDim + o] = v + scale * d;
    }
  }

  const order = new EpochOrder(samples, cfg.seed, rows);
  const xBatch = new Float32Array(rows * inDim);
  const yBatch = new Float32Array(rows * outDim);
  let epochShuffled = -1;
  const graph: TrainGraph = {
    packs: [trainable],
    forward,
    loss,
    backward,
    lossValue,
    ...(adapter.metrics ? { extraMetrics: adapter.metrics } : {}),
    loadBatch(step) {
      if (samples === rows) {
        if (step === 0 || epochShuffled !== 0) {
          rt.write(input.value, x);
          rt.write(target, y);
          epochShuffled = 0;
        }
        return;
      }
      epochShuffled = -1;
      order.gather(step, x, inDim, xBatch);
      order.gather(step, y, outDim, yBatch);
      rt.write(input.value, xBatch);
      rt.write(target, yBatch);
    },
    ...(adapter.recordAfterOptimizer ? { recordAfterOptimizer: (list: CommandList, sp: StepParams) => adapter.recordAfterOptimizer!(list, sp) } : {}),
  };

  return {
    base,
    adapter,
    graph,
    input,
    output: base.out.value,
    target,
    packs: { trainable, frozen },
    data: { x, y },
    base0: { weight: W0, bias: b0 },
    rows,
    async evaluate(xv: Float32Array) {
      rt.write(input.value, xv);
      epochShuffled = -1; // the next loadBatch rewrites the training batch
      rt.submit([forward]);
      return rt.read(base.out.value);
    },
  };
}
