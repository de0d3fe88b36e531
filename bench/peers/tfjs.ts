/**
 * TF.js's WebGPU backend on the same Dawn adapter, for the baseline columns: tf.matMul, tf.topk
 * and the two reference train steps written as a TF.js user would (tf.variable parameters,
 * tf.train.adam().minimize on a loss closure). TopK has no gradient in TF.js, so the sparsifier
 * pre ⊙ [score ≥ k-th largest] is a tf.customGrad whose gradient is dy ⊙ mask; its threshold comes
 * from tf.topk or from k − 1 rounds of max-and-knock-out (both reported). Same work as ours and
 * jax-js's (bench/peers/jax.ts): fourier-atoms with W_q, W_k, W_v and W_o; stan-linear.
 */
import { nodeGpu } from '../../src/engine/node-gpu';

type Tf = typeof import('@tensorflow/tfjs-core');
let tf: Tf | null = null;

/**
 * tfjs-core's Node build registers no gradients (the `@tensorflow/tfjs` union package imports
 * dist/register_all_gradients.js, an ES module with directory imports that Node cannot load).
 * Bundle that module once with esbuild (tsx's dependency) into a CommonJS file and load it: the
 * gradient and kernel registries and the engine are process globals, so they land in the same
 * engine the Node build uses.
 */
async function registerGradients(): Promise<void> {
  const { build } = await import('esbuild');
  const { createRequire } = await import('node:module');
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const require = createRequire(import.meta.url);
  const entry = require.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js');
  const out = join(mkdtempSync(join(tmpdir(), 'sap-tfjs-')), 'gradients.cjs');
  await build({ entryPoints: [entry], bundle: true, format: 'cjs', platform: 'node', outfile: out, logLevel: 'error' });
  require(out);
}

export async function initTfjs(): Promise<boolean> {
  try {
    const gpu = await nodeGpu();
    // tfjs-backend-webgpu looks for navigator.gpu; Node 20 has no navigator.
    (globalThis as unknown as { navigator: unknown }).navigator ??= { gpu, userAgent: 'node' };
    tf = await import('@tensorflow/tfjs-core');
    await registerGradients();
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

export type TfMaskVariant = 'tf.topk' | 'knockout';

function tfFill(shape: number[], seed: number, scale = 1) {
  const t = tf!;
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = (s / 4294967296 - 0.5) * scale;
  }
  return t.tensor(out, shape);
}

/** pre ⊙ [score ≥ k-th largest score along the last axis], gradient dy ⊙ mask (score = |pre| or pre). */
function sparsifier(k: number, variant: TfMaskVariant, abs: boolean) {
  const t = tf!;
  type Tensor = import('@tensorflow/tfjs-core').Tensor;
  const f = (x: Tensor, save: import('@tensorflow/tfjs-core').GradSaveFunc) => {
    const score = abs ? t.abs(x) : x;
    let thr: Tensor;
    if (variant === 'tf.topk') {
      thr = t.min(t.topk(score, k).values, -1, true);
    } else {
      let a = score;
      for (let i = 0; i < k - 1; i++) a = t.where(t.greaterEqual(a, t.max(a, -1, true)), t.fill(a.shape, -Infinity), a);
      thr = t.max(a, -1, true);
    }
    const mask = t.cast(t.greaterEqual(score, thr), 'float32');
    save([mask]);
    return { value: t.mul(x, mask), gradFunc: (dy: Tensor, saved: Tensor[]) => t.mul(dy, saved[0]!) };
  };
  return t.customGrad(f as unknown as Parameters<typeof t.customGrad>[0]) as unknown as (x: Tensor) => Tensor;
}

async function timeMinimize(loss: () => import('@tensorflow/tfjs-core').Scalar, vars: import('@tensorflow/tfjs-core').Variable[], steps: number, warmup: number): Promise<number> {
  const t = tf!;
  const opt = t.train.adam(1e-3);
  let last: import('@tensorflow/tfjs-core').Scalar | null = null;
  let t0 = 0;
  for (let s = 0; s < warmup + steps; s++) {
    if (s === warmup) {
      if (last) await last.data();
      t0 = performance.now();
    }
    last?.dispose();
    last = opt.minimize(loss, true, vars);
  }
  const v = (await last!.data())[0]!;
  const ms = (performance.now() - t0) / steps;
  last!.dispose();
  opt.dispose();
  if (!Number.isFinite(v)) throw new Error(`TF.js step produced loss ${v}`);
  return ms;
}

/** fourier-atoms step (as ours, W_o included), ms per step. */
export async function tfjsFourierAtomsMs(variant: TfMaskVariant, opts: { steps: number; warmup?: number }, s = { batch: 32, seq: 64, dim: 128, atoms: 128, k: 8 }): Promise<number> {
  if (!tf) throw new Error('initTfjs() first');
  const t = tf;
  const { batch: B, seq: T, dim: d, atoms: M, k } = s;
  const w = 2 / Math.sqrt(d);
  const [wq, wk, wv, wo] = [11, 12, 13, 14].map((seed) => tfFill([d, d], seed, w));
  const [bq, bk, bv, bo] = [15, 16, 17, 18].map((seed) => tfFill([d], seed, w));
  const ws = t.variable(tfFill([d, M], 21, w));
  const D = t.variable(tfFill([M, d], 22, 0.02));
  const x = tfFill([B * T, d], 31);
  const y = tfFill([B, T], 32);
  const sparse = sparsifier(k, variant, true);
  const scale = 1 / Math.sqrt(d);
  const loss = () =>
    t.tidy(() => {
      const q = t.reshape(t.add(t.matMul(x, wq!), bq!), [B, T, d]);
      const kk = t.reshape(t.add(t.matMul(x, wk!), bk!), [B, T, d]);
      const v = t.reshape(t.add(t.matMul(x, wv!), bv!), [B, T, d]);
      const A = t.softmax(t.mul(t.matMul(q, kk, false, true), scale));
      const O = t.add(t.matMul(t.reshape(t.matMul(A, v), [B * T, d]), wo!), bo!);
      const pre = t.matMul(A, t.reshape(t.matMul(x, ws), [B, T, M]));
      const delta = t.matMul(t.reshape(sparse(pre), [B * T, M]), D);
      const pred = t.reshape(t.sum(t.add(O, delta), -1), [B, T]);
      return t.mean(t.square(t.sub(pred, y))) as import('@tensorflow/tfjs-core').Scalar;
    });
  try {
    return await timeMinimize(loss, [ws, D], opts.steps, opts.warmup ?? 2);
  } finally {
    t.dispose([wq!, wk!, wv!, wo!, bq!, bk!, bv!, bo!, ws, D, x, y]);
  }
}

/** stan-linear step, ms per step. */
export async function tfjsStanLinearMs(variant: TfMaskVariant, opts: { steps: number; warmup?: number }, s = { rows: 2048, n: 128, m: 128, l: 512, k: 16 }): Promise<number> {
  if (!tf) throw new Error('initTfjs() first');
  const t = tf;
  const { rows, n, m, l, k } = s;
  const w0 = tfFill([n, m], 41, 2 / Math.sqrt(n));
  const b0 = tfFill([m], 42, 2 / Math.sqrt(n));
  const E = t.variable(tfFill([n, l], 43, 2 / Math.sqrt(n)));
  const D = t.variable(tfFill([l, m], 44, 0.02));
  const x = tfFill([rows, n], 45);
  const y = tfFill([rows, m], 46);
  const sparse = sparsifier(k, variant, false);
  const loss = () =>
    t.tidy(() => {
      const h = t.add(t.add(t.matMul(x, w0), b0), t.mul(t.matMul(sparse(t.matMul(x, E)), D), 1 / k));
      return t.mean(t.square(t.sub(h, y))) as import('@tensorflow/tfjs-core').Scalar;
    });
  try {
    return await timeMinimize(loss, [E, D], opts.steps, opts.warmup ?? 2);
  } finally {
    t.dispose([w0, b0, E, D, x, y]);
  }
}
