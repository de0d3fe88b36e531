/**
 * The bottleneck VAE base of the atoms "8 → 3" experiment (issue 13): the paper's shape (App. B:
 * 7×7 patches, 2 + 2 layers, dim 128, 4 heads, latent 32, Adam lr 1e-3, 20 epochs) with a CLS
 * token read by the μ/logσ² heads, MLP ratio 4 and denoising noise σ = 0.5, trained on digits
 * 5–9 of the fixed split → public/checkpoints/mnist-vae-5to9-cls.safetensors.
 *
 * Why a bottleneck: the older base (`mnist-vae-5to9.safetensors`, heads on all 16 × 128 token
 * features) keeps an unseen digit in its own region of latent space and redraws 84 % of noisy
 * 3s as "3" — the atoms then only polish. Reading one 128-wide CLS vector forces the encoder to
 * describe a digit in terms of what it was trained on, so a 3 lands among 5s and 8s and the
 * decoder draws one of those: the paper's "the same noisy latent decodes to an 8".
 *
 * What we keep from the older base, because it prevents posterior collapse (docs/base-models.md):
 * the output bias initialised to the logit of the training mean image (zero-initialised head),
 * and a KL warm-up (β = 0 for 50 steps, then a linear ramp to 1 over 200). Optimiser: Adam
 * (no weight decay, no clipping), lr 1e-3 constant after a 30-step linear warm-up (the paper gives
 * only "Adam, 1e-3, 20 epochs"; the warm-up is ours), batch 32: 20 epochs of the 3,894 training
 * images = 20 × 121 = 2,420 steps (the ragged tail of an epoch is skipped).
 */
import type { GpuRuntime } from '../engine/runtime';
import { VAE_BASE_CONFIG, VAE_CHECKPOINT_MODEL, type VaeConfig } from '../models/vae';
import type { MnistSet } from '../data/mnist';
import { buildMnistVaeTask, MNIST_VAE_DEFAULTS, VAE_CHECK_IMAGES, type MnistVaeTask, type MnistVaeTaskConfig } from '../tasks/mnist-vae';
import { saveBaseCheckpoint } from '../io/base-checkpoint';
import { meanOf, provenanceMetadata, rounded, runMetadata, type PretrainOptions, type PretrainResult, type PretrainRun } from './pretrain';
import type { LrSchedule } from '../train/schedule';
import { Trainer } from '../train/trainer';

export const VAE_CLS_FILE = 'mnist-vae-5to9-cls.safetensors';

/** The model: the paper's shape, CLS pooling, MLP ratio 4, batch 16, σ₀ = e⁻² (logσ² bias −4). */
export const VAE_CLS_CONFIG: VaeConfig = { ...VAE_BASE_CONFIG, batch: 16, mlpRatio: 4, pool: 'cls', logvarInit: -4 };

/** The pre-training task: digits 5–9, noise σ = 0.5, β = 0 for 800 steps then a ramp to 1 over 800, seed 1. */
export const VAE_CLS_TASK: MnistVaeTaskConfig = { ...MNIST_VAE_DEFAULTS, model: VAE_CLS_CONFIG, noise: { kind: 'gaussian', sigma: 0.5 }, klFreeSteps: 800, klWarmupSteps: 800, seed: 1 };

export const VAE_CLS_RECIPE = { epochs: 20, quickSteps: 20, lr: 1e-3, warmup: 30 } as const;

/** Steps of `epochs` epochs of the task's training subset (121 per epoch at batch 32). */
export function vaeClsSteps(task: MnistVaeTask, epochs: number = VAE_CLS_RECIPE.epochs): number {
  return epochs * task.batchesPerEpoch;
}

export interface VaeClsPretrainOptions extends PretrainOptions {
  /** Training in segments of this many steps, calling `onSegment` after each (monitoring; it must not change the model). */
  segment?: number;
  onSegment?: (task: MnistVaeTask, step: number) => Promise<void>;
  /** Overrides of the task config (variants; the shipped base uses none). */
  task?: Partial<MnistVaeTaskConfig>;
}

/** Trains the CLS base (o.steps, or 20 epochs when o.steps is 0) and returns the checkpoint bytes and metadata. */
export async function pretrainVaeCls(rt: GpuRuntime, mnist: MnistSet, o: VaeClsPretrainOptions): Promise<PretrainResult> {
  const cfg: MnistVaeTaskConfig = { ...VAE_CLS_TASK, ...o.task, seed: o.seed };
  const task = buildMnistVaeTask(rt, mnist, cfg);
  const steps = o.steps > 0 ? o.steps : vaeClsSteps(task);
  const schedule: LrSchedule = { kind: 'constant', warmupSteps: Math.min(VAE_CLS_RECIPE.warmup, Math.floor(steps / 5)), totalSteps: steps };
  const rows: PretrainRun['rows'] = [];
  const trainer = new Trainer(rt, task.graph, { lr: o.lr, schedule, metricInterval: 10, onMetrics: (r) => rows.push(...r) });
  const segment = o.segment && o.segment > 0 ? o.segment : steps;
  let seconds = 0;
  while (trainer.step < steps) {
    const n = Math.min(segment, steps - trainer.step);
    const t0 = performance.now();
    await trainer.run(n, { onStep: (s) => o.onProgress?.(s, rows[rows.length - 1] ?? null) });
    await trainer.drain();
    await rt.idle();
    seconds += (performance.now() - t0) / 1000;
    if (o.onSegment) await o.onSegment(task, trainer.step);
  }
  const run: PretrainRun = { rows, seconds, trainer, schedule };
  const last = rows.slice(-20);
  const trainFinal = { loss: meanOf(last, 'loss'), rec: meanOf(last, 'rec'), kl: meanOf(last, 'kl'), steps: `${last[0]?.step ?? 0}-${last[last.length - 1]?.step ?? 0}` };
  const check = await task.evaluate(task.testIndices.slice(0, VAE_CHECK_IMAGES));
  const test = o.quick ? check : await task.evaluate();
  const metadata: Record<string, string> = {
    model: VAE_CHECKPOINT_MODEL,
    config: JSON.stringify(cfg),
    ...runMetadata(run, o, trainFinal),
    epochs: (steps / task.batchesPerEpoch).toFixed(2),
    test: JSON.stringify(rounded(test)),
    check: JSON.stringify(rounded({ ...check, subset: `first ${VAE_CHECK_IMAGES} test images of digits ${cfg.digits.join(',')}` })),
    ...provenanceMetadata(rt, task.vae.parameters()),
  };
  const bytes = await saveBaseCheckpoint(task.vae.parameters(), metadata);
  trainer.destroy();
  task.destroy();
  return { bytes, metadata };
}
