/**
 * Synthetic sequence regression, the engine's smoke test and the CLI/page demo.
 * Targets mix a per-token non-linearity with a sequence-level term, so the model needs both its
 * MLP and its attention:  y_t = tanh(x_t·A)·B + (mean_s x_s)·C   (A, B, C fixed random).
 */
import { ParamPack } from '../engine/param-pack';
import { Rng } from '../engine/rng';
import { EpochOrder } from '../data/epoch-order';
import { CommandList, type GpuRuntime } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { recordMseLoss } from '../kernels/loss';
import { TinyTransformer, type TinyTransformerConfig } from '../models/tiny-transformer';
import type { TrainGraph } from '../train/trainer';

export interface SyntheticRegressionConfig {
  batch: number;
  seq: number;
  inDim: number;
  outDim: number;
  dim: number;
  heads: number;
  layers: number;
  /** Dataset size (samples of [seq, inDim]); batches cycle through it in a seeded order. */
  samples: number;
  seed: number;
}

export const SMALL_REGRESSION: SyntheticRegressionConfig = { batch: 8, seq: 8, inDim: 4, outDim: 2, dim: 32, heads: 2, layers: 1, samples: 64, seed: 1 };

export function makeRegressionData(cfg: SyntheticRegressionConfig): { x: Float32Array; y: Float32Array } {
  const rng = new Rng(cfg.seed ^ 0x5eed);
  const { samples, seq, inDim, outDim } = cfg;
  const hidden = 8;
  const A = Array.from({ length: inDim * hidden }, () => rng.uniform(-1.5, 1.5));
  const B = Array.from({ length: hidden * outDim }, () => rng.uniform(-0.6, 0.6));
  const C = Array.from({ length: inDim * outDim }, () => rng.uniform(-1.5, 1.5));
  const x = new Float32Array(samples * seq * inDim);
  for (let i = 0; i < x.length; i++) x[i] = rng.uniform(-1, 1);
  const y = new Float32Array(samples * seq * outDim);
  for (let s = 0; s < samples; s++) {
    const mean = new Float64Array(inDim);
    for (let t = 0; t < seq; t++) for (let i = 0; i < inDim; i++) mean[i]! += x[(s * seq + t) * inDim + i]! / seq;
    for (let t = 0; t < seq; t++) {
      const xt = (s * seq + t) * inDim;
      const h = new Float64Array(hidden);
      for (let j = 0; j < hidden; j++) {
        let a = 0;
        for (let i = 0; i < inDim; i++) a += x[xt + i]! * A[i * hidden + j]!;
        h[j] = Math.tanh(a);
      }
      for (let o = 0; o < outDim; o++) {
        let v = 0;
        for (let j = 0; j < hidden; j++) v += h[j]! * B[j * outDim + o]!;
        for (let i = 0; i < inDim; i++) v += mean[i]! * C[i * outDim + o]!;
        y[(s * seq + t) * outDim + o] = v;
      }
    }
  }
  return { x, y };
}

/**
 * A TinyTransformer fitted by MSE: the target [rows, outDim] and loss [1] tensors and the forward,
 * loss and backward lists, recorded once. Names: `${prefix}target`, `${prefix}loss`, `${prefix}forward`, ….
 */
export function recordMseLists(rt: GpuRuntime, model: TinyTransformer, rows: number, outDim: number, prefix = ''): { target: Tensor; lossValue: Tensor; forward: CommandList; loss: CommandList; backward: CommandList } {
  const target = rt.tensor([rows, outDim], `${prefix}target`);
  const lossValue = rt.tensor([1], `${prefix}loss`);
  const forward = new CommandList(`${prefix}forward`);
  const loss = new CommandList(`${prefix}loss`);
  const backward = new CommandList(`${prefix}backward`);
  model.recordForward(forward);
  recordMseLoss(rt, loss, { pred: model.output.value, target, grad: model.output.grad!, loss: lossValue, n: rows * outDim });
  model.recordBackward(backward);
  return { target, lossValue, forward, loss, backward };
}

/**
 * A TrainGraph's loadBatch over a dataset of `samples` sequences (x [samples, seq, inDim],
 * y [samples, seq, outDim]): step s writes batch s of the seeded epoch order (EpochOrder: a pure
 * function of (seed, s)) into `input` and `target`. The batch buffers are allocated here, once.
 */
export function regressionBatchLoader(
  rt: GpuRuntime,
  data: { x: Float32Array; y: Float32Array },
  shape: { samples: number; seed: number; batch: number; seq: number; inDim: number; outDim: number },
  input: Tensor,
  target: Tensor,
): (step: number) => void {
  const { samples, seed, batch, seq, inDim, outDim } = shape;
  const order = new EpochOrder(samples, seed, batch);
  const xPer = seq * inDim;
  const yPer = seq * outDim;
  const xBatch = new Float32Array(batch * xPer);
  const yBatch = new Float32Array(batch * yPer);
  return (step) => {
    order.gather(step, data.x, xPer, xBatch);
    order.gather(step, data.y, yPer, yBatch);
    rt.write(input, xBatch);
    rt.write(target, yBatch);
  };
}

export interface SyntheticRegression {
  model: TinyTransformer;
  graph: TrainGraph;
  packs: { trainable: ParamPack; frozen: ParamPack };
  target: Tensor;
  data: { x: Float32Array; y: Float32Array };
  destroy(): void;
}

export function buildSyntheticRegression(rt: GpuRuntime, cfg: SyntheticRegressionConfig): SyntheticRegression {
  const { value, scope } = rt.scoped('synthetic-regression', () => build(rt, cfg));
  return { ...value, destroy: () => scope.dispose() };
}

function build(rt: GpuRuntime, cfg: SyntheticRegressionConfig): Omit<SyntheticRegression, 'destroy'> {
  const trainable = new ParamPack(rt, 'model', true);
  const frozen = new ParamPack(rt, 'frozen', false);
  const ctx = { rt, trainable, frozen, rng: new Rng(cfg.seed) };
  const mcfg: TinyTransformerConfig = { inDim: cfg.inDim, outDim: cfg.outDim, dim: cfg.dim, heads: cfg.heads, layers: cfg.layers, seq: cfg.seq, batch: cfg.batch };
  const model = new TinyTransformer(ctx, 'model', mcfg);
  trainable.finalize();
  frozen.finalize();
  const rows = cfg.batch * cfg.seq;
  const { target, lossValue, forward, loss, backward } = recordMseLists(rt, model, rows, cfg.outDim);
  const data = makeRegressionData(cfg);
  const graph: TrainGraph = {
    packs: [trainable],
    forward,
    loss,
    backward,
    lossValue,
    loadBatch: regressionBatchLoader(rt, data, cfg, model.input.value, target),
  };
  return {
    model,
    graph,
    packs: { trainable, frozen },
    target,
    data,
  };
}
