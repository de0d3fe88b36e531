/**
 * `npm run cli -- pretrain <vae|classifier>`: trains a base model with a fixed seed on the Node
 * WebGPU adapter and writes its parameters as safetensors (no optimizer state) with metadata:
 * model kind, task config JSON, steps, learning-rate schedule, seconds taken, the last training
 * metrics, test-split metrics, and the metrics of a small fixed check subset (which the tests
 * reproduce from the shipped file).
 *
 *  - vae: the transformer VAE, denoising digits 5–9 → public/checkpoints/mnist-vae-5to9.safetensors
 *  - classifier: the MLP digit classifier on all digits → public/checkpoints/digit-classifier.safetensors
 * --quick trains a few steps (smoke test), evaluates only the check subset and, without --out,
 * writes to the system temp folder.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import type { MetricRow } from '../engine/metric-ring';
import { acquireNodeGpu } from '../engine/node-gpu';
import { GpuRuntime } from '../engine/runtime';
import { CLASSIFIER_CHECKPOINT_MODEL } from '../models/digit-classifier';
import { VAE_CHECKPOINT_MODEL } from '../models/vae';
import { CLASSIFIER_CHECK_IMAGES, buildDigitClassifierTask, DIGIT_CLASSIFIER_DEFAULTS } from '../tasks/digit-classifier';
import type { MnistSet } from '../tasks/mnist-data';
import { loadMnistNode } from '../tasks/mnist-data-node';
import { buildMnistVaeTask, MNIST_VAE_DEFAULTS, VAE_CHECK_IMAGES } from '../tasks/mnist-vae';
import { pretrainDigits } from '../tasks/digits-pretrain';
import { DIGITS_CHECKPOINT_FILE } from '../tasks/digits';
import { saveBaseCheckpoint } from '../train/base-checkpoint';
import type { LrSchedule } from '../train/schedule';
import { meanOf, provenanceMetadata, rounded, runMetadata, runPretraining, type PretrainOptions, type PretrainResult } from '../train/pretrain-run';
import { ProgressBar } from './progress';

export const PRETRAIN_USAGE = `pretrain <vae|classifier|digits> [--quick] [--steps N] [--lr X] [--seed S] [--out file.safetensors]
    Train a base model with a fixed seed and write it as safetensors with metadata
    (vae: denoising VAE on digits 5-9 -> public/checkpoints/mnist-vae-5to9.safetensors;
     classifier: MLP on all digits -> public/checkpoints/digit-classifier.safetensors;
     digits: patch transformer on upright digits, STAN's frozen base -> public/checkpoints/digit-transformer.safetensors).`;

export const PRETRAIN_RECIPES = {
  vae: { steps: 600, quickSteps: 20, lr: 2e-3, warmup: 30, file: 'mnist-vae-5to9.safetensors' },
  classifier: { steps: 2000, quickSteps: 40, lr: 2e-3, warmup: 50, file: 'digit-classifier.safetensors' },
  digits: { steps: 1500, quickSteps: 20, lr: 2e-3, warmup: 50, file: DIGITS_CHECKPOINT_FILE },
} as const;

export type PretrainKind = keyof typeof PRETRAIN_RECIPES;
export type { PretrainOptions, PretrainResult };

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

export async function pretrainClassifier(rt: GpuRuntime, mnist: MnistSet, o: PretrainOptions): Promise<PretrainResult> {
  const cfg = { ...DIGIT_CLASSIFIER_DEFAULTS, seed: o.seed };
  const task = buildDigitClassifierTask(rt, mnist, cfg);
  const schedule: LrSchedule = { kind: 'cosine', warmupSteps: Math.min(PRETRAIN_RECIPES.classifier.warmup, Math.floor(o.steps / 5)), totalSteps: o.steps, minRatio: 0.02 };
  const run = await runPretraining(rt, task.graph, o, schedule);
  const { rows, trainer } = run;
  const last = rows.slice(-50);
  const trainFinal = { loss: meanOf(last, 'loss'), accuracy: meanOf(last, 'accuracy') };
  const check = await task.evaluate(task.testIndices.slice(0, CLASSIFIER_CHECK_IMAGES));
  const test = o.quick ? check : await task.evaluate();
  const metadata: Record<string, string> = {
    model: CLASSIFIER_CHECKPOINT_MODEL,
    config: JSON.stringify(cfg),
    ...runMetadata(run, o, trainFinal),
    test: JSON.stringify(rounded({ images: test.images, accuracy: test.accuracy, perDigit: test.perDigit, counts: test.counts })),
    check: JSON.stringify(rounded({ images: check.images, accuracy: check.accuracy, subset: `first ${CLASSIFIER_CHECK_IMAGES} images of the test split` })),
    ...provenanceMetadata(rt, task.model.parameters()),
  };
  const bytes = await saveBaseCheckpoint(task.model.parameters(), metadata);
  trainer.destroy();
  task.destroy();
  return { bytes, metadata };
}

export async function pretrainCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      steps: { type: 'string' },
      lr: { type: 'string' },
      seed: { type: 'string', default: '1' },
      out: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  const kind = positionals[0];
  if (positionals.length !== 1 || (kind !== 'vae' && kind !== 'classifier' && kind !== 'digits')) throw new Error(`pretrain needs exactly one of 'vae', 'classifier' or 'digits'\n\nusage: ${PRETRAIN_USAGE}`);
  const recipe = PRETRAIN_RECIPES[kind];
  const steps = values.steps !== undefined ? Number(values.steps) : values.quick ? recipe.quickSteps : recipe.steps;
  const lr = values.lr !== undefined ? Number(values.lr) : recipe.lr;
  const seed = Number(values.seed);
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`--steps must be a positive integer, got '${values.steps}'`);
  if (!(lr > 0)) throw new Error(`--lr must be a positive number, got '${values.lr}'`);
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`--seed must be a non-negative integer, got '${values.seed}'`);
  const out = values.out ?? (values.quick ? join(tmpdir(), `quick-${recipe.file}`) : join('public', 'checkpoints', recipe.file));

  const ctx = await acquireNodeGpu();
  const rt = new GpuRuntime(ctx);
  console.error(`adapter: ${ctx.info.vendor} ${ctx.info.architecture} ${ctx.info.description}`.trim());
  const mnist = loadMnistNode();
  const bar = new ProgressBar(steps, `pretrain ${kind}`);
  const onProgress = (done: number, last: MetricRow | null) => {
    const v = last?.values;
    const extra = !v ? '' : kind === 'vae' ? `loss ${v.loss!.toFixed(1)} rec ${v.rec!.toFixed(1)} kl ${v.kl!.toFixed(1)}` : `loss ${v.loss!.toFixed(3)} acc ${v.accuracy!.toFixed(3)}`;
    bar.update(done, extra);
  };
  const o = { steps, lr, seed, quick: values.quick ?? false, onProgress };
  const { bytes, metadata } = kind === 'vae' ? await pretrainVae(rt, mnist, o) : kind === 'digits' ? await pretrainDigits(rt, mnist, o) : await pretrainClassifier(rt, mnist, o);
  bar.done();
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, bytes);
  console.log(`${kind}: ${metadata.steps} steps in ${metadata.seconds} s (${metadata.parameters} parameters)`);
  console.log(`  train (last steps): ${metadata.train_final}`);
  console.log(`  test: ${metadata.test}`);
  console.log(`  check subset: ${metadata.check}`);
  console.log(`saved ${out} (${(bytes.length / 1024).toFixed(0)} KiB)`);
  rt.destroy();
  return 0;
}
