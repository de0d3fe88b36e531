/**
 * The atoms paper's Fourier toy (Chen et al., §3.3 "Features atoms are key to fine-tuning",
 * Fig. 2; App. C.1, Fig. 9): length-64 signals, each a sum of 5 Fourier bases; the low band
 * (0…24 cycles per 64 samples) for pre-training, the high band (25…32) for fine-tuning; 16 of 64
 * samples observed; one attention block reconstructs the whole signal. Data: src/data/fourier-signals.ts.
 *
 * The model (one block, applied K times with shared weights). Token t is time step t.
 *   lift      X_t = r_t·E_t + m_t·F_t, r_t = m_t·(x_t − ŷ_t) the observed residual (ŷ^0 = 0),
 *             E, F ∈ R^{seq×C} frozen, the rows of one random orthogonal matrix (C = 128 = 2·seq:
 *             E and F *jointly* orthogonal, so the observed flag cannot leak into the value
 *             channel; `lift: 'none'` sets F = 0). Unobserved tokens are X_t = 0.
 *   atoms     D ∈ R^{M×C}; atom m's time profile is d_m(t) = ⟨D̃_m, E_t⟩ with D̃_m = D_m / ‖D_m·Eᵀ‖
 *             (unit-norm time profiles, in the forward pass: an atom is a unit-energy signal).
 *   step k    A^k = softmax(X^k W_q (X^k W_k)ᵀ / √M)               (one head, over all seq tokens)
 *             S^{k+1} = σ_λ(S^k + A^k X^k W_s),   S^0 = 0          (sparse: soft threshold λ)
 *             S^{k+1} =      S^k + A^k X^k W_s                      (dense)
 *             ŷ^{k+1}_t = ⟨S^{k+1}_t D̃, E_t⟩ = Σ_m S^{k+1}_tm·d_m(t)
 *   output    y_t = x_t where observed, ŷ^K_t elsewhere: the 16 observations are known, the model
 *             fills in the rest (so the loss is on the unobserved samples; a model whose
 *             observed tokens' own outputs were scored learned to sharpen their attention for
 *             them, which multiplies their ISTA step by up to seq and blew training up).
 * W_s: 'tied' (default) W_s = η·D̃ᵀ — the code is inferred *from* the dictionary, as in sparse
 * coding: with uniform attention (W_q = 0, the initialisation) step k is exactly an ISTA step on
 * ½‖m ⊙ (x − Σ_m s_m d_m)‖² + λ‖s‖₁ with step size η/seq; 'untied' W_s is a free [C, M] matrix
 * (initialised to the tied value). "Coefficients" are W_q, W_k and η (tied) or W_s (untied);
 * "atoms" are D. λ is fixed (not trained).
 *
 * Implementation: the unobserved tokens have X = 0, so their queries, keys and values are 0 and
 * they are all identical (same attention row, same code, at every step). The GPU runs a compact
 * layout — per signal its `observed` tokens plus one "rest" row for all unobserved ones, whose key
 * weighs seq − observed in the softmax (kernels/fourier.ts softmaxMult) — which is exactly the
 * model above at (observed + 1)/seq of the cost. The float64 reference fourierForwardCpu runs the
 * plain seq-token definition; the tests compare the two.
 *
 * GPU work per step, recorded once, one submit: the atoms' profiles and norms (D·Eᵀ), D̃ (and
 * η·D̃), then per step lift, Q, K, V, scores, softmax, P·V (+ S^k), σ, S·D̃, read-out; the full
 * read-out; the backward in reverse, parameter gradients only for trainable parameters.
 */
import { mixSeed, Rng } from '../engine/rng';
import { ParamPack, type ParamRef } from '../engine/param-pack';
import { CommandList, type GpuRuntime } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { recordAttentionBackward } from '../kernels/attention';
import {
  recordLift,
  recordLiftBackward,
  recordNormalize,
  recordNormalizeBackward,
  recordReadout,
  recordReadoutBackward,
  recordReadoutFull,
  recordReadoutFullBackward,
  recordRowNorms,
  recordSoftmaxMult,
  recordTiedBackward,
} from '../kernels/fourier';
import { recordMseLoss } from '../kernels/loss';
import { recordMatmul } from '../kernels/matmul';
import { recordRowNonzeros, recordShrinkBackward, recordShrinkForward } from '../kernels/shrink';
import { declareParam, type BuildContext } from '../nn/module';
import { parseSafetensors, serializeSafetensors, toFloat32 } from '../io/safetensors';
import { Trainer, type TrainGraph } from '../train/trainer';
import { EpochOrder } from '../data/epoch-order';
import type { FourierDataConfig, FourierSet } from '../data/fourier-signals';

// ---------- configuration ----------

export type FourierForm = 'dense' | 'sparse';
/** How W_s is made: 'tied' W_s = η·D̃ᵀ (sparse coding), 'untied' a free matrix. */
export type FourierTie = 'tied' | 'untied';
/** 'joint': E and F are jointly orthogonal rows of one C×C orthogonal matrix (C ≥ 2·seq); 'none': F = 0 (C ≥ seq). */
export type FourierLiftKind = 'joint' | 'none';
/** What a train graph updates: everything (pre-training) or, when fine-tuning, atoms D, coefficients or both. */
export type FourierTrain = 'all' | 'atoms' | 'coefficients' | 'both';

export interface FourierConfig extends FourierDataConfig {
  /** Feature dimension C of the lift (tokens are [C]). */
  dim: number;
  /** M, the number of atoms (rows of D). */
  atoms: number;
  /** Unrolled block applications K. */
  iterations: number;
  lift: FourierLiftKind;
  tie: FourierTie;
  /** Soft threshold λ of the sparse form (fixed). */
  lambda: number;
  /** Initial ISTA step size γ = η/seq (the step under uniform attention). */
  stepInit: number;
  batch: number;
  trainSamples: number;
  valSamples: number;
  /** Samples for the linear-floor least-squares fit. */
  floorSamples: number;
  pretrainSteps: number;
  finetuneSteps: number;
  pretrainLr: number;
  finetuneLr: number;
  /** Seeds the lift, the initialisation and the batch order. */
  seed: number;
}

export const FOURIER_FULL: FourierConfig = {
  seq: 64,
  bases: 5,
  amplitude: 5,
  observed: 16,
  lowBand: [0, 24],
  highBand: [25, 32],
  basisSet: 'fixed',
  dataSeed: 1,
  seed: 1,
  dim: 128,
  atoms: 64,
  iterations: 4,
  lift: 'joint',
  tie: 'tied',
  lambda: 3,
  stepInit: 1.5,
  batch: 16,
  trainSamples: 8192,
  valSamples: 512,
  floorSamples: 20000,
  pretrainSteps: 800,
  finetuneSteps: 500,
  pretrainLr: 3e-3,
  finetuneLr: 3e-3,
};

/** CI-sized: the same task and model, fewer steps and signals. */
export const FOURIER_QUICK: FourierConfig = {
  ...FOURIER_FULL,
  batch: 8,
  trainSamples: 1024,
  valSamples: 128,
  floorSamples: 4000,
  pretrainSteps: 200,
  finetuneSteps: 150,
};

// ---------- the frozen lift ----------

/** Rows of a random orthogonal matrix (Gram–Schmidt, two passes, float64), from the seed. */
function orthonormalRows(rng: Rng, rows: number, dim: number): Float64Array[] {
  const out: Float64Array[] = [];
  for (let i = 0; i < rows; i++) {
    const v = Float64Array.from({ length: dim }, () => rng.normal());
    for (let pass = 0; pass < 2; pass++) {
      for (const u of out) {
        let d = 0;
        for (let c = 0; c < dim; c++) d += v[c]! * u[c]!;
        for (let c = 0; c < dim; c++) v[c] = v[c]! - d * u[c]!;
      }
    }
    let n = 0;
    for (let c = 0; c < dim; c++) n += v[c]! ** 2;
    n = Math.sqrt(n);
    for (let c = 0; c < dim; c++) v[c] = v[c]! / n;
    out.push(v);
  }
  return out;
}

/**
 * The frozen lift [2, seq, C]: E then F. 'joint': the first 2·seq rows of one random orthogonal
 * C×C matrix (E·Eᵀ = F·Fᵀ = I, E·Fᵀ = 0); 'none': E orthonormal rows, F = 0. From the seed.
 */
export function fourierLift(cfg: Pick<FourierConfig, 'seq' | 'dim' | 'lift' | 'seed'>): Float32Array {
  const { seq: T, dim: C } = cfg;
  const need = cfg.lift === 'joint' ? 2 * T : T;
  if (C < need) throw new Error(`fourier: lift '${cfg.lift}' needs dim ≥ ${need} (orthogonal rows), got dim ${C}`);
  const rows = orthonormalRows(new Rng(mixSeed(cfg.seed, 0x11f7, 0x4c)), need, C);
  const out = new Float32Array(2 * T * C);
  rows.forEach((v, i) => out.set(v, i * C));
  return out;
}

/** Atom time profiles d_m(t) = ⟨D̃_m, E_t⟩ (unit norm over t), [M, seq]; D [M, C], lift [2, seq, C]. */
export function atomProfiles(cfg: Pick<FourierConfig, 'atoms' | 'seq' | 'dim'>, D: ArrayLike<number>, lift: ArrayLike<number>): Float64Array {
  const { atoms: M, seq: T, dim: C } = cfg;
  const out = new Float64Array(M * T);
  for (let m = 0; m < M; m++) {
    let n2 = 0;
    for (let t = 0; t < T; t++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += D[m * C + c]! * lift[t * C + c]!;
      out[m * T + t] = s;
      n2 += s * s;
    }
    const n = Math.sqrt(n2 + 1e-20);
    for (let t = 0; t < T; t++) out[m * T + t]! /= n;
  }
  return out;
}

/** Share of a profile's energy (|DFT|², one-sided, t = 0…seq−1) at the given frequencies, per atom. */
export function bandEnergyShares(profiles: Float64Array, atoms: number, seq: number, freqs: readonly number[]): Float64Array {
  const out = new Float64Array(atoms);
  for (let m = 0; m < atoms; m++) {
    let total = 0;
    let inBand = 0;
    for (let f = 0; f <= seq / 2; f++) {
      let re = 0;
      let im = 0;
      for (let t = 0; t < seq; t++) {
        const a = (2 * Math.PI * f * t) / seq;
        re += profiles[m * seq + t]! * Math.cos(a);
        im -= profiles[m * seq + t]! * Math.sin(a);
      }
      const e = (re * re + im * im) * (f === 0 || 2 * f === seq ? 1 : 2);
      total += e;
      if (freqs.includes(f)) inBand += e;
    }
    out[m] = total > 0 ? inBand / total : 0;
  }
  return out;
}

// ---------- the model ----------

export interface FourierModelOptions {
  form: FourierForm;
  train: FourierTrain;
  /** Default cfg.lambda (the dense form has no threshold). */
  lambda?: number;
}

export const fourierParamNames = (tie: FourierTie) => ['fourier.lift', 'fourier.W_q', 'fourier.W_k', tie === 'tied' ? 'fourier.log_eta' : 'fourier.W_s', 'fourier.D'];

export interface FourierModel {
  cfg: FourierConfig;
  form: FourierForm;
  train: FourierTrain;
  /** Every parameter, lift included (what a base checkpoint holds). */
  params: ParamRef[];
  trainable: ParamPack;
  frozen: ParamPack;
  wq: ParamRef;
  wk: ParamRef;
  /** Tied form: log η [1]; untied: null. */
  logEta: ParamRef | null;
  /** Untied form: W_s [C, M]; tied: null. */
  ws: ParamRef | null;
  dict: ParamRef;
  lift: ParamRef;
  /** Compact rows per signal (observed + 1) and per batch. */
  tc: number;
  rows: number;
  /** Batch inputs: positions and values of the observed tokens [rows] (compact; rest rows 0), slot [batch·seq], target [batch·seq]. */
  pos: Tensor;
  xobs: Tensor;
  slot: Tensor;
  target: Tensor;
  /** ŷ^K [batch·seq]. */
  prediction: Tensor;
  /** S^K [rows, M], compact (see expandCodes). */
  codes: Tensor;
  forward: CommandList;
  lossList: CommandList;
  backward: CommandList;
  lossValue: Tensor;
  activeAtoms: Tensor;
  /** Writes signals `idx` of `set` as the batch inputs (padding with the last index). */
  writeBatch(set: FourierSet, idx: readonly number[]): void;
  /** A TrainGraph cycling through `set` in a seeded order. */
  graph(set: FourierSet): TrainGraph;
  destroy(): void;
}

export function buildFourierModel(rt: GpuRuntime, cfg: FourierConfig, opts: FourierModelOptions): FourierModel {
  const { value, scope } = rt.scoped(`fourier(${opts.form}, ${cfg.tie}, ${opts.train})`, () => build(rt, cfg, opts));
  return { ...value, destroy: () => scope.dispose() };
}

/** Checks a config's shapes; throws one actionable error. */
export function checkFourierConfig(cfg: FourierConfig): void {
  const problems: string[] = [];
  const posInt = (k: keyof FourierConfig) => {
    const v = cfg[k] as number;
    if (!Number.isInteger(v) || v < 1) problems.push(`${k}=${v} must be a positive integer`);
  };
  for (const k of ['seq', 'dim', 'atoms', 'iterations', 'batch', 'observed'] as const) posInt(k);
  if (cfg.observed >= cfg.seq) problems.push(`observed=${cfg.observed} must be below seq=${cfg.seq}`);
  if (cfg.lift !== 'joint' && cfg.lift !== 'none') problems.push(`lift '${String(cfg.lift)}' must be 'joint' or 'none'`);
  if (cfg.tie !== 'tied' && cfg.tie !== 'untied') problems.push(`tie '${String(cfg.tie)}' must be 'tied' or 'untied'`);
  if (cfg.dim < (cfg.lift === 'joint' ? 2 : 1) * cfg.seq) problems.push(`dim=${cfg.dim} must be ≥ ${cfg.lift === 'joint' ? 2 : 1}·seq for lift '${cfg.lift}'`);
  if (!(cfg.lambda >= 0)) problems.push(`lambda=${cfg.lambda} must be ≥ 0`);
  if (!(cfg.stepInit > 0)) problems.push(`stepInit=${cfg.stepInit} must be > 0`);
  if (problems.length) throw new Error(`fourier config: ${problems.join('; ')}`);
}

/** Float64 initial values of every parameter (what build() declares); a pure function of (cfg, form). */
export function fourierInit(cfg: FourierConfig, form: FourierForm): Map<string, Float32Array> {
  const { seq: T, dim: C, atoms: M } = cfg;
  const rng = new Rng(mixSeed(cfg.seed, form === 'sparse' ? 0x5a : 0xde, 0x1417));
  const lift = fourierLift(cfg);
  const bound = 1 / Math.sqrt(C);
  const uniform = (n: number) => Float32Array.from({ length: n }, () => rng.uniform(-bound, bound));
  const wk = uniform(C * M);
  // D: atoms whose time profiles are orthonormal (M ≤ seq) or a tight frame (M > seq), in E's
  // span: a well-conditioned dictionary, so the ISTA step γ·‖ΦΦᵀ‖ starts stable (a random square
  // dictionary has ‖ΦΦᵀ‖ up to ~4 and diverged at the steps training wants).
  const prof = new Float64Array(M * T);
  if (M <= T) orthonormalRows(rng, M, T).forEach((v, m) => prof.set(v, m * T));
  else orthonormalRows(rng, T, M).forEach((v, t) => v.forEach((x, m) => (prof[m * T + t] = x)));
  const D = new Float32Array(M * C);
  for (let m = 0; m < M; m++) for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) D[m * C + c] += prof[m * T + t]! * lift[t * C + c]!;
  const out = new Map<string, Float32Array>([
    ['fourier.lift', lift],
    ['fourier.W_q', new Float32Array(C * M)],
    ['fourier.W_k', wk],
    ['fourier.D', D],
  ]);
  const eta = cfg.stepInit * T;
  if (cfg.tie === 'tied') out.set('fourier.log_eta', Float32Array.of(Math.log(eta)));
  else {
    // W_s = η·D̃ᵀ: the untied form starts where the tied one does.
    const ws = new Float32Array(C * M);
    for (let m = 0; m < M; m++) {
      let n2 = 0;
      for (let t = 0; t < T; t++) {
        let s = 0;
        for (let c = 0; c < C; c++) s += D[m * C + c]! * lift[t * C + c]!;
        n2 += s * s;
      }
      const n = Math.sqrt(n2 + 1e-20);
      for (let c = 0; c < C; c++) ws[c * M + m] = (eta * D[m * C + c]!) / n;
    }
    out.set('fourier.W_s', ws);
  }
  return out;
}

function build(rt: GpuRuntime, cfg: FourierConfig, opts: FourierModelOptions): Omit<FourierModel, 'destroy'> {
  checkFourierConfig(cfg);
  const { seq: T, dim: C, atoms: M, batch: B, iterations: K } = cfg;
  const tc = cfg.observed + 1;
  const rows = B * tc;
  const sparse = opts.form === 'sparse';
  const tied = cfg.tie === 'tied';
  const lambda = sparse ? (opts.lambda ?? cfg.lambda) : 0;
  const coefTrain = opts.train !== 'atoms';
  const atomTrain = opts.train !== 'coefficients';
  const trainable = new ParamPack(rt, 'fourier', true);
  const frozen = new ParamPack(rt, 'fourier.frozen', false);
  const ctx: BuildContext = { rt, trainable, frozen, rng: new Rng(0) };
  const init = fourierInit(cfg, opts.form);
  const decl = (name: string, shape: number[], isFrozen: boolean) => declareParam(ctx, name, shape, init.get(name)!, { frozen: isFrozen, decay: false });
  const lift = decl('fourier.lift', [2, T, C], true);
  const wq = decl('fourier.W_q', [C, M], !coefTrain);
  const wk = decl('fourier.W_k', [C, M], !coefTrain);
  const logEta = tied ? decl('fourier.log_eta', [1], !coefTrain) : null;
  const ws = tied ? null : decl('fourier.W_s', [C, M], !coefTrain);
  const dict = decl('fourier.D', [M, C], !atomTrain);
  trainable.finalize();
  frozen.finalize();

  const t = (shape: number[], name: string) => rt.tensor(shape, `fourier.${name}`);
  const pos = t([rows], 'pos');
  const xobs = t([rows], 'xobs');
  const slot = t([B * T], 'slot');
  const target = t([B * T], 'target');
  const lambdaT = rt.tensor([1], 'fourier.lambda', [lambda]);
  const E = lift.value; // E is the first [T, C] block; the kernels find F past it.
  const shape = { rows, tc, cols: C, seq: T };
  const mult = T - cfg.observed;
  const scale = 1 / Math.sqrt(M);

  // Atom profiles, norms, D̃ and (tied) Wt = η·D̃: once per step.
  const prof = t([M, T], 'profiles');
  const norms = t([M], 'norms');
  const dn = t([M, C], 'Dn');
  const wt = tied ? t([M, C], 'Wt') : null;
  const X: Tensor[] = [];
  const Q: Tensor[] = [];
  const Kt: Tensor[] = [];
  const V: Tensor[] = [];
  const P: Tensor[] = [];
  const pre: Tensor[] = [];
  const S: Tensor[] = [];
  const yc: Tensor[] = [];
  for (let k = 0; k < K; k++) {
    X.push(t([rows, C], `X${k}`));
    Q.push(t([rows, M], `Q${k}`));
    Kt.push(t([rows, M], `K${k}`));
    V.push(t([rows, M], `V${k}`));
    P.push(t([B, 1, tc, tc], `A${k}`));
    pre.push(t([rows, M], `pre${k}`));
    S.push(sparse ? t([rows, M], `S${k + 1}`) : pre[k]!);
    yc.push(t([rows], `yc${k + 1}`));
  }
  const Y = t([rows, C], 'O');
  const prediction = t([B * T], 'prediction');
  const lossValue = t([1], 'loss');
  const activeAtoms = t([1], 'active_atoms');

  // ---- forward ----
  const forward = new CommandList('fourier.forward');
  recordMatmul(rt, forward, { a: dict.value, b: E, c: prof, M, N: T, K: C, transB: true, label: 'fourier.profiles' });
  recordRowNorms(rt, forward, { p: prof, norms, atoms: M, seq: T });
  recordNormalize(rt, forward, { d: dict.value, norms, dn, atoms: M, cols: C, ...(tied ? { logEta: logEta!.value, wt: wt! } : {}) });
  for (let k = 0; k < K; k++) {
    recordLift(rt, forward, { ...shape, pos, xobs, yhat: k > 0 ? yc[k - 1]! : null, lift: lift.value, x: X[k]!, label: `fourier.X${k}` });
    recordMatmul(rt, forward, { a: X[k]!, b: wq.value, c: Q[k]!, M: rows, N: M, K: C, label: `fourier.Q${k}` });
    recordMatmul(rt, forward, { a: X[k]!, b: wk.value, c: Kt[k]!, M: rows, N: M, K: C, label: `fourier.K${k}` });
    if (tied) recordMatmul(rt, forward, { a: X[k]!, b: wt!, c: V[k]!, M: rows, N: M, K: C, transB: true, label: `fourier.V${k}` });
    else recordMatmul(rt, forward, { a: X[k]!, b: ws!.value, c: V[k]!, M: rows, N: M, K: C, label: `fourier.V${k}` });
    const per = { batch: B, strideA: tc * M, strideB: tc * M } as const;
    recordMatmul(rt, forward, { ...per, a: Q[k]!, b: Kt[k]!, c: P[k]!, M: tc, N: tc, K: M, transB: true, alpha: scale, strideC: tc * tc, label: `fourier.scores${k}` });
    recordSoftmaxMult(rt, forward, { scores: P[k]!, rows, tc, mult, label: `fourier.A${k}` });
    recordMatmul(rt, forward, {
      batch: B, strideA: tc * tc, strideB: tc * M, strideC: tc * M,
      a: P[k]!, b: V[k]!, c: pre[k]!, M: tc, N: M, K: tc,
      ...(k > 0 ? { residual: S[k - 1]! } : {}),
      label: `fourier.pre${k}`,
    });
    if (sparse) recordShrinkForward(rt, forward, { kind: 'soft', x: pre[k]!, y: S[k]!, lambda: lambdaT, cols: M, label: `fourier.S${k + 1}` });
    recordMatmul(rt, forward, { a: S[k]!, b: dn, c: Y, M: rows, N: C, K: M, label: `fourier.SD${k + 1}` });
    // ŷ at the observed tokens feeds the next step's residual (the last step's is not used).
    if (k < K - 1) recordReadout(rt, forward, { ...shape, pos, y: Y, lift: E, out: yc[k]!, label: `fourier.yc${k + 1}` });
  }
  recordReadoutFull(rt, forward, { ...shape, slot, xobs, y: Y, lift: E, out: prediction });
  const codes = S[K - 1]!;
  recordRowNonzeros(rt, forward, { x: codes, rows, cols: M, mean: activeAtoms, label: 'fourier.active' });

  // ---- loss ----
  const lossList = new CommandList('fourier.loss');
  const dPred = t([B * T], 'prediction.grad');
  recordMseLoss(rt, lossList, { pred: prediction, target, grad: dPred, loss: lossValue, n: B * T });

  // ---- backward (iterations in reverse) ----
  const backward = new CommandList('fourier.backward');
  const dyc = t([rows], 'yc.grad');
  const dY = t([rows, C], 'O.grad');
  const dS = t([rows, M], 'S.grad');
  const dPre = [t([rows, M], 'pre.grad.a'), t([rows, M], 'pre.grad.b')];
  const dQ = t([rows, M], 'Q.grad');
  const dK = t([rows, M], 'K.grad');
  const dV = t([rows, M], 'V.grad');
  const dX = t([rows, C], 'X.grad');
  const dDn = atomTrain ? t([M, C], 'Dn.grad') : null;
  const G = tied ? t([M, C], 'Wt.grad') : null;
  // Does anything upstream of pre^k need a gradient? Coefficients (any k); the atoms through
  // Wt (tied, any k) or through ŷ^k feeding X^k (k ≥ 1).
  const needPre = (k: number) => coefTrain || (tied && atomTrain) || k > 0;
  let dDnWritten = false;
  let gWritten = false;
  for (let k = K - 1; k >= 0; k--) {
    if (k === K - 1) recordReadoutFullBackward(rt, backward, { ...shape, slot, dout: dPred, lift: E, dy: dY });
    else recordReadoutBackward(rt, backward, { ...shape, pos, dout: dyc, lift: E, dy: dY, label: `fourier.dY${k + 1}` });
    if (dDn) {
      recordMatmul(rt, backward, { a: S[k]!, b: dY, c: dDn, M, N: C, K: rows, transA: true, accumulate: dDnWritten, label: `fourier.dDn${k + 1}` });
      dDnWritten = true;
    }
    if (!needPre(k)) break;
    const dPreK = dPre[k % 2]!;
    const carry = k < K - 1 ? { residual: dPre[(k + 1) % 2]! } : {};
    // dS^{k+1} = dO·D̃ᵀ (+ dpre^{k+1}); sparse: then through σ, dense: it is dpre^k.
    recordMatmul(rt, backward, { a: dY, b: dn, c: sparse ? dS : dPreK, M: rows, N: M, K: C, transB: true, ...carry, label: `fourier.dS${k + 1}` });
    if (sparse) recordShrinkBackward(rt, backward, { kind: 'soft', x: pre[k]!, dy: dS, dx: dPreK, lambda: lambdaT, cols: M, label: `fourier.S${k + 1}` });
    recordAttentionBackward(rt, backward, { batch: B, seq: tc, heads: 1, headDim: M, scale, path: 'rows', q: Q[k]!, k: Kt[k]!, v: V[k]!, probs: P[k]!, dout: dPreK, dq: dQ, dk: dK, dv: dV });
    if (coefTrain) {
      recordMatmul(rt, backward, { a: X[k]!, b: dQ, c: wq.grad, M: C, N: M, K: rows, transA: true, accumulate: true, label: `fourier.dWq${k}` });
      recordMatmul(rt, backward, { a: X[k]!, b: dK, c: wk.grad, M: C, N: M, K: rows, transA: true, accumulate: true, label: `fourier.dWk${k}` });
      if (!tied) recordMatmul(rt, backward, { a: X[k]!, b: dV, c: ws!.grad, M: C, N: M, K: rows, transA: true, accumulate: true, label: `fourier.dWs${k}` });
    }
    if (G) {
      recordMatmul(rt, backward, { a: dV, b: X[k]!, c: G, M, N: C, K: rows, transA: true, accumulate: gWritten, label: `fourier.dWt${k}` });
      gWritten = true;
    }
    if (k === 0) break;
    recordMatmul(rt, backward, { a: dQ, b: wq.value, c: dX, M: rows, N: C, K: M, transB: true, label: `fourier.dXq${k}` });
    recordMatmul(rt, backward, { a: dK, b: wk.value, c: dX, M: rows, N: C, K: M, transB: true, accumulate: true, label: `fourier.dXk${k}` });
    if (tied) recordMatmul(rt, backward, { a: dV, b: wt!, c: dX, M: rows, N: C, K: M, accumulate: true, label: `fourier.dXv${k}` });
    else recordMatmul(rt, backward, { a: dV, b: ws!.value, c: dX, M: rows, N: C, K: M, transB: true, accumulate: true, label: `fourier.dXv${k}` });
    recordLiftBackward(rt, backward, { ...shape, pos, dx: dX, lift: E, dyhat: dyc, label: `fourier.dyc${k}` });
  }
  if (G && gWritten && (dDn || coefTrain)) {
    recordTiedBackward(rt, backward, { g: G, dn, logEta: logEta!.value, ddn: dDn, dlogEta: coefTrain ? logEta!.grad : null, n: M * C });
  }
  if (dDn) {
    const pe = t([M, C], 'PE');
    recordMatmul(rt, backward, { a: prof, b: E, c: pe, M, N: C, K: T, label: 'fourier.PE' });
    recordNormalizeBackward(rt, backward, { ddn: dDn, d: dict.value, norms, pe, dd: dict.grad, atoms: M, cols: C, accumulate: true });
  }

  const params = [lift, wq, wk, ...(logEta ? [logEta] : []), ...(ws ? [ws] : []), dict];
  const bPos = new Float32Array(rows);
  const bX = new Float32Array(rows);
  const bSlot = new Float32Array(B * T);
  const bY = new Float32Array(B * T);
  const writeBatch = (set: FourierSet, idx: readonly number[]) => {
    if (set.seq !== T || set.observed !== cfg.observed) throw new Error(`fourier: set has seq ${set.seq} with ${set.observed} observed, the model ${T} with ${cfg.observed}`);
    fillCompactBatch(set, idx, B, bPos, bX, bSlot, bY);
    rt.write(pos, bPos);
    rt.write(xobs, bX);
    rt.write(slot, bSlot);
    rt.write(target, bY);
  };
  const graph = (set: FourierSet): TrainGraph => {
    const order = new EpochOrder(set.n, cfg.seed, B, 0xf0);
    const idx = new Array<number>(B).fill(0);
    return {
      packs: [trainable],
      forward,
      loss: lossList,
      backward,
      lossValue,
      extraMetrics: [{ name: 'active_atoms', tensor: activeAtoms }],
      loadBatch(step) {
        for (let b = 0; b < B; b++) idx[b] = order.at(step, b);
        writeBatch(set, idx);
      },
    };
  };
  return { cfg, form: opts.form, train: opts.train, params, trainable, frozen, wq, wk, logEta, ws, dict, lift, tc, rows, pos, xobs, slot, target, prediction, codes, forward, lossList, backward, lossValue, activeAtoms, writeBatch, graph };
}

/**
 * The compact batch of signals `idx` (padded with the last index up to `batch`): pos and values
 * of the observed tokens [batch·tc] (rest rows 0), slot [batch·seq] (observed row index or −1),
 * target [batch·seq].
 */
export function fillCompactBatch(set: FourierSet, idx: readonly number[], batch: number, pos: Float32Array, xv: Float32Array, slot: Float32Array, target: Float32Array): void {
  const { seq: T, observed: O } = set;
  const tc = O + 1;
  if (idx.length < 1 || idx.length > batch) throw new Error(`fourier batch: ${idx.length} signals for a batch of ${batch}`);
  for (let b = 0; b < batch; b++) {
    const s = idx[Math.min(b, idx.length - 1)]!;
    if (!Number.isInteger(s) || s < 0 || s >= set.n) throw new Error(`fourier batch: signal index ${s} outside 0…${set.n - 1}`);
    slot.fill(-1, b * T, (b + 1) * T);
    for (let j = 0; j < O; j++) {
      const tt = set.positions[s * O + j]!;
      pos[b * tc + j] = tt;
      xv[b * tc + j] = set.values[s * T + tt]!;
      slot[b * T + tt] = j;
    }
    pos[b * tc + O] = 0;
    xv[b * tc + O] = 0;
    target.set(set.signals.subarray(s * T, (s + 1) * T), b * T);
  }
}

/** Compact codes [B·tc, M] → one code per sample [B·seq, M] (observed samples their row, the others the rest row). */
export function expandCodes(compact: ArrayLike<number>, slot: ArrayLike<number>, a: { batch: number; seq: number; tc: number; atoms: number }): Float32Array {
  const { batch: B, seq: T, tc, atoms: M } = a;
  const out = new Float32Array(B * T * M);
  for (let b = 0; b < B; b++) {
    for (let tt = 0; tt < T; tt++) {
      const sl = slot[b * T + tt]!;
      const r = b * tc + (sl >= 0 ? sl : tc - 1);
      for (let m = 0; m < M; m++) out[(b * T + tt) * M + m] = compact[r * M + m]!;
    }
  }
  return out;
}

// ---------- evaluation ----------

export interface FourierEval {
  mse: number;
  /** MSE / signal variance of the set. */
  nmse: number;
  /** Mean non-zero codes per sample (S^K of each sample's token). */
  activePerToken: number;
  /** u_m = mean over samples of |S^K_tm·d_m(t)| (atom m's mean absolute contribution). */
  usage: Float64Array;
  /** Fewest atoms covering 95 % of Σ u_m. */
  usedAtoms: number;
  /** Atoms with u_m ≥ 1 % of max u_m. */
  atomsAbove1pct: number;
  /** Per signal: the fewest atoms covering 95 % of that signal's usage, averaged over the signals (and the largest). */
  usedAtomsPerSignal: number;
  usedAtomsPerSignalMax: number;
  /** [n, seq] the reconstructions. */
  prediction: Float32Array;
  /** Atom time profiles [M, seq] at evaluation. */
  profiles: Float64Array;
}

export function usageCounts(usage: ArrayLike<number>): { usedAtoms: number; atomsAbove1pct: number } {
  const sorted = Array.from(usage).sort((a, b) => b - a);
  const total = sorted.reduce((a, b) => a + b, 0);
  let acc = 0;
  let usedAtoms = 0;
  if (total > 0) while (usedAtoms < sorted.length && acc < 0.95 * total) acc += sorted[usedAtoms++]!;
  const max = sorted[0] ?? 0;
  const atomsAbove1pct = max > 0 ? sorted.filter((u) => u >= 0.01 * max).length : 0;
  return { usedAtoms, atomsAbove1pct };
}

/** Prediction [n, seq] and per-sample codes [n·seq, M] of signals `idx` of `set` (batch by batch; readbacks: inspection, not training). */
export async function runFourier(rt: GpuRuntime, model: FourierModel, set: FourierSet, idx: readonly number[]): Promise<{ prediction: Float32Array; codes: Float32Array }> {
  const { batch: B, seq: T, atoms: M } = model.cfg;
  const prediction = new Float32Array(idx.length * T);
  const codes = new Float32Array(idx.length * T * M);
  const slotBuf = new Float32Array(B * T);
  for (let i0 = 0; i0 < idx.length; i0 += B) {
    const chunk = idx.slice(i0, i0 + B);
    model.writeBatch(set, chunk);
    fillSlot(set, chunk, B, slotBuf);
    rt.submit([model.forward]);
    const [pred, comp] = await Promise.all([rt.read(model.prediction), rt.read(model.codes)]);
    prediction.set(pred.subarray(0, chunk.length * T), i0 * T);
    const full = expandCodes(comp, slotBuf, { batch: B, seq: T, tc: model.tc, atoms: M });
    codes.set(full.subarray(0, chunk.length * T * M), i0 * T * M);
  }
  return { prediction, codes };
}

function fillSlot(set: FourierSet, idx: readonly number[], batch: number, slot: Float32Array): void {
  const { seq: T, observed: O } = set;
  for (let b = 0; b < batch; b++) {
    const s = idx[Math.min(b, idx.length - 1)]!;
    slot.fill(-1, b * T, (b + 1) * T);
    for (let j = 0; j < O; j++) slot[b * T + set.positions[s * O + j]!] = j;
  }
}

/** NMSE, atom usage and reconstructions of `model` on the whole set. */
export async function evaluateFourier(rt: GpuRuntime, model: FourierModel, set: FourierSet): Promise<FourierEval> {
  const { seq: T, atoms: M } = model.cfg;
  const p = await readParams([model.dict, model.lift]);
  const profiles = atomProfiles(model.cfg, p.get('fourier.D')!, p.get('fourier.lift')!);
  const { prediction, codes } = await runFourier(rt, model, set, Array.from({ length: set.n }, (_, i) => i));
  const usage = new Float64Array(M);
  const perSignal = new Float64Array(M);
  let perSum = 0;
  let perMax = 0;
  let nonzero = 0;
  for (let s = 0; s < set.n; s++) {
    perSignal.fill(0);
    for (let tt = 0; tt < T; tt++) {
      const r = s * T + tt;
      for (let m = 0; m < M; m++) {
        const c = codes[r * M + m]!;
        if (c !== 0) {
          nonzero++;
          perSignal[m] += Math.abs(c * profiles[m * T + tt]!);
        }
      }
    }
    for (let m = 0; m < M; m++) usage[m] += perSignal[m]!;
    const u = usageCounts(perSignal).usedAtoms;
    perSum += u;
    perMax = Math.max(perMax, u);
  }
  for (let m = 0; m < M; m++) usage[m] /= set.n * T;
  let mean = 0;
  for (const v of set.signals) mean += v;
  mean /= set.signals.length;
  let variance = 0;
  let se = 0;
  for (let i = 0; i < set.signals.length; i++) {
    variance += (set.signals[i]! - mean) ** 2;
    se += (prediction[i]! - set.signals[i]!) ** 2;
  }
  const mse = se / set.signals.length;
  return {
    mse,
    nmse: se / variance,
    activePerToken: nonzero / (set.n * T),
    usage,
    ...usageCounts(usage),
    usedAtomsPerSignal: perSum / set.n,
    usedAtomsPerSignalMax: perMax,
    prediction,
    profiles,
  };
}

// ---------- checkpoints ----------

export const FOURIER_CHECKPOINT_FORMAT = 'sparse-adapter-playground/fourier@2';
export const fourierCheckpointModel = (form: FourierForm, tie: FourierTie) => `fourier-${form}${tie === 'untied' ? '-untied' : ''}`;

/** Reads parameters from the GPU by name (one readback per pack involved). */
export async function readParams(params: readonly ParamRef[]): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const pack of new Set(params.map((p) => p.pack))) {
    const all = await pack.readAll();
    for (const p of params) if (p.pack === pack) out.set(p.name, all.get(p.name)!);
  }
  return out;
}

/** The model's parameters (lift included, no optimizer state) as safetensors with metadata (model kind, config JSON, …). */
export async function fourierCheckpointBytes(model: FourierModel, metadata: Record<string, string>): Promise<Uint8Array> {
  const values = await readParams(model.params);
  return serializeSafetensors(
    model.params.map((p) => ({ name: p.name, shape: [...p.shape], data: values.get(p.name)! })),
    { ...metadata, model: fourierCheckpointModel(model.form, model.cfg.tie), config: JSON.stringify(model.cfg), format: FOURIER_CHECKPOINT_FORMAT },
  );
}

/**
 * Loads a base checkpoint into `model` (every parameter, trainable or frozen). The file must hold
 * this form's model and exactly its tensors with their shapes; otherwise one error lists every
 * mismatch by name (and nothing is written).
 */
export function loadFourierCheckpoint(model: FourierModel, bytes: Uint8Array): Record<string, string> {
  const file = parseSafetensors(bytes);
  const problems: string[] = [];
  const want = fourierCheckpointModel(model.form, model.cfg.tie);
  if (file.metadata.model !== want) problems.push(`the file holds a '${file.metadata.model ?? 'unknown'}' model, expected '${want}'`);
  const values = new Map<string, Float32Array>();
  for (const p of model.params) {
    const e = file.tensors.get(p.name);
    if (!e) problems.push(`missing tensor '${p.name}' (expected shape [${p.shape}])`);
    else if (e.shape.length !== p.shape.length || e.shape.some((d, i) => d !== p.shape[i])) problems.push(`tensor '${p.name}' has shape [${e.shape}], the model needs [${p.shape}]`);
    else values.set(p.name, toFloat32(e));
  }
  const names = new Set(model.params.map((p) => p.name));
  for (const name of file.tensors.keys()) if (!names.has(name)) problems.push(`unexpected tensor '${name}'`);
  if (problems.length) throw new Error(`fourier checkpoint does not fit this model (C = ${model.cfg.dim}, M = ${model.cfg.atoms}, seq = ${model.cfg.seq}, ${model.cfg.tie}):\n  ${problems.join('\n  ')}`);
  model.trainable.writeAll(values, { partial: true });
  model.frozen.writeAll(values, { partial: true });
  return { ...file.metadata };
}

// ---------- float64 reference (the plain seq-token definition) ----------

export interface FourierParamsCpu {
  lift: ArrayLike<number>;
  wq: ArrayLike<number>;
  wk: ArrayLike<number>;
  /** Tied form: log η; untied: W_s [C, M]. */
  logEta?: number;
  ws?: ArrayLike<number>;
  D: ArrayLike<number>;
}

/**
 * The model's forward in float64 over all seq tokens of `batch` signals (values and mask
 * [batch·seq]): the output (observations where observed, ŷ^K elsewhere), S^K [batch·seq, M] and
 * the objective MSE(output, target) (the quantity the GPU backward differentiates).
 */
export function fourierForwardCpu(
  cfg: Pick<FourierConfig, 'seq' | 'dim' | 'atoms' | 'iterations'>,
  form: FourierForm,
  p: FourierParamsCpu,
  io: { values: ArrayLike<number>; mask: ArrayLike<number>; target?: ArrayLike<number>; batch: number; lambda: number },
): { prediction: Float64Array; codes: Float64Array; objective: number } {
  const { seq: T, dim: C, atoms: M, iterations: K } = cfg;
  const rows = io.batch * T;
  const tcOff = T * C;
  // D̃ and the projection W_s [C, M].
  const Dn = new Float64Array(M * C);
  for (let m = 0; m < M; m++) {
    let n2 = 0;
    for (let tt = 0; tt < T; tt++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += p.D[m * C + c]! * p.lift[tt * C + c]!;
      n2 += s * s;
    }
    const n = Math.sqrt(n2 + 1e-20);
    for (let c = 0; c < C; c++) Dn[m * C + c] = p.D[m * C + c]! / n;
  }
  let W: ArrayLike<number>;
  if (p.ws) W = p.ws;
  else {
    if (p.logEta === undefined) throw new Error('fourierForwardCpu: give logEta (tied) or ws (untied)');
    const eta = Math.exp(p.logEta);
    const w = new Float64Array(C * M);
    for (let m = 0; m < M; m++) for (let c = 0; c < C; c++) w[c * M + m] = eta * Dn[m * C + c]!;
    W = w;
  }
  let yhat = new Float64Array(rows);
  let S = new Float64Array(rows * M);
  const X = new Float64Array(rows * C);
  const proj = (w: ArrayLike<number>) => {
    const out = new Float64Array(rows * M);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < C; c++) {
        const x = X[r * C + c]!;
        if (x !== 0) for (let m = 0; m < M; m++) out[r * M + m] += x * w[c * M + m]!;
      }
    }
    return out;
  };
  const scale = 1 / Math.sqrt(M);
  const a = new Float64Array(T);
  for (let k = 0; k < K; k++) {
    for (let r = 0; r < rows; r++) {
      const tt = r % T;
      const m = io.mask[r]!;
      const res = m * (io.values[r]! - yhat[r]!);
      for (let c = 0; c < C; c++) X[r * C + c] = m ? res * p.lift[tt * C + c]! + p.lift[tcOff + tt * C + c]! : 0;
    }
    const Qm = proj(p.wq);
    const Km = proj(p.wk);
    const Vm = proj(W);
    const next = new Float64Array(rows * M);
    for (let b = 0; b < io.batch; b++) {
      for (let i = 0; i < T; i++) {
        let mx = -Infinity;
        for (let j = 0; j < T; j++) {
          let s = 0;
          for (let m = 0; m < M; m++) s += Qm[(b * T + i) * M + m]! * Km[(b * T + j) * M + m]!;
          a[j] = s * scale;
          mx = Math.max(mx, a[j]!);
        }
        let z = 0;
        for (let j = 0; j < T; j++) z += a[j] = Math.exp(a[j]! - mx);
        for (let m = 0; m < M; m++) {
          let u = 0;
          for (let j = 0; j < T; j++) u += (a[j]! / z) * Vm[(b * T + j) * M + m]!;
          const v = S[(b * T + i) * M + m]! + u;
          next[(b * T + i) * M + m] = form === 'sparse' ? Math.sign(v) * Math.max(Math.abs(v) - io.lambda, 0) : v;
        }
      }
    }
    S = next;
    yhat = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      const tt = r % T;
      for (let c = 0; c < C; c++) {
        let o = 0;
        for (let m = 0; m < M; m++) o += S[r * M + m]! * Dn[m * C + c]!;
        yhat[r] += o * p.lift[tt * C + c]!;
      }
    }
  }
  for (let r = 0; r < rows; r++) if (io.mask[r]) yhat[r] = io.values[r]!;
  let objective = 0;
  if (io.target) for (let r = 0; r < rows; r++) objective += (yhat[r]! - io.target[r]!) ** 2 / rows;
  return { prediction: yhat, codes: S, objective };
}

// ---------- training ----------

export interface FourierTrainResult {
  /** Loss (and metric) rows streamed by the trainer, one per metric interval. */
  losses: { step: number; loss: number; active: number }[];
  seconds: number;
  steps: number;
}

/**
 * Trains `model` on `set` for `steps` AdamW steps (cosine schedule with a short warm-up, no weight
 * decay, gradient clipping at 1): one submit per step, no readback.
 */
export async function trainFourier(
  rt: GpuRuntime,
  model: FourierModel,
  set: FourierSet,
  o: { steps: number; lr: number; onStep?: (done: number, lastLoss: number | null) => void },
): Promise<FourierTrainResult> {
  const losses: FourierTrainResult['losses'] = [];
  const trainer = new Trainer(rt, model.graph(set), {
    lr: o.lr,
    schedule: { kind: 'cosine', warmupSteps: Math.min(50, Math.floor(o.steps / 10)), totalSteps: o.steps, minRatio: 0.02 },
    adamw: { weightDecay: 0, clipNorm: 1 },
    metricInterval: 10,
    onMetrics: (rows) => {
      for (const r of rows) losses.push({ step: r.step, loss: r.values['loss']!, active: r.values['active_atoms']! });
    },
  });
  const t0 = performance.now();
  try {
    await trainer.run(o.steps, { onStep: (s) => o.onStep?.(s, losses.at(-1)?.loss ?? null) });
    await trainer.drain();
    await rt.idle();
  } finally {
    trainer.destroy();
  }
  return { losses, seconds: (performance.now() - t0) / 1000, steps: o.steps };
}
