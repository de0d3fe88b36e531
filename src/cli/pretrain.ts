/**
 * `npm run cli -- pretrain <vae|classifier|digits>`: parses the options and runs a recipe of
 * src/experiments/pretrain.ts with a progress bar, then writes the checkpoint and prints its
 * recorded metrics. --quick trains a few steps and, without --out, writes to the temp folder.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import type { MetricRow } from '../engine/metric-ring';
import { acquireNodeGpu } from '../engine/node-gpu';
import { GpuRuntime } from '../engine/runtime';
import { loadMnistNode } from '../data/mnist-node';
import { pretrainClassifier, pretrainDigits, pretrainVae, PRETRAIN_RECIPES, type PretrainKind } from '../experiments/pretrain';
import { pretrainVaeCls } from '../experiments/pretrain-vae-cls';
import { ProgressBar } from './progress';

export const PRETRAIN_USAGE = `pretrain <vae|vae-cls|classifier|cnn|digits> [--quick] [--steps N] [--lr X] [--seed S] [--out file.safetensors] [--weights file.safetensors]
    Train a base model with a fixed seed and write it as safetensors with metadata
    (vae: denoising VAE on digits 5-9 -> public/checkpoints/mnist-vae-5to9.safetensors;
     vae-cls: the bottleneck (CLS) VAE of the 8->3 experiment, 1,620 steps x 16 = 6.7 epochs (--steps 4860: the paper's 20) -> public/checkpoints/mnist-vae-5to9-cls.safetensors;
     classifier: MLP on all digits -> public/checkpoints/digit-classifier.safetensors;
     cnn: CNN on all digits, the second judge -> public/checkpoints/digit-cnn.safetensors;
     digits: patch transformer on upright digits, STAN's frozen base -> public/checkpoints/digit-transformer.safetensors).
    --weights (vae-cls, classifier, cnn): load weights of the recipe trained elsewhere (scripts/torch/) instead of
    training, evaluate them on the engine and write the checkpoint (the file's run metadata is kept).`;

export async function pretrainCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      steps: { type: 'string' },
      lr: { type: 'string' },
      seed: { type: 'string', default: '1' },
      out: { type: 'string' },
      weights: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  const kind = positionals[0];
  const kinds = Object.keys(PRETRAIN_RECIPES) as PretrainKind[];
  if (positionals.length !== 1 || !kinds.includes(kind as PretrainKind)) throw new Error(`pretrain needs exactly one of ${kinds.map((k) => `'${k}'`).join(', ')}\n\nusage: ${PRETRAIN_USAGE}`);
  const recipe = PRETRAIN_RECIPES[kind as PretrainKind];
  if (values.weights !== undefined && kind !== 'vae-cls' && kind !== 'classifier' && kind !== 'cnn') throw new Error(`--weights is supported by vae-cls, classifier and cnn, not '${kind}'`);
  const weights = values.weights !== undefined ? new Uint8Array(readFileSync(values.weights)) : undefined;
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
    const extra = !v ? '' : kind === 'vae' || kind === 'vae-cls' ? `loss ${v.loss!.toFixed(1)} rec ${v.rec!.toFixed(1)} kl ${v.kl!.toFixed(1)}` : `loss ${v.loss!.toFixed(3)} acc ${v.accuracy!.toFixed(3)}`;
    bar.update(done, extra);
  };
  const o = { steps, lr, seed, quick: values.quick ?? false, onProgress, weights };
  const { bytes, metadata } =
    kind === 'vae' ? await pretrainVae(rt, mnist, o)
    : kind === 'vae-cls' ? await pretrainVaeCls(rt, mnist, o)
    : kind === 'digits' ? await pretrainDigits(rt, mnist, o)
    : await pretrainClassifier(rt, mnist, o, kind as 'classifier' | 'cnn');
  bar.done();
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, bytes);
  console.log(`${kind}: ${metadata.steps} steps in ${metadata.seconds} s (${metadata.parameters} parameters)${metadata.trained_by ? `, trained by ${metadata.trained_by}` : ''}`);
  console.log(`  train (last steps): ${metadata.train_final}`);
  console.log(`  test: ${metadata.test}`);
  console.log(`  check subset: ${metadata.check}`);
  console.log(`saved ${out} (${(bytes.length / 1024).toFixed(0)} KiB)`);
  rt.destroy();
  return 0;
}
