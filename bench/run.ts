/**
 * `npm run bench`: the benchmark of src/bench/run-bench.ts (matmul, kernels, sparse kernels,
 * whole train steps with their dispatch/submit/readback counts) with two peers on the same
 * adapter in the same run — TF.js's WebGPU backend and jax-js's WebGPU device — and the goals of
 * issue 11 checked at the end. Writes bench/results/latest.json and bench/results/latest.md.
 *   --quick            fewer repetitions (smoke run)
 *   --no-tfjs, --no-jax, --no-peers   skip peers
 *   --groups a,b       subset of matmul,kernels,sparse,steps
 *   --steps a,b        subset of the step case ids
 *   --matmul-large     add 4096³ (real GPUs; scripts/gpu-check.sh)
 *   --matmul-shapes MxNxK,…   replace the matmul shapes (e.g. 64x64x64,256x256x256)
 *   --variants a,b     matmul variants (default regblock,tiled; on a loaded SwiftShader machine the
 *                      tiled variant is ~10× slower than regblock and dominates the run's length)
 *   --out DIR          output folder (default bench/results); --name latest (file stem)
 *   --note TEXT        added to the result's note (the machine load is recorded automatically)
 * A benchmark, not a test: numbers vary with the machine; compare only rows from the same run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { acquireNodeGpu } from '../src/engine/node-gpu';
import { GpuRuntime } from '../src/engine/runtime';
import { BENCH_GROUPS, benchResult, runBench, type BenchGroup, type BenchPeers } from '../src/bench/run-bench';
import { MATMUL_SHAPES, MATMUL_VARIANTS, type MatmulShape } from '../src/bench/matmul';
import { benchMarkdown } from '../src/bench/report';
import { initJax, jaxFourierAtomsMs, jaxMatmulMs, jaxStanLinearMs } from './peers/jax';
import { initTfjs, tfjsFourierAtomsMs, tfjsMatmulMs, tfjsStanLinearMs, tfjsTopkMs } from './peers/tfjs';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      'no-tfjs': { type: 'boolean', default: false },
      'no-jax': { type: 'boolean', default: false },
      'no-peers': { type: 'boolean', default: false },
      groups: { type: 'string' },
      steps: { type: 'string' },
      'matmul-large': { type: 'boolean', default: false },
      'matmul-shapes': { type: 'string' },
      variants: { type: 'string' },
      out: { type: 'string', default: 'bench/results' },
      name: { type: 'string', default: 'latest' },
      note: { type: 'string', default: '' },
    },
  });
  const quick = values.quick!;
  const load0 = loadavg();
  const t0 = Date.now();
  const ctx = await acquireNodeGpu({ optionalFeatures: ['timestamp-query'] });
  const rt = new GpuRuntime(ctx);
  let validationErrors = 0;
  ctx.device.addEventListener('uncapturederror', (e) => {
    validationErrors++;
    console.error(`WebGPU error: ${(e as GPUUncapturedErrorEvent).error.message}`);
  });
  console.error(`adapter: ${ctx.info.vendor} / ${ctx.info.architecture} / ${ctx.info.description}; load average ${load0.map((x) => x.toFixed(1)).join(' ')}`);

  const peers: BenchPeers = { matmul: [], steps: [] };
  const useTf = !values['no-peers'] && !values['no-tfjs'] && (await initTfjs());
  const useJax = !values['no-peers'] && !values['no-jax'] && (await initJax());
  const stepReps = quick ? { steps: 1, warmup: 1 } : { steps: 3, warmup: 2 };
  const slowReps = quick ? { steps: 1, warmup: 1 } : { steps: 2, warmup: 1 };
  if (useTf) {
    peers.matmul!.push({ name: 'TF.js tf.matMul', ms: (M, N, K, reps) => tfjsMatmulMs(M, N, K, reps) });
    peers.topk = { name: 'TF.js tf.topk', ms: (rows, l, k, reps) => tfjsTopkMs(rows, l, k, reps) };
    for (const variant of ['knockout', 'tf.topk'] as const) {
      peers.steps!.push({
        name: `TF.js (${variant})`,
        ms: async (id) => (id === 'fourier-atoms' ? tfjsFourierAtomsMs(variant, slowReps) : id === 'stan-linear' ? tfjsStanLinearMs(variant, slowReps) : null),
      });
    }
  }
  if (useJax) {
    peers.matmul!.push({ name: 'jax-js matmul', ms: (M, N, K, reps) => jaxMatmulMs(M, N, K, reps) });
    for (const variant of ['knockout', 'lax.topK'] as const) {
      peers.steps!.push({
        name: `jax-js (${variant})`,
        ms: async (id) => (id === 'fourier-atoms' ? jaxFourierAtomsMs(variant, stepReps) : id === 'stan-linear' ? jaxStanLinearMs(variant, stepReps) : null),
      });
    }
  }

  const groups = values.groups ? (values.groups.split(',') as BenchGroup[]) : BENCH_GROUPS;
  for (const g of groups) if (!BENCH_GROUPS.includes(g)) throw new Error(`--groups: unknown group '${g}' (${BENCH_GROUPS.join(', ')})`);
  const base: MatmulShape[] = values['matmul-shapes']
    ? values['matmul-shapes'].split(',').map((t) => {
        const d = t.split(/[x×]/).map(Number);
        if (d.length !== 3 || !d.every((v) => Number.isInteger(v) && v >= 1)) throw new Error(`--matmul-shapes: '${t}' is not MxNxK`);
        return d as unknown as MatmulShape;
      })
    : MATMUL_SHAPES;
  const variants = values.variants ? values.variants.split(',') : null;
  for (const v of variants ?? []) if (!MATMUL_VARIANTS.includes(v as never)) throw new Error(`--variants: unknown matmul variant '${v}' (${MATMUL_VARIANTS.join(', ')})`);
  const matmulShapes: MatmulShape[] = [...base, ...(values['matmul-large'] ? [[4096, 4096, 4096] as const] : [])];
  const { rows, trainStep } = await runBench(rt, {
    quick,
    groups,
    ...(values.steps ? { steps: values.steps.split(',') } : {}),
    matmulShapes,
    ...(variants ? { matmulVariants: variants as (typeof MATMUL_VARIANTS)[number][] } : {}),
    peers,
    onProgress: (p) => console.error(`[${p.done}/${p.total}] ${p.label}`),
    onRow: (r) => console.error(r.kind === 'kernel' ? `  ${r.row.kernel} ${r.row.shape}: ${r.row.ms.toFixed(2)} ms` : `  step ${r.row.model}: ${r.row.ms.toFixed(1)} ms, ${r.row.dispatches} dispatches, ${r.row.submits} submits, ${r.row.readbacks} readbacks`),
  });

  const load1 = loadavg();
  const minutes = ((Date.now() - t0) / 60000).toFixed(1);
  const note = `${values.note ? `${values.note} ` : ''}${variants ? `Matmul variants: ${variants.join(', ')}. ` : ''}Load average (1/5/15 min) at start ${load0.map((x) => x.toFixed(1)).join('/')}, at end ${load1.map((x) => x.toFixed(1)).join('/')}; ${minutes} min. Peers: ${[useTf ? 'TF.js 4.22 WebGPU backend' : '', useJax ? 'jax-js 0.1.25 WebGPU device' : ''].filter(Boolean).join(', ') || 'none'}, same Dawn adapter, same process.`;
  const result = benchResult(ctx.info, `node ${process.version}`, quick, { rows, trainStep }, note);
  mkdirSync(values.out!, { recursive: true });
  writeFileSync(`${values.out}/${values.name}.json`, JSON.stringify(result, null, 2) + '\n');
  const md = benchMarkdown(result);
  writeFileSync(`${values.out}/${values.name}.md`, md);
  process.stdout.write(md);
  rt.destroy();
  if (validationErrors > 0) {
    console.error(`${validationErrors} WebGPU errors: the timings above are not trustworthy`);
    process.exit(1);
  }
  process.exit(0);
}

void main();
