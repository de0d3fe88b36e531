/**
 * `node --import tsx --import ./scripts/wgsl-hooks.mjs bench/attention-paths.ts [--quick] [--heads 1,4]`
 * The measurement behind chooseAttentionPath (src/kernels/attention.ts): attention with 1 head
 * (and, since the matmul path batches heads, 4), forward and forward+backward, 'rows' vs
 * 'matmul' path, at batch·seq = 2048 tokens for a grid of seq and head sizes. The two paths are timed alternately, several rounds, medians reported, so
 * a machine whose load changes during the run biases neither. Prints a markdown table.
 */
import { parseArgs } from 'node:util';
import { acquireNodeGpu } from '../src/engine/node-gpu';
import { CommandList, GpuRuntime } from '../src/engine/runtime';
import { recordAttentionBackward, recordAttentionForward, type AttentionPath } from '../src/kernels/attention';
import { median } from '../src/bench/time-list';

async function timeOnce(rt: GpuRuntime, list: CommandList, reps: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) rt.submit([list]);
  await rt.idle();
  return (performance.now() - t0) / reps;
}


async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, heads: { type: 'string', default: '1,4' } } });
  const headCounts = values.heads!.split(',').map(Number);
  const rounds = values.quick ? 3 : 5;
  const ctx = await acquireNodeGpu();
  const rt = new GpuRuntime(ctx);
  const fill = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => (((i + seed) * 2654435761) % 1000) / 1000 - 0.5);
  const shapes: [number, number][] = [];
  for (const seq of [8, 16, 32, 64]) for (const headDim of [32, 128]) shapes.push([seq, headDim]);
  console.log('| heads | seq | headDim | batch | fwd rows ms | fwd matmul ms | fwd+bwd rows ms | fwd+bwd matmul ms | faster |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const heads of headCounts) for (const [seq, headDim] of shapes) {
    const batch = 2048 / seq;
    const n = batch * seq * heads * headDim;
    const np = batch * heads * seq * seq;
    const t = (size: number, name: string, seed: number) => rt.tensor([size], name, fill(size, seed));
    const [q, k, v, out, dout, dq, dk, dv] = ['q', 'k', 'v', 'out', 'dout', 'dq', 'dk', 'dv'].map((nm, i) => t(n, nm, i));
    const probs = t(np, 'probs', 9);
    const dscores = t(np, 'dscores', 10);
    const lists = new Map<AttentionPath, { fwd: CommandList; both: CommandList }>();
    for (const path of ['rows', 'matmul'] as const) {
      const shape = { batch, seq, heads, headDim, path };
      const fwd = new CommandList(`fwd.${path}`);
      recordAttentionForward(rt, fwd, { ...shape, q: q!, k: k!, v: v!, out: out!, probs });
      const both = new CommandList(`both.${path}`);
      both.append(fwd);
      recordAttentionBackward(rt, both, { ...shape, q: q!, k: k!, v: v!, probs, dout: dout!, dq: dq!, dk: dk!, dv: dv!, dscores });
      rt.submit([both]); // compile and warm
      lists.set(path, { fwd, both });
    }
    await rt.idle();
    const times: Record<string, number[]> = { 'fwd.rows': [], 'fwd.matmul': [], 'both.rows': [], 'both.matmul': [] };
    const reps = seq <= 16 ? 4 : 2;
    for (let r = 0; r < rounds; r++) {
      for (const path of ['rows', 'matmul'] as const) {
        const l = lists.get(path)!;
        times[`fwd.${path}`]!.push(await timeOnce(rt, l.fwd, reps));
        times[`both.${path}`]!.push(await timeOnce(rt, l.both, reps));
      }
    }
    const m = Object.fromEntries(Object.entries(times).map(([key, xs]) => [key, median(xs)])) as Record<string, number>;
    const faster = m['both.matmul']! < m['both.rows']! ? 'matmul' : 'rows';
    console.log(`| ${heads} | ${seq} | ${headDim} | ${batch} | ${m['fwd.rows']!.toFixed(1)} | ${m['fwd.matmul']!.toFixed(1)} | ${m['both.rows']!.toFixed(1)} | ${m['both.matmul']!.toFixed(1)} | ${faster} |`);
    for (const x of [q, k, v, out, dout, dq, dk, dv, probs, dscores]) rt.release(x!);
  }
  rt.destroy();
  process.exit(0);
}
void main();
