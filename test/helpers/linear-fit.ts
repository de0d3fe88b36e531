/**
 * A frozen random Linear + one adapter + MSE against a fixed synthetic target, as a TrainGraph
 * (one full batch, uploaded once), and what the Linear-site adapter tests (LoRA, SoRA, VeRA) do
 * with it: the float64 base layer, one forward + backward, base vs adapted outputs, a site stub
 * for config checks. Works for any Linear-site factory.
 */
import type { AdapterMath, Adapter, AdapterSite } from '../../src/adapters/adapter';
import { ConfigError } from '../../src/engine/errors';
import { ParamPack } from '../../src/engine/param-pack';
import { Rng } from '../../src/engine/rng';
import { CommandList, type AllocationScope, type GpuRuntime } from '../../src/engine/runtime';
import type { Tensor } from '../../src/engine/tensor';
import { recordMseLoss } from '../../src/kernels/loss';
import { Linear } from '../../src/nn/linear';
import type { BuildContext } from '../../src/nn/module';
import type { TrainGraph } from '../../src/train/trainer';

export interface LinearFitOptions<C extends object> {
  factory: AdapterMath<C>;
  config: C;
  n: number;
  m: number;
  rows: number;
  seed: number;
  /** Target = base layer + a random rank-`targetRank` delta of this scale (0: target = base). */
  targetRank: number;
  targetScale: number;
  /** Give the input a gradient buffer (to check dx). */
  inputGrad?: boolean;
}

export interface LinearFit {
  ctx: BuildContext;
  layer: Linear;
  adapter: Adapter;
  graph: TrainGraph;
  packs: { trainable: ParamPack; frozen: ParamPack };
  x: Tensor;
  xHost: Float32Array;
  target: Tensor;
  targetHost: Float32Array;
  lossValue: Tensor;
  scope: AllocationScope;
  destroy(): void;
}

export function buildLinearFit<C extends object>(rt: GpuRuntime, o: LinearFitOptions<C>): LinearFit {
  const { value, scope } = rt.scoped('linear-fit', () => {
    const trainable = new ParamPack(rt, 'adapter', true);
    const frozen = new ParamPack(rt, 'base', false);
    const ctx: BuildContext = { rt, trainable, frozen, rng: new Rng(o.seed) };
    const rng = new Rng(o.seed * 31 + 7);
    const xHost = new Float32Array(o.rows * o.n).map(() => rng.uniform(-1, 1));
    const x = rt.tensor([o.rows, o.n], 'fit.x', xHost);
    const input = { value: x, grad: o.inputGrad ? rt.tensor([o.rows, o.n], 'fit.dx') : null };
    const layer = new Linear(ctx, 'layer', { inDim: o.n, outDim: o.m, frozen: true }, input, o.rows);
    const adapter = o.factory.attach(ctx, { kind: 'linear', path: 'layer', layer, rows: o.rows }, o.config);
    trainable.finalize();
    frozen.finalize();
    // Target: x·(W + P·Q)ᵀ + b, computed from the base's initial values.
    const W = layer.weight.init;
    const b = layer.bias!.init;
    const P = Array.from({ length: o.m * o.targetRank }, () => rng.normal() * o.targetScale);
    const Q = Array.from({ length: o.targetRank * o.n }, () => rng.normal());
    const targetHost = new Float32Array(o.rows * o.m);
    for (let i = 0; i < o.rows; i++) {
      for (let j = 0; j < o.m; j++) {
        let acc = b[j]!;
        for (let k = 0; k < o.n; k++) {
          let w = W[j * o.n + k]!;
          for (let t = 0; t < o.targetRank; t++) w += P[j * o.targetRank + t]! * Q[t * o.n + k]!;
          acc += xHost[i * o.n + k]! * w;
        }
        targetHost[i * o.m + j] = acc;
      }
    }
    const target = rt.tensor([o.rows, o.m], 'fit.target', targetHost);
    const lossValue = rt.tensor([1], 'fit.loss');
    const forward = new CommandList('fit.forward');
    const loss = new CommandList('fit.loss');
    const backward = new CommandList('fit.backward');
    layer.recordForward(forward);
    recordMseLoss(rt, loss, { pred: layer.out.value, target, grad: layer.out.grad!, loss: lossValue, n: o.rows * o.m });
    layer.recordBackward(backward);
    const graph: TrainGraph = {
      packs: [trainable],
      forward,
      loss,
      backward,
      lossValue,
      extraMetrics: adapter.metrics ?? [],
      recordAfterOptimizer: (list, sp) => adapter.recordAfterOptimizer?.(list, sp),
      loadBatch: () => {},
    };
    return { ctx, layer, adapter, graph, packs: { trainable, frozen }, x, xHost, target, targetHost, lossValue };
  });
  return {
    ...value,
    scope,
    destroy: () => {
      value.adapter.destroy();
      scope.dispose();
    },
  };
}

/** Float32 bit patterns, for bit-exact comparisons (distinguishes -0 from +0 and NaN payloads). */
export function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

/** Float64 x·Wᵀ + b of a Linear: x [rows, n], W [m, n], b [m] or none → [rows, m]. */
export function linearForwardCpu(x: ArrayLike<number>, W: ArrayLike<number>, b: ArrayLike<number> | null, rows: number, n: number, m: number): Float64Array {
  const y = new Float64Array(rows * m);
  for (let i = 0; i < rows; i++) for (let j = 0; j < m; j++) {
    let acc = b ? b[j]! : 0;
    for (let k = 0; k < n; k++) acc += x[i * n + k]! * W[j * n + k]!;
    y[i * m + j] = acc;
  }
  return y;
}

/** Writes dy into the layer's output gradient and runs one forward and one backward (gradients zeroed first). */
export function runForwardBackward(rt: GpuRuntime, fit: LinearFit, dy: Float32Array): void {
  rt.write(fit.layer.out.grad!, dy);
  const fwd = new CommandList('fwd');
  fit.layer.recordForward(fwd);
  const bwd = new CommandList('bwd');
  bwd.push(fit.packs.trainable.zeroGradOp());
  fit.layer.recordBackward(bwd);
  rt.submit([fwd, bwd]);
}

/** Forward lists without and with the adapter (the layer reads its hook at record time). */
export function recordBaseAndAdapted(fit: LinearFit): { base: CommandList; adapted: CommandList } {
  const base = new CommandList('base');
  const hook = fit.layer.adapter;
  fit.layer.adapter = null;
  fit.layer.recordForward(base);
  fit.layer.adapter = hook;
  const adapted = new CommandList('adapted');
  fit.layer.recordForward(adapted);
  return { base, adapted };
}

/**
 * Runs the base forward, reads its output, clears the output buffer (the adapted run must
 * rewrite it), runs the adapted forward and reads that: the two outputs, and the lists for reuse.
 */
export async function baseAndAdaptedOutputs(rt: GpuRuntime, fit: LinearFit): Promise<{ yBase: Float32Array; yAdapted: Float32Array; base: CommandList; adapted: CommandList }> {
  const { base, adapted } = recordBaseAndAdapted(fit);
  rt.submit([base]);
  const yBase = await rt.read(fit.layer.out.value);
  rt.write(fit.layer.out.value, new Float32Array(yBase.length));
  rt.submit([adapted]);
  return { yBase, yAdapted: await rt.read(fit.layer.out.value), base, adapted };
}

/** A Linear site for config validation only (validate reads the layer's opts and adapter). */
export function stubLinearSite(inDim: number, outDim: number): AdapterSite {
  return { kind: 'linear', path: 'p', layer: { opts: { inDim, outDim }, adapter: null } as never, rows: 2 };
}

/** The field named by the ConfigError `f` throws, or 'no error'; any other error is rethrown. */
export function configErrorField(f: () => void): string {
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError) return e.field;
    throw e;
  }
  return 'no error';
}
