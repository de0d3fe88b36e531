/**
 * `node --import tsx --import ./scripts/wgsl-hooks.mjs bench/topk-kernels.ts [--rows 64,2048] [--l 64,…] [--k 1,…] [--rounds N]`
 * The measurement behind threadKernel's rule (src/kernels/topk.ts): the 'thread' variant's entry
 * points for aligned rows (vec4 insertion, radix select) on the same rows, timed
 * alternately for several rounds (medians), so load changes during the run bias none of them.
 * Prints a markdown table with the kernel the rule picks marked.
 */
import { parseArgs } from 'node:util';
import { acquireNodeGpu } from '../src/engine/node-gpu';
import { CommandList, GpuRuntime } from '../src/engine/runtime';
import { recordTopK, threadKernel, TOPK_INSERT_MAX_K, type TopKThreadKernel } from '../src/kernels/topk';
import { median, timeList } from '../src/bench/time-list';

const list = (s: string) => s.split(',').map(Number);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '64,2048' },
      l: { type: 'string', default: '64,128,256,512,1024' },
      k: { type: 'string', default: '1,4,8,16,32,64' },
      rounds: { type: 'string', default: '3' },
    },
  });
  const rounds = Number(values.rounds);
  const ctx = await acquireNodeGpu();
  const rt = new GpuRuntime(ctx);
  const kernels: TopKThreadKernel[] = ['topk_insert4', 'topk_thread'];
  console.log(`| rows | l | k | ${kernels.map((k) => `${k} ms`).join(' | ')} | rule picks | fastest |`);
  console.log(`|---:|---:|---:|${kernels.map(() => '---:|').join('')}---|---|`);
  for (const rows of list(values.rows!)) {
    for (const l of list(values.l!)) {
      const x = rt.tensor([rows, l], 'x', Float32Array.from({ length: rows * l }, (_, i) => Math.sin(i * 12.9898) * 43758.5453 % 1));
      for (const k of list(values.k!)) {
        if (k > l) continue;
        const indices = rt.tensor([rows, k], 'idx');
        const vals = rt.tensor([rows, k], 'val');
        const usable = kernels.filter((kn) => kn !== 'topk_insert4' || k <= TOPK_INSERT_MAX_K);
        const lists = new Map<TopKThreadKernel, CommandList>();
        for (const kn of usable) {
          const cl = new CommandList(kn);
          recordTopK(rt, cl, { x, rows, l, k, indices, values: vals, variant: 'thread', threadKernel: kn });
          lists.set(kn, cl);
        }
        const reps = Math.max(2, Math.min(50, Math.round(200000 / (rows * l))));
        const times = new Map<TopKThreadKernel, number[]>(usable.map((kn) => [kn, []]));
        for (let r = 0; r < rounds; r++) for (const kn of usable) times.get(kn)!.push(await timeList(rt, lists.get(kn)!, reps, 1));
        const med = new Map(usable.map((kn) => [kn, median(times.get(kn)!)]));
        const fastest = usable.reduce((a, b) => (med.get(b)! < med.get(a)! ? b : a));
        const pick = threadKernel(k, l, x);
        console.log(`| ${rows} | ${l} | ${k} | ${kernels.map((kn) => (med.has(kn) ? `${med.get(kn)!.toFixed(3)}${kn === pick ? ' ←' : ''}` : '—')).join(' | ')} | ${pick} | ${fastest} |`);
        rt.release(indices);
        rt.release(vals);
      }
      rt.release(x);
    }
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
