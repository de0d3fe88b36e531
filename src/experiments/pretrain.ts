/**
 * Pre-training the shipped base models with fixed seeds (`npm run cli -- pretrain <kind>`): each
 * recipe trains a task's model on the Node WebGPU adapter and returns its parameters as
 * safetensors (no optimizer state) with metadata — model kind, task config JSON, steps,
 * learning-rate schedule, seconds taken, the last training metrics, test-split metrics, and the
 * metrics of a small fixed check subset (which the tests reproduce from the shipped file).
 *
 *  - vae: the transformer VAE, denoising digits 5–9 → public/checkpoints/mnist-vae-5to9.safetensors
 *  - classifier: the MLP digit classifier on all digits → public/checkpoints/digit-classifier.safetensors
 *  - cnn: the CNN digit classifier on all digits (the second judge) → public/checkpoints/digit-cnn.safetensors
 *  - vae-cls: the bottleneck (CLS) VAE of the atoms "8 → 3" experiment (./pretrain-vae-cls.ts) → public/checkpoints/mnist-vae-5to9-cls.safetensors
 *  - digits: the patch-transformer classifier on upright digits, STAN's frozen base → public/checkpoints/digit-transformer.safetensors
 * `quick` trains a few steps (smoke test) and evaluates only the check subset.
 */
import type { MetricRow } from '../engine/metric-ring';
import type { ParamRef } from '../engine/param-pack';
import type { GpuRuntime } from '../engine/runtime';
import type { MnistSet } from '../data/mnist';
import { loadBaseCheckpoint, saveBaseCheckpoint } from '../io/base-checkpoint';
import { parseSafetensors } from '../io/safetensors';
import { CLASSIFIER_CHECKPOINT_MODEL } from '../models/digit-classifier';
import { CNN_CHECKPOINT_MODEL, DIGIT_CNN_BASE_CONFIG } from '../models/digit-cnn';
import { VAE_CHECKPOINT_MODEL } from '../models/vae';
import { CLASSIFIER_CHECK_IMAGES, buildDigitClassifierTask, DIGIT_CLASSIFIER_DEFAULTS } from '../tasks/digit-classifier';
import { buildDigitsTask, DIGIT_VIEWS, DIGITS_CHECK_IMAGES, DIGITS_CHECKPOINT_FILE, DIGITS_CHECKPOINT_MODEL, DIGITS_DEFAULTS, type DigitsEval } from '../tasks/digits';
import { buildMnistVaeTask, MNIST_VAE_DEFAULTS, VAE_CHECK_IMAGES } from '../tasks/mnist-vae';
import type { LrSchedule } from '../train/schedule';
import { Trainer, type TrainGraph } from '../train/trainer';

export interface PretrainOptions {
  steps: number;
  lr: number;
  seed: number;
  /** Evaluate only the check subset (smoke runs). */
  quick: boolean;
  /** Progress callback (steps done, last metric row). */
  onProgress?: (done: number, last: MetricRow | null) => void;
  /**
   * Weights of this recipe trained elsewhere (the PyTorch replicas in scripts/torch/, with the
   * engine's parameter names and a `trained_by` metadata field): loaded instead of training, then
   * evaluated by the engine like a trained model. Supported by the CLS VAE and the classifiers.
   */
  weights?: Uint8Array;
}

/** Metadata fields of an imported weights file that describe its training run (carried into the checkpoint). */
export const IMPORTED_RUN_FIELDS = ['trained_by', 'steps', 'lr', 'schedule', 'seconds', 'train_final', 'torch_args'] as const;

/**
 * Loads imported weights into `params` (every name and shape must fit) and returns the run fields
 * of the checkpoint metadata from the file's own (steps, lr, schedule, seconds … of the run that
 * trained them, and `trained_by`). Throws when the file does not say how it was trained.
 */
export function importWeights(bytes: Uint8Array, params: readonly ParamRef[]): Record<string, string> {
  const meta = loadBaseCheckpoint(bytes, params);
  if (!meta.trained_by) throw new Error("--weights: the file has no 'trained_by' metadata; export it with scripts/torch/ (it records how the weights were trained)");
  const out: Record<string, string> = {};
  for (const k of IMPORTED_RUN_FIELDS) if (meta[k] !== undefined) out[k] = meta[k]!;
  return out;
}

/**
 * The exporter's own outputs on fixed inputs (metadata `torch_check`: { z, images }, flattened)
 * against the engine's on the same inputs: the largest absolute difference, or null when the
 * file carries no check. `run` maps the inputs to the engine's outputs.
 */
export async function importFidelity(bytes: Uint8Array, run: (z: Float32Array) => Promise<Float32Array>): Promise<{ maxAbsDiff: number; values: number } | null> {
  const meta = parseSafetensors(bytes).metadata;
  if (!meta.torch_check) return null;
  const c = JSON.parse(meta.torch_check) as { z: number[]; images: number[] };
  const got = await run(Float32Array.from(c.z));
  if (got.length < c.images.length) throw new Error(`import check: the engine returned ${got.length} values for ${c.images.length}`);
  let max = 0;
  for (let i = 0; i < c.images.length; i++) max = Math.max(max, Math.abs(got[i]! - c.images[i]!));
  return { maxAbsDiff: max, values: c.images.length };
}

export interface PretrainResult {
  bytes: Uint8Array;
  metadata: Record<string, string>;
}

export interface PretrainRun {
  rows: MetricRow[];
  seconds: number;
  trainer: Trainer;
  schedule: LrSchedule;
}

/** Trains `o.steps` steps (metrics every 10), waits for the GPU, and times the whole run. */
export async function runPretraining(rt: GpuRuntime, graph: TrainGraph, o: PretrainOptions, schedule: LrSchedule): Promise<PretrainRun> {
  const rows: MetricRow[] = [];
  const trainer = new Trainer(rt, graph, { lr: o.lr, schedule, metricInterval: 10, onMetrics: (r) => rows.push(...r) });
  const t0 = performance.now();
  await trainer.run(o.steps, { onStep: (s) => o.onProgress?.(s, rows[rows.length - 1] ?? null) });
  await trainer.drain();
  await rt.idle();
  return { rows, seconds: (performance.now() - t0) / 1000, trainer, schedule };
}

export function meanOf(rows: MetricRow[], field: string): number {
  return rows.length ? rows.reduce((a, r) => a + r.values[field]!, 0) / rows.length : NaN;
}

export const round = (v: number, d = 5) => Number(v.toPrecision(d));
/** `o` with every number rounded to 5 significant digits (for readable metadata). */
export function rounded<T extends object>(o: T): T {
  return JSON.parse(JSON.stringify(o, (_, v) => (typeof v === 'number' ? round(v) : v))) as T;
}

/** The run's fields of a base checkpoint's metadata: steps, lr, schedule, seconds, final training metrics. */
export function runMetadata(run: PretrainRun, o: PretrainOptions, trainFinal: object): Record<string, string> {
  return {
    steps: String(run.trainer.step),
    lr: String(o.lr),
    schedule: JSON.stringify(run.schedule),
    seconds: run.seconds.toFixed(1),
    train_final: JSON.stringify(rounded(trainFinal)),
  };
}

/** Where it ran and how big the model is. */
export function provenanceMetadata(rt: GpuRuntime, params: readonly ParamRef[]): Record<string, string> {
  return {
    adapter: `${rt.ctx.info.vendor} ${rt.ctx.info.architecture} ${rt.ctx.info.description}`.trim(),
    parameters: String(params.reduce((a, p) => a + p.size, 0)),
  };
}

export const PRETRAIN_RECIPES = {
  vae: { steps: 600, quickSteps: 20, lr: 2e-3, warmup: 30, file: 'mnist-vae-5to9.safetensors' },
  classifier: { steps: 2000, quickSteps: 40, lr: 2e-3, warmup: 50, file: 'digit-classifier.safetensors' },
  cnn: { steps: 1200, quickSteps: 20, lr: 2e-3, warmup: 50, file: 'digit-cnn.safetensors' },
  'vae-cls': { steps: 1620, quickSteps: 20, lr: 1e-3, warmup: 30, file: 'mnist-vae-5to9-cls.safetensors' },
  digits: { steps: 1500, quickSteps: 20, lr: 2e-3, warmup: 50, file: DIGITS_CHECKPOINT_FILE },
} as const;

export type PretrainKind = keyof typeof PRETRAIN_RECIPES;

export async function pretrainVae(rt: GpuRuntime, mnist: MnistSet, o: PretrainOptions): Promise<PretrainResult> {
  const cfg = { ...MNIST_VAE_DEFAULTS, seed: o.seed };
  const task = buildMnistVaeTask(rt, mnist, cfg);
  const schedule: LrSchedule = { kind: 'cosine', warmupSteps: Math.min(PRETRAIN_RECIPES.vae.warmup, Math.floor(o.steps / 5)), totalSteps: o.steps, minRatio: 0.05 };
  const run = await runPretraining(rt, task.graph, o, schedule);
  const { rows, trainer } = run;
  const last = rows.slice(-20);
  const trainFinal = { loss: meanOf(last, 'loss'), rec: meanOf(last, 'rec'), kl: meanOf(last, 'kl'), steps: `${last[0]?.step ?? 0}-${last[last.length - 1]?.step ?? 0}` };
  const checkIdx = task.testIndices.slice(0, VAE_CHECK_IMAGES);
  const check = await task.evaluate(checkIdx);
  const test = o.quick ? check : await task.evaluate();
  const metadata: Record<string, string> = {
    model: VAE_CHECKPOINT_MODEL,
    config: JSON.stringify(cfg),
    ...runMetadata(run, o, trainFinal),
    test: JSON.stringify(rounded(test)),
    check: JSON.stringify(rounded({ ...check, subset: `first ${VAE_CHECK_IMAGES} test images of digits ${cfg.digits.join(',')}` })),
    ...provenanceMetadata(rt, task.vae.parameters()),
  };
  const bytes = await saveBaseCheckpoint(task.vae.parameters(), metadata);
  trainer.destroy();
  task.destroy();
  return { bytes, metadata };
}

/** The MLP (default) or the CNN digit classifier on all ten digits: same data, shifts, loss and schedule. */
export async function pretrainClassifier(rt: GpuRuntime, mnist: MnistSet, o: PretrainOptions, kind: 'classifier' | 'cnn' = 'classifier'): Promise<PretrainResult> {
  const cfg = { ...DIGIT_CLASSIFIER_DEFAULTS, ...(kind === 'cnn' ? { model: DIGIT_CNN_BASE_CONFIG } : {}), seed: o.seed };
  const task = buildDigitClassifierTask(rt, mnist, cfg);
  let runFields: Record<string, string>;
  let trainer: Trainer | null = null;
  if (o.weights) runFields = importWeights(o.weights, task.model.parameters());
  else {
    const schedule: LrSchedule = { kind: 'cosine', warmupSteps: Math.min(PRETRAIN_RECIPES[kind].warmup, Math.floor(o.steps / 5)), totalSteps: o.steps, minRatio: 0.02 };
    const run = await runPretraining(rt, task.graph, o, schedule);
    trainer = run.trainer;
    const last = run.rows.slice(-50);
    runFields = runMetadata(run, o, { loss: meanOf(last, 'loss'), accuracy: meanOf(last, 'accuracy') });
  }
  const check = await task.evaluate(task.testIndices.slice(0, CLASSIFIER_CHECK_IMAGES));
  const test = o.quick ? check : await task.evaluate();
  const metadata: Record<string, string> = {
    model: kind === 'cnn' ? CNN_CHECKPOINT_MODEL : CLASSIFIER_CHECKPOINT_MODEL,
    config: JSON.stringify(cfg),
    ...runFields,
    test: JSON.stringify(rounded({ images: test.images, accuracy: test.accuracy, perDigit: test.perDigit, counts: test.counts })),
    check: JSON.stringify(rounded({ images: check.images, accuracy: check.accuracy, subset: `first ${CLASSIFIER_CHECK_IMAGES} images of the test split` })),
    ...provenanceMetadata(rt, task.model.parameters()),
  };
  const bytes = await saveBaseCheckpoint(task.model.parameters(), metadata);
  trainer?.destroy();
  task.destroy();
  return { bytes, metadata };
}

export interface DigitsPretrainOptions extends PretrainOptions {
  warmup?: number;
}

const digitsSummary = (e: DigitsEval) => ({ images: e.images, accuracy: round(e.accuracy), loss: round(e.loss) });

export async function pretrainDigits(rt: GpuRuntime, mnist: MnistSet, o: DigitsPretrainOptions): Promise<{ bytes: Uint8Array; metadata: Record<string, string> }> {
  const cfg = { ...DIGITS_DEFAULTS, seed: o.seed };
  const task = buildDigitsTask(rt, mnist, cfg);
  const schedule: LrSchedule = { kind: 'cosine', warmupSteps: Math.min(o.warmup ?? 50, Math.floor(o.steps / 5)), totalSteps: o.steps, minRatio: 0.02 };
  const run = await runPretraining(rt, task.graph, o, schedule);
  const last = run.rows.slice(-50);
  const check = await task.evaluate('upright', task.testIndices.slice(0, DIGITS_CHECK_IMAGES));
  const test: Record<string, ReturnType<typeof digitsSummary>> = {};
  if (!o.quick) for (const v of DIGIT_VIEWS) test[v] = digitsSummary(await task.evaluate(v));
  const metadata: Record<string, string> = {
    model: DIGITS_CHECKPOINT_MODEL,
    config: JSON.stringify(cfg),
    ...runMetadata(run, o, { loss: meanOf(last, 'loss'), accuracy: meanOf(last, 'accuracy') }),
    test: JSON.stringify(o.quick ? { upright: digitsSummary(check) } : test),
    check: JSON.stringify({ ...digitsSummary(check), subset: `first ${DIGITS_CHECK_IMAGES} images of the test split, upright` }),
    ...provenanceMetadata(rt, task.model.parameters()),
  };
  const bytes = await task.saveBase(metadata);
  run.trainer.destroy();
  task.destroy();
  return { bytes, metadata };
}
