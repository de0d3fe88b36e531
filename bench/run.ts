/**
 * `npm run bench`: per-kernel timings at the toy models' shapes and at 512³, TF.js's tf.matMul on
 * the same adapter in the same run, and whole training steps with their dispatch/submit/readback
 * counts. Writes bench/results/latest.json and bench/results/latest.md.
 *   --quick     fewer repetitions (smoke run)
 *   --no-tfjs   skip the TF.js baseline
 * A benchmark, not a test: numbers vary with the machine; compare only rows from the same run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { acquireNodeGpu } from '../src/engine/node-gpu';
import { CommandList, GpuRuntime } from '../src/engine/runtime';
import { matmulFlops, recordMatmul, type MatmulVariant } from '../src/kernels/matmul';
import { timeList } from '../src/bench/time-list';
import { benchStepCase, STEP_CASES } from '../src/bench/steps';
import type { BenchRow, TrainStepRow } from '../src/bench/types';
import { benchKernels } from './kernels';
import { benchSparse } from './sparse';
import { tfjsMatmulMs, initTfjs } from './tfjs-baseline';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, 'no-tfjs': { type: 'boolean', default: false }, out: { type: 'string', default: 'bench/results' } } });
  const quick = values.quick!;
  const ctx = await acquireNodeGpu();
  const rt = new GpuRuntime(ctx);
  let validationErrors = 0;
  ctx.device.addEventListener('uncapturederror', (e) => {
    validationErrors++;
    console.error(`WebGPU error: ${(e as GPUUncapturedErrorEvent).error.message}`);
  });
  console.error(`adapter: ${ctx.info.vendor} / ${ctx.info.architecture} / ${ctx.info.description}`);
  const rows: BenchRow[] = [];
  const useTf = !values['no-tfjs'] && (await initTfjs());

  // ---- matmul: both variants, toy shapes and 512³, against tf.matMul ----
  const shapes: [number, number, number][] = [
    [64, 64, 64],
    [2048, 128, 128],
    [2048, 512, 128],
    [2048, 128, 512],
    [4096, 128, 128],
    [4096, 256, 256],
    [512, 512, 512],
  ];
  for (const [M, N, K] of shapes) {
    const a = rt.tensor([M, K], 'a', randomData(M * K));
    const b = rt.tensor([K, N], 'b', randomData(K * N));
    const c = rt.tensor([M, N], 'c');
    const flops = matmulFlops(M, N, K);
    const reps = Math.max(1, Math.min(quick ? 3 : 20, Math.round(2e9 / flops)));
    const baseline = useTf ? await tfjsMatmulMs(M, N, K, reps) : null;
    for (const variant of ['regblock', 'tiled'] as MatmulVariant[]) {
      const list = new CommandList(`matmul.${variant}`);
      recordMatmul(rt, list, { a, b, c, M, N, K, variant });
      const ms = await timeList(rt, list, reps);
      const row: BenchRow = { kernel: `matmul.${variant}`, shape: `${M}×${N}×${K}`, ms, gflops: flops / ms / 1e6 };
      if (baseline !== null) {
        row.baseline = { name: 'tfjs-webgpu tf.matMul', ms: baseline };
        row.ratio = baseline / ms;
      }
      rows.push(row);
      console.error(fmtRow(row));
    }
    for (const t of [a, b, c]) rt.release(t);
  }

  for (const row of await benchKernels(rt, { quick, timeList })) {
    rows.push(row);
    console.error(fmtRow(row));
  }

  for (const row of await benchSparse(rt, { quick, timeList, tfjs: !!useTf })) {
    rows.push(row);
    console.error(fmtRow(row));
  }

  const trainStep: TrainStepRow[] = [];
  for (const c of STEP_CASES) trainStep.push(await benchStepCase(rt, c, { quick }));
  for (const r of trainStep) console.error(`train step ${r.model}: ${r.ms.toFixed(2)} ms, ${r.dispatches} dispatches, ${r.submits} submits, ${r.readbacks} readbacks`);

  const result = {
    adapter: { vendor: ctx.info.vendor, architecture: ctx.info.architecture, description: ctx.info.description },
    date: new Date().toISOString(),
    node: process.version,
    quick,
    rows,
    trainStep,
  };
  mkdirSync(values.out!, { recursive: true });
  writeFileSync(`${values.out}/latest.json`, JSON.stringify(result, null, 2) + '\n');
  const md = toMarkdown(result);
  writeFileSync(`${values.out}/latest.md`, md);
  process.stdout.write(md);
  rt.destroy();
  if (validationErrors > 0) {
    console.error(`${validationErrors} WebGPU errors: the timings above are not trustworthy`);
    process.exit(1);
  }
  process.exit(0);
}

function randomData(n: number): Float32Array {
  const out = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = s / 4294967296 - 0.5;
  }
  return out;
}

function fmtRow(r: BenchRow): string {
  const g = r.gflops !== undefined ? `${r.gflops.toFixed(2)} GFLOP/s` : '';
  const b = r.baseline ? `  ${r.baseline.name} ${r.baseline.ms.toFixed(2)} ms (×${r.ratio!.toFixed(2)})` : '';
  return `${r.kernel.padEnd(28)} ${r.shape.padEnd(22)} ${r.ms.toFixed(3).padStart(9)} ms  ${g}${b}`;
}

function toMarkdown(res: { adapter: { vendor: string; architecture: string; description: string }; date: string; rows: BenchRow[]; trainStep: TrainStepRow[] }): string {
  const lines = [
    `# Benchmark — ${res.adapter.vendor} ${res.adapter.architecture} (${res.adapter.description})`,
    '',
    `${res.date}`,
    '',
    '| kernel | shape | ms | GFLOP/s | baseline ms | ours × faster |',
    '|---|---|---:|---:|---:|---:|',
    ...res.rows.map(
      (r) => `| ${r.kernel} | ${r.shape} | ${r.ms.toFixed(3)} | ${r.gflops !== undefined ? r.gflops.toFixed(2) : ''} | ${r.baseline ? `${r.baseline.ms.toFixed(3)} (${r.baseline.name})` : ''} | ${r.ratio !== undefined ? r.ratio.toFixed(2) : ''} |`,
    ),
    '',
    '| train step | ms | dispatches | submits | readbacks | metric maps / step |',
    '|---|---:|---:|---:|---:|---:|',
    ...res.trainStep.map((t) => `| ${t.model} | ${t.ms.toFixed(2)} | ${t.dispatches} | ${t.submits} | ${t.readbacks} | ${t.metricReadbacksPerStep.toFixed(2)} |`),
    '',
  ];
  return lines.join('\n');
}

void main();
