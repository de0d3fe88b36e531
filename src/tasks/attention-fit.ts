/**
 * Attention-output adapter tasks: a frozen random MultiHeadAttention (q/k/v/o projections, the
 * o projection included — the paper's single-head block O = A·X·W_v has no W_o, ours keeps it in
 * the frozen base) with an adapter on its output (atoms), trained with MSE. Two readouts:
 *   'full'    the block output [rows, dim] is compared with a [rows, dim] target;
 *   'rowsum'  the output is summed over the feature dimension to one value per token and
 *             compared with a [rows] target (the paper's App. C.1 toy: "mapped from 64D back to
 *             1D by summing across all dimensions").
 * Two datasets:
 *   fourierData   App. C.1: signals of length seq, each a sum of `bases` random Fourier bases
 *                 with frequencies in [lowFreq, highFreq]/seq; `observed` random positions are
 *                 kept (the rest zeroed) and embedded into dim features by a frozen random
 *                 projection x_t = v_t·p + o_t·q + e_t (value, "observed" flag, position; fixed
 *                 by the seed, part of the data pipeline); the target is the full signal.
 *   teacherData   x random; target = the frozen block plus a random teacher atoms adapter's ΔO
 *                 (float64 reference), so the adapter can represent the target exactly.
 *
 * Backward: the block is frozen; when its input needs no gradient (the default), the attention's
 * backward records only the adapter's hook (MultiHeadAttention.recordBackward prunes o_proj dx,
 * the attention kernels and q/k/v dx, which nobody would use; the hook's dprobs, ∂L/∂A, has no
 * consumer and is not written: see AtomsAdapter.writesDprobs). With `inputGrad` the full block
 * backward runs.
 * Batches cycle through the dataset in a seeded order (a pure function of the epoch).
 */
import type { Adapter, AdapterMath } from '../adapters/adapter';
import { attentionAtomsForward, type AtomsAdapterCpu } from '../adapters/atoms-reference';
import { ParamPack } from '../engine/param-pack';
import { Rng } from '../engine/rng';
import { EpochOrder } from '../data/epoch-order';
import { drawFourierSignal, drawObservedMask } from '../data/fourier-signals';
import { CommandList, type GpuRuntime } from '../engine/runtime';
import type { StepParams } from '../engine/step-params';
import type { Tensor } from '../engine/tensor';
import { recordMseLoss } from '../kernels/loss';
import { recordMatmul } from '../kernels/matmul';
import { recordRowSum } from '../kernels/reduce';
import { MultiHeadAttention } from '../nn/attention';
import type { Activation, BuildContext } from '../nn/module';
import type { TrainGraph } from '../train/trainer';

export interface AttentionFitShape {
  batch: number;
  seq: number;
  dim: number;
  heads: number;
  causal?: boolean;
}

export interface AttentionFitDataset {
  /** [samples, seq, dim] */
  x: Float32Array;
  /** [samples, seq] (rowsum readout) or [samples, seq, dim] (full). */
  y: Float32Array;
  samples: number;
}

/** Builds the dataset; gets the frozen block's parameters (their initial values, by name) and the shape. */
export type AttentionFitData = (base: Map<string, Float32Array>, shape: AttentionFitShape, path: string) => AttentionFitDataset;

export interface AttentionFitConfig extends AttentionFitShape {
  readout: 'rowsum' | 'full';
  data: AttentionFitData;
  /** Give the block input a gradient buffer (the full block backward runs). Default false. */
  inputGrad?: boolean;
  /** Module path of the block (default 'attn'). */
  path?: string;
  seed: number;
}

export interface AttentionFit {
  attention: MultiHeadAttention;
  adapter: Adapter;
  graph: TrainGraph;
  input: Activation;
  /** What the loss compares: the row sums [rows] or the block output [rows, dim]. */
  prediction: Tensor;
  target: Tensor;
  packs: { trainable: ParamPack; frozen: ParamPack };
  data: AttentionFitDataset;
  rows: number;
  destroy(): void;
}

export function buildAttentionFit<C extends object>(rt: GpuRuntime, factory: AdapterMath<C>, config: C, cfg: AttentionFitConfig): AttentionFit {
  let adapter: Adapter | null = null;
  const { value, scope } = rt.scoped(`attention-fit(${factory.kind})`, () =>
    build(rt, factory, config, cfg, (a) => {
      adapter = a;
    }),
  );
  return {
    ...value,
    destroy: () => {
      adapter?.destroy();
      scope.dispose();
    },
  };
}

function build<C extends object>(rt: GpuRuntime, factory: AdapterMath<C>, config: C, cfg: AttentionFitConfig, onAdapter: (a: Adapter) => void): Omit<AttentionFit, 'destroy'> {
  const { batch, seq, dim, heads } = cfg;
  const rows = batch * seq;
  const path = cfg.path ?? 'attn';
  if (!factory.sites.includes('attention-output')) throw new Error(`attention-fit: adapter '${factory.kind}' does not attach to attention outputs`);
  const trainable = new ParamPack(rt, 'adapter', true);
  const frozen = new ParamPack(rt, 'frozen', false);
  const ctx: BuildContext = { rt, trainable, frozen, rng: new Rng(cfg.seed) };
  const input: Activation = { value: rt.tensor([rows, dim], 'x'), grad: cfg.inputGrad ? rt.tensor([rows, dim], 'x.grad') : null };
  const attention = new MultiHeadAttention(ctx, path, { dim, heads, batch, seq, frozen: true, ...(cfg.causal ? { causal: true } : {}) }, input);
  const site = { kind: 'attention-output' as const, path, layer: attention, batch, seq, heads, dim };
  factory.validate(config, site);
  const adapter = factory.attach(ctx, site, config);
  onAdapter(adapter);
  trainable.finalize();
  frozen.finalize();

  const hook = attention.outputAdapter;
  if (!hook) throw new Error(`attention-fit: adapter '${factory.kind}' did not install an output hook on ${path}`);
  const forward = new CommandList('forward');
  const loss = new CommandList('loss');
  const backward = new CommandList('backward');
  attention.recordForward(forward);
  const lossValue = rt.tensor([1], 'loss');
  const out = attention.out;
  let prediction: Tensor;
  let target: Tensor;
  if (cfg.readout === 'rowsum') {
    prediction = rt.tensor([rows], 'prediction');
    const dpred = rt.tensor([rows], 'prediction.grad');
    const ones = rt.tensor([1, dim], 'ones', new Float32Array(dim).fill(1));
    target = rt.tensor([rows], 'target');
    recordRowSum(rt, forward, { x: out.value, out: prediction, rows, cols: dim });
    recordMseLoss(rt, loss, { pred: prediction, target, grad: dpred, loss: lossValue, n: rows });
    // ∂L/∂out[r, c] = ∂L/∂pred[r] for every c: an outer product with ones (K = 1).
    recordMatmul(rt, loss, { a: dpred, b: ones, c: out.grad!, M: rows, N: dim, K: 1, label: `${path}.rowsum.backward` });
  } else {
    prediction = out.value;
    target = rt.tensor([rows, dim], 'target');
    recordMseLoss(rt, loss, { pred: out.value, target, grad: out.grad!, loss: lossValue, n: rows * dim });
  }
  attention.recordBackward(backward);

  const base = new Map<string, Float32Array>();
  for (const p of frozen.params) if (p.name.startsWith(`${path}.`) && !p.name.includes('.atoms_')) base.set(p.name, p.init);
  const data = cfg.data(base, { batch, seq, dim, heads, causal: cfg.causal ?? false }, path);
  const yWidth = cfg.readout === 'rowsum' ? seq : seq * dim;
  if (data.samples < batch || data.x.length !== data.samples * seq * dim || data.y.length !== data.samples * yWidth) {
    throw new Error(`attention-fit: dataset of ${data.samples} samples has x ${data.x.length} (want ${data.samples * seq * dim}), y ${data.y.length} (want ${data.samples * yWidth}); at least batch=${batch} samples`);
  }
  const xPer = seq * dim;
  const order = new EpochOrder(data.samples, cfg.seed, batch);
  const xBatch = new Float32Array(rows * dim);
  const yBatch = new Float32Array(batch * yWidth);
  let shuffled = -1;
  const graph: TrainGraph = {
    packs: [trainable],
    forward,
    loss,
    backward,
    lossValue,
    ...(adapter.metrics ? { extraMetrics: adapter.metrics } : {}),
    loadBatch(step) {
      if (data.samples === batch) {
        if (shuffled !== 0) {
          rt.write(input.value, data.x);
          rt.write(target, data.y);
          shuffled = 0;
        }
        return;
      }
      shuffled = -1;
      order.gather(step, data.x, xPer, xBatch);
      order.gather(step, data.y, yWidth, yBatch);
      rt.write(input.value, xBatch);
      rt.write(target, yBatch);
    },
    ...(adapter.recordAfterOptimizer ? { recordAfterOptimizer: (list: CommandList, sp: StepParams) => adapter.recordAfterOptimizer!(list, sp) } : {}),
  };
  return { attention, adapter, graph, input, prediction, target, packs: { trainable, frozen }, data, rows };
}

// ---------- datasets ----------

export interface FourierDataOptions {
  samples: number;
  /** Fourier bases per signal (paper: 5). */
  bases?: number;
  /** Frequencies (cycles per sequence) drawn from lowFreq … highFreq (paper: 0 … 24 of 64). */
  lowFreq?: number;
  highFreq?: number;
  /** Observed positions per signal (paper: 16 of 64); the others are zeroed. Default: all. */
  observed?: number;
  seed: number;
}

/** The paper's App. C.1 signals (see the file comment); target = the full signal, one value per token. */
export function fourierData(o: FourierDataOptions): AttentionFitData {
  return (_base, shape) => {
    const { seq, dim } = shape;
    const rng = new Rng((o.seed ^ 0xf0f1) >>> 0);
    const bases = o.bases ?? 5;
    const lo = o.lowFreq ?? 0;
    const hi = o.highFreq ?? Math.floor((seq * 3) / 8);
    const observed = o.observed ?? seq;
    // The frozen embedding: value direction p, "observed" flag q, position table e (uniform ±1/√dim·√3).
    const b = Math.sqrt(3 / dim);
    const p = Float32Array.from({ length: dim }, () => rng.uniform(-b, b) * Math.sqrt(dim));
    const q = Float32Array.from({ length: dim }, () => rng.uniform(-b, b));
    const e = Float32Array.from({ length: seq * dim }, () => rng.uniform(-b, b));
    const x = new Float32Array(o.samples * seq * dim);
    const y = new Float32Array(o.samples * seq);
    const sig = new Float64Array(seq);
    const keep = new Uint8Array(seq);
    const positions = Array.from({ length: seq }, (_, i) => i);
    for (let s = 0; s < o.samples; s++) {
      drawFourierSignal(rng, sig, { bases, lowFreq: lo, highFreq: hi });
      drawObservedMask(rng, keep, observed, positions);
      for (let t = 0; t < seq; t++) {
        y[s * seq + t] = sig[t]!;
        const v = keep[t] ? sig[t]! : 0;
        const base = (s * seq + t) * dim;
        for (let c = 0; c < dim; c++) x[base + c] = v * p[c]! + keep[t]! * q[c]! + e[t * dim + c]!;
      }
    }
    return { x, y, samples: o.samples };
  };
}

export interface TeacherDataOptions {
  samples: number;
  /** The teacher adapter (its W_s and D are drawn here): atoms, σ, k, λ, form. */
  teacher: Omit<AtomsAdapterCpu, 'Ws' | 'D'>;
  /** Scale of the teacher's atoms (default 1). */
  atomScale?: number;
  seed: number;
}

/** x ~ U(−1, 1); target = frozen block + a random teacher atoms adapter (float64), [rows, dim]. */
export function teacherData(o: TeacherDataOptions): AttentionFitData {
  return (base, shape, path) => {
    const { batch, seq, dim, heads } = shape;
    const rng = new Rng((o.seed ^ 0x7eac) >>> 0);
    const M = o.teacher.atoms;
    const Ws = Float64Array.from({ length: dim * M }, () => rng.uniform(-1, 1) * Math.sqrt(3 / dim));
    const D = Float64Array.from({ length: M * dim }, () => rng.uniform(-1, 1) * (o.atomScale ?? 1));
    const params = new Map([...base].map(([k, v]) => [k, Float64Array.from(v)]));
    const x = Float32Array.from({ length: o.samples * seq * dim }, () => rng.uniform(-1, 1));
    const y = new Float32Array(o.samples * seq * dim);
    const per = seq * dim;
    // The reference works per batch of `batch` samples; samples are independent, so chunk by batch.
    for (let s0 = 0; s0 < o.samples; s0 += batch) {
      const n = Math.min(batch, o.samples - s0);
      const xs = Float64Array.from(x.subarray(s0 * per, (s0 + n) * per));
      const f = attentionAtomsForward(params, path, xs, { batch: n, seq, dim, heads, causal: shape.causal ?? false }, { ...o.teacher, Ws, D });
      y.set(Float32Array.from(f.out), s0 * per);
    }
    return { x, y, samples: o.samples };
  };
}
