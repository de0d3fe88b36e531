/**
 * A small frozen TinyTransformer (seeded base) with adapters attached by spec, trained with MSE
 * on the synthetic-regression data. The batch for step s is a pure function of (seed, s), so a
 * resumed run sees the same batches. Used by the persistence tests (session files, adapter
 * export/import, NaN guard, device loss).
 */
import type { Adapter } from '../../src/adapters/adapter';
import { adapterMetrics, attachAdapters, baseParameters, recordAdaptersAfterOptimizer, type AdapterSpec } from '../../src/adapters/attach';
import { ParamPack } from '../../src/engine/param-pack';
import { Rng } from '../../src/engine/rng';
import type { GpuRuntime } from '../../src/engine/runtime';
import type { Tensor } from '../../src/engine/tensor';
import { tensorsFingerprint } from '../../src/io/fingerprint';
import type { BaseRef } from '../../src/io/session-file';
import { TinyTransformer, type TinyTransformerConfig } from '../../src/models/tiny-transformer';
import { makeRegressionData, recordMseLists, regressionBatchLoader, SMALL_REGRESSION } from '../../src/tasks/synthetic-regression';
import type { TrainGraph } from '../../src/train/trainer';

export const ADAPTED_CFG: TinyTransformerConfig = { inDim: 4, outDim: 2, dim: 16, heads: 2, layers: 1, seq: 4, batch: 4, frozen: true };

export interface AdaptedModel {
  model: TinyTransformer;
  adapters: Adapter[];
  trainable: ParamPack;
  frozen: ParamPack;
  graph: TrainGraph;
  target: Tensor;
  /** When set, loadBatch(step) writes NaN inputs for that step (once per value set). */
  poisonStep: number | null;
  /** The base reference (id + fingerprint of the frozen base parameters). */
  base(): Promise<BaseRef>;
  /** Forward on a fixed probe batch; returns the output [rows, outDim] (one readback). */
  probe(): Promise<Float32Array>;
  destroy(): void;
}

export function buildAdaptedModel(rt: GpuRuntime, spec: AdapterSpec, opts: { baseSeed?: number; dataSeed?: number; cfg?: Partial<TinyTransformerConfig> } = {}): AdaptedModel {
  const cfg = { ...ADAPTED_CFG, ...opts.cfg };
  const baseSeed = opts.baseSeed ?? 7;
  let adapters: Adapter[] = [];
  const { value, scope } = rt.scoped('adapted-model', () => {
    const trainable = new ParamPack(rt, 'adapters', true);
    const frozen = new ParamPack(rt, 'base', false);
    const ctx = { rt, trainable, frozen, rng: new Rng(baseSeed) };
    const model = new TinyTransformer(ctx, 'model', cfg);
    adapters = attachAdapters(ctx, model, spec);
    trainable.finalize();
    frozen.finalize();
    const rows = cfg.batch * cfg.seq;
    return { model, trainable, frozen, rows, ...recordMseLists(rt, model, rows, cfg.outDim) };
  });
  const { model, trainable, frozen, target, lossValue, forward, loss, backward, rows } = value;
  const dataSeed = opts.dataSeed ?? 3;
  const dataCfg = { ...SMALL_REGRESSION, ...cfg, samples: 32, seed: dataSeed };
  const data = makeRegressionData(dataCfg);
  const load = regressionBatchLoader(rt, data, dataCfg, model.input.value, target);
  const poison = new Float32Array(rows * cfg.inDim).fill(NaN);
  const built: AdaptedModel = {
    model,
    adapters,
    trainable,
    frozen,
    target,
    poisonStep: null,
    graph: {
      packs: [trainable],
      forward,
      loss,
      backward,
      lossValue,
      extraMetrics: adapterMetrics(adapters),
      recordAfterOptimizer: (list, sp) => recordAdaptersAfterOptimizer(adapters, list, sp),
      loadBatch(step) {
        load(step);
        if (step === built.poisonStep) rt.write(model.input.value, poison); // after the batch's input, in queue order
      },
    },
    async base() {
      const params = baseParameters(model);
      const all = await frozen.readAll();
      return { id: `seed:${baseSeed}`, hash: await tensorsFingerprint(params.map((p) => ({ name: p.name, shape: p.shape, data: all.get(p.name)! }))) };
    },
    async probe() {
      rt.write(model.input.value, data.x.subarray(0, rows * cfg.inDim));
      rt.submit([forward]);
      return rt.read(model.output.value);
    },
    destroy() {
      for (const a of adapters) a.destroy();
      scope.dispose();
    },
  };
  return built;
}
