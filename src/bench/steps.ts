/**
 * Whole training steps for the benchmark (Node `npm run bench` and the page's "Benchmark this
 * GPU"): the step cases, one place, and the steady-state measurement.
 *
 *  - regression-small / regression-medium: the synthetic-regression transformer (medium: 4 heads).
 *  - fourier-atoms: the atoms paper's App. C.1 toy at bench size — batch 32, sequence 64, dim 128,
 *    a frozen single-head attention block (W_q, W_k, W_v and the block's own W_o, which the
 *    paper's O = A·X·W_v does not have; the peers' versions in bench/peers/ include W_o too, so
 *    all compare the same work), the atoms adapter (M = 128, top-8 by |value|, paper form, W_s
 *    and D trained), the output summed over features to one value per token, MSE, Adam. The
 *    frozen block's own backward is not recorded (nothing upstream needs it), as an autodiff
 *    framework also skips it.
 *  - stan-linear: 2048 rows, frozen Linear 128→128 (+ bias), STAN l = 512 (expansion 4), k = 16
 *    (signed top-k), MSE, Adam.
 *  - mnist-vae-finetune: the atoms "8 → 3" fine-tune step — the transformer VAE (batch 32, 16
 *    patches of 7×7, dim 128, 4 heads, 2 + 2 layers) frozen, an atoms adapter (M = 100, top-10)
 *    on each decoder attention block. Synthetic pixels stand in for MNIST (the time does not
 *    depend on them), so the case runs anywhere.
 */
import { ATOMS_DEFAULTS, AtomsAdapter, atomsAdapter } from '../adapters/atoms';
import { stanAdapter } from '../adapters/stan';
import type { MnistSet } from '../data/mnist';
import type { GpuRuntime } from '../engine/runtime';
import { setAttentionPathDefault } from '../kernels/attention';
import { VAE_BASE_CONFIG } from '../models/vae';
import { buildAttentionFit, fourierData } from '../tasks/attention-fit';
import { buildLinearFit } from '../tasks/linear-fit';
import { buildMnistVaeTask, MNIST_VAE_DEFAULTS } from '../tasks/mnist-vae';
import { buildSyntheticRegression, SMALL_REGRESSION } from '../tasks/synthetic-regression';
import { Trainer, type TrainGraph } from '../train/trainer';
import type { TrainStepRow } from './types';

export const FOURIER_ATOMS = { batch: 32, seq: 64, dim: 128, heads: 1, atoms: 128, k: 8 } as const;
export const STAN_LINEAR = { rows: 2048, n: 128, m: 128, l: 512, k: 16 } as const;
export const VAE_FINETUNE = { atoms: 100, k: 10, batch: 32 } as const;

export interface StepCase {
  id: string;
  name: string;
  build(rt: GpuRuntime): { graph: TrainGraph; destroy(): void };
}

function syntheticMnist(count: number, label: number): MnistSet {
  const pixels = new Float32Array(count * 784);
  let s = 7;
  for (let i = 0; i < pixels.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    pixels[i] = (s >>> 8) / 16777216;
  }
  return { count, labels: new Uint8Array(count).fill(label), pixels };
}

export const STEP_CASES: StepCase[] = [
  {
    id: 'regression-small',
    name: 'regression-small (b8 s8 d32 L1)',
    build: (rt) => buildSyntheticRegression(rt, SMALL_REGRESSION),
  },
  {
    id: 'regression-medium',
    name: 'regression-medium (b32 s32 d128 h4 L2)',
    build: (rt) => buildSyntheticRegression(rt, { batch: 32, seq: 32, inDim: 8, outDim: 4, dim: 128, heads: 4, layers: 2, samples: 256, seed: 1 }),
  },
  {
    id: 'fourier-atoms',
    name: `fourier-atoms (b${FOURIER_ATOMS.batch} s${FOURIER_ATOMS.seq} d${FOURIER_ATOMS.dim} h${FOURIER_ATOMS.heads}, W_q/k/v/o frozen, atoms M${FOURIER_ATOMS.atoms} top-${FOURIER_ATOMS.k}, row-sum MSE)`,
    build: (rt) => {
      const s = FOURIER_ATOMS;
      return buildAttentionFit(rt, atomsAdapter, { ...ATOMS_DEFAULTS, atoms: s.atoms, k: s.k, sigma: 'topk', form: 'paper', train: 'both' }, {
        batch: s.batch,
        seq: s.seq,
        dim: s.dim,
        heads: s.heads,
        readout: 'rowsum',
        seed: 1,
        data: fourierData({ samples: 4 * s.batch, observed: 16, seed: 1 }),
      });
    },
  },
  {
    id: 'stan-linear',
    name: `stan-linear (${STAN_LINEAR.rows} rows, frozen Linear ${STAN_LINEAR.n}→${STAN_LINEAR.m}, STAN l=${STAN_LINEAR.l} k=${STAN_LINEAR.k}, MSE, Adam)`,
    build: (rt) => {
      const s = STAN_LINEAR;
      return buildLinearFit(rt, stanAdapter, { expansion: s.l / s.n, k: s.k, topk: 'signed' }, { rows: s.rows, inDim: s.n, outDim: s.m, seed: 1 });
    },
  },
  {
    id: 'mnist-vae-finetune',
    name: `mnist-vae-finetune (VAE b${VAE_FINETUNE.batch} d128 h4 2+2 layers frozen, atoms M${VAE_FINETUNE.atoms} top-${VAE_FINETUNE.k} per decoder block)`,
    build: (rt) => {
      const adapters: AtomsAdapter[] = [];
      const cfg = { atoms: VAE_FINETUNE.atoms, sigma: 'topk' as const, lambda: 0, k: VAE_FINETUNE.k, form: 'paper' as const, train: 'both' as const, l1: 0 };
      const task = buildMnistVaeTask(
        rt,
        syntheticMnist(400, 3),
        { ...MNIST_VAE_DEFAULTS, digits: [3], klFreeSteps: 0, klWarmupSteps: 0, model: { ...VAE_BASE_CONFIG, batch: VAE_FINETUNE.batch, frozen: true } },
        {
          initOutputBias: false,
          configure: (ctx, vae) => {
            for (const site of vae.decoderAttentionSites()) if (site.kind === 'attention-output') adapters.push(new AtomsAdapter(ctx, site, cfg));
          },
        },
      );
      return {
        graph: task.graph,
        destroy: () => {
          for (const a of adapters) a.destroy();
          task.destroy();
        },
      };
    },
  },
];

/**
 * The same model recorded with the per-row attention kernels for every attention ('rows'), i.e.
 * what multi-head models ran before the batched multi-head matmul path: the "before" rows of the
 * bench's before/after, measured in the same run. Id `<id>@rows`.
 */
function withRowsAttention(c: StepCase): StepCase {
  return {
    id: `${c.id}@rows`,
    name: `${c.name} — before: per-row attention kernels`,
    build: (rt) => {
      const old = setAttentionPathDefault('rows');
      try {
        return c.build(rt);
      } finally {
        setAttentionPathDefault(old);
      }
    },
  };
}

for (const id of ['regression-medium', 'mnist-vae-finetune']) STEP_CASES.push(withRowsAttention(STEP_CASES.find((c) => c.id === id)!));

/**
 * Steady-state ms per training step of `graph` (after a warm-up window), with the step's
 * dispatch/submit/readback counts and per-step creations (all expected 0 but dispatches/submits).
 */
export async function measureTrainStep(rt: GpuRuntime, graph: TrainGraph, model: string, opts: { quick: boolean; windows?: number; signal?: AbortSignal }, extra: Record<string, unknown> = {}): Promise<TrainStepRow> {
  const interval = 10;
  const trainer = new Trainer(rt, graph, { lr: 1e-3, metricInterval: interval });
  try {
    await trainer.run(interval); // warm-up: pipelines, first metric flush
    await trainer.drain();
    const steps = opts.quick ? interval : (opts.windows ?? 3) * interval;
    const before = rt.counters;
    const t0 = performance.now();
    await trainer.run(steps, opts.signal ? { signal: opts.signal } : {});
    await rt.idle();
    const ms = (performance.now() - t0) / steps;
    await trainer.drain();
    const after = rt.counters;
    const c = trainer.lastStepCounters!;
    return {
      model,
      ms,
      dispatches: c.dispatches,
      submits: c.submits,
      readbacks: c.readbacks,
      metricReadbacksPerStep: (after.metricReadbacks - before.metricReadbacks) / steps,
      buffersCreatedPerStep: (after.buffers - before.buffers) / steps,
      pipelinesCreatedPerStep: (after.pipelines - before.pipelines) / steps,
      ...extra,
    };
  } finally {
    trainer.destroy();
  }
}

export async function benchStepCase(rt: GpuRuntime, c: StepCase, opts: { quick: boolean; signal?: AbortSignal }): Promise<TrainStepRow> {
  const built = c.build(rt);
  try {
    // The "before" cases (per-row attention) are slow (1.5–2 s a step on an idle SwiftShader
    // machine): one window of 10 steps averages enough.
    return await measureTrainStep(rt, built.graph, c.name, { ...opts, windows: c.id === 'regression-small' ? 5 : c.id.endsWith('@rows') ? 1 : 3 }, { id: c.id });
  } finally {
    built.destroy();
  }
}
