/**
 * `node --import tsx --import ./scripts/wgsl-hooks.mjs bench/profile-step.ts [--reps N] [--model <step case id>|all]`
 * Per-op GPU time of one recorded training step, measured inside the step as it runs (see
 * bench/op-profile.ts: timestamp queries around each dispatch, or prefix timing without them),
 * largest first, with the whole step for comparison. Prints markdown.
 */
import { parseArgs } from 'node:util';
import { acquireNodeGpu } from '../src/engine/node-gpu';
import { GpuRuntime } from '../src/engine/runtime';
import { Trainer } from '../src/train/trainer';
import { profileMarkdown, profileList } from './op-profile';
import { STEP_CASES, type StepCase } from '../src/bench/steps';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { reps: { type: 'string', default: '5' }, model: { type: 'string', default: 'fourier-atoms' } } });
  const reps = Number(values.reps);
  const ctx = await acquireNodeGpu({ optionalFeatures: ['timestamp-query'] });
  const rt = new GpuRuntime(ctx);
  const cases: StepCase[] = values.model === 'all' ? STEP_CASES : STEP_CASES.filter((c) => c.id === values.model);
  if (cases.length === 0) throw new Error(`unknown --model '${values.model}'; one of ${STEP_CASES.map((c) => c.id).join(', ')}, all`);
  for (const c of cases) {
    const built = c.build(rt);
    const trainer = new Trainer(rt, built.graph, { lr: 1e-3, metricInterval: 10 });
    await trainer.run(10);
    await trainer.drain();
    const p = await profileList(rt, trainer.stepList, reps);
    process.stdout.write(profileMarkdown(c.name, p) + '\n');
    trainer.destroy();
    built.destroy();
  }
  rt.destroy();
  process.exit(0);
}
void main();
