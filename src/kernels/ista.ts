/**
 * ISTA / FISTA sparse coding on the GPU: for a dictionary D [M, C] and signals X [N, C],
 *   min_S ½‖X − S·D‖²_F + λ‖S‖₁        (S [N, M])
 * with a fixed number of proximal-gradient iterations, all recorded into one command list
 * (one submit, no readback):
 *   1. L = ‖D‖₂² by power iteration on the smaller Gram matrix (D·Dᵀ [M, M] or Dᵀ·D [C, C],
 *      same non-zero spectrum), `powerIterations` passes of (mat-vec, norm); the estimate
 *      ‖G·v̂‖ approaches λ_max from below, so it is multiplied by `lipschitzMargin` (1.01);
 *   2. per iteration: the gradient (Y·D − X)·Dᵀ by two matmuls — or, in the Gram form,
 *      Y·(D·Dᵀ) − X·Dᵀ with both constants computed once (one matmul per iteration; picked
 *      automatically when M ≤ 2C, where it is cheaper) — then one fused kernel
 *      S' = soft(Y − grad/L, λ/L), Y' = S' + β_k(S' − S) with FISTA's β_k = (t_k − 1)/t_{k+1}
 *      (β = 0: plain ISTA);
 *   3. optionally the objective after every iteration into `objective[k]` (a residual matmul
 *      and a two-stage deterministic sum; costs about one extra matmul per iteration).
 * λ and L live in one-element storage tensors, so λ can be changed between runs with a
 * queue.writeBuffer. The float64 reference `istaCpu` runs the same iterations (same power
 * iteration start vector, same β_k) for comparison.
 */
import { Rng } from '../engine/rng';
import { CommandList, type GpuRuntime } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { defineParams, opt } from '../engine/uniform-params';
import { grid1d } from './grid';
import { matmulCpu, recordMatmul } from './matmul';
import { shader } from './shader-sources';

export type IstaMethod = 'fista' | 'ista';

export interface IstaArgs {
  /** D [atoms, dim]. */
  dictionary: Tensor;
  /** X [signals, dim]. */
  x: Tensor;
  /** S [signals, atoms]: the result (and the start point with warmStart; else started at 0). */
  codes: Tensor;
  atoms: number;
  dim: number;
  signals: number;
  /** λ ≥ 0, or a one-element tensor holding it (changeable between runs). */
  lambda: number | Tensor;
  iterations: number;
  /** Default 'fista'. */
  method?: IstaMethod;
  /** Power-iteration passes for L (default 40). Ignored when `lipschitz` is given. */
  powerIterations?: number;
  /** Multiplier on the power-iteration estimate (default 1.01; ≥ 1 keeps the step ≤ 1/λ_max). */
  lipschitzMargin?: number;
  /** A one-element tensor holding L (skips the power iteration). */
  lipschitz?: Tensor;
  /** [iterations]: the objective after each iteration. */
  objective?: Tensor;
  /** Gradient via the Gram matrix (default: M ≤ 2C). */
  gram?: boolean;
  /** Start from the current `codes` instead of 0. */
  warmStart?: boolean;
  label?: string;
}

export interface IstaRecording {
  /** [1]: L used (the power-iteration estimate × margin, or the given tensor). */
  lipschitz: Tensor;
  /** [1]: λ (the given tensor, or one created from the number). */
  lambda: Tensor;
  /** Tensors allocated by this recording (release them when the list is discarded). */
  scratch: Tensor[];
}

const WG = 64;
export const DEFAULT_POWER_ITERATIONS = 40;
export const DEFAULT_LIPSCHITZ_MARGIN = 1.01;
/** Objective: first-stage threads. */
const OBJ_THREADS = 64;

const PARAMS = defineParams(
  { shaders: ['ista'], struct: 'Params' },
  { n: opt('u32'), row_stride: opt('u32'), n2: opt('u32'), threads: opt('u32'), index: opt('u32'), _pad: 'u32', beta: opt('f32'), scale: opt('f32', 1) },
);

/** FISTA's momentum weights β_k = (t_k − 1)/t_{k+1}, t_1 = 1 (all 0 for ISTA). */
export function fistaBetas(iterations: number, method: IstaMethod = 'fista'): Float64Array {
  const b = new Float64Array(iterations);
  if (method === 'ista') return b;
  let t = 1;
  for (let k = 0; k < iterations; k++) {
    const tNext = (1 + Math.sqrt(1 + 4 * t * t)) / 2;
    b[k] = (t - 1) / tNext;
    t = tNext;
  }
  return b;
}

/** The power iteration's deterministic start vector (shared by the GPU path and the CPU reference). */
export function powerStart(n: number): Float64Array {
  const rng = new Rng(0x1575a);
  return Float64Array.from({ length: n }, () => 0.5 + rng.next());
}

function checkInt(what: string, name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new Error(`${what}: ${name}=${v} must be an integer ≥ ${min}`);
}

/**
 * out[0] = margin·‖G·v̂‖ after `iterations` power-iteration passes on the symmetric PSD G [n, n]
 * (v̂ the normalised iterate): the largest eigenvalue, approached from below. 2 dispatches per pass.
 */
export function recordPowerIteration(
  rt: GpuRuntime,
  list: CommandList,
  a: { gram: Tensor; n: number; out: Tensor; iterations: number; margin?: number; label?: string },
): { scratch: Tensor[] } {
  const what = `power_iteration(${a.label ?? a.gram.name})`;
  checkInt(what, 'n', a.n, 1);
  checkInt(what, 'iterations', a.iterations, 1);
  if (a.gram.size < a.n * a.n) throw new Error(`${what}: gram ${a.gram.name} has ${a.gram.size} < ${a.n}² elements`);
  if (a.out.size < 1) throw new Error(`${what}: out ${a.out.name} is empty`);
  const v0 = powerStart(a.n);
  const vs = [rt.tensor([a.n], `${what}.v0`, Float32Array.from(v0)), rt.tensor([a.n], `${what}.v1`)];
  const ns = [rt.tensor([1], `${what}.n0`, [Math.hypot(...v0)]), rt.tensor([1], `${what}.n1`)];
  const g = grid1d(a.n, WG);
  const uMv = rt.uniform(PARAMS.pack({ n: a.n, row_stride: g.x }), 'power_matvec.params');
  const uN = rt.uniform(PARAMS.pack({ n: a.n }), 'power_norm.params');
  const uLast = rt.uniform(PARAMS.pack({ n: a.n, scale: a.margin ?? 1 }), 'power_norm.last.params');
  const mv = rt.pipeline(shader('ista'), 'power_matvec');
  const nrm = rt.pipeline(shader('ista'), 'power_norm');
  // Each pass's mat-vec re-reads v0 after it was overwritten two passes earlier: fine, it is
  // the previous iterate by then. Ping-pong: pass t reads (v, n)[t % 2], writes [(t + 1) % 2].
  // The v buffers are restored to the start vector by a copy at the beginning of each run.
  const start = rt.tensor([a.n + 1], `${what}.start`, Float32Array.from([...v0, Math.hypot(...v0)]));
  list.push({ kind: 'copy', label: `${what}.reset.v`, src: start.buffer, srcOffset: 0, dst: vs[0]!.buffer, dstOffset: vs[0]!.offset, size: a.n * 4 });
  list.push({ kind: 'copy', label: `${what}.reset.n`, src: start.buffer, srcOffset: a.n * 4, dst: ns[0]!.buffer, dstOffset: ns[0]!.offset, size: 4 });
  for (let t = 0; t < a.iterations; t++) {
    const src = t % 2;
    const dst = 1 - src;
    list.push(rt.dispatch(`${what}.matvec${t}`, mv, [uMv, a.gram, vs[src]!, ns[src]!, vs[dst]!], [g.x, g.y]));
    const last = t === a.iterations - 1;
    list.push(rt.dispatch(`${what}.norm${t}`, nrm, [last ? uLast : uN, vs[dst]!, last ? a.out : ns[dst]!], [1]));
  }
  return { scratch: [...vs, ...ns, start] };
}

/** Records a whole ISTA/FISTA solve (see the file comment). */
export function recordIsta(rt: GpuRuntime, list: CommandList, a: IstaArgs): IstaRecording {
  const what = `ista(${a.label ?? a.x.name})`;
  const { atoms: M, dim: C, signals: N } = a;
  checkInt(what, 'atoms', M, 1);
  checkInt(what, 'dim', C, 1);
  checkInt(what, 'signals', N, 1);
  checkInt(what, 'iterations', a.iterations, 1);
  const method = a.method ?? 'fista';
  if (method !== 'fista' && method !== 'ista') throw new Error(`${what}: method must be 'fista' or 'ista', got '${String(method)}'`);
  if (a.dictionary.size < M * C) throw new Error(`${what}: dictionary ${a.dictionary.name} has ${a.dictionary.size} < ${M}×${C} elements`);
  if (a.x.size < N * C) throw new Error(`${what}: x ${a.x.name} has ${a.x.size} < ${N}×${C} elements`);
  if (a.codes.size < N * M) throw new Error(`${what}: codes ${a.codes.name} has ${a.codes.size} < ${N}×${M} elements`);
  if (a.objective && a.objective.size < a.iterations) throw new Error(`${what}: objective ${a.objective.name} has ${a.objective.size} < ${a.iterations} elements`);
  for (const t of [a.dictionary, a.x]) if (t.buffer === a.codes.buffer) throw new Error(`${what}: codes ${a.codes.name} shares a buffer with ${t.name}`);
  const margin = a.lipschitzMargin ?? DEFAULT_LIPSCHITZ_MARGIN;
  if (!(margin > 0) || !Number.isFinite(margin)) throw new Error(`${what}: lipschitzMargin=${margin} must be a positive number`);

  const scratch: Tensor[] = [];
  const own = (shape: number[], name: string, data?: Float32Array | number[]) => {
    const t = rt.tensor(shape, `${what}.${name}`, data);
    scratch.push(t);
    return t;
  };

  let lambda: Tensor;
  if (typeof a.lambda === 'number') {
    if (!(a.lambda >= 0) || !Number.isFinite(a.lambda)) throw new Error(`${what}: lambda=${a.lambda} must be a finite number ≥ 0`);
    lambda = own([1], 'lambda', [a.lambda]);
  } else {
    if (a.lambda.size < 1) throw new Error(`${what}: lambda tensor ${a.lambda.name} is empty`);
    lambda = a.lambda;
  }

  const gramForm = a.gram ?? M <= 2 * C;
  // D·Dᵀ [M, M] (also the Gram-form constant) when it is the smaller Gram matrix or needed anyway.
  let ddt: Tensor | null = null;
  if (gramForm || (!a.lipschitz && M <= C)) {
    ddt = own([M, M], 'DDt');
    recordMatmul(rt, list, { a: a.dictionary, b: a.dictionary, c: ddt, M, N: M, K: C, transB: true, label: `${what}.DDt` });
  }

  let lip: Tensor;
  if (a.lipschitz) {
    if (a.lipschitz.size < 1) throw new Error(`${what}: lipschitz tensor ${a.lipschitz.name} is empty`);
    lip = a.lipschitz;
  } else {
    lip = own([1], 'L');
    let gram: Tensor;
    let n: number;
    if (M <= C) {
      gram = ddt!;
      n = M;
    } else {
      gram = own([C, C], 'DtD');
      recordMatmul(rt, list, { a: a.dictionary, b: a.dictionary, c: gram, M: C, N: C, K: M, transA: true, label: `${what}.DtD` });
      n = C;
    }
    scratch.push(...recordPowerIteration(rt, list, { gram, n, out: lip, iterations: a.powerIterations ?? DEFAULT_POWER_ITERATIONS, margin, label: what }).scratch);
  }

  const y = own([N, M], 'Y');
  const grad = own([N, M], 'grad');
  const bytes = N * M * 4;
  if (a.warmStart) {
    list.push({ kind: 'copy', label: `${what}.warm`, src: a.codes.buffer, srcOffset: a.codes.offset, dst: y.buffer, dstOffset: y.offset, size: bytes });
  } else {
    list.push({ kind: 'clear', label: `${what}.zero.S`, buffer: a.codes.buffer, offset: a.codes.offset, size: bytes });
    list.push({ kind: 'clear', label: `${what}.zero.Y`, buffer: y.buffer, offset: y.offset, size: bytes });
  }

  let negXDt: Tensor | null = null;
  let resid: Tensor | null = null;
  if (gramForm) {
    negXDt = own([N, M], 'negXDt');
    recordMatmul(rt, list, { a: a.x, b: a.dictionary, c: negXDt, M: N, N: M, K: C, transB: true, alpha: -1, label: `${what}.-XDt` });
  }
  if (!gramForm || a.objective) resid = own([N, C], 'R');

  const gStep = grid1d(N * M, WG);
  const step = rt.pipeline(shader('ista'), 'ista_step');
  const betas = fistaBetas(a.iterations, method);
  let objPartials: Tensor | null = null;
  let uObjPart: GPUBuffer | null = null;
  const objThreads = Math.min(OBJ_THREADS, Math.max(N * C, N * M));
  if (a.objective) {
    objPartials = own([2 * objThreads], 'objective.partials');
    uObjPart = rt.uniform(PARAMS.pack({ n: N * C, n2: N * M, threads: objThreads, row_stride: 1 }), 'objective_part.params');
  }
  for (let k = 0; k < a.iterations; k++) {
    if (gramForm) {
      // grad = Y·(D·Dᵀ) − X·Dᵀ
      recordMatmul(rt, list, { a: y, b: ddt!, c: grad, M: N, N: M, K: M, residual: negXDt!, label: `${what}.grad${k}` });
    } else {
      // R = X − Y·D; grad = −R·Dᵀ
      recordMatmul(rt, list, { a: y, b: a.dictionary, c: resid!, M: N, N: C, K: M, alpha: -1, residual: a.x, label: `${what}.resid${k}` });
      recordMatmul(rt, list, { a: resid!, b: a.dictionary, c: grad, M: N, N: M, K: C, transB: true, alpha: -1, label: `${what}.grad${k}` });
    }
    const u = rt.uniform(PARAMS.pack({ n: N * M, row_stride: gStep.x, beta: betas[k]! }), `ista_step.params`);
    list.push(rt.dispatch(`${what}.step${k}`, step, [u, lip, lambda, grad, y, a.codes], [gStep.x, gStep.y]));
    if (a.objective) {
      recordMatmul(rt, list, { a: a.codes, b: a.dictionary, c: resid!, M: N, N: C, K: M, alpha: -1, residual: a.x, label: `${what}.objR${k}` });
      list.push(rt.dispatch(`${what}.obj${k}`, rt.pipeline(shader('ista'), 'objective_part'), [uObjPart!, resid!, a.codes, objPartials!], [Math.ceil(objThreads / WG)]));
      const uf = rt.uniform(PARAMS.pack({ threads: objThreads, index: k }), 'objective_final.params');
      list.push(rt.dispatch(`${what}.objFinal${k}`, rt.pipeline(shader('ista'), 'objective_final'), [uf, lambda, objPartials!, a.objective], [1]));
    }
  }
  return { lipschitz: lip, lambda, scratch };
}

/**
 * Convenience for inspection (not for a training step): encodes `x` over `dictionary` in one
 * submit and reads the codes (and objective, L) back. Allocates and releases its own buffers.
 */
export async function sparseEncode(
  rt: GpuRuntime,
  a: Omit<IstaArgs, 'codes' | 'objective' | 'lambda'> & { lambda: number; withObjective?: boolean },
): Promise<{ codes: Float32Array; lipschitz: number; objective: Float32Array | null }> {
  const codes = rt.tensor([a.signals, a.atoms], 'sparseEncode.codes');
  const objective = a.withObjective ? rt.tensor([a.iterations], 'sparseEncode.objective') : null;
  const list = new CommandList('sparse-encode');
  const rec = recordIsta(rt, list, { ...a, codes, ...(objective ? { objective } : {}) });
  rt.submit([list]);
  try {
    return {
      codes: await rt.read(codes),
      lipschitz: (await rt.read(rec.lipschitz))[0]!,
      objective: objective ? await rt.read(objective) : null,
    };
  } finally {
    for (const t of [codes, objective, ...rec.scratch]) if (t) rt.release(t);
  }
}

// ---------- CPU reference (float64) ----------

/** margin·‖G·v̂‖ after `iterations` passes from powerStart(n), as the GPU computes it. */
export function powerIterationCpu(gram: ArrayLike<number>, n: number, iterations: number, margin = 1): number {
  let v = powerStart(n);
  let nv = Math.hypot(...v);
  for (let t = 0; t < iterations; t++) {
    const w = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let acc = 0;
      for (let j = 0; j < n; j++) acc += gram[i * n + j]! * v[j]!;
      w[i] = acc / Math.max(nv, 1e-30);
    }
    v = w;
    nv = Math.hypot(...w);
  }
  return margin * nv;
}

export function istaObjectiveCpu(dict: ArrayLike<number>, x: ArrayLike<number>, codes: ArrayLike<number>, a: { atoms: number; dim: number; signals: number; lambda: number }): number {
  const sd = matmulCpu(codes, dict, { M: a.signals, N: a.dim, K: a.atoms });
  let r2 = 0;
  for (let i = 0; i < sd.length; i++) r2 += (x[i]! - sd[i]!) ** 2;
  let l1 = 0;
  for (let i = 0; i < a.signals * a.atoms; i++) l1 += Math.abs(codes[i]!);
  return 0.5 * r2 + a.lambda * l1;
}

/** Float64 ISTA/FISTA with the GPU's iteration (same L estimate unless `lipschitz` is given). */
export function istaCpu(
  dict: ArrayLike<number>,
  x: ArrayLike<number>,
  a: { atoms: number; dim: number; signals: number; lambda: number; iterations: number; method?: IstaMethod; powerIterations?: number; lipschitzMargin?: number; lipschitz?: number; start?: ArrayLike<number> },
): { codes: Float64Array; lipschitz: number; objective: Float64Array } {
  const { atoms: M, dim: C, signals: N } = a;
  let L = a.lipschitz;
  if (L === undefined) {
    const small = M <= C ? matmulCpu(dict, dict, { M, N: M, K: C, transB: true }) : matmulCpu(dict, dict, { M: C, N: C, K: M, transA: true });
    L = powerIterationCpu(small, Math.min(M, C), a.powerIterations ?? DEFAULT_POWER_ITERATIONS, a.lipschitzMargin ?? DEFAULT_LIPSCHITZ_MARGIN);
  }
  const betas = fistaBetas(a.iterations, a.method ?? 'fista');
  const s = a.start ? Float64Array.from(a.start) : new Float64Array(N * M);
  const y = Float64Array.from(s);
  const objective = new Float64Array(a.iterations);
  const thr = a.lambda / L;
  for (let k = 0; k < a.iterations; k++) {
    const r = matmulCpu(y, dict, { M: N, N: C, K: M });
    for (let i = 0; i < r.length; i++) r[i] = r[i]! - x[i]!;
    const grad = matmulCpu(r, dict, { M: N, N: M, K: C, transB: true });
    for (let i = 0; i < N * M; i++) {
      const v = y[i]! - grad[i]! / L;
      const sNew = Math.sign(v) * Math.max(Math.abs(v) - thr, 0);
      y[i] = sNew + betas[k]! * (sNew - s[i]!);
      s[i] = sNew;
    }
    objective[k] = istaObjectiveCpu(dict, x, s, { atoms: M, dim: C, signals: N, lambda: a.lambda });
  }
  return { codes: s, lipschitz: L, objective };
}
