/** TF.js's WebGPU backend on the same Dawn adapter, for the baseline column. */
import { nodeGpu } from '../src/engine/node-gpu';

type Tf = typeof import('@tensorflow/tfjs-core');
let tf: Tf | null = null;

export async function initTfjs(): Promise<boolean> {
  try {
    const gpu = await nodeGpu();
    // tfjs-backend-webgpu looks for navigator.gpu; Node 20 has no navigator.
    (globalThis as unknown as { navigator: unknown }).navigator ??= { gpu, userAgent: 'node' };
    tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-webgpu');
    if (!(await tf.setBackend('webgpu'))) throw new Error('setBackend(webgpu) failed');
    await tf.ready();
    return true;
  } catch (e) {
    console.error(`TF.js baseline unavailable: ${(e as Error).message}`);
    return false;
  }
}

/** Median ms per tf.matMul over `reps` back-to-back calls, synchronised by one final read. */
export async function tfjsMatmulMs(M: number, N: number, K: number, reps: number, trials = 3): Promise<number> {
  if (!tf) throw new Error('initTfjs() first');
  const t = tf;
  const a = t.randomUniform([M, K]);
  const b = t.randomUniform([K, N]);
  const run = async (n: number) => {
    const outs = [];
    for (let i = 0; i < n; i++) outs.push(t.matMul(a, b));
    await outs[outs.length - 1]!.data();
    for (const o of outs) o.dispose();
  };
  await run(1);
  const times: number[] = [];
  for (let i = 0; i < trials; i++) {
    const t0 = performance.now();
    await run(reps);
    times.push((performance.now() - t0) / reps);
  }
  a.dispose();
  b.dispose();
  times.sort((x, y) => x - y);
  return times[Math.floor(times.length / 2)]!;
}

/** Median ms of tf.topk(x [rows, l], k). */
export async function tfjsTopkMs(rows: number, l: number, k: number, reps: number): Promise<number> {
  if (!tf) throw new Error('initTfjs() first');
  const t = tf;
  const x = t.randomUniform([rows, l]);
  const run = async (n: number) => {
    let last: { values: { data(): Promise<unknown>; dispose(): void }; indices: { dispose(): void } } | null = null;
    const all = [];
    for (let i = 0; i < n; i++) all.push((last = t.topk(x, k)));
    await last!.values.data();
    for (const r of all) {
      r.values.dispose();
      r.indices.dispose();
    }
  };
  await run(1);
  const t0 = performance.now();
  await run(reps);
  x.dispose();
  return (performance.now() - t0) / reps;
}
