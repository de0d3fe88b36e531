/**
 * `node --import tsx --import ./scripts/wgsl-hooks.mjs bench/profile-step.ts [--reps N] [--model fourier-atoms]`
 * Per-dispatch times of one training step: each op of the recorded step is replayed alone, `reps`
 * copies in one submit, and the median per copy is reported, largest first, with the whole step
 * for comparison. Ops replayed out of context read whatever the buffers hold, which is fine for
 * timing (no data-dependent control flow changes the cost by much, except top-k selection).
 */
import { parseArgs } from 'node:util';
import { acquireNodeGpu } from '../src/engine/node-gpu';
import { CommandList, GpuRuntime } from '../src/engine/runtime';
import { Trainer } from '../src/train/trainer';
import { ATOMS_DEFAULTS, atomsAdapter } from '../src/adapters/atoms';
import { buildAttentionFit, fourierData } from '../src/tasks/attention-fit';
import { FOURIER_ATOMS } from './atoms';
import { timeList } from './time-list';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { reps: { type: 'string', default: '5' } } });
  const reps = Number(values.reps);
  const ctx = await acquireNodeGpu();
  const rt = new GpuRuntime(ctx);
  const s = FOURIER_ATOMS;
  const task = buildAttentionFit(rt, atomsAdapter, { ...ATOMS_DEFAULTS, atoms: s.atoms, k: s.k, sigma: 'topk', form: 'paper', train: 'both' }, {
    batch: s.batch, seq: s.seq, dim: s.dim, heads: s.heads, readout: 'rowsum', seed: 1,
    data: fourierData({ samples: 4 * s.batch, observed: 16, seed: 1 }),
  });
  const trainer = new Trainer(rt, task.graph, { lr: 1e-3, metricInterval: 10 });
  console.error('built; warming up');
  await trainer.run(20);
  await trainer.drain();
  console.error('timing the whole step');
  const whole = await timeList(rt, trainer.stepList, reps);
  const rows: { label: string; ms: number }[] = [];
  for (const op of trainer.stepList.ops) {
    const l = new CommandList(op.label);
    l.push(op);
    rows.push({ label: `${op.kind} ${op.label}`, ms: await timeList(rt, l, reps) });
    console.error(`${rows.at(-1)!.ms.toFixed(2).padStart(8)} ms  ${rows.at(-1)!.label}`);
  }
  const sum = rows.reduce((a, r) => a + r.ms, 0);
  console.log(`whole step (one submit, ${trainer.stepList.ops.length} ops): ${whole.toFixed(2)} ms; sum of ops alone: ${sum.toFixed(2)} ms`);
  for (const r of [...rows].sort((a, b) => b.ms - a.ms)) console.log(`${r.ms.toFixed(2).padStart(8)} ms  ${(100 * r.ms / sum).toFixed(1).padStart(5)} %  ${r.label}`);
  trainer.destroy();
  task.destroy();
  rt.destroy();
  process.exit(0);
}
void main();
