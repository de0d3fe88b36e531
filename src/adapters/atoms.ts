/**
 * Dictionary-atoms adapter (Chen et al., "Sparse Fine-Tuning of Transformers for Generative
 * Tasks", §3.2 eq. 8–9, §3.4): a frozen attention block's output O gets
 *     ΔO = σ_λ(A·X·W_s)·D          (form 'paper')
 *     ΔO = A·σ_λ(X·W_s)·D          (form 'simplified', the paper's §3.4 implementation choice)
 * with X the block input [N, C_i], A the attention map, W_s ∈ R^{C_i×M} (coefficient weights),
 * D ∈ R^{M×C_o} (the atoms), S = σ_λ(·) the sparse code [N, M].
 *
 * σ_λ ('sigma'): 'soft' sign(x)·max(|x| − λ, 0); 'relu' max(x − λ, 0); 'topk' keeps k entries
 * per row (src/kernels/topk.ts, ties to the lower index; λ is unused): by signed value
 * (`topk: 'signed'`, the default — the k largest codes, as STAN and SAELens' TopK do; with fewer
 * than k positive codes, negative ones are kept too, with their value) or by magnitude
 * (`topk: 'abs'` — the k largest |x|, keeping their sign). Derivatives at the kink are taken as 0.
 *
 * Multi-head attention. The paper works with one head (and notes, eq. 7, that H heads are one
 * head over a composite [A^(1) … A^(H)] with an H-times larger dictionary). We read H heads as
 * Ā = (1/H)·Σ_h A^(h) — the head-averaged attention map — in place of A: same parameter count
 * as the single-head adapter, one extra tiny kernel (and its transpose in the backward, which
 * spreads dĀ/H to every head's dprobs). For one head Ā = A and the adapter is exactly eq. 8.
 * The block's own output projection W_o stays in O (the base); ΔO is added after it.
 *
 * Initialisation. D = 0, W_s ~ U(±1/√C_i): ΔO = 0 at step 0, the adapted block reproduces the
 * frozen one exactly. Consequence: ∂L/∂S = ∂L/∂ΔO·Dᵀ = 0, so dW_s = 0 (and dprobs, dx from the
 * adapter are 0) until D moves; Adam moves D first (its gradient Sᵀ·∂L/∂ΔO is non-zero), and
 * W_s starts learning one step later. In train mode 'coefficients' D is frozen, and a zero D
 * would freeze W_s's gradient forever, so there D ~ U(±1/√M) (ΔO ≠ 0 at step 0; load trained
 * atoms with pack.writeAll to fine-tune coefficients against them, as in the paper's Fig. 2).
 *
 * Train modes: 'atoms' (W_s frozen), 'coefficients' (D frozen), 'both'. A frozen part lives in
 * ctx.frozen and no gradient is computed for it. `params` lists the trainable ones.
 *
 * Sparsity control. Soft/ReLU with a fixed λ tend to densify as W_s grows (nothing stops the
 * pre-activations from outgrowing λ), so:
 *  - `l1 > 0` adds l1·(1/N)·Σ_r Σ_m |S[r, m]|·‖D_m‖ to the loss (its gradient flows into W_s
 *    and D; plain L1 on S would be undone by shrinking S and growing D). Its value is streamed
 *    as the metric `${path}.atoms_penalty` (the trainer's `loss` does not include it);
 *  - λ lives in a GPU buffer: `setLambda(λ)` (a queue.writeBuffer) changes it for the next step,
 *    so a schedule can raise it, and it doubles as an inference-time density control;
 *  - `${path}.active_atoms`: mean number of non-zero codes per row, counted on the GPU each step.
 *
 * Inference controls (queue.writeBuffer, effective from the next submit, no re-recording):
 * `setMask` (atom off → its code is exactly 0, so its contribution is exactly 0; with top-k the
 * selection ignores the mask, as src/kernels/topk.ts does, so a masked atom keeps its slot and
 * the row has one live code fewer), `setK` (top-k: use only the best k' ≤ k slots), `setLambda`
 * (soft/ReLU). The ISTA solver (src/kernels/ista.ts, `sparseEncode`) encodes any signal over
 * the learned atoms `dict.value`.
 *
 * Inspection: `code` (top-k: indices/values of the last forward), `codes` (dense S, all modes),
 * `recordAtomContribution(list, atom, out)` writes one atom's share of ΔO for the current batch
 * (paper: S[:, m]·D_m; simplified: Ā·(S[:, m]·D_m)); the shares sum to ΔO.
 * `atomContributions(atoms)` is the awaited convenience (one submit, one readback per atom).
 *
 * GPU work per step, recorded once (buffers, uniforms, pipelines created at record time):
 *   forward   [Ā = mean_h A]; paper: P = Ā·X, U = P·W_s (the same product as Ā·(X·W_s), ordered
 *             so that dW_s = Pᵀ·dU needs no Āᵀ product); simplified: Y = X·W_s
 *             → S = σ(U | Y) (top-k: dense scatter of the k slots) → [penalty stats] → active
 *             count → paper: out += S·D (matmul, or the sparse decode for top-k);
 *             simplified: Z = S·D, out += Ā·Z
 *   backward  G = dout (paper) | Āᵀ·dout (simplified); dD = Sᵀ·G [+ penalty];
 *             dPre = σ'⊙(G·Dᵀ) (top-k: only the k selected entries, gathered);
 *             paper: dW_s = Pᵀ·dPre, T = dPre·W_sᵀ (only for dprobs/dx), dĀ = T·Xᵀ;
 *             simplified: dW_s = Xᵀ·dPre, dĀ = dout·Zᵀ;  dĀ → dprobs (÷H per head).
 *             Top-k: dPre stays in the code's slot layout [rows, k]; the live (row, slot) pairs
 *             are counting-sorted by atom (src/kernels/stan-sparse.ts, STAN's deterministic
 *             bucket sort), and dD = Sᵀ·G and W_sᵀ's gradient (dPreᵀ·P | dPreᵀ·X, transposed
 *             into place) are gathered per atom: ∝ rows·k·C instead of rows·M·C. The dense dPre
 *             is scattered only where dT or dx need it. (A sparse Sᵀ·G that walked all rows per
 *             atom, skipping zeros, was ~5× slower than the dense matmul on SwiftShader: its
 *             lanes ran both sides of the data-dependent branch; the bucketed pairs have no
 *             such branch.) Soft/ReLU codes keep the dense matmuls.
 *   recordBackwardInput: dx += Āᵀ·T (paper) | dPre·W_sᵀ (simplified).
 */
import { ConfigError } from '../engine/errors';
import type { ParamRef } from '../engine/param-pack';
import { CommandList, type AllocationScope, type GpuRuntime } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import {
  recordAtomPenalty,
  recordAtomPenaltyGrad,
  recordAtomStats,
  recordCodeGrad,
  recordHeadBroadcast,
  recordHeadMean,
  recordOuterAtom,
  recordScatterCode,
  recordSparseDecode,
} from '../kernels/atoms';
import { recordMatmul } from '../kernels/matmul';
import { recordRowNonzeros, recordShrinkBackward, recordShrinkForward } from '../kernels/shrink';
import { recordBucketGather, recordBucketSort, recordTranspose } from '../kernels/stan-sparse';
import { createTopKOverride, recordTopK, writeTopKOverride } from '../kernels/topk';
import type { AttentionOutputHook, MultiHeadAttention } from '../nn/attention';
import { declareParam, isTrainable, type BuildContext } from '../nn/module';
import { choice, int, num, type SettingsSpec } from '../settings/fields';
import type { Adapter, AdapterModule, AdapterSite, SparseCode } from './adapter';

export interface AtomsConfig {
  /** M, the number of atoms (dictionary size). */
  atoms: number;
  sigma: 'soft' | 'relu' | 'topk';
  /** Threshold of soft/relu (≥ 0); unused by topk. Changeable per step with setLambda. */
  lambda: number;
  /** Top-k: codes kept per row (1 … atoms). */
  k: number;
  form: 'paper' | 'simplified';
  train: 'atoms' | 'coefficients' | 'both';
  /** Top-k selection: the k largest signed codes (default, as STAN) or the k largest |codes| (values keep their sign). */
  topk?: 'signed' | 'abs';
  /** Weight of the ‖D_m‖-weighted L1 code penalty; 0 = off. */
  l1?: number;
}

/** Largest dictionary we accept (a code row is one thread's loop in a few kernels). */
export const MAX_ATOMS = 4096;

export const ATOMS_SETTINGS: SettingsSpec<AtomsConfig> = {
  fields: {
    atoms: int('atoms M', 1, MAX_ATOMS, { help: 'Dictionary size: the rows of D.' }),
    sigma: choice('σ (sparsifier)', ['topk', 'soft', 'relu'], { help: 'topk keeps k codes per row; soft and relu threshold at λ.' }),
    k: int('k (active atoms)', 1, MAX_ATOMS, { visible: (c) => c.sigma === 'topk' }),
    topk: choice('top-k by', ['signed', 'abs'], { visible: (c) => c.sigma === 'topk', help: 'signed: the k largest codes (as STAN); abs: the k largest |codes|, keeping their sign.' }),
    lambda: num('λ (threshold)', 0, 100, { visible: (c) => c.sigma !== 'topk' }),
    form: choice('form', ['paper', 'simplified'], { help: 'paper: codes from σ(Ā·X·W_s); simplified: σ(X·W_s), no attention pattern.' }),
    train: choice('train', ['both', 'atoms', 'coefficients'], { help: 'What fine-tuning moves: the atoms D, the coefficients W_s, or both.' }),
    l1: num('L1 on codes', 0, 100, { help: 'Weight of the ‖D_m‖-weighted L1 penalty on the codes; 0 = off.' }),
  },
  defaults: { atoms: 64, sigma: 'topk', k: 8, topk: 'signed', lambda: 0, form: 'paper', train: 'both', l1: 0 },
  checks: [{ field: 'k', message: 'k (active atoms) must be ≤ atoms M (top-k selects k of the M atoms)', ok: (c) => c.sigma !== 'topk' || c.k <= c.atoms }],
};

export const ATOMS_DEFAULTS: AtomsConfig = ATOMS_SETTINGS.defaults;

type AttentionSite = Extract<AdapterSite, { kind: 'attention-output' }>;

export function validateAtoms(config: AtomsConfig, site: AdapterSite): asserts site is AttentionSite {
  if (site.kind !== 'attention-output') {
    throw new ConfigError('site', `atoms attaches to attention outputs; ${site.path} is a ${site.kind} site`);
  }
  if (config === null || typeof config !== 'object') throw new ConfigError('config', `atoms config must be an object, got ${String(config)}`);
  const { atoms, sigma, lambda, k, form, train } = config;
  if (typeof atoms !== 'number' || !Number.isInteger(atoms) || atoms < 1 || atoms > MAX_ATOMS) {
    throw new ConfigError('atoms', `must be an integer in 1..${MAX_ATOMS}, got ${String(atoms)}`);
  }
  if (sigma !== 'soft' && sigma !== 'relu' && sigma !== 'topk') throw new ConfigError('sigma', `must be 'soft', 'relu' or 'topk', got ${String(sigma)}`);
  if (typeof lambda !== 'number' || !Number.isFinite(lambda) || lambda < 0) throw new ConfigError('lambda', `must be a finite number ≥ 0, got ${String(lambda)}`);
  if (sigma === 'topk' && (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > atoms)) {
    throw new ConfigError('k', `must be an integer in 1..${atoms} (= atoms) for sigma 'topk', got ${String(k)}`);
  }
  if (form !== 'paper' && form !== 'simplified') throw new ConfigError('form', `must be 'paper' or 'simplified', got ${String(form)}`);
  if (config.topk !== undefined && config.topk !== 'signed' && config.topk !== 'abs') throw new ConfigError('topk', `must be 'signed' or 'abs', got ${String(config.topk)}`);
  if (train !== 'atoms' && train !== 'coefficients' && train !== 'both') throw new ConfigError('train', `must be 'atoms', 'coefficients' or 'both', got ${String(train)}`);
  const l1 = config.l1 ?? 0;
  if (typeof l1 !== 'number' || !Number.isFinite(l1) || l1 < 0) throw new ConfigError('l1', `must be a finite number ≥ 0 (0 = off), got ${String(l1)}`);
  if (site.layer.outputAdapter) throw new ConfigError('site', `${site.path} already has an output adapter (one per attention block)`);
  if (site.dim !== site.layer.opts.dim || site.heads !== site.layer.opts.heads || site.batch !== site.layer.opts.batch || site.seq !== site.layer.opts.seq) {
    throw new ConfigError('site', `${site.path}: site shape (batch ${site.batch}, seq ${site.seq}, heads ${site.heads}, dim ${site.dim}) differs from the layer's`);
  }
}

export class AtomsAdapter implements Adapter, AttentionOutputHook {
  readonly kind = 'atoms' as const;
  readonly path: string;
  readonly params: ParamRef[];
  readonly latentCount: number;
  readonly latentLabel = 'atom' as const;
  readonly config: Required<AtomsConfig>;
  /** W_s [C_i, M] (`${path}.atoms_Ws.weight`). */
  readonly ws: ParamRef;
  /** D [M, C_o] (`${path}.atoms_D.weight`). */
  readonly dict: ParamRef;
  /** Dense codes S [rows, M] of the last forward (all σ). */
  readonly codes: Tensor;
  readonly code?: SparseCode;
  readonly metrics: { name: string; tensor: Tensor }[];
  /** Mean non-zero codes per row, [1]. */
  readonly activeAtoms: Tensor;
  /** The weighted-L1 penalty value, [1] (0 when l1 = 0). */
  readonly penalty: Tensor;
  /** λ, [1] (setLambda writes it). */
  readonly lambdaTensor: Tensor;
  /** Atom mask [M] (setMask writes it). */
  readonly mask: Tensor;
  readonly setK?: (k: number) => void;
  /** Whether the recorded backward writes dprobs (see the file comment); set by recordBackward. */
  writesDprobs = false;

  readonly rows: number;
  readonly batch: number;
  readonly seq: number;
  readonly heads: number;
  readonly dim: number;

  private readonly rt: GpuRuntime;
  private readonly layer: MultiHeadAttention;
  private readonly scopes: AllocationScope[] = [];
  private readonly kOverride: Tensor | null;
  private readonly abar: Tensor | null;
  /** Paper: P = Ā·X [rows, C_i]; simplified: null. */
  private readonly pAX: Tensor | null;
  /** σ's input [rows, M]: U = P·W_s (paper) or Y = X·W_s (simplified). */
  private readonly pre: Tensor;
  private readonly idx: Tensor | null;
  private readonly vals: Tensor | null;
  private readonly z: Tensor | null;
  private readonly stats: { absSum: Tensor; norms: Tensor; weights: Tensor } | null;
  // Backward buffers.
  private readonly dS: Tensor | null;
  private readonly dPre: Tensor;
  /** Top-k: dU of each code slot [rows, k] (the per-atom gathers' weights). */
  private readonly dSlots: Tensor | null;
  /** Top-k: W_s's gradient gathered per atom, [M, C_i], before the transpose into ws.grad. */
  private readonly dWsT: Tensor | null;
  /** Paper: T = dPre·W_sᵀ [rows, C_i] (for dprobs and dx). */
  private readonly dT: Tensor | null;
  private readonly dZ: Tensor | null;
  private readonly dAbar: Tensor | null;
  private contribScratch: Tensor | null = null;
  private deltaScratch: Tensor | null = null;
  /** The forward's output and attention map (captured at record time, for recordDelta). */
  private recorded: { out: Tensor; A: Tensor } | null = null;
  private destroyed = false;

  constructor(ctx: BuildContext, site: AttentionSite, config: AtomsConfig) {
    validateAtoms(config, site);
    const rt = (this.rt = ctx.rt);
    this.layer = site.layer;
    this.path = site.path;
    this.config = { ...config, l1: config.l1 ?? 0, topk: config.topk ?? 'signed' };
    const { batch, seq, heads, dim } = site;
    this.batch = batch;
    this.seq = seq;
    this.heads = heads;
    this.dim = dim;
    const rows = (this.rows = batch * seq);
    const M = (this.latentCount = config.atoms);
    const topk = config.sigma === 'topk';
    const paper = config.form === 'paper';
    const scope = rt.openScope(`atoms(${site.path})`);
    this.scopes.push(scope);
    try {
      this.ws = declareParam(ctx, `${site.path}.atoms_Ws.weight`, [dim, M], { uniform: 1 / Math.sqrt(dim) }, { frozen: config.train === 'atoms' });
      this.dict = declareParam(ctx, `${site.path}.atoms_D.weight`, [M, dim], config.train === 'coefficients' ? { uniform: 1 / Math.sqrt(M) } : { constant: 0 }, { frozen: config.train === 'coefficients' });
      this.params = [this.ws, this.dict].filter(isTrainable);
      const t = (shape: number[], name: string, data?: Float32Array | number[]) => rt.tensor(shape, `${site.path}.atoms.${name}`, data);
      this.lambdaTensor = t([1], 'lambda', [config.lambda]);
      this.mask = t([M], 'mask', new Float32Array(M).fill(1));
      this.kOverride = topk ? createTopKOverride(rt, config.k, `${site.path}.atoms.k`) : null;
      this.abar = heads > 1 ? t([batch, seq, seq], 'abar') : null;
      this.pAX = paper ? t([rows, dim], 'P') : null;
      this.pre = t([rows, M], paper ? 'U' : 'Y');
      this.codes = t([rows, M], 'S');
      this.idx = topk ? t([rows, config.k], 'indices') : null;
      this.vals = topk ? t([rows, config.k], 'values') : null;
      this.z = paper ? null : t([rows, dim], 'Z');
      this.activeAtoms = t([1], 'active');
      this.penalty = t([1], 'penalty');
      this.stats = this.config.l1 > 0 ? { absSum: t([M], 'absSum'), norms: t([M], 'norms'), weights: t([M], 'l1weights') } : null;
      this.dS = topk ? null : t([rows, M], 'dS');
      this.dPre = t([rows, M], 'dPre');
      this.dSlots = topk ? t([rows, config.k], 'dSlots') : null;
      this.dWsT = topk && config.train !== 'atoms' ? t([M, dim], 'dWsT') : null;
      this.dT = paper ? t([rows, dim], 'dT') : null;
      this.dZ = paper ? null : t([rows, dim], 'dZ');
      this.dAbar = heads > 1 ? t([batch, seq, seq], 'dAbar') : null;
    } finally {
      rt.closeScope(scope);
    }
    if (topk) {
      this.code = { indices: this.idx!, values: this.vals!, rows, k: config.k };
      this.setK = (k: number) => {
        if (!Number.isInteger(k) || k < 1 || k > config.k) throw new ConfigError('k', `${this.path}: setK needs an integer in 1..${config.k} (the configured k), got ${k}`);
        writeTopKOverride(rt, this.kOverride!, k);
      };
    }
    this.metrics = [{ name: `${site.path}.active_atoms`, tensor: this.activeAtoms }];
    if (this.stats) this.metrics.push({ name: `${site.path}.atoms_penalty`, tensor: this.penalty });
    site.layer.outputAdapter = this;
  }

  trainableParameterCount(): number {
    return this.params.reduce((s, p) => s + p.size, 0);
  }

  /** Atom m: row m of D. */
  async unitDirection(unit: number): Promise<Float32Array> {
    const M = this.latentCount;
    if (!Number.isInteger(unit) || unit < 0 || unit >= M) throw new ConfigError('unit', `must be in 0…${M - 1}, got ${unit}`);
    const D = await this.rt.read(this.dict.value);
    return D.slice(unit * this.dim, (unit + 1) * this.dim);
  }

  /** ‖D_m‖ per atom (what atom m writes per unit of code). */
  async unitNorms(): Promise<Float32Array> {
    const D = await this.rt.read(this.dict.value);
    const C = this.dim;
    return Float32Array.from({ length: this.latentCount }, (_, m) => {
      let ss = 0;
      for (let c = 0; c < C; c++) ss += D[m * C + c]! * D[m * C + c]!;
      return Math.sqrt(ss);
    });
  }

  /** ΔO of the last forward into a scratch [rows, C]: S·D (paper) or Ā·(S·D) (simplified, from the forward's Z). */
  recordDelta(list: CommandList): { delta: Tensor; out: Tensor; width: number } {
    const rec = this.recorded;
    if (!rec) throw new Error(`${this.path}: recordDelta needs the forward recorded first`);
    const { batch: B, seq: T, dim: C, rows, path } = this;
    this.scoped('delta', () => {
      this.deltaScratch ??= this.rt.tensor([rows, C], `${path}.atoms.delta`);
      if (this.config.form === 'paper') recordMatmul(this.rt, list, { a: this.codes, b: this.dict.value, c: this.deltaScratch, M: rows, N: C, K: this.latentCount, label: `${path}.atoms.delta` });
      else recordMatmul(this.rt, list, { a: rec.A, b: this.z!, c: this.deltaScratch, M: T, N: C, K: T, batch: B, strideA: T * T, strideB: T * C, strideC: T * C, label: `${path}.atoms.delta` });
    });
    return { delta: this.deltaScratch!, out: rec.out, width: C };
  }

  setMask(mask: Float32Array | null): void {
    const M = this.latentCount;
    if (mask === null) {
      this.rt.write(this.mask, new Float32Array(M).fill(1));
      return;
    }
    if (mask.length !== M) throw new ConfigError('mask', `${this.path}: needs ${M} values (one per atom), got ${mask.length}`);
    for (let m = 0; m < M; m++) {
      if (mask[m] !== 0 && mask[m] !== 1) throw new ConfigError('mask', `${this.path}: value ${m} is ${mask[m]}; atom masks are 0 (off) or 1 (on)`);
    }
    this.rt.write(this.mask, mask);
  }

  /** Soft/ReLU threshold for the following steps (a schedule, or an inference-time density control). */
  setLambda(lambda: number): void {
    if (this.config.sigma === 'topk') throw new ConfigError('lambda', `${this.path}: sigma 'topk' has no threshold; use setK`);
    if (!Number.isFinite(lambda) || lambda < 0) throw new ConfigError('lambda', `${this.path}: must be a finite number ≥ 0, got ${lambda}`);
    this.rt.write(this.lambdaTensor, [lambda]);
  }

  /** Runs `fn` with this adapter's allocation scope open (uniforms/scratch go back on destroy). */
  private scoped(label: string, fn: () => void): void {
    const scope = this.rt.openScope(`atoms(${this.path}).${label}`);
    this.scopes.push(scope);
    try {
      fn();
    } finally {
      this.rt.closeScope(scope);
    }
  }

  private abarOf(probs: Tensor): Tensor {
    return this.abar ?? probs;
  }

  /** dprobs is consumed upstream only through q/k (their weights, biases, adapters) or dx. */
  private dprobsNeeded(inputGrad: boolean): boolean {
    return inputGrad || this.layer.q.trains || this.layer.k.trains;
  }

  /** out += ΔO(x, probs) */
  recordForward(list: CommandList, io: { x: Tensor; probs: Tensor; out: Tensor }): void {
    this.scoped('forward', () => {
      const rt = this.rt;
      const { batch: B, seq: T, heads: H, dim: C, rows, path } = this;
      const M = this.latentCount;
      const { sigma, form, k } = this.config;
      if (this.abar) recordHeadMean(rt, list, { probs: io.probs, abar: this.abar, batch: B, heads: H, seq: T });
      const A = this.abarOf(io.probs);
      this.recorded = { out: io.out, A };
      const pre = this.pre;
      if (form === 'paper') {
        recordMatmul(rt, list, { a: A, b: io.x, c: this.pAX!, M: T, N: C, K: T, batch: B, strideA: T * T, strideB: T * C, strideC: T * C, label: `${path}.atoms.P` });
        recordMatmul(rt, list, { a: this.pAX!, b: this.ws.value, c: pre, M: rows, N: M, K: C, label: `${path}.atoms.U` });
      } else {
        recordMatmul(rt, list, { a: io.x, b: this.ws.value, c: pre, M: rows, N: M, K: C, label: `${path}.atoms.Y` });
      }
      if (sigma === 'topk') {
        recordTopK(rt, list, { x: pre, rows, l: M, k, indices: this.idx!, values: this.vals!, mode: this.config.topk, mask: this.mask, kOverride: this.kOverride!, label: `${path}.atoms` });
        recordScatterCode(rt, list, { indices: this.idx!, values: this.vals!, dense: this.codes, rows, atoms: M, k });
      } else {
        recordShrinkForward(rt, list, { kind: sigma, x: pre, y: this.codes, lambda: this.lambdaTensor, cols: M, mask: this.mask, label: `${path}.atoms` });
      }
      if (this.stats) {
        const coef = this.config.l1 / rows;
        recordAtomStats(rt, list, { codes: this.codes, dict: this.dict.value, ...this.stats, rows, atoms: M, cols: C, coef });
        recordAtomPenalty(rt, list, { absSum: this.stats.absSum, norms: this.stats.norms, out: this.penalty, atoms: M, coef });
      }
      if (sigma === 'topk') recordRowNonzeros(rt, list, { x: this.vals!, rows, cols: k, mean: this.activeAtoms, label: `${path}.atoms.active` });
      else recordRowNonzeros(rt, list, { x: this.codes, rows, cols: M, mean: this.activeAtoms, label: `${path}.atoms.active` });
      const target = form === 'paper' ? io.out : this.z!;
      const acc = form === 'paper';
      if (sigma === 'topk') recordSparseDecode(rt, list, { indices: this.idx!, values: this.vals!, dict: this.dict.value, out: target, rows, atoms: M, cols: C, k, accumulate: acc });
      else recordMatmul(rt, list, { a: this.codes, b: this.dict.value, c: target, M: rows, N: C, K: M, accumulate: acc, label: `${path}.atoms.SD` });
      if (form === 'simplified') {
        recordMatmul(rt, list, { a: A, b: this.z!, c: io.out, M: T, N: C, K: T, batch: B, strideA: T * T, strideB: T * C, strideC: T * C, accumulate: true, label: `${path}.atoms.AZ` });
      }
    });
  }

  /** Parameter gradients and (when needed upstream) dprobs; what recordBackwardInput needs. */
  recordBackward(list: CommandList, io: { x: Tensor; probs: Tensor; dout: Tensor; dprobs: Tensor; inputGrad?: boolean }): void {
    this.scoped('backward', () => {
      const rt = this.rt;
      const { batch: B, seq: T, heads: H, dim: C, rows, path } = this;
      const M = this.latentCount;
      const { sigma, form, k } = this.config;
      const paper = form === 'paper';
      const topk = sigma === 'topk';
      const A = this.abarOf(io.probs);
      const trainD = isTrainable(this.dict);
      const trainW = isTrainable(this.ws);
      const needDx = io.inputGrad !== false && this.layer.input.grad !== null;
      const needDprobs = (this.writesDprobs = this.dprobsNeeded(needDx));
      const needCode = trainW || needDx || (paper && needDprobs);
      // G = ∂L/∂(S·D): dout (paper) or Āᵀ·dout (simplified)
      let G = io.dout;
      if (!paper && (trainD || needCode)) {
        recordMatmul(rt, list, { a: A, b: io.dout, c: this.dZ!, M: T, N: C, K: T, batch: B, strideA: T * T, strideB: T * C, strideC: T * C, transA: true, label: `${path}.atoms.dZ` });
        G = this.dZ!;
      }
      // Top-k: the live (row, slot) pairs bucketed by atom, so dD and dW_s are gathered per atom
      // (∝ rows·k·C) instead of dense products over all M atoms (∝ rows·M·C).
      const buckets = topk && (trainD || trainW) ? recordBucketSort(rt, list, { indices: this.idx!, rows, l: M, k, mask: this.mask, kOverride: this.kOverride!, label: `${path}.atoms` }) : null;
      if (trainD) {
        if (buckets) recordBucketGather(rt, list, { start: buckets.start, pairs: buckets.pairs, w: this.vals!, src: G, out: this.dict.grad, rows, l: M, k, width: C, label: `${path}.atoms.dD` });
        else recordMatmul(rt, list, { a: this.codes, b: G, c: this.dict.grad, M, N: C, K: rows, transA: true, label: `${path}.atoms.dD` });
        if (this.stats) recordAtomPenaltyGrad(rt, list, { absSum: this.stats.absSum, norms: this.stats.norms, dict: this.dict.value, ddict: this.dict.grad, atoms: M, cols: C, coef: this.config.l1 / rows });
      }
      if (needCode) {
        const weights = this.stats ? { weights: this.stats.weights } : {};
        // dW_s = Pᵀ·dU (paper) | Xᵀ·dY (simplified)
        const lhs = paper ? this.pAX! : io.x;
        const needDenseDU = paper ? needDx || needDprobs : needDx; // dT = dU·W_sᵀ | dx = dY·W_sᵀ
        if (topk) {
          recordCodeGrad(rt, list, { indices: this.idx!, values: this.vals!, dz: G, dict: this.dict.value, du: this.dSlots!, rows, atoms: M, cols: C, k, kOverride: this.kOverride!, mask: this.mask, slots: true, ...weights });
          if (trainW) {
            recordBucketGather(rt, list, { start: buckets!.start, pairs: buckets!.pairs, w: this.dSlots!, src: lhs, out: this.dWsT!, rows, l: M, k, width: C, label: `${path}.atoms.dWs` });
            recordTranspose(rt, list, { src: this.dWsT!, dst: this.ws.grad, rows: M, cols: C, label: `${path}.atoms.dWs` });
          }
          // The dense dU only where a product needs it (dT below, or dx in the simplified form).
          if (needDenseDU) recordScatterCode(rt, list, { indices: this.idx!, values: this.dSlots!, dense: this.dPre, rows, atoms: M, k });
        } else {
          recordMatmul(rt, list, { a: G, b: this.dict.value, c: this.dS!, M: rows, N: M, K: C, transB: true, label: `${path}.atoms.dS` });
          recordShrinkBackward(rt, list, { kind: sigma, x: this.pre, dy: this.dS!, dx: this.dPre, lambda: this.lambdaTensor, cols: M, mask: this.mask, ...weights, label: `${path}.atoms` });
          if (trainW) recordMatmul(rt, list, { a: lhs, b: this.dPre, c: this.ws.grad, M: C, N: M, K: rows, transA: true, label: `${path}.atoms.dWs` });
        }
        if (paper && (needDx || needDprobs)) {
          recordMatmul(rt, list, { a: this.dPre, b: this.ws.value, c: this.dT!, M: rows, N: C, K: M, transB: true, label: `${path}.atoms.dT` });
        }
      }
      if (needDprobs) {
        const dA = this.dAbar ?? io.dprobs;
        // paper: dĀ = dU·(X·W_s)ᵀ = T·Xᵀ;  simplified: dĀ = dout·Zᵀ
        if (paper) recordMatmul(rt, list, { a: this.dT!, b: io.x, c: dA, M: T, N: T, K: C, batch: B, strideA: T * C, strideB: T * C, strideC: T * T, transB: true, label: `${path}.atoms.dA` });
        else recordMatmul(rt, list, { a: io.dout, b: this.z!, c: dA, M: T, N: T, K: C, batch: B, strideA: T * C, strideB: T * C, strideC: T * T, transB: true, label: `${path}.atoms.dA` });
        if (this.dAbar) recordHeadBroadcast(rt, list, { dabar: this.dAbar, dprobs: io.dprobs, batch: B, heads: H, seq: T });
      }
    });
  }

  /** dx += Āᵀ·T (paper) | dY·W_sᵀ (simplified): the adapter's direct path; the path through A goes via dprobs. */
  recordBackwardInput(list: CommandList, io: { x: Tensor; probs: Tensor; dout: Tensor; dx: Tensor }): void {
    this.scoped('backward-input', () => {
      const { batch: B, seq: T, dim: C, rows, path } = this;
      if (this.config.form === 'paper') {
        recordMatmul(this.rt, list, { a: this.abarOf(io.probs), b: this.dT!, c: io.dx, M: T, N: C, K: T, batch: B, strideA: T * T, strideB: T * C, strideC: T * C, transA: true, accumulate: true, label: `${path}.atoms.dx` });
      } else {
        recordMatmul(this.rt, list, { a: this.dPre, b: this.ws.value, c: io.dx, M: rows, N: C, K: this.latentCount, transB: true, accumulate: true, label: `${path}.atoms.dx` });
      }
    });
  }

  /**
   * out [rows, C_o] = atom `atom`'s contribution to ΔO for the batch of the last forward:
   * S[:, m]·D_m (paper) or Ā·(S[:, m]·D_m) (simplified). Σ over atoms = ΔO. Record after the
   * forward (or in a separate list submitted after it); `out` must be a buffer of its own.
   */
  recordAtomContribution(list: CommandList, atom: number, out: Tensor): void {
    if (!Number.isInteger(atom) || atom < 0 || atom >= this.latentCount) throw new ConfigError('atom', `${this.path}: atom must be an integer in 0..${this.latentCount - 1}, got ${atom}`);
    if (out.size < this.rows * this.dim) throw new Error(`${this.path}: contribution output ${out.name} has ${out.size} < ${this.rows}×${this.dim} elements`);
    this.scoped('contribution', () => {
      const rt = this.rt;
      const { batch: B, seq: T, dim: C, rows } = this;
      const args = { codes: this.codes, dict: this.dict.value, rows, atoms: this.latentCount, cols: C, atom };
      if (this.config.form === 'paper') {
        recordOuterAtom(rt, list, { ...args, out });
        return;
      }
      this.contribScratch ??= rt.tensor([rows, C], `${this.path}.atoms.contribution`);
      recordOuterAtom(rt, list, { ...args, out: this.contribScratch });
      recordMatmul(rt, list, { a: this.abarOf(this.layer.probs), b: this.contribScratch, c: out, M: T, N: C, K: T, batch: B, strideA: T * T, strideB: T * C, strideC: T * C, label: `${this.path}.atoms.contribution` });
    });
  }

  /** Awaited: each listed atom's contribution map [rows, C_o] for the last forward's batch (inspection; readbacks). */
  async atomContributions(atoms: number[]): Promise<Float32Array[]> {
    const outs = atoms.map((m) => this.rt.tensor([this.rows, this.dim], `${this.path}.atoms.contribution${m}`));
    try {
      const list = new CommandList('atom-contributions');
      atoms.forEach((m, i) => this.recordAtomContribution(list, m, outs[i]!));
      this.rt.submit([list]);
      return await Promise.all(outs.map((o) => this.rt.read(o)));
    } finally {
      for (const o of outs) this.rt.release(o);
    }
  }

  /** Detaches from the layer and gives back every buffer and uniform (recorded lists must not run afterwards). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.layer.outputAdapter === this) this.layer.outputAdapter = null;
    for (const s of this.scopes) s.dispose();
    if (this.contribScratch) this.rt.release(this.contribScratch);
  }
}

export const atomsAdapter: AdapterModule<AtomsConfig> = {
  kind: 'atoms',
  label: 'atoms',
  title: 'Dictionary atoms',
  formula: 'ΔO = σ_λ(Ā·X·W_s)·D',
  explanation: [
    'The attention output is rewritten as a sparse combination of M atoms (rows of D): the coefficients σ_λ(Ā·X·W_s) come from the attention pattern Ā and a projection W_s, thresholded so only a few atoms are active.',
    'Fine-tuning can move the atoms, the coefficients, or both. The atoms paper claims moving only the atoms is enough to adapt to a new task.',
    "Switch single atoms off in the latent view: the output changes by exactly that atom's contribution.",
  ],
  sites: ['attention-output'],
  unit: 'atom',
  settings: ATOMS_SETTINGS,
  export: { peftType: 'ATOMS', tensors: ['atoms_Ws.weight', 'atoms_D.weight'] },
  runLabel: (c) => `${c.sigma === 'topk' ? `top-${c.k}${c.topk === 'abs' ? ' |·|' : ''}` : `${c.sigma} λ=${c.lambda}`} M=${c.atoms} · ${c.train}`,
  validate(config: AtomsConfig, site: AdapterSite): void {
    validateAtoms(config, site);
  },
  attach(ctx: BuildContext, site: AdapterSite, config: AtomsConfig): Adapter {
    validateAtoms(config, site);
    return new AtomsAdapter(ctx, site, config);
  },
};
