/**
 * Pre-training the digit transformer (the frozen base of the STAN experiments) on upright digits
 * with a fixed seed: AdamW, cosine schedule, the task's deterministic batches. Used by
 * `npm run cli -- pretrain digits` and the tests. The checkpoint's metadata records the config,
 * steps, seconds, the last training metrics, test accuracy in every view, and the accuracy on a
 * fixed check subset (the first DIGITS_CHECK_IMAGES test images, upright) that tests reproduce.
 */
import type { MetricRow } from '../engine/metric-ring';
import type { GpuRuntime } from '../engine/runtime';
import type { LrSchedule } from '../train/schedule';
import { Trainer } from '../train/trainer';
import { buildDigitsTask, DIGIT_VIEWS, DIGITS_CHECK_IMAGES, DIGITS_CHECKPOINT_MODEL, DIGITS_DEFAULTS, type DigitsEval } from './digits';
import type { MnistSet } from './mnist-data';

export interface DigitsPretrainOptions {
  steps: number;
  lr: number;
  seed: number;
  /** Evaluate only the check subset (smoke runs). */
  quick: boolean;
  warmup?: number;
  onProgress?: (done: number, last: MetricRow | null) => void;
}

const round = (v: number, d = 5) => Number(v.toPrecision(d));
const summary = (e: DigitsEval) => ({ images: e.images, accuracy: round(e.accuracy), loss: round(e.loss) });

export async function pretrainDigits(rt: GpuRuntime, mnist: MnistSet, o: DigitsPretrainOptions): Promise<{ bytes: Uint8Array; metadata: Record<string, string> }> {
  const cfg = { ...DIGITS_DEFAULTS, seed: o.seed };
  const task = buildDigitsTask(rt, mnist, cfg);
  const schedule: LrSchedule = { kind: 'cosine', warmupSteps: Math.min(o.warmup ?? 50, Math.floor(o.steps / 5)), totalSteps: o.steps, minRatio: 0.02 };
  const rows: MetricRow[] = [];
  const trainer = new Trainer(rt, task.graph, { lr: o.lr, schedule, metricInterval: 10, onMetrics: (r) => rows.push(...r) });
  const t0 = performance.now();
  await trainer.run(o.steps, { onStep: (s) => o.onProgress?.(s, rows[rows.length - 1] ?? null) });
  await trainer.drain();
  await rt.idle();
  const seconds = (performance.now() - t0) / 1000;
  const last = rows.slice(-50);
  const mean = (f: string) => (last.length ? last.reduce((a, r) => a + r.values[f]!, 0) / last.length : NaN);
  const check = await task.evaluate('upright', task.testIndices.slice(0, DIGITS_CHECK_IMAGES));
  const test: Record<string, ReturnType<typeof summary>> = {};
  if (!o.quick) for (const v of DIGIT_VIEWS) test[v] = summary(await task.evaluate(v));
  const metadata: Record<string, string> = {
    model: DIGITS_CHECKPOINT_MODEL,
    config: JSON.stringify(cfg),
    steps: String(trainer.step),
    lr: String(o.lr),
    schedule: JSON.stringify(schedule),
    seconds: seconds.toFixed(1),
    train_final: JSON.stringify({ loss: round(mean('loss')), accuracy: round(mean('accuracy')) }),
    test: JSON.stringify(o.quick ? { upright: summary(check) } : test),
    check: JSON.stringify({ ...summary(check), subset: `first ${DIGITS_CHECK_IMAGES} images of the test split, upright` }),
    adapter: `${rt.ctx.info.vendor} ${rt.ctx.info.architecture} ${rt.ctx.info.description}`.trim(),
    parameters: String(task.model.parameters().reduce((a, p) => a + p.size, 0)),
  };
  const bytes = await task.saveBase(metadata);
  trainer.destroy();
  task.destroy();
  return { bytes, metadata };
}
