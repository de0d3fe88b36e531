/**
 * `npm run cli -- train`: trains the tiny transformer on the synthetic regression task on the
 * Node WebGPU adapter (Dawn; SwiftShader when there is no GPU), with a progress bar; optionally
 * resumes from and saves a safetensors checkpoint.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { acquireNodeGpu } from '../engine/node-gpu';
import { GpuRuntime } from '../engine/runtime';
import { buildSyntheticRegression, SMALL_REGRESSION, type SyntheticRegressionConfig } from '../tasks/synthetic-regression';
import { checkpointToSafetensors, safetensorsToCheckpoint } from '../io/checkpoint-io';
import { Trainer } from '../train/trainer';
import { ProgressBar } from './progress';

export const TRAIN_USAGE = `train [--steps N] [--lr X] [--seed S] [--size small|medium] [--load ckpt.safetensors] [--save ckpt.safetensors]
    Train the tiny transformer on the synthetic regression task on the Node WebGPU adapter.`;

const SIZES: Record<string, SyntheticRegressionConfig> = {
  small: SMALL_REGRESSION,
  medium: { batch: 32, seq: 32, inDim: 8, outDim: 4, dim: 128, heads: 4, layers: 2, samples: 512, seed: 1 },
};

export async function trainCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      steps: { type: 'string', default: '200' },
      lr: { type: 'string', default: '3e-3' },
      seed: { type: 'string', default: '1' },
      size: { type: 'string', default: 'small' },
      load: { type: 'string' },
      save: { type: 'string' },
      'metric-interval': { type: 'string', default: '10' },
    },
    strict: true,
  });
  const steps = Number(values.steps);
  const lr = Number(values.lr);
  const seed = Number(values.seed);
  const base = SIZES[values.size!];
  if (!base) throw new Error(`--size must be one of ${Object.keys(SIZES).join(', ')}`);
  if (!Number.isInteger(steps) || steps < 1) throw new Error('--steps must be a positive integer');
  if (!(lr > 0)) throw new Error('--lr must be a positive number');
  const cfg = { ...base, seed };

  const ctx = await acquireNodeGpu();
  const rt = new GpuRuntime(ctx);
  console.error(`adapter: ${ctx.info.vendor} ${ctx.info.architecture} ${ctx.info.description}`.trim());
  const task = buildSyntheticRegression(rt, cfg);
  const losses: { step: number; loss: number }[] = [];
  const trainer = new Trainer(rt, task.graph, {
    lr,
    schedule: { kind: 'cosine', warmupSteps: Math.min(20, Math.floor(steps / 10)), totalSteps: steps, minRatio: 0.1 },
    adamw: { clipNorm: 1 },
    metricInterval: Number(values['metric-interval']),
    onMetrics: (rows) => {
      for (const r of rows) losses.push({ step: r.step, loss: r.values.loss! });
    },
  });
  if (values.load) {
    const { checkpoint } = safetensorsToCheckpoint(new Uint8Array(readFileSync(values.load)), task.graph.packs);
    trainer.restore(checkpoint);
    console.error(`resumed from ${values.load} at step ${checkpoint.step}`);
  }
  const bar = new ProgressBar(steps, 'train');
  const startStep = trainer.step;
  const t0 = performance.now();
  await trainer.run(steps, {
    onStep: (s) => {
      const last = losses[losses.length - 1];
      bar.update(s - startStep, last ? `loss ${last.loss.toExponential(3)}` : '');
    },
  });
  await trainer.drain();
  const ms = performance.now() - t0;
  const first = losses[0]?.loss ?? NaN;
  const last = losses[losses.length - 1]?.loss ?? NaN;
  bar.done(`loss ${last.toExponential(3)}`);
  console.log(`steps ${steps}  loss ${first.toExponential(3)} → ${last.toExponential(3)} (${(first / last).toFixed(1)}× lower)  ${(ms / steps).toFixed(2)} ms/step`);
  const c = trainer.lastStepCounters!;
  console.log(`per step: ${c.dispatches} dispatches, ${c.submits} submit, ${c.readbacks} readbacks, ${c.buffers} buffers created`);
  if (values.save) {
    const ckpt = await trainer.checkpoint();
    writeFileSync(values.save, checkpointToSafetensors(ckpt, task.graph.packs, { task: 'synthetic-regression', config: JSON.stringify(cfg) }));
    console.log(`saved ${values.save}`);
  }
  trainer.destroy();
  task.destroy();
  rt.destroy();
  return 0;
}
