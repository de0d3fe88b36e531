/**
 * `fourier-atoms` train step: the paper's App. C.1 toy at bench size — batch 32, sequence 64,
 * dim 128, a frozen single-head MultiHeadAttention (W_q, W_k, W_v 128×128, plus the block's own
 * W_o, which the paper's single-head O = A·X·W_v does not have), the atoms adapter (M = 128 atoms,
 * top-k k = 8, paper form, W_s and D trained), the output summed over the feature dimension to
 * one value per token, MSE against the full signal, Adam (AdamW, weight decay 0).
 * Reports ms/step (steady state, metric flushes included), dispatches, submits, readbacks.
 * The frozen block's own backward is not recorded (nothing upstream needs its gradients; see
 * src/tasks/attention-fit.ts), as an autodiff framework would also skip it.
 */
import type { GpuRuntime } from '../src/engine/runtime';
import { ATOMS_DEFAULTS, atomsAdapter } from '../src/adapters/atoms';
import { buildAttentionFit, fourierData } from '../src/tasks/attention-fit';
import { measureTrainStep } from './train-steps';
import type { TrainStepRow } from './run';

export const FOURIER_ATOMS = { batch: 32, seq: 64, dim: 128, heads: 1, atoms: 128, k: 8 } as const;

export async function benchAtoms(rt: GpuRuntime, opts: { quick: boolean }): Promise<TrainStepRow[]> {
  const s = FOURIER_ATOMS;
  const task = buildAttentionFit(rt, atomsAdapter, { ...ATOMS_DEFAULTS, atoms: s.atoms, k: s.k, sigma: 'topk', form: 'paper', train: 'both' }, {
    batch: s.batch,
    seq: s.seq,
    dim: s.dim,
    heads: s.heads,
    readout: 'rowsum',
    seed: 1,
    data: fourierData({ samples: 4 * s.batch, observed: 16, seed: 1 }),
  });
  const row = await measureTrainStep(rt, task.graph, `fourier-atoms (b${s.batch} s${s.seq} d${s.dim} h${s.heads}, atoms M${s.atoms} top-${s.k}, row-sum MSE)`, opts, {
    // Not re-measured here: the figure the task was given for the same step in TF.js (WebGPU backend) on this adapter.
    tfjsReferenceMsPerStep: '1200–1400',
  });
  task.destroy();
  return [row];
}
