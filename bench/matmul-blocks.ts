/**
 * `node --import tsx --import ./scripts/wgsl-hooks.mjs bench/matmul-blocks.ts [--shapes MxNxK[xB][:tA|:tB],…] [--rounds N]`
 * The measurement behind regblockBlock's rule (src/kernels/matmul.ts): the regblock kernel's two
 * blocks (16 × 8 'narrow', 16 × 16 'wide') on the same operands, timed alternately (the order flipping
 * every round) for several rounds (medians), so load changes during the run bias neither. Prints a markdown table with the
 * block the rule picks marked.
 */
import { parseArgs } from 'node:util';
import { acquireNodeGpu } from '../src/engine/node-gpu';
import { CommandList, GpuRuntime } from '../src/engine/runtime';
import { recordMatmul, regblockBlock, type RegblockBlock } from '../src/kernels/matmul';
import { median, timeList } from '../src/bench/time-list';

// Defaults: the toy models' products (d = 128, MLP 512, 1024–2048 token rows, per-head attention
// products at b·h = 128) and small ones where halving the workgroups could starve the cores.
const DEFAULT_SHAPES = '2048x128x128,1024x512x128,1024x128x512,512x512x512,128x128x1024,64x64x1024,256x64x128,32x32x32x128,32x64x32x128,2048x96x128,2048x100x128,2048x48x128';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { shapes: { type: 'string', default: DEFAULT_SHAPES }, rounds: { type: 'string', default: '6' } } });
  const rounds = Number(values.rounds);
  const ctx = await acquireNodeGpu();
  const rt = new GpuRuntime(ctx);
  const blocks: RegblockBlock[] = ['narrow', 'wide'];
  console.log('| M×N×K (batch) | narrow ms | wide ms | wide / narrow | rule picks |');
  console.log('|---|---:|---:|---:|---|');
  for (const shape of values.shapes!.split(',')) {
    const [dims, trans = ''] = shape.split(':');
    const [M, N, K, batch = 1] = dims!.split('x').map(Number) as [number, number, number, number?];
    const transA = trans.includes('tA');
    const transB = trans.includes('tB');
    const a = rt.tensor([batch * M * K], 'a', Float32Array.from({ length: batch * M * K }, (_, i) => ((i * 7) % 13) / 13 - 0.5));
    const b = rt.tensor([batch * K * N], 'b', Float32Array.from({ length: batch * K * N }, (_, i) => ((i * 5) % 11) / 11 - 0.5));
    const c = rt.tensor([batch * M * N], 'c');
    const lists = new Map<RegblockBlock, CommandList>();
    for (const block of blocks) {
      const cl = new CommandList(block);
      recordMatmul(rt, cl, { a, b, c, M, N, K, batch, transA, transB, variant: 'regblock', block });
      lists.set(block, cl);
    }
    const reps = Math.max(2, Math.min(50, Math.round(2e8 / (2 * M * N * K * batch))));
    const times = new Map<RegblockBlock, number[]>(blocks.map((bl) => [bl, []]));
    for (let r = 0; r < rounds; r++) for (const bl of r % 2 ? [...blocks].reverse() : blocks) times.get(bl)!.push(await timeList(rt, lists.get(bl)!, reps, 1));
    const [n, w] = blocks.map((bl) => median(times.get(bl)!)) as [number, number];
    const pick = regblockBlock(N);
    console.log(`| ${M}×${N}×${K}${batch > 1 ? ` (${batch})` : ''}${trans ? ` ${trans}` : ''} | ${n.toFixed(3)}${pick === 'narrow' ? ' ←' : ''} | ${w.toFixed(3)}${pick === 'wide' ? ' ←' : ''} | ${(w / n).toFixed(2)} | ${pick} |`);
    for (const t of [a, b, c]) rt.release(t);
  }
  process.exit(0);
}

void main();
