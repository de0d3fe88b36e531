/**
 * Pre-training the digit transformer (the frozen base of the STAN experiments) on upright digits
 * with a fixed seed: AdamW, cosine schedule, the task's deterministic batches. Used by
 * `npm run cli -- pretrain digits` and the tests. The checkpoint's metadata records the config,
 * steps, seconds, the last training metrics, test accuracy in every view, and the accuracy on a
 * fixed check subset (the first DIGITS_CHECK_IMAGES test images, upright) that tests reproduce.
 */
import type { GpuRuntime } from '../engine/runtime';
import { meanOf, provenanceMetadata, round, runMetadata, runPretraining, type PretrainOptions } from '../train/pretrain-run';
import type { LrSchedule } from '../train/schedule';
import { buildDigitsTask, DIGIT_VIEWS, DIGITS_CHECK_IMAGES, DIGITS_CHECKPOINT_MODEL, DIGITS_DEFAULTS, type DigitsEval } from './digits';
import type { MnistSet } from './mnist-data';

export interface DigitsPretrainOptions extends PretrainOptions {
  warmup?: number;
}

const summary = (e: DigitsEval) => ({ images: e.images, accuracy: round(e.accuracy), loss: round(e.loss) });

export async function pretrainDigits(rt: GpuRuntime, mnist: MnistSet, o: DigitsPretrainOptions): Promise<{ bytes: Uint8Array; metadata: Record<string, string> }> {
  const cfg = { ...DIGITS_DEFAULTS, seed: o.seed };
  const task = buildDigitsTask(rt, mnist, cfg);
  const schedule: LrSchedule = { kind: 'cosine', warmupSteps: Math.min(o.warmup ?? 50, Math.floor(o.steps / 5)), totalSteps: o.steps, minRatio: 0.02 };
  const run = await runPretraining(rt, task.graph, o, schedule);
  const last = run.rows.slice(-50);
  const check = await task.evaluate('upright', task.testIndices.slice(0, DIGITS_CHECK_IMAGES));
  const test: Record<string, ReturnType<typeof summary>> = {};
  if (!o.quick) for (const v of DIGIT_VIEWS) test[v] = summary(await task.evaluate(v));
  const metadata: Record<string, string> = {
    model: DIGITS_CHECKPOINT_MODEL,
    config: JSON.stringify(cfg),
    ...runMetadata(run, o, { loss: meanOf(last, 'loss'), accuracy: meanOf(last, 'accuracy') }),
    test: JSON.stringify(o.quick ? { upright: summary(check) } : test),
    check: JSON.stringify({ ...summary(check), subset: `first ${DIGITS_CHECK_IMAGES} images of the test split, upright` }),
    ...provenanceMetadata(rt, task.model.parameters()),
  };
  const bytes = await task.saveBase(metadata);
  run.trainer.destroy();
  task.destroy();
  return { bytes, metadata };
}
