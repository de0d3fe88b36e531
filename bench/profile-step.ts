/**
 * `node --import tsx --import ./scripts/wgsl-hooks.mjs bench/profile-step.ts [--reps N] [--model <step case id>[,<id>…]|all] [--attach <result.json>]`
 * Per-op GPU time of one recorded training step, measured inside the step as it runs (see
 * bench/op-profile.ts: timestamp queries around each dispatch, or prefix timing without them),
 * largest first, with the whole step for comparison. Prints markdown.
 * --attach bench/results/latest.json: also stores the tables in that result's `profiles` (with
 * the machine load while profiling) and rewrites its markdown beside it, so a goal the bench run
 * missed has the profile that says why next to it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { acquireNodeGpu } from '../src/engine/node-gpu';
import { GpuRuntime } from '../src/engine/runtime';
import { Trainer } from '../src/train/trainer';
import { profileMarkdown, profileList } from './op-profile';
import { STEP_CASES, type StepCase } from '../src/bench/steps';
import { benchMarkdown } from '../src/bench/report';
import type { BenchResult } from '../src/bench/types';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { reps: { type: 'string', default: '5' }, model: { type: 'string', default: 'fourier-atoms' }, attach: { type: 'string' } } });
  const reps = Number(values.reps);
  const ids = values.model!.split(',');
  const cases: StepCase[] = ids.includes('all') ? STEP_CASES : STEP_CASES.filter((c) => ids.includes(c.id));
  if (cases.length !== (ids.includes('all') ? STEP_CASES.length : ids.length)) throw new Error(`unknown --model '${values.model}'; one or more of ${STEP_CASES.map((c) => c.id).join(', ')}, or all`);
  const result = values.attach ? (JSON.parse(readFileSync(values.attach, 'utf8')) as BenchResult) : null;
  const ctx = await acquireNodeGpu({ optionalFeatures: ['timestamp-query'] });
  const rt = new GpuRuntime(ctx);
  const tables: string[] = [];
  for (const c of cases) {
    const built = c.build(rt);
    const trainer = new Trainer(rt, built.graph, { lr: 1e-3, metricInterval: 10 });
    await trainer.run(10);
    await trainer.drain();
    const load0 = loadavg()[0]!;
    const p = await profileList(rt, trainer.stepList, reps);
    const md = `${profileMarkdown(c.name, p)}\nProfiled after the bench run (load average ${load0.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}); compare shares, not milliseconds, with the tables above.\n`;
    process.stdout.write(md + '\n');
    tables.push(md);
    trainer.destroy();
    built.destroy();
  }
  rt.destroy();
  if (result && values.attach) {
    result.profiles = [...((result.profiles as string[] | undefined) ?? []), ...tables];
    writeFileSync(values.attach, JSON.stringify(result, null, 2) + '\n');
    writeFileSync(values.attach.replace(/\.json$/, '.md'), benchMarkdown(result));
  }
  process.exit(0);
}
void main();
