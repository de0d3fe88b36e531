/**
 * The atoms paper's Fourier toy (Chen et al., §3.3 "Features atoms are key to fine-tuning",
 * Fig. 2; App. C.1, Fig. 9): length-64 signals, each a sum of 5 Fourier bases; the low band
 * (frequencies 0…24 cycles per 64 samples) for pre-training, the high band (25…32) for
 * fine-tuning; 16 of 64 samples observed; the model reconstructs the whole signal.
 *
 * Data readings (`basisSet`):
 *   'fixed'   one set of 5 distinct frequencies per band, drawn once from the seed; every signal
 *             combines those 5 bases with its own random amplitude U(0.5, 1)/5 and phase. The
 *             paper's App. C.1 says the signals "randomly combine 5 Fourier bases, shown in
 *             Figure 8", its sparse model needs 9 atoms (= the 2·5 − 1 real dimensions of 5 bases
 *             with random phase when one is the DC term) and its atoms "resemble the Fourier
 *             bases used to synthesize the data" — all of which point to one fixed set.
 *   'random'  5 frequencies drawn per signal (distinct) from the band: a 49-dimensional signal
 *             space; recovering a signal from 16 samples is compressed sensing.
 * Signals come from drawFourierSignal in attention-fit.ts (the same generator as fourierData).
 *
 * The model. The 1-D signal value of token t (time step t, one token per sample) is lifted by a
 * frozen random, position-dependent projection:
 *     X_t = r_t·E_t + m_t·F_t              (E, F ∈ R^{seq×C}, random orthogonal rows, frozen)
 * with m_t the observed flag and r_t = m_t·(x_t − ŷ_t) the observed residual (= the observed
 * value when ŷ = 0). Unobserved tokens are X_t = 0: they only receive (their queries are 0, so
 * they read the observed tokens with equal weights) — no positional encoding is needed, the
 * time step is carried by E_t and F_t, which span every frequency 0…π. The read-out is the transpose of the lift, ŷ_t = ⟨O_t, E_t⟩ = Σ_c O_tc·E_tc
 * (the paper's "sum across dimensions" after the same per-token projection; with E_t = 1 it is
 * exactly a sum). So an atom D_m ∈ R^C is a signal: its time profile is d_m(t) = ⟨D_m, E_t⟩,
 * and the output is Σ_m S_tm·d_m(t), a combination of the atoms' time profiles.
 * One block, applied `iterations` times with shared weights (an unrolled ISTA: the paper's
 * block is one σ-step; a single step is a thresholded linear function of the observations
 * and cannot do the mask-dependent inversion the task needs):
 *     A^k     = softmax(X^k W_q (X^k W_k)ᵀ / √M)                       (one head)
 *     S^{k+1} = σ_λ(S^k + A^k X^k W_s)      sparse form, σ = soft threshold  (paper eq. 8)
 *     S^{k+1} =      S^k + A^k X^k W_s      dense form (σ = identity)
 *     O^{k+1} = S^{k+1}·D,   ŷ^{k+1}_t = ⟨O^{k+1}_t, E_t⟩,   S^0 = 0, ŷ^0 = 0
 * and the prediction is ŷ^K. The dense form is O = A·X·W_v with W_v = W_s·D factored through M
 * atoms (the same parameter count as the sparse form, so atom usage is comparable).
 * "Coefficients" are W_q, W_k (the attention map) and W_s; "atoms" are D. Sparsity: the
 * ‖D_m‖-weighted L1 penalty l1·(1/N)·Σ|S^K_tm|·‖D_m‖ (plain L1 would be undone by rescaling).
 *
 * Atom usage: u_m = mean over validation tokens of |S^K_tm·d_m(t)| (atom m's mean absolute
 * contribution to the reconstruction); `usedAtoms` = the fewest atoms whose usage adds up to 95 %
 * of Σ_m u_m (also reported: atoms with u_m ≥ 1 % of the largest u_m, and the same 95 % count
 * per signal, averaged over the signals — the paper's "atoms needed to construct the signal").
 *
 * Baselines (CPU, float64): copying the observations (zeros elsewhere); the linear floor — the
 * best linear map from [x_obs (seq), mask (seq), 1] to the signal, fitted by least squares on a
 * large training sample and evaluated on the validation set.
 *
 * GPU work per step, recorded once: per iteration lift, three projections, attention (forward
 * kernels of src/kernels/attention.ts), code update, S·D, read-out; the backward runs the
 * iterations in reverse (attention backward, projections' transposes, lift backward into the
 * previous ŷ); parameter gradients only for trainable parameters. One submit per step.
 */
import { Rng } from '../engine/rng';
import { ParamPack, type ParamRef } from '../engine/param-pack';
import { CommandList, type GpuRuntime, type ShaderSource } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { recordAtomPenalty, recordAtomPenaltyGrad, recordAtomStats } from '../kernels/atoms';
import { recordAttentionBackward, recordAttentionForward } from '../kernels/attention';
import { recordAxpby } from '../kernels/elementwise';
import { grid1d } from '../kernels/grid';
import { recordMseLoss } from '../kernels/loss';
import { recordMatmul } from '../kernels/matmul';
import { recordRowNonzeros, recordShrinkBackward, recordShrinkForward } from '../kernels/shrink';
import { declareParam, type BuildContext } from '../nn/module';
import { parseSafetensors, serializeSafetensors, toFloat32 } from '../io/safetensors';
import { Trainer, type TrainGraph } from '../train/trainer';
import { drawFourierSignal, drawObservedMask } from '../data/fourier-signals';
import fourierWgsl from '../../shaders/fourier.wgsl?raw';

const FOURIER_SHADER: ShaderSource = { name: 'fourier', code: fourierWgsl };

// ---------- configuration ----------

export type FourierBasisSet = 'fixed' | 'random';
export type FourierBand = 'low' | 'high';
export type FourierForm = 'dense' | 'sparse';
/** What a train graph updates: everything (pre-training) or, when fine-tuning, atoms D, coefficients (W_q, W_k, W_s) or both. */
export type FourierTrain = 'all' | 'atoms' | 'coefficients' | 'both';

export interface FourierConfig {
  seq: number;
  /** Feature dimension C of the lift (tokens are [C]). */
  dim: number;
  /** M, the number of atoms (rows of D). */
  atoms: number;
  /** Unrolled block applications K. */
  iterations: number;
  bases: number;
  /** Signals are drawn with per-basis amplitude U(0.5, 1)/bases (drawFourierSignal) and multiplied by this (default 5: amplitude U(0.5, 1), variance ≈ 1.46). */
  amplitude: number;
  observed: number;
  lowBand: readonly [number, number];
  highBand: readonly [number, number];
  basisSet: FourierBasisSet;
  batch: number;
  trainSamples: number;
  valSamples: number;
  /** Samples for the linear-floor least-squares fit. */
  floorSamples: number;
  /** Scale of the frozen lift: E, F have orthogonal rows of norm liftStd·√dim. */
  liftStd: number;
  /** Soft threshold λ of the sparse form. */
  lambda: number;
  /** Weight of the ‖D_m‖-weighted L1 penalty (sparse form). */
  l1: number;
  pretrainSteps: number;
  /** Sparse form: the first fraction of the pre-training steps runs without the L1 penalty (see pretrainFourier). */
  penaltyWarmup: number;
  finetuneSteps: number;
  pretrainLr: number;
  finetuneLr: number;
  seed: number;
}

export const FOURIER_FULL: FourierConfig = {
  seq: 64,
  dim: 64,
  atoms: 32,
  iterations: 2,
  bases: 5,
  amplitude: 5,
  observed: 16,
  lowBand: [0, 24],
  highBand: [25, 32],
  basisSet: 'fixed',
  batch: 16,
  trainSamples: 8192,
  valSamples: 512,
  floorSamples: 20000,
  liftStd: 0.7,
  lambda: 0.01,
  l1: 0.05,
  pretrainSteps: 1500,
  penaltyWarmup: 0.4,
  finetuneSteps: 500,
  pretrainLr: 3e-3,
  finetuneLr: 3e-3,
  seed: 1,
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
  pretrainLr: 5e-3,
  finetuneLr: 3e-3,
};

// ---------- data ----------

/** 32-bit mix of a seed and small integers (stable stream ids). */
function mixSeed(...xs: number[]): number {
  let h = 0x811c9dc5;
  for (const x of xs) h = Math.imul(h ^ (x >>> 0), 0x01000193) >>> 0;
  return (h ^ (h >>> 15)) >>> 0;
}

const BAND_ID: Record<FourierBand, number> = { low: 1, high: 2 };

export function bandRange(cfg: FourierConfig, band: FourierBand): readonly [number, number] {
  return band === 'low' ? cfg.lowBand : cfg.highBand;
}

/** 'fixed' reading: the band's `bases` distinct frequencies (sorted), drawn from the seed; 'random': null. */
export function bandFrequencies(cfg: FourierConfig, band: FourierBand): number[] | null {
  if (cfg.basisSet === 'random') return null;
  const [lo, hi] = bandRange(cfg, band);
  const all = Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
  if (all.length < cfg.bases) throw new Error(`fourier: band ${lo}…${hi} has fewer than ${cfg.bases} frequencies`);
  return new Rng(mixSeed(cfg.seed, 0xf4e9, BAND_ID[band])).shuffle(all).slice(0, cfg.bases).sort((a, b) => a - b);
}

export type FourierSplit = 'train' | 'val' | 'floor';
const SPLIT_ID: Record<FourierSplit, number> = { train: 11, val: 12, floor: 13 };

export interface FourierSet {
  n: number;
  seq: number;
  /** [n, seq] the full signals (the targets). */
  signals: Float32Array;
  /** [n, seq] 1 = observed. */
  masks: Float32Array;
  /** [n, seq] signals·masks (zeros where unobserved). */
  observed: Float32Array;
  /** The frequencies of each signal. */
  freqs: number[][];
  band: FourierBand;
}

/** A seeded set of `n` signals of a band; a pure function of (config, band, split, n). */
export function makeFourierSet(cfg: FourierConfig, band: FourierBand, split: FourierSplit, n: number): FourierSet {
  const { seq } = cfg;
  if (!(cfg.observed >= 1 && cfg.observed <= seq)) throw new Error(`fourier: observed=${cfg.observed} outside 1…${seq}`);
  const rng = new Rng(mixSeed(cfg.seed, BAND_ID[band], SPLIT_ID[split]));
  const [lo, hi] = bandRange(cfg, band);
  const fixed = bandFrequencies(cfg, band);
  const signals = new Float32Array(n * seq);
  const masks = new Float32Array(n * seq);
  const observed = new Float32Array(n * seq);
  const freqs: number[][] = [];
  const sig = new Float64Array(seq);
  const keep = new Uint8Array(seq);
  const positions = Array.from({ length: seq }, (_, i) => i);
  for (let s = 0; s < n; s++) {
    freqs.push(drawFourierSignal(rng, sig, { bases: cfg.bases, lowFreq: lo, highFreq: hi, distinct: true, ...(fixed ? { freqs: fixed } : {}) }));
    drawObservedMask(rng, keep, cfg.observed, positions);
    for (let t = 0; t < seq; t++) {
      const v = cfg.amplitude * sig[t]!;
      signals[s * seq + t] = v;
      masks[s * seq + t] = keep[t]!;
      observed[s * seq + t] = keep[t] ? v : 0;
    }
  }
  return { n, seq, signals, masks, observed, freqs, band };
}

// ---------- baselines (CPU, float64) ----------

export function mseOf(pred: ArrayLike<number>, target: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < target.length; i++) s += (pred[i]! - target[i]!) ** 2;
  return s / target.length;
}

export function signalVariance(set: FourierSet): number {
  let m = 0;
  for (const v of set.signals) m += v;
  m /= set.signals.length;
  let s = 0;
  for (const v of set.signals) s += (v - m) ** 2;
  return s / set.signals.length;
}

/** MSE of predicting the observed values and zero elsewhere. */
export function copyBaselineMse(set: FourierSet): number {
  return mseOf(set.observed, set.signals);
}

/** Features of the linear floor: [x_obs (seq), mask (seq), 1]. */
function floorFeatures(set: FourierSet, s: number, z: Float64Array): void {
  const { seq } = set;
  for (let t = 0; t < seq; t++) {
    z[t] = set.observed[s * seq + t]!;
    z[seq + t] = set.masks[s * seq + t]!;
  }
  z[2 * seq] = 1;
}

/** Solves the symmetric positive-definite system A·X = B in place (Cholesky), A [n, n], B [n, k]. */
export function solveSpd(A: Float64Array, B: Float64Array, n: number, k: number): Float64Array {
  const L = Float64Array.from(A);
  for (let j = 0; j < n; j++) {
    let d = L[j * n + j]!;
    for (let p = 0; p < j; p++) d -= L[j * n + p]! ** 2;
    if (!(d > 0)) throw new Error(`solveSpd: matrix is not positive definite (pivot ${j}: ${d})`);
    const ljj = Math.sqrt(d);
    L[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let v = L[i * n + j]!;
      for (let p = 0; p < j; p++) v -= L[i * n + p]! * L[j * n + p]!;
      L[i * n + j] = v / ljj;
    }
  }
  const X = Float64Array.from(B);
  for (let c = 0; c < k; c++) {
    for (let i = 0; i < n; i++) {
      let v = X[i * k + c]!;
      for (let p = 0; p < i; p++) v -= L[i * n + p]! * X[p * k + c]!;
      X[i * k + c] = v / L[i * n + i]!;
    }
    for (let i = n - 1; i >= 0; i--) {
      let v = X[i * k + c]!;
      for (let p = i + 1; p < n; p++) v -= L[p * n + i]! * X[p * k + c]!;
      X[i * k + c] = v / L[i * n + i]!;
    }
  }
  return X;
}

export interface LinearFloor {
  /** W [2·seq + 1, seq]: ŷ = [x_obs, mask, 1]·W. */
  weights: Float64Array;
  /** MSE of the fitted map on its own training sample. */
  trainMse: number;
  predict(set: FourierSet): Float64Array;
}

/**
 * The best linear map from [x_obs, mask, 1] to the signal, by least squares on `set` (normal
 * equations in float64 with a ridge of 1e-9·mean diagonal, which only guards the constant
 * columns of the mask features, e.g. a mask entry that is never 0).
 */
export function fitLinearFloor(set: FourierSet): LinearFloor {
  const { seq, n } = set;
  const p = 2 * seq + 1;
  const ztz = new Float64Array(p * p);
  const zty = new Float64Array(p * seq);
  const z = new Float64Array(p);
  for (let s = 0; s < n; s++) {
    floorFeatures(set, s, z);
    for (let i = 0; i < p; i++) {
      const zi = z[i]!;
      if (zi === 0) continue;
      for (let j = i; j < p; j++) ztz[i * p + j] += zi * z[j]!;
      for (let t = 0; t < seq; t++) zty[i * seq + t] += zi * set.signals[s * seq + t]!;
    }
  }
  let diag = 0;
  for (let i = 0; i < p; i++) {
    for (let j = 0; j < i; j++) ztz[i * p + j] = ztz[j * p + i]!;
    diag += ztz[i * p + i]! / p;
  }
  for (let i = 0; i < p; i++) ztz[i * p + i] += 1e-9 * diag;
  const weights = solveSpd(ztz, zty, p, seq);
  const predict = (q: FourierSet): Float64Array => {
    if (q.seq !== seq) throw new Error(`linear floor: fitted for seq ${seq}, got ${q.seq}`);
    const out = new Float64Array(q.n * seq);
    const zz = new Float64Array(p);
    for (let s = 0; s < q.n; s++) {
      floorFeatures(q, s, zz);
      for (let i = 0; i < p; i++) {
        const zi = zz[i]!;
        if (zi === 0) continue;
        for (let t = 0; t < seq; t++) out[s * seq + t] += zi * weights[i * seq + t]!;
      }
    }
    return out;
  };
  return { weights, trainMse: mseOf(predict(set), set.signals), predict };
}

/**
 * A non-learned reference: per signal, FISTA on min_s ½‖m ⊙ (x − Φᵀs)‖² + λ‖s‖₁ over the band's
 * whole real Fourier dictionary Φ (cos and sin of every frequency of the band, unit-norm rows),
 * reconstruction Φᵀs. It knows the band, not the signal's frequencies: what compressed sensing
 * gets from the 16 samples. λ is relative to the largest |Φ_O·x_obs| of each signal.
 */
export function fistaReferenceNmse(set: FourierSet, band: readonly [number, number], o: { lambdaRel?: number; iterations?: number } = {}): number {
  const { seq: T } = set;
  const atoms: Float64Array[] = [];
  for (let f = band[0]; f <= band[1]; f++) {
    for (const fn of [Math.cos, Math.sin]) {
      const a = Float64Array.from({ length: T }, (_, t) => fn((2 * Math.PI * f * t) / T));
      const n = Math.hypot(...a);
      if (n > 1e-9) atoms.push(a.map((v) => v / n));
    }
  }
  const K = atoms.length;
  const lambdaRel = o.lambdaRel ?? 0.02;
  const iters = o.iterations ?? 300;
  const pred = new Float64Array(set.n * T);
  for (let s = 0; s < set.n; s++) {
    const obs: number[] = [];
    for (let t = 0; t < T; t++) if (set.masks[s * T + t]) obs.push(t);
    const A = atoms.map((a) => obs.map((t) => a[t]!));
    const y = obs.map((t) => set.observed[s * T + t]!);
    // L = ‖A‖₂² by power iteration.
    let v = new Float64Array(K).fill(1);
    let L = 1;
    for (let it = 0; it < 50; it++) {
      const w = new Float64Array(obs.length);
      for (let k = 0; k < K; k++) for (let j = 0; j < obs.length; j++) w[j] += A[k]![j]! * v[k]!;
      const u = new Float64Array(K);
      for (let k = 0; k < K; k++) for (let j = 0; j < obs.length; j++) u[k] += A[k]![j]! * w[j]!;
      L = Math.hypot(...u) / Math.max(Math.hypot(...v), 1e-30);
      v = u;
    }
    L *= 1.01;
    let corr = 0;
    for (let k = 0; k < K; k++) {
      let c = 0;
      for (let j = 0; j < obs.length; j++) c += A[k]![j]! * y[j]!;
      corr = Math.max(corr, Math.abs(c));
    }
    const lam = lambdaRel * corr;
    let x = new Float64Array(K);
    let z = new Float64Array(K);
    let tk = 1;
    for (let it = 0; it < iters; it++) {
      const r = y.slice();
      for (let k = 0; k < K; k++) if (z[k] !== 0) for (let j = 0; j < obs.length; j++) r[j] = r[j]! - A[k]![j]! * z[k]!;
      const xn = new Float64Array(K);
      for (let k = 0; k < K; k++) {
        let g = 0;
        for (let j = 0; j < obs.length; j++) g += A[k]![j]! * r[j]!;
        const u = z[k]! + g / L;
        xn[k] = Math.sign(u) * Math.max(Math.abs(u) - lam / L, 0);
      }
      const tn = (1 + Math.sqrt(1 + 4 * tk * tk)) / 2;
      z = xn.map((val, k) => val + ((tk - 1) / tn) * (val - x[k]!));
      x = xn;
      tk = tn;
    }
    for (let k = 0; k < K; k++) if (x[k] !== 0) for (let t = 0; t < T; t++) pred[s * T + t] += x[k]! * atoms[k]![t]!;
  }
  return mseOf(pred, set.signals) / signalVariance(set);
}

// ---------- the model ----------

export interface FourierModelOptions {
  form: FourierForm;
  train: FourierTrain;
  /** Defaults: cfg.lambda / cfg.l1 (the dense form has no threshold and no penalty). */
  lambda?: number;
  l1?: number;
}

export const FOURIER_PARAM_NAMES = ['fourier.lift', 'fourier.W_q', 'fourier.W_k', 'fourier.W_s', 'fourier.D'] as const;

/**
 * The frozen lift [2, seq, C]: E and F, each a random matrix with orthogonal rows of norm
 * liftStd·√C (Gaussian-like entries of standard deviation liftStd, then Gram–Schmidt over the
 * seq rows; needs C ≥ seq), from the seed, independent of the form. Orthogonal rows make the
 * lift lossless and well conditioned (a square Gaussian matrix has singular values down to
 * ~1/√C, which slowed learning down measurably), so E·Eᵀ = liftStd²·C·I and an atom's time
 * profile d_m = E·D_m can be any signal.
 */
export function fourierLift(cfg: FourierConfig): Float32Array {
  const { seq: T, dim: C } = cfg;
  if (C < T) throw new Error(`fourier: the lift needs dim ≥ seq (orthogonal rows), got dim ${C} < seq ${T}`);
  const rng = new Rng(mixSeed(cfg.seed, 0x11f7));
  const out = new Float32Array(2 * T * C);
  const norm = cfg.liftStd * Math.sqrt(C);
  for (let part = 0; part < 2; part++) {
    const rows: Float64Array[] = [];
    for (let t = 0; t < T; t++) {
      const v = Float64Array.from({ length: C }, () => rng.normal());
      // Two Gram–Schmidt passes (numerically orthogonal in float64).
      for (let pass = 0; pass < 2; pass++) {
        for (const u of rows) {
          let d = 0;
          for (let c = 0; c < C; c++) d += v[c]! * u[c]!;
          for (let c = 0; c < C; c++) v[c] = v[c]! - d * u[c]!;
        }
      }
      let n = 0;
      for (let c = 0; c < C; c++) n += v[c]! ** 2;
      n = Math.sqrt(n);
      for (let c = 0; c < C; c++) v[c] = v[c]! / n;
      rows.push(v);
      for (let c = 0; c < C; c++) out[part * T * C + t * C + c] = norm * v[c]!;
    }
  }
  return out;
}

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
  ws: ParamRef;
  dict: ParamRef;
  lift: ParamRef;
  /** Batch inputs [rows]: observed values, mask, target. */
  xobs: Tensor;
  mask: Tensor;
  target: Tensor;
  /** ŷ^K [rows]. */
  prediction: Tensor;
  /** S^K [rows, M]. */
  codes: Tensor;
  forward: CommandList;
  lossList: CommandList;
  backward: CommandList;
  lossValue: Tensor;
  penalty: Tensor;
  activeAtoms: Tensor;
  rows: number;
  /** A TrainGraph cycling through `set` in a seeded order (batches written from preallocated arrays). */
  graph(set: FourierSet): TrainGraph;
  destroy(): void;
}

export function buildFourierModel(rt: GpuRuntime, cfg: FourierConfig, opts: FourierModelOptions): FourierModel {
  const { value, scope } = rt.scoped(`fourier(${opts.form}, ${opts.train})`, () => build(rt, cfg, opts));
  return { ...value, destroy: () => scope.dispose() };
}

function build(rt: GpuRuntime, cfg: FourierConfig, opts: FourierModelOptions): Omit<FourierModel, 'destroy'> {
  const { seq: T, dim: C, atoms: M, batch: B, iterations: K } = cfg;
  if (!Number.isInteger(K) || K < 1) throw new Error(`fourier: iterations=${K} must be a positive integer`);
  if (M % 4 !== 0 || C % 4 !== 0) throw new Error(`fourier: dim (${C}) and atoms (${M}) must be multiples of 4`);
  const rows = B * T;
  const sparse = opts.form === 'sparse';
  const lambda = sparse ? (opts.lambda ?? cfg.lambda) : 0;
  const l1 = sparse ? (opts.l1 ?? cfg.l1) : 0;
  const coefTrain = opts.train === 'all' || opts.train === 'coefficients' || opts.train === 'both';
  const atomTrain = opts.train === 'all' || opts.train === 'atoms' || opts.train === 'both';
  const trainable = new ParamPack(rt, 'fourier', true);
  const frozen = new ParamPack(rt, 'fourier.frozen', false);
  const ctx: BuildContext = { rt, trainable, frozen, rng: new Rng(mixSeed(cfg.seed, opts.form === 'sparse' ? 0x5a : 0xde)) };
  const lift = declareParam(ctx, 'fourier.lift', [2, T, C], fourierLift(cfg), { frozen: true });
  // Initialisation (what made pre-training move in a few hundred steps, see the file comment):
  // W_q = 0, so every token starts by reading all tokens with equal weights (W_q still learns:
  // its gradient goes through W_k ≠ 0); D = W_sᵀ, ISTA's tied analysis/synthesis start.
  const bound = 1 / Math.sqrt(C);
  const wq = declareParam(ctx, 'fourier.W_q', [C, M], { constant: 0 }, { frozen: !coefTrain });
  const wk = declareParam(ctx, 'fourier.W_k', [C, M], { uniform: bound }, { frozen: !coefTrain });
  const ws = declareParam(ctx, 'fourier.W_s', [C, M], { uniform: bound }, { frozen: !coefTrain });
  const dInit = new Float32Array(M * C);
  for (let c = 0; c < C; c++) for (let m = 0; m < M; m++) dInit[m * C + c] = ws.init[c * M + m]!;
  const dict = declareParam(ctx, 'fourier.D', [M, C], dInit, { frozen: !atomTrain });
  trainable.finalize();
  frozen.finalize();

  const t = (shape: number[], name: string) => rt.tensor(shape, `fourier.${name}`);
  const xobs = t([rows], 'xobs');
  const mask = t([rows], 'mask');
  const target = t([rows], 'target');
  const lambdaT = rt.tensor([1], 'fourier.lambda', [lambda]);
  const X: Tensor[] = [];
  const Q: Tensor[] = [];
  const Kt: Tensor[] = [];
  const V: Tensor[] = [];
  const P: Tensor[] = [];
  const pre: Tensor[] = [];
  const S: Tensor[] = [];
  const yh: Tensor[] = [];
  for (let k = 0; k < K; k++) {
    X.push(t([rows, C], `X${k}`));
    Q.push(t([rows, M], `Q${k}`));
    Kt.push(t([rows, M], `K${k}`));
    V.push(t([rows, M], `V${k}`));
    P.push(t([B, 1, T, T], `A${k}`));
    pre.push(t([rows, M], `pre${k}`));
    // S^{k+1}: the dense form's code is its pre-activation.
    S.push(sparse ? t([rows, M], `S${k + 1}`) : pre[k]!);
    yh.push(t([rows], `yhat${k + 1}`));
  }
  const Y = t([rows, C], 'O');
  const lossValue = t([1], 'loss');
  const penalty = t([1], 'penalty');
  const activeAtoms = t([1], 'active_atoms');
  const stats = l1 > 0 ? { absSum: t([M], 'absSum'), norms: t([M], 'norms'), weights: t([M], 'l1weights') } : null;
  const attnShape = { batch: B, seq: T, heads: 1, headDim: M };

  const lwg = 64;
  const flatGrid = grid1d(rows * C, lwg);
  const rowGrid = grid1d(rows, lwg);
  const params = (flags: number, g: { x: number }) => rt.uniform(new Uint32Array([rows, C, T, g.x, flags, 0, 0, 0]), 'fourier.params');
  const pipe = (entry: string) => rt.pipeline(FOURIER_SHADER, entry);
  const liftE = lift.value; // E is the first [T, C] block; the lift kernel indexes F past it.

  // ---- forward ----
  const forward = new CommandList('fourier.forward');
  for (let k = 0; k < K; k++) {
    const hasY = k > 0;
    forward.push(rt.dispatch(`fourier.lift${k}`, pipe('lift'), [params(hasY ? 1 : 0, flatGrid), xobs, mask, hasY ? yh[k - 1]! : xobs, liftE, X[k]!], [flatGrid.x, flatGrid.y]));
    recordMatmul(rt, forward, { a: X[k]!, b: wq.value, c: Q[k]!, M: rows, N: M, K: C, label: `fourier.Q${k}` });
    recordMatmul(rt, forward, { a: X[k]!, b: wk.value, c: Kt[k]!, M: rows, N: M, K: C, label: `fourier.K${k}` });
    recordMatmul(rt, forward, { a: X[k]!, b: ws.value, c: V[k]!, M: rows, N: M, K: C, label: `fourier.V${k}` });
    recordAttentionForward(rt, forward, { ...attnShape, q: Q[k]!, k: Kt[k]!, v: V[k]!, out: pre[k]!, probs: P[k]! });
    if (k > 0) recordAxpby(rt, forward, S[k - 1]!, pre[k]!, 1, 1);
    if (sparse) recordShrinkForward(rt, forward, { kind: 'soft', x: pre[k]!, y: S[k]!, lambda: lambdaT, cols: M, label: `fourier.S${k + 1}` });
    recordMatmul(rt, forward, { a: S[k]!, b: dict.value, c: Y, M: rows, N: C, K: M, label: `fourier.SD${k + 1}` });
    forward.push(rt.dispatch(`fourier.readout${k + 1}`, pipe('readout'), [params(0, rowGrid), Y, liftE, yh[k]!], [rowGrid.x, rowGrid.y]));
  }
  const codes = S[K - 1]!;
  if (stats) {
    recordAtomStats(rt, forward, { codes, dict: dict.value, ...stats, rows, atoms: M, cols: C, coef: l1 / rows });
    recordAtomPenalty(rt, forward, { absSum: stats.absSum, norms: stats.norms, out: penalty, atoms: M, coef: l1 / rows });
  }
  recordRowNonzeros(rt, forward, { x: codes, rows, cols: M, mean: activeAtoms, label: 'fourier.active' });
  const prediction = yh[K - 1]!;

  // ---- loss ----
  const lossList = new CommandList('fourier.loss');
  const dyOut = t([rows], 'yhat.grad');
  recordMseLoss(rt, lossList, { pred: prediction, target, grad: dyOut, loss: lossValue, n: rows });

  // ---- backward (iterations in reverse) ----
  const backward = new CommandList('fourier.backward');
  const dyLift = t([rows], 'yhat.grad.lift');
  const dY = t([rows, C], 'O.grad');
  const dS = t([rows, M], 'S.grad');
  const dPre = [t([rows, M], 'pre.grad.a'), t([rows, M], 'pre.grad.b')];
  const dQ = t([rows, M], 'Q.grad');
  const dK = t([rows, M], 'K.grad');
  const dV = t([rows, M], 'V.grad');
  const dX = t([rows, C], 'X.grad');
  for (let k = K - 1; k >= 0; k--) {
    const dyh = k === K - 1 ? dyOut : dyLift;
    backward.push(rt.dispatch(`fourier.readout_bwd${k + 1}`, pipe('readout_backward'), [params(0, flatGrid), dyh, liftE, dY], [flatGrid.x, flatGrid.y]));
    if (atomTrain) recordMatmul(rt, backward, { a: S[k]!, b: dY, c: dict.grad, M, N: C, K: rows, transA: true, accumulate: true, label: `fourier.dD${k + 1}` });
    if (k === K - 1 && stats && atomTrain) recordAtomPenaltyGrad(rt, backward, { absSum: stats.absSum, norms: stats.norms, dict: dict.value, ddict: dict.grad, atoms: M, cols: C, coef: l1 / rows });
    // Does anything upstream of pre^k need a gradient? Coefficients (any k), or ŷ^k (k ≥ 1, which feeds X^k).
    if (!coefTrain && k === 0) break;
    const dPreK = dPre[k % 2]!;
    const dPreNext = dPre[(k + 1) % 2]!;
    const carry = k < K - 1 ? { residual: dPreNext } : {};
    // Sparse: dS^{k+1} = dO·Dᵀ (+ dpre^{k+1}), then through σ; dense: straight into dpre^k.
    recordMatmul(rt, backward, { a: dY, b: dict.value, c: sparse ? dS : dPreK, M: rows, N: M, K: C, transB: true, ...carry, label: `fourier.dS${k + 1}` });
    if (sparse) {
      const w = k === K - 1 && stats ? { weights: stats.weights } : {};
      recordShrinkBackward(rt, backward, { kind: 'soft', x: pre[k]!, dy: dS, dx: dPreK, lambda: lambdaT, cols: M, ...w, label: `fourier.S${k + 1}` });
    }
    recordAttentionBackward(rt, backward, { ...attnShape, q: Q[k]!, k: Kt[k]!, v: V[k]!, probs: P[k]!, dout: dPreK, dq: dQ, dk: dK, dv: dV });
    if (coefTrain) {
      recordMatmul(rt, backward, { a: X[k]!, b: dQ, c: wq.grad, M: C, N: M, K: rows, transA: true, accumulate: true, label: `fourier.dWq${k}` });
      recordMatmul(rt, backward, { a: X[k]!, b: dK, c: wk.grad, M: C, N: M, K: rows, transA: true, accumulate: true, label: `fourier.dWk${k}` });
      recordMatmul(rt, backward, { a: X[k]!, b: dV, c: ws.grad, M: C, N: M, K: rows, transA: true, accumulate: true, label: `fourier.dWs${k}` });
    }
    if (k === 0) break;
    recordMatmul(rt, backward, { a: dQ, b: wq.value, c: dX, M: rows, N: C, K: M, transB: true, label: `fourier.dXq${k}` });
    recordMatmul(rt, backward, { a: dK, b: wk.value, c: dX, M: rows, N: C, K: M, transB: true, accumulate: true, label: `fourier.dXk${k}` });
    recordMatmul(rt, backward, { a: dV, b: ws.value, c: dX, M: rows, N: C, K: M, transB: true, accumulate: true, label: `fourier.dXv${k}` });
    backward.push(rt.dispatch(`fourier.lift_bwd${k}`, pipe('lift_backward'), [params(0, rowGrid), dX, mask, liftE, dyLift], [rowGrid.x, rowGrid.y]));
  }

  const allParams = [lift, wq, wk, ws, dict];
  const graph = (set: FourierSet): TrainGraph => {
    if (set.seq !== T) throw new Error(`fourier: set has seq ${set.seq}, model ${T}`);
    if (set.n < B) throw new Error(`fourier: set of ${set.n} signals is smaller than a batch (${B})`);
    const perEpoch = Math.floor(set.n / B);
    const order = Array.from({ length: set.n }, (_, i) => i);
    const bx = new Float32Array(rows);
    const bm = new Float32Array(rows);
    const by = new Float32Array(rows);
    let shuffled = -1;
    return {
      packs: [trainable],
      forward,
      loss: lossList,
      backward,
      lossValue,
      extraMetrics: [{ name: 'active_atoms', tensor: activeAtoms }, ...(stats ? [{ name: 'atoms_penalty', tensor: penalty }] : [])],
      loadBatch(step) {
        const epoch = Math.floor(step / perEpoch);
        if (epoch !== shuffled) {
          for (let i = 0; i < order.length; i++) order[i] = i;
          new Rng(mixSeed(cfg.seed, 0xba7c, epoch)).shuffle(order);
          shuffled = epoch;
        }
        const b0 = (step % perEpoch) * B;
        for (let b = 0; b < B; b++) {
          const s = order[b0 + b]!;
          bx.set(set.observed.subarray(s * T, (s + 1) * T), b * T);
          bm.set(set.masks.subarray(s * T, (s + 1) * T), b * T);
          by.set(set.signals.subarray(s * T, (s + 1) * T), b * T);
        }
        rt.write(xobs, bx);
        rt.write(mask, bm);
        rt.write(target, by);
      },
    };
  };
  return {
    cfg,
    form: opts.form,
    train: opts.train,
    params: allParams,
    trainable,
    frozen,
    wq,
    wk,
    ws,
    dict,
    lift,
    xobs,
    mask,
    target,
    prediction,
    codes,
    forward,
    lossList,
    backward,
    lossValue,
    penalty,
    activeAtoms,
    rows,
    graph,
  };
}

// ---------- evaluation ----------

export interface FourierEval {
  mse: number;
  /** MSE / signal variance of the set. */
  nmse: number;
  /** Mean non-zero codes per token (S^K). */
  activePerToken: number;
  /** u_m per atom (see the file comment). */
  usage: Float64Array;
  /** Fewest atoms covering 95 % of Σ u_m. */
  usedAtoms: number;
  /** Atoms with u_m ≥ 1 % of max u_m. */
  atomsAbove1pct: number;
  /** Per signal: the fewest atoms covering 95 % of that signal's usage (Σ_t |S^K_tm·d_m(t)|), averaged over the signals. */
  usedAtomsPerSignal: number;
  /** [n, seq] the reconstructions. */
  prediction: Float32Array;
}

/** Atom m's time profile d_m(t) = ⟨D_m, E_t⟩, [M, seq]. */
export function atomProfiles(cfg: FourierConfig, D: Float32Array, lift: Float32Array): Float64Array {
  const { atoms: M, seq: T, dim: C } = cfg;
  const out = new Float64Array(M * T);
  for (let m = 0; m < M; m++) {
    for (let t = 0; t < T; t++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += D[m * C + c]! * lift[t * C + c]!;
      out[m * T + t] = s;
    }
  }
  return out;
}

export function usageCounts(usage: Float64Array): { usedAtoms: number; atomsAbove1pct: number } {
  const sorted = Array.from(usage).sort((a, b) => b - a);
  const total = sorted.reduce((a, b) => a + b, 0);
  let acc = 0;
  let usedAtoms = 0;
  if (total > 0) {
    while (usedAtoms < sorted.length && acc < 0.95 * total) acc += sorted[usedAtoms++]!;
  }
  const max = sorted[0] ?? 0;
  const atomsAbove1pct = max > 0 ? sorted.filter((u) => u >= 0.01 * max).length : 0;
  return { usedAtoms, atomsAbove1pct };
}

/** Runs the forward over `set` batch by batch (n must be a multiple of the batch; readbacks: inspection, not training). */
export async function evaluateFourier(rt: GpuRuntime, model: FourierModel, set: FourierSet): Promise<FourierEval> {
  const { batch: B, seq: T, atoms: M } = model.cfg;
  if (set.n % B !== 0) throw new Error(`fourier eval: ${set.n} signals is not a multiple of the batch ${B}`);
  const params = await readParams([model.dict, model.lift]);
  const prof = atomProfiles(model.cfg, params.get('fourier.D')!, params.get('fourier.lift')!);
  const prediction = new Float32Array(set.n * T);
  const usage = new Float64Array(M);
  const perSignal = new Float64Array(M);
  let perSignalCount = 0;
  let nonzero = 0;
  for (let s0 = 0; s0 < set.n; s0 += B) {
    rt.write(model.xobs, set.observed.subarray(s0 * T, (s0 + B) * T));
    rt.write(model.mask, set.masks.subarray(s0 * T, (s0 + B) * T));
    rt.submit([model.forward]);
    prediction.set(await rt.read(model.prediction), s0 * T);
    const codes = await rt.read(model.codes);
    for (let r = 0; r < B * T; r++) {
      const t = r % T;
      if (t === 0) perSignal.fill(0);
      for (let m = 0; m < M; m++) {
        const c = codes[r * M + m]!;
        if (c !== 0) {
          nonzero++;
          const u = Math.abs(c * prof[m * T + t]!);
          usage[m] += u;
          perSignal[m] += u;
        }
      }
      if (t === T - 1) perSignalCount += usageCounts(perSignal).usedAtoms;
    }
  }
  for (let m = 0; m < M; m++) usage[m] /= set.n * T;
  const mse = mseOf(prediction, set.signals);
  return { mse, nmse: mse / signalVariance(set), activePerToken: nonzero / (set.n * T), usage, ...usageCounts(usage), usedAtomsPerSignal: perSignalCount / set.n, prediction };
}

export interface ReconstructionView {
  seq: number;
  /** Per signal: the truth, the observed (t, value) points, the base's and the adapted model's outputs. */
  signals: { truth: number[]; observed: { t: number; v: number }[]; base: number[]; adapted: number[] | null; freqs: number[] }[];
}

/**
 * For a view: reconstructs the signals `indices` of `set` with `base` and (optionally) `adapted`
 * (both built with the same config). Runs whole batches (padding with the set's first signals).
 */
export async function reconstructFourier(rt: GpuRuntime, base: FourierModel, adapted: FourierModel | null, set: FourierSet, indices: number[]): Promise<ReconstructionView> {
  const { batch: B, seq: T } = base.cfg;
  const run = async (model: FourierModel, idx: number[]): Promise<Float32Array> => {
    const bx = new Float32Array(B * T);
    const bm = new Float32Array(B * T);
    idx.forEach((s, b) => {
      bx.set(set.observed.subarray(s * T, (s + 1) * T), b * T);
      bm.set(set.masks.subarray(s * T, (s + 1) * T), b * T);
    });
    rt.write(model.xobs, bx);
    rt.write(model.mask, bm);
    rt.submit([model.forward]);
    return rt.read(model.prediction);
  };
  const out: ReconstructionView = { seq: T, signals: [] };
  for (let i0 = 0; i0 < indices.length; i0 += B) {
    const idx = indices.slice(i0, i0 + B);
    for (const s of idx) if (!Number.isInteger(s) || s < 0 || s >= set.n) throw new Error(`reconstructFourier: index ${s} outside 0…${set.n - 1}`);
    const yb = await run(base, idx);
    const ya = adapted ? await run(adapted, idx) : null;
    idx.forEach((s, b) => {
      const observed: { t: number; v: number }[] = [];
      for (let t = 0; t < T; t++) if (set.masks[s * T + t]) observed.push({ t, v: set.observed[s * T + t]! });
      out.signals.push({
        truth: Array.from(set.signals.subarray(s * T, (s + 1) * T)),
        observed,
        base: Array.from(yb.subarray(b * T, (b + 1) * T)),
        adapted: ya ? Array.from(ya.subarray(b * T, (b + 1) * T)) : null,
        freqs: set.freqs[s]!,
      });
    });
  }
  return out;
}

// ---------- checkpoints ----------

export const FOURIER_CHECKPOINT_FORMAT = 'sparse-adapter-playground/fourier@1';
export const fourierCheckpointModel = (form: FourierForm) => `fourier-${form}`;

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
    { ...metadata, model: fourierCheckpointModel(model.form), config: JSON.stringify(model.cfg), format: FOURIER_CHECKPOINT_FORMAT },
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
  const want = fourierCheckpointModel(model.form);
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
  if (problems.length) throw new Error(`fourier checkpoint does not fit this model (C = ${model.cfg.dim}, M = ${model.cfg.atoms}, seq = ${model.cfg.seq}):\n  ${problems.join('\n  ')}`);
  model.trainable.writeAll(values, { partial: true });
  model.frozen.writeAll(values, { partial: true });
  return { ...file.metadata };
}

// ---------- float64 reference ----------

export interface FourierParamsCpu {
  lift: ArrayLike<number>;
  wq: ArrayLike<number>;
  wk: ArrayLike<number>;
  ws: ArrayLike<number>;
  D: ArrayLike<number>;
}

/**
 * The model's forward in float64 for `batch` signals (xobs, mask [batch·seq]): ŷ^K, S^K and the
 * objective MSE(ŷ^K, target) + l1·(1/N)·Σ|S^K|·‖D_m‖ (the quantity the GPU backward differentiates).
 */
export function fourierForwardCpu(
  cfg: Pick<FourierConfig, 'seq' | 'dim' | 'atoms' | 'iterations'>,
  form: FourierForm,
  p: FourierParamsCpu,
  io: { xobs: ArrayLike<number>; mask: ArrayLike<number>; target?: ArrayLike<number>; batch: number; lambda: number; l1: number },
): { prediction: Float64Array; codes: Float64Array; objective: number } {
  const { seq: T, dim: C, atoms: M, iterations: K } = cfg;
  const rows = io.batch * T;
  const tc = T * C;
  let yhat = new Float64Array(rows);
  let S = new Float64Array(rows * M);
  const X = new Float64Array(rows * C);
  const proj = (w: ArrayLike<number>) => {
    const out = new Float64Array(rows * M);
    for (let r = 0; r < rows; r++) for (let c = 0; c < C; c++) {
      const x = X[r * C + c]!;
      if (x !== 0) for (let m = 0; m < M; m++) out[r * M + m] += x * w[c * M + m]!;
    }
    return out;
  };
  const scale = 1 / Math.sqrt(M);
  for (let k = 0; k < K; k++) {
    for (let r = 0; r < rows; r++) {
      const t = r % T;
      const m = io.mask[r]!;
      const res = io.xobs[r]! - (k > 0 ? m * yhat[r]! : 0);
      for (let c = 0; c < C; c++) X[r * C + c] = res * p.lift[t * C + c]! + m * p.lift[tc + t * C + c]!;
    }
    const Q = proj(p.wq);
    const Kk = proj(p.wk);
    const V = proj(p.ws);
    const next = new Float64Array(rows * M);
    const a = new Float64Array(T);
    for (let b = 0; b < io.batch; b++) {
      for (let i = 0; i < T; i++) {
        let mx = -Infinity;
        for (let j = 0; j < T; j++) {
          let s = 0;
          for (let m = 0; m < M; m++) s += Q[(b * T + i) * M + m]! * Kk[(b * T + j) * M + m]!;
          a[j] = s * scale;
          mx = Math.max(mx, a[j]!);
        }
        let z = 0;
        for (let j = 0; j < T; j++) z += a[j] = Math.exp(a[j]! - mx);
        for (let m = 0; m < M; m++) {
          let u = 0;
          for (let j = 0; j < T; j++) u += (a[j]! / z) * V[(b * T + j) * M + m]!;
          const v = S[(b * T + i) * M + m]! + u;
          next[(b * T + i) * M + m] = form === 'sparse' ? Math.sign(v) * Math.max(Math.abs(v) - io.lambda, 0) : v;
        }
      }
    }
    S = next;
    yhat = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      const t = r % T;
      for (let c = 0; c < C; c++) {
        let o = 0;
        for (let m = 0; m < M; m++) o += S[r * M + m]! * p.D[m * C + c]!;
        yhat[r] += o * p.lift[t * C + c]!;
      }
    }
  }
  let objective = 0;
  if (io.target) {
    for (let r = 0; r < rows; r++) objective += (yhat[r]! - io.target[r]!) ** 2 / rows;
    if (io.l1 > 0) {
      for (let m = 0; m < M; m++) {
        let n2 = 0;
        for (let c = 0; c < C; c++) n2 += p.D[m * C + c]! ** 2;
        let abs = 0;
        for (let r = 0; r < rows; r++) abs += Math.abs(S[r * M + m]!);
        objective += (io.l1 / rows) * abs * Math.sqrt(n2);
      }
    }
  }
  return { prediction: yhat, codes: S, objective };
}

// ---------- training ----------

export interface FourierTrainResult {
  /** Loss (and metric) rows streamed by the trainer, one per step. */
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

export interface FourierPretrainResult extends FourierTrainResult {
  model: FourierModel;
}

/**
 * Pre-trains a base of `form` on `set` for cfg.pretrainSteps. The sparse form trains its first
 * penaltyWarmup·steps without the L1 penalty (σ_λ still applies), then the rest with it, from
 * those weights (fresh optimizer state and schedule): with the penalty on from step 0 the codes
 * were pushed to zero before the model had learned anything (measured: worse than copying after
 * 200 steps at l1 = 0.3), the usual reason for switching a sparsity penalty on late.
 */
export async function pretrainFourier(
  rt: GpuRuntime,
  cfg: FourierConfig,
  form: FourierForm,
  set: FourierSet,
  o: { onStep?: (done: number, lastLoss: number | null) => void } = {},
): Promise<FourierPretrainResult> {
  const steps = cfg.pretrainSteps;
  const warm = form === 'sparse' && cfg.l1 > 0 ? Math.round(cfg.penaltyWarmup * steps) : 0;
  let model = buildFourierModel(rt, cfg, { form, train: 'all', ...(warm > 0 ? { l1: 0 } : {}) });
  const first = await trainFourier(rt, model, set, { steps: warm > 0 ? warm : steps, lr: cfg.pretrainLr, ...(o.onStep ? { onStep: o.onStep } : {}) });
  if (warm === 0) return { ...first, model };
  const bytes = await fourierCheckpointBytes(model, {});
  model.destroy();
  model = buildFourierModel(rt, cfg, { form, train: 'all' });
  loadFourierCheckpoint(model, bytes);
  const second = await trainFourier(rt, model, set, { steps: steps - warm, lr: cfg.pretrainLr, onStep: (s, l) => o.onStep?.(warm + s, l) });
  return {
    model,
    steps,
    seconds: first.seconds + second.seconds,
    losses: [...first.losses, ...second.losses.map((l) => ({ ...l, step: l.step + warm }))],
  };
}
