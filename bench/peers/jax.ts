/**
 * jax-js (`@jax-js/jax`, WebGPU device) on the same Dawn adapter as ours, for the peer columns.
 *
 * jax-js looks for `navigator.gpu` (Node 20 has no navigator): we hand it the `webgpu` package's
 * GPU object (src/engine/node-gpu.ts), exactly as TF.js gets it (bench/peers/tfjs.ts). Both
 * peers and our engine then run on the same SwiftShader (or real) adapter in one process.
 *
 * The train steps are written as a jax user would: one `jit` of loss + `valueAndGrad` + a
 * hand-written Adam (jax-js has no optimizer package on npm), parameters and moments passed in
 * and returned. The top-k mask comes either from `lax.topK` (values → k-th largest as threshold)
 * or from k − 1 rounds of max-and-knock-out (the k-th largest is the max after k − 1 rounds);
 * both are reported. Work matches ours (src/bench/steps.ts):
 *   fourier-atoms  frozen single-head attention with W_q, W_k, W_v AND W_o (+ biases) as ours,
 *                  ΔO = topk_|·|(A·X·W_s)·D, output summed over features, MSE, Adam on W_s, D;
 *   stan-linear    frozen Linear 128→128 + bias, h = W0·x + b + (1/k)·D·topk(E·x) (signed),
 *                  MSE, Adam on E, D.
 * A step is timed as the mean of `steps` back-to-back calls, synchronised by one final
 * blockUntilReady on every step's loss and the final parameters and moments (jax-js submits one
 * command buffer per kernel; no readback inside). jax-js evaluates lazily: an array nobody waits
 * on (directly or through a later array) is never computed, so the wait must cover every result
 * — waiting on the last one only timed one matmul in `reps` and skipped the last step's backward.
 */
import { nodeGpu } from '../../src/engine/node-gpu';
import { median } from '../../src/bench/time-list';

type Jax = typeof import('@jax-js/jax');
type JArray = import('@jax-js/jax').Array;
let jax: Jax | null = null;

export async function initJax(): Promise<boolean> {
  try {
    const gpu = await nodeGpu();
    const g = globalThis as unknown as { navigator?: { gpu?: unknown; userAgent?: string; hardwareConcurrency?: number } };
    g.navigator ??= { userAgent: 'node', hardwareConcurrency: 2 };
    g.navigator.gpu ??= gpu;
    const j = await import('@jax-js/jax');
    const devices = await j.init('webgpu');
    if (!devices.includes('webgpu')) throw new Error(`no webgpu device (got ${devices.join(', ')})`);
    j.defaultDevice('webgpu');
    jax = j;
    return true;
  } catch (e) {
    console.error(`jax-js peer unavailable: ${(e as Error).message}`);
    return false;
  }
}

function need(): Jax {
  if (!jax) throw new Error('initJax() first');
  return jax;
}

function fill(n: number, seed: number, scale = 1): Float32Array<ArrayBuffer> {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = (s / 4294967296 - 0.5) * scale;
  }
  return out;
}

function arr(shape: number[], seed: number, scale = 1): JArray {
  const np = need().numpy;
  return np.array(fill(shape.reduce((a, b) => a * b, 1), seed, scale) as Float32Array<ArrayBuffer>).reshape(shape);
}


/** Median ms per jitted matmul over `reps` back-to-back calls (trials of them), synchronised by the last result. */
export async function jaxMatmulMs(M: number, N: number, K: number, reps: number, trials = 3): Promise<number> {
  const j = need();
  const np = j.numpy;
  const a = arr([M, K], 1);
  const b = arr([K, N], 2);
  const f = j.jit((x: JArray, y: JArray) => np.matmul(x, y));
  const run = async (n: number) => {
    const outs: JArray[] = [];
    for (let i = 0; i < n; i++) outs.push(f(a.ref, b.ref));
    // Every output: jax-js is lazy, and waiting on the last one alone runs only the last matmul.
    await j.blockUntilReady(outs);
    for (const o of outs) o.dispose();
  };
  await run(1); // compile
  const times: number[] = [];
  for (let t = 0; t < trials; t++) {
    const t0 = performance.now();
    await run(reps);
    times.push((performance.now() - t0) / reps);
  }
  a.dispose();
  b.dispose();
  f.dispose();
  return median(times);
}

export type MaskVariant = 'lax.topK' | 'knockout';

/** The k-th largest of `a` along the last axis (keepdims), gradient stopped. Consumes `a`. */
function kthLargest(a: JArray, k: number, variant: MaskVariant): JArray {
  const j = need();
  const np = j.numpy;
  a = j.lax.stopGradient(a);
  if (variant === 'lax.topK') {
    const [vals, idx] = j.lax.topK(a, k);
    idx.dispose();
    return vals.min(-1, { keepdims: true });
  }
  for (let i = 0; i < k - 1; i++) {
    const m = a.ref.max(-1, { keepdims: true });
    a = np.where(a.ref.greaterEqual(m), -Infinity, a);
  }
  return a.max(-1, { keepdims: true });
}

/** pre ⊙ [score ≥ k-th largest score]; `score` = |pre| or pre. Consumes `pre`. */
function topkMask(pre: JArray, k: number, variant: MaskVariant, abs: boolean): JArray {
  const np = need().numpy;
  const score = abs ? np.abs(pre.ref) : pre.ref;
  const thr = kthLargest(score.ref, k, variant);
  const mask = need().lax.stopGradient(score.greaterEqual(thr).astype(np.float32));
  return pre.mul(mask);
}

interface AdamState {
  params: Record<string, JArray>;
  m: Record<string, JArray>;
  v: Record<string, JArray>;
}

const B1 = 0.9;
const B2 = 0.999;
const EPS = 1e-8;

/**
 * One jitted step: (params, m, v, frozen, x, y, lrt) → [loss, params, m, v], Adam with the bias
 * correction folded into lrt = lr·√(1 − β2ᵗ)/(1 − β1ᵗ) (a scalar array, so no retrace per step).
 */
function makeStep(loss: (p: Record<string, JArray>, frozen: Record<string, JArray>, x: JArray, y: JArray) => JArray) {
  const j = need();
  const np = j.numpy;
  const vg = j.valueAndGrad(loss);
  return j.jit((params: Record<string, JArray>, m: Record<string, JArray>, v: Record<string, JArray>, frozen: Record<string, JArray>, x: JArray, y: JArray, lrt: JArray) => {
    const [value, grads] = vg(j.tree.ref(params), frozen, x, y) as [JArray, Record<string, JArray>];
    const np2: Record<string, JArray> = {};
    const nm: Record<string, JArray> = {};
    const nv: Record<string, JArray> = {};
    const names = Object.keys(params);
    names.forEach((name, i) => {
      const g = grads[name]!;
      nm[name] = m[name]!.mul(B1).add(g.ref.mul(1 - B1));
      nv[name] = v[name]!.mul(B2).add(g.ref.mul(g).mul(1 - B2));
      const update = nm[name]!.ref.div(np.sqrt(nv[name]!.ref).add(EPS)).mul(i === names.length - 1 ? lrt : lrt.ref);
      np2[name] = params[name]!.sub(update);
    });
    return [value, np2, nm, nv] as unknown as JArray[];
  });
}

async function timeSteps(step: ReturnType<typeof makeStep>, state: AdamState, frozen: Record<string, JArray>, x: JArray, y: JArray, steps: number, warmup: number): Promise<number> {
  const j = need();
  const np = j.numpy;
  // jax-js is lazy: an array is computed only when something waits on it (or on an array that
  // depends on it). Waiting on the last loss alone would skip the last step's backward and Adam
  // (and every earlier step's loss reduction), so every step's loss is kept and the wait covers
  // all losses and the final parameters and moments: every step does all its work, as ours does.
  let t0 = 0;
  let losses: JArray[] = [];
  for (let s = 1; s <= warmup + steps; s++) {
    if (s === warmup + 1) {
      await j.blockUntilReady([losses, state.params, state.m, state.v]);
      for (const l of losses) l.dispose();
      losses = [];
      t0 = performance.now();
    }
    const lrt = np.array(new Float32Array([(1e-3 * Math.sqrt(1 - B2 ** s)) / (1 - B1 ** s)])).reshape([]);
    const out = step(state.params, state.m, state.v, j.tree.ref(frozen), x.ref, y.ref, lrt) as unknown as [JArray, Record<string, JArray>, Record<string, JArray>, Record<string, JArray>];
    let loss: JArray;
    [loss, state.params, state.m, state.v] = out;
    losses.push(loss);
  }
  await j.blockUntilReady([losses, state.params, state.m, state.v]);
  const ms = (performance.now() - t0) / steps;
  const last = losses.pop()!;
  for (const l of losses) l.dispose();
  const lossValue = (await last.data())[0]!; // data() takes ownership of `last`
  if (!Number.isFinite(lossValue)) throw new Error(`jax-js step produced loss ${lossValue}`);
  return ms;
}

function zerosLike(p: Record<string, JArray>): Record<string, JArray> {
  const np = need().numpy;
  return Object.fromEntries(Object.entries(p).map(([k, a]) => [k, np.zeros(a.shape)]));
}

function disposeAll(...trees: Record<string, JArray>[]): void {
  for (const t of trees) for (const a of Object.values(t)) a.dispose();
}

/** fourier-atoms step (see the file comment), ms per step. */
export async function jaxFourierAtomsMs(variant: MaskVariant, opts: { steps: number; warmup?: number }, s = { batch: 32, seq: 64, dim: 128, atoms: 128, k: 8 }): Promise<number> {
  const j = need();
  const np = j.numpy;
  const { batch: B, seq: T, dim: d, atoms: M, k } = s;
  const w = 1 / Math.sqrt(d);
  // Weights stored [in, out] (x·W), as a jax user would.
  const frozen: Record<string, JArray> = {
    wq: arr([d, d], 11, 2 * w), wk: arr([d, d], 12, 2 * w), wv: arr([d, d], 13, 2 * w), wo: arr([d, d], 14, 2 * w),
    bq: arr([d], 15, 2 * w), bk: arr([d], 16, 2 * w), bv: arr([d], 17, 2 * w), bo: arr([d], 18, 2 * w),
  };
  const params: Record<string, JArray> = { ws: arr([d, M], 21, 2 * w), D: arr([M, d], 22, 0.02) };
  const x = arr([B, T, d], 31);
  const y = arr([B, T], 32);
  const scale = 1 / Math.sqrt(d);
  const loss = (p: Record<string, JArray>, f: Record<string, JArray>, xb: JArray, yb: JArray): JArray => {
    const q = np.matmul(xb.ref, f.wq!).add(f.bq!);
    const kk = np.matmul(xb.ref, f.wk!).add(f.bk!);
    const v = np.matmul(xb.ref, f.wv!).add(f.bv!);
    const A = j.nn.softmax(np.matmul(q, kk.transpose([0, 2, 1])).mul(scale), -1);
    const O = np.matmul(np.matmul(A.ref, v), f.wo!).add(f.bo!);
    const pre = np.matmul(A, np.matmul(xb, p.ws!)); // Ā·X·W_s [B, T, M]
    const delta = np.matmul(topkMask(pre, k, variant, true), p.D!);
    const pred = O.add(delta).sum(-1);
    const err = pred.sub(yb);
    return err.ref.mul(err).mean();
  };
  const step = makeStep(loss);
  const state: AdamState = { params, m: zerosLike(params), v: zerosLike(params) };
  try {
    return await timeSteps(step, state, frozen, x, y, opts.steps, opts.warmup ?? 2);
  } finally {
    disposeAll(state.params, state.m, state.v, frozen);
    x.dispose();
    y.dispose();
    step.dispose();
  }
}

/** stan-linear step (see the file comment), ms per step. */
export async function jaxStanLinearMs(variant: MaskVariant, opts: { steps: number; warmup?: number }, s = { rows: 2048, n: 128, m: 128, l: 512, k: 16 }): Promise<number> {
  const j = need();
  const np = j.numpy;
  const { rows, n, m, l, k } = s;
  const frozen: Record<string, JArray> = { w0: arr([n, m], 41, 2 / Math.sqrt(n)), b0: arr([m], 42, 2 / Math.sqrt(n)) };
  const params: Record<string, JArray> = { E: arr([n, l], 43, 2 / Math.sqrt(n)), D: arr([l, m], 44, 0.02) };
  const x = arr([rows, n], 45);
  const y = arr([rows, m], 46);
  const loss = (p: Record<string, JArray>, f: Record<string, JArray>, xb: JArray, yb: JArray): JArray => {
    const base = np.matmul(xb.ref, f.w0!).add(f.b0!);
    const code = topkMask(np.matmul(xb, p.E!), k, variant, false);
    const h = base.add(np.matmul(code, p.D!).mul(1 / k));
    const err = h.sub(yb);
    return err.ref.mul(err).mean();
  };
  const step = makeStep(loss);
  const state: AdamState = { params, m: zerosLike(params), v: zerosLike(params) };
  try {
    return await timeSteps(step, state, frozen, x, y, opts.steps, opts.warmup ?? 2);
  } finally {
    disposeAll(state.params, state.m, state.v, frozen);
    x.dispose();
    y.dispose();
    step.dispose();
  }
}
