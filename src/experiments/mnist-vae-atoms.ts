/**
 * The atoms paper's "8 → 3" experiment (§3.3 "Identifying the importance of feature atoms",
 * App. B, Fig. 1): the denoising transformer VAE pre-trained on digits 5–9 is frozen, an atoms
 * adapter ΔO = σ(A·X·W_s)·D with M atoms is attached to the attention output of each decoder
 * layer, and only the adapters are fine-tuned on the same denoising objective with digit 3.
 * Then, for the same latent, the decoder without the atoms (all masked: exactly the base) draws
 * a 5-9-like digit (mostly "8" or "5"), and with them a "3".
 *
 * Environment-free (the page's worker and the CLI share it): checkpoints and MNIST come in as
 * bytes / parsed sets; nothing here touches node:*.
 *
 * Choices (documented because the paper leaves them open):
 *  - σ is top-k (k = 10 of M = 100 per token by default): sparse by design. A soft threshold
 *    with a fixed λ densified to 85–92 of 100 atoms per token in an independent attempt.
 *  - Both W_s and D train (train 'both'), form 'paper' (S = σ(Ā·X·W_s), Ā the head-mean map).
 *  - "Held-out noisy 3s": the test split's 3s with the task's fixed per-image noise (σ = 0.3),
 *    encoded by the frozen encoder to z = μ and decoded; the encoder is never adapted, so the
 *    base and adapted decodes start from the very same latent.
 *
 * Definitions used by the analysis (see README/REPRODUCTION):
 *  - usage u_m of atom m in a layer, over a set of latents = mean over their tokens of
 *    |S_tm|·‖D_m‖ (the size of the atom's share S_tm·D_m of ΔO; scale-invariant between S and
 *    D, unlike |S_tm|);
 *  - active atoms of a layer = the fewest atoms whose usage covers 95 % of Σ_m u_m (the paper's
 *    "8 + 4 atoms" count); also reported: atoms with u_m ≥ 1 % of max u_m, and the non-zero
 *    codes per token (≤ k by construction);
 *  - contribution map of atom m in layer ℓ (pixel space, σ(logits) in [0, 1]) = decode(all atoms
 *    on) − decode(all on but atom m of layer ℓ): what switching the atom off takes away, red =
 *    the atom raises the pixel, blue = lowers it. Leave-one-out through the rest of the
 *    (non-linear) decoder, so the maps of a layer need not sum to the layer's total;
 *  - a layer's total effect = decode(all on) − decode(layer ℓ's atoms all off, the other layer's
 *    on); the overall effect = decode(all on) − decode(all off) = adapted − base.
 */
import { AtomsAdapter, type AtomsConfig } from '../adapters/atoms';
import type { MetricRow } from '../engine/metric-ring';
import type { GpuRuntime } from '../engine/runtime';
import type { DigitJudge } from '../models/digit-judge';
import { loadVaeCheckpoint, vaeConfigFromMetadata, type VaeDecoder } from '../models/vae';
import { baseCheckpointMetadata } from '../io/base-checkpoint';
import { Trainer } from '../train/trainer';
import type { MnistSet } from '../data/mnist';
import { buildMnistVaeTask, MNIST_VAE_DEFAULTS, type MnistVaeTask } from '../tasks/mnist-vae';

export interface Vae8to3Config {
  /** M, atoms per decoder layer. */
  atoms: number;
  /** σ_λ: top-k (the default: sparse by design) or the paper's soft threshold (an option). */
  sigma: 'topk' | 'soft';
  /** Top-k codes kept per token. */
  k: number;
  /** Soft threshold λ and the weighted-L1 coefficient (sigma 'soft'; see src/adapters/atoms.ts). */
  lambda: number;
  l1: number;
  form: 'paper' | 'simplified';
  /** Fine-tuning steps (batches of `batch` noisy 3s); with validation, the most steps tried. */
  steps: number;
  /**
   * Early stopping on the validation 3s: every `evalEvery` steps the judges score the
   * validation decodes, and the adapter of the best check is kept (0 = no selection, `steps`).
   */
  evalEvery: number;
  /** Share of the training 3s held out for validation (never trained on; 0 = none). */
  validation: number;
  /** Adam learning rate (constant; no weight decay). */
  lr: number;
  batch: number;
  /** Batch order, noise, ε and the adapters' initialisation. */
  seed: number;
  /** Held-out noisy 3s judged before/after (0 = all of the test split's 3s). */
  evalImages: number;
  /** Digit the adapter learns. */
  digit: number;
  /** σ of the additive Gaussian pixel noise of the denoising task (training and held-out inputs); null = the base's pre-training noise. */
  noise: number | null;
}

export const VAE_8TO3_FULL: Vae8to3Config = { atoms: 100, sigma: 'topk', k: 10, lambda: 0, l1: 0, form: 'paper', steps: 400, evalEvery: 50, validation: 0.15, lr: 1e-3, batch: 32, seed: 1, evalImages: 0, digit: 3, noise: null };
/**
 * CI smoke size. lr 3e-3: at the full run's 1e-3, 40 steps moved held-out 3s judged "3" only from
 * 43.8 % to 57.8 % (MLP) and 26.6 % to 37.5 % (CNN) on the 10-epoch CLS base (loss 177 → 173).
 */
export const VAE_8TO3_QUICK: Vae8to3Config = { ...VAE_8TO3_FULL, steps: 60, lr: 3e-3, evalEvery: 0, evalImages: 64 };

/** Seed of the held-out images' fixed noise: every run (any fine-tuning seed) decodes the same noisy inputs. */
export const EVAL_NOISE_SEED = 1;

/** Share of the total usage the "active atoms" of a layer cover. */
export const ACTIVE_USAGE_COVERAGE = 0.95;

/**
 * A VAE task with atoms adapters on its decoder, seen from outside: atom masks, decoding latents
 * (with the codes), atom norms, noisy latents. The analysis functions below take one of these,
 * so a page task module that builds its own VAE + atoms can call them too:
 * `new AtomsVaeProbe(rt, task, adapters)`.
 */
export class AtomsVaeProbe {
  private decoder: VaeDecoder | null = null;

  constructor(
    readonly rt: GpuRuntime,
    readonly task: MnistVaeTask,
    readonly adapters: readonly AtomsAdapter[],
  ) {
    if (adapters.length === 0) throw new Error('AtomsVaeProbe: no atoms adapters attached');
    if (adapters.some((a) => a.latentCount !== adapters[0]!.latentCount)) throw new Error('AtomsVaeProbe: every layer must have the same number of atoms');
  }

  /** Atoms per layer. */
  get M(): number {
    return this.adapters[0]!.latentCount;
  }

  /**
   * Which atoms are on: 'all', 'none' (= the base decoder exactly), or per layer a list of atom
   * indices to switch OFF (`{ off: [[...layer 0], [...layer 1]] }`) or a full 0/1 mask per layer.
   */
  setAtoms(which: 'all' | 'none' | { off: number[][] } | { masks: (Float32Array | null)[] }): void {
    const M = this.M;
    this.adapters.forEach((a, l) => {
      if (which === 'all') a.setMask(null);
      else if (which === 'none') a.setMask(new Float32Array(M));
      else if ('off' in which) {
        const m = new Float32Array(M).fill(1);
        for (const i of which.off[l] ?? []) m[i] = 0;
        a.setMask(m);
      } else a.setMask(which.masks[l] ?? null);
    });
  }

  /** latents [n, latent] → images [n, 784] under the current atom masks, plus each layer's dense codes [n·T, M] when asked. */
  async decode(latents: Float32Array, opts: { codes?: boolean } = {}): Promise<{ images: Float32Array; codes: Float32Array[] }> {
    const vae = this.task.vae;
    const { batch, latent } = vae.cfg;
    const N = vae.pixels;
    const T = vae.tokens;
    const M = this.M;
    const n = latents.length / latent;
    if (!Number.isInteger(n)) throw new Error(`decode: ${latents.length} values are not a whole number of ${latent}-dim latents`);
    this.decoder ??= vae.createDecoder();
    const images = new Float32Array(n * N);
    const codes = opts.codes ? this.adapters.map(() => new Float32Array(n * T * M)) : [];
    const zHost = new Float32Array(batch * latent);
    for (let s = 0; s < n; s += batch) {
      const c = Math.min(batch, n - s);
      zHost.fill(0);
      zHost.set(latents.subarray(s * latent, (s + c) * latent));
      this.rt.write(vae.z.value, zHost);
      this.rt.submit([this.decoder.list]);
      images.set((await this.rt.read(vae.images)).subarray(0, c * N), s * N);
      if (opts.codes) {
        for (let l = 0; l < this.adapters.length; l++) codes[l]!.set((await this.rt.read(this.adapters[l]!.codes)).subarray(0, c * T * M), s * T * M);
      }
    }
    return { images, codes };
  }

  /** ‖D_m‖ per atom, per layer. */
  async atomNorms(): Promise<Float64Array[]> {
    const out: Float64Array[] = [];
    for (const a of this.adapters) {
      const d = await this.rt.read(a.dict.value);
      const C = a.dim;
      const norms = new Float64Array(this.M);
      for (let m = 0; m < this.M; m++) {
        let s = 0;
        for (let c = 0; c < C; c++) s += d[m * C + c]! ** 2;
        norms[m] = Math.sqrt(s);
      }
      out.push(norms);
    }
    return out;
  }

  /** μ of the given data-set images with the task's fixed per-image noise (the "noisy latents"). */
  async noisyLatents(indices: readonly number[]): Promise<Float32Array> {
    return (await this.task.encode(indices, { noise: true })).mu;
  }
}

/** The frozen 5–9 VAE with one atoms adapter per decoder layer, fine-tunable on one digit. */
export class VaeAtomsFinetune extends AtomsVaeProbe {
  readonly cfg: Vae8to3Config;
  /** Training metric rows (loss, rec, kl, grad_norm, non_finite, <layer>.active_atoms). */
  readonly rows: MetricRow[] = [];
  /** Wall-clock seconds spent in train() so far. */
  trainSeconds = 0;
  private trainer: Trainer | null = null;

  /** The validation check of each `evalEvery` steps, and the step whose adapter was kept. */
  readonly validationLog: { step: number; judged: Record<JudgeName, number>; score: number }[] = [];
  chosenStep = 0;

  constructor(rt: GpuRuntime, mnist: MnistSet, vaeCheckpoint: Uint8Array, cfg: Vae8to3Config) {
    const meta = baseCheckpointMetadata(vaeCheckpoint);
    const base = vaeConfigFromMetadata(meta);
    const atomsCfg: AtomsConfig = { atoms: cfg.atoms, sigma: cfg.sigma, lambda: cfg.lambda, k: cfg.k, form: cfg.form, train: 'both', l1: cfg.l1 };
    const adapters: AtomsAdapter[] = [];
    const task = buildMnistVaeTask(
      rt,
      mnist,
      { ...MNIST_VAE_DEFAULTS, noise: { kind: 'gaussian', sigma: cfg.noise ?? baseNoise(meta) }, digits: [cfg.digit], klFreeSteps: 0, klWarmupSteps: 0, seed: cfg.seed, evalSeed: EVAL_NOISE_SEED, validation: cfg.validation, model: { ...base, batch: cfg.batch, frozen: true } },
      {
        initOutputBias: false,
        configure: (ctx, vae) => {
          for (const site of vae.decoderAttentionSites()) {
            if (site.kind !== 'attention-output') continue;
            adapters.push(new AtomsAdapter(ctx, site, atomsCfg));
          }
        },
      },
    );
    super(rt, task, adapters);
    this.cfg = cfg;
    loadVaeCheckpoint(vaeCheckpoint, task.vae);
    task.graph.extraMetrics = [...(task.graph.extraMetrics ?? []), ...adapters.flatMap((a) => a.metrics)];
  }

  get step(): number {
    return this.trainer?.step ?? 0;
  }

  /** Runs `steps` more fine-tuning steps (Adam, constant lr). Metric rows land in `rows`. */
  async train(steps: number, opts: { onStep?: (step: number, last: MetricRow | null) => void; signal?: AbortSignal } = {}): Promise<void> {
    this.setAtoms('all');
    this.trainer ??= new Trainer(this.rt, this.task.graph, { lr: this.cfg.lr, metricInterval: 10, onMetrics: (r) => this.rows.push(...r) });
    const t0 = performance.now();
    await this.trainer.run(steps, { ...(opts.signal ? { signal: opts.signal } : {}), onStep: (s) => opts.onStep?.(s, this.rows[this.rows.length - 1] ?? null) });
    await this.trainer.drain();
    await this.rt.idle();
    this.trainSeconds += (performance.now() - t0) / 1000;
  }

  /**
   * Trains up to cfg.steps steps; with cfg.evalEvery > 0 and a validation subset, checks the
   * validation 3s every evalEvery steps (judged "3", mean over the judges, ties to the earlier
   * check) and ends with the best check's adapter restored (its step in `chosenStep`).
   */
  async trainSelected(judges: Judges, opts: { onStep?: (step: number, last: MetricRow | null) => void } = {}): Promise<void> {
    const { steps, evalEvery } = this.cfg;
    const val = this.task.validationIndices;
    if (evalEvery <= 0 || val.length === 0) {
      await this.train(steps, opts);
      this.chosenStep = this.step;
      return;
    }
    const valLatents = await this.noisyLatents(val);
    let best: { score: number; step: number; params: Map<string, Float32Array> } | null = null;
    while (this.step < steps) {
      await this.train(Math.min(evalEvery, steps - this.step), opts);
      this.setAtoms('all');
      const imgs = (await this.decode(valLatents)).images;
      const judged = {} as Record<JudgeName, number>;
      for (const j of JUDGE_NAMES) judged[j] = verdicts((await judges[j].classify(imgs)).pred, new Float32Array(0), this.cfg.digit).target;
      const score = JUDGE_NAMES.reduce((a, j) => a + judged[j], 0) / JUDGE_NAMES.length;
      this.validationLog.push({ step: this.step, judged, score });
      if (!best || score > best.score) best = { score, step: this.step, params: await this.task.packs.trainable.readAll() };
    }
    this.task.packs.trainable.writeAll(best!.params);
    this.chosenStep = best!.step;
  }

  destroy(): void {
    this.trainer?.destroy();
    this.trainer = null;
    for (const a of this.adapters) a.destroy();
    this.task.destroy();
  }
}

/** The denoising noise σ a VAE base was pre-trained with (its metadata's task config). */
export function baseNoise(meta: Record<string, string>): number {
  const cfg = JSON.parse(meta.config ?? 'null') as { noise?: { sigma?: number } } | null;
  const s = cfg?.noise?.sigma;
  if (typeof s !== 'number' || !(s >= 0)) throw new Error('VAE checkpoint metadata has no config.noise.sigma');
  return s;
}

/** The two judges of decoded digits: the MLP and the CNN classifier (src/models/digit-judge.ts). */
export type JudgeName = 'mlp' | 'cnn';
export const JUDGE_NAMES: readonly JudgeName[] = ['mlp', 'cnn'];
export type Judges = Record<JudgeName, DigitJudge>;

/** Both judges' verdicts on the same images. */
export async function judgeBoth(judges: Judges, images: Float32Array, digit: number): Promise<Record<JudgeName, Verdicts>> {
  const out = {} as Record<JudgeName, Verdicts>;
  for (const j of JUDGE_NAMES) {
    const r = await judges[j].classify(images);
    out[j] = verdicts(r.pred, r.probs, digit);
  }
  return out;
}

export interface Verdicts {
  images: number;
  /** How many decodes the classifier calls each digit 0–9. */
  counts: number[];
  /** Share judged the target digit. */
  target: number;
  pred: Int32Array;
  probs: Float32Array;
}

export function verdicts(pred: Int32Array, probs: Float32Array, digit: number): Verdicts {
  const counts = new Array<number>(10).fill(0);
  for (const p of pred) counts[p]!++;
  return { images: pred.length, counts, target: pred.length ? counts[digit]! / pred.length : 0, pred, probs };
}

/** Held-out noisy digits decoded by the base (all atoms off) and the adapted decoder, judged. */
export interface HeldOutResult {
  indices: number[];
  latents: Float32Array;
  base: { images: Float32Array; verdicts: Verdicts };
  adapted: { images: Float32Array; verdicts: Verdicts };
}

/** The first `count` (0 = all) test-split images of the task's digits, decoded with all atoms off (base) and on, and judged. */
export async function judgeHeldOut(ft: AtomsVaeProbe, judge: DigitJudge, count: number, digit: number): Promise<HeldOutResult> {
  const all = ft.task.testIndices;
  const indices = count > 0 ? all.slice(0, count) : all.slice();
  const latents = await ft.noisyLatents(indices);
  ft.setAtoms('none');
  const base = (await ft.decode(latents)).images;
  ft.setAtoms('all');
  const adapted = (await ft.decode(latents)).images;
  const vb = await judge.classify(base);
  const va = await judge.classify(adapted);
  return {
    indices,
    latents,
    base: { images: base, verdicts: verdicts(vb.pred, vb.probs, digit) },
    adapted: { images: adapted, verdicts: verdicts(va.pred, va.probs, digit) },
  };
}

export interface LayerUsage {
  path: string;
  /** u_m (see the file comment), [M]. */
  usage: Float64Array;
  /** Atoms covering ACTIVE_USAGE_COVERAGE of Σ u, most used first. */
  active: number[];
  /** Atoms with u_m ≥ 1 % of max u_m. */
  above1pct: number;
  /** Atoms with a non-zero code on at least one token. */
  everUsed: number;
  /** Mean non-zero codes per token. */
  perToken: number;
  /** Per image: atoms covering ACTIVE_USAGE_COVERAGE of that image's usage (mean over images). */
  activePerImage: number;
}

/** The fewest entries (largest first) whose sum covers `coverage` of the total; [] when all are 0. */
export function coveringSet(values: ArrayLike<number>, coverage = ACTIVE_USAGE_COVERAGE): number[] {
  const order = Array.from(values, (v, i) => ({ v, i })).filter((e) => e.v > 0).sort((a, b) => b.v - a.v || a.i - b.i);
  const total = order.reduce((s, e) => s + e.v, 0);
  const out: number[] = [];
  let acc = 0;
  for (const e of order) {
    if (acc >= coverage * total) break;
    out.push(e.i);
    acc += e.v;
  }
  return out;
}

/** Per-image usage [n, M] of one layer from its dense codes [n·T, M] and ‖D_m‖. */
export function perImageUsage(codes: Float32Array, norms: Float64Array, images: number, tokens: number): Float64Array {
  const M = norms.length;
  const out = new Float64Array(images * M);
  for (let i = 0; i < images; i++) {
    for (let t = 0; t < tokens; t++) {
      const row = (i * tokens + t) * M;
      for (let m = 0; m < M; m++) out[i * M + m]! += (Math.abs(codes[row + m]!) * norms[m]!) / tokens;
    }
  }
  return out;
}

/** Atom usage of every layer over `latents` (all atoms on). */
export async function atomUsage(ft: AtomsVaeProbe, latents: Float32Array): Promise<LayerUsage[]> {
  ft.setAtoms('all');
  const { codes } = await ft.decode(latents, { codes: true });
  const norms = await ft.atomNorms();
  const T = ft.task.vae.tokens;
  const M = ft.M;
  const n = latents.length / ft.task.vae.cfg.latent;
  return ft.adapters.map((a, l) => {
    const per = perImageUsage(codes[l]!, norms[l]!, n, T);
    const usage = new Float64Array(M);
    for (let i = 0; i < n; i++) for (let m = 0; m < M; m++) usage[m]! += per[i * M + m]! / n;
    const max = Math.max(...usage);
    const c = codes[l]!;
    let nz = 0;
    const ever = new Uint8Array(M);
    for (let r = 0; r < n * T; r++) {
      for (let m = 0; m < M; m++) {
        if (c[r * M + m] !== 0) {
          nz++;
          ever[m] = 1;
        }
      }
    }
    let perImg = 0;
    for (let i = 0; i < n; i++) perImg += coveringSet(per.subarray(i * M, (i + 1) * M)).length / n;
    return {
      path: a.path,
      usage,
      active: coveringSet(usage),
      above1pct: max > 0 ? usage.filter((u) => u >= 0.01 * max).length : 0,
      everUsed: ever.reduce((s, v) => s + v, 0),
      perToken: nz / (n * T),
      activePerImage: perImg,
    };
  });
}

export interface AtomContribution {
  atom: number;
  /** This atom's usage on each analysed latent [n]. */
  usage: Float64Array;
  /** decode(all on) − decode(all on but this atom), [n, 784]. */
  map: Float32Array;
}

export interface LayerContributions {
  path: string;
  /** decode(all on) − decode(this layer's atoms off), [n, 784]. */
  total: Float32Array;
  /** Usage per latent and atom [n, M]. */
  usage: Float64Array;
  /** The layer's atoms with the largest usage summed over the latents (covering ACTIVE_USAGE_COVERAGE of it, at most maxAtoms), most used first. */
  atoms: AtomContribution[];
}

/** Everything the "8 → 3 view" shows for a few latents. */
export interface ContributionAnalysis {
  count: number;
  base: Float32Array;
  adapted: Float32Array;
  /** adapted − base, [n, 784]. */
  overall: Float32Array;
  layers: LayerContributions[];
}

const diff = (a: Float32Array, b: Float32Array) => {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! - b[i]!;
  return out;
};

/**
 * Base and adapted decodes of `latents` (≤ one batch is cheapest: every map costs one decoder
 * pass per batch), each layer's total effect, and the leave-one-out contribution map of each
 * of the layer's most used atoms (see the file comment). Leaves every atom on.
 */
export async function analyseContributions(ft: AtomsVaeProbe, latents: Float32Array, opts: { maxAtoms?: number; coverage?: number } = {}): Promise<ContributionAnalysis> {
  const maxAtoms = opts.maxAtoms ?? 16;
  const L = ft.adapters.length;
  const M = ft.M;
  const T = ft.task.vae.tokens;
  const n = latents.length / ft.task.vae.cfg.latent;
  ft.setAtoms('none');
  const base = (await ft.decode(latents)).images;
  ft.setAtoms('all');
  const on = await ft.decode(latents, { codes: true });
  const adapted = on.images;
  const norms = await ft.atomNorms();
  const layers: LayerContributions[] = [];
  for (let l = 0; l < L; l++) {
    const usage = perImageUsage(on.codes[l]!, norms[l]!, n, T);
    const summed = new Float64Array(M);
    for (let i = 0; i < n; i++) for (let m = 0; m < M; m++) summed[m]! += usage[i * M + m]!;
    const chosen = coveringSet(summed, opts.coverage ?? ACTIVE_USAGE_COVERAGE).slice(0, maxAtoms);
    const off: number[][] = Array.from({ length: L }, () => []);
    off[l] = Array.from({ length: M }, (_, m) => m);
    ft.setAtoms({ off });
    const total = diff(adapted, (await ft.decode(latents)).images);
    const atoms: AtomContribution[] = [];
    for (const m of chosen) {
      const offOne: number[][] = Array.from({ length: L }, () => []);
      offOne[l] = [m];
      ft.setAtoms({ off: offOne });
      const map = diff(adapted, (await ft.decode(latents)).images);
      const u = new Float64Array(n);
      for (let i = 0; i < n; i++) u[i] = usage[i * M + m]!;
      atoms.push({ atom: m, usage: u, map });
    }
    layers.push({ path: ft.adapters[l]!.path, total, usage, atoms });
  }
  ft.setAtoms('all');
  return { count: n, base, adapted, overall: diff(adapted, base), layers };
}

/**
 * Among held-out results, the index (into `held.indices`) of the latent whose base decode the
 * judge calls `from` most confidently, preferring those the adapted decoder turns into `to`
 * (the paper's Fig. 1 example: an "8" that becomes a "3").
 */
export function pickFixedLatent(held: HeldOutResult, from = 8, to = 3): number {
  const p = held.base.verdicts.probs;
  let best = 0;
  let bestScore = -Infinity;
  for (let i = 0; i < held.indices.length; i++) {
    const score = p[i * 10 + from]! + (held.adapted.verdicts.pred[i] === to ? 1 : 0);
    if (score > bestScore) {
      bestScore = score;
      best = i;
    }
  }
  return best;
}

/** The page's "8 → 3 view" as plain data (see eightToThreeView). */
export interface EightToThreeView {
  /** Data-set indices of the images shown (held-out noisy digits). */
  indices: number[];
  /** [n, 784] each: base (all atoms off), adapted (all on), adapted − base. */
  base: Float32Array;
  adapted: Float32Array;
  overall: Float32Array;
  layers: {
    path: string;
    /** Atoms covering 95 % of this layer's usage on these images. */
    activeAtoms: number;
    /** decode(all on) − decode(this layer's atoms off), [n, 784]. */
    total: Float32Array;
    /** The most used atoms (at most maxAtoms): share of the layer's usage on these images and the leave-one-out map [n, 784]. */
    atoms: { atom: number; share: number; map: Float32Array }[];
  }[];
  /** The judge's digit and p(digit) per image, when a judge was given. */
  verdicts: { base: number[]; adapted: number[]; pBase: number[]; pAdapted: number[] } | null;
}

/**
 * Everything the page's "8 → 3 view" draws, for a VAE task whose adapters are atoms on the
 * decoder (returns null when they are not all atoms): base vs adapted decodes of held-out noisy
 * images (z = μ, the task's fixed noise), each layer's total effect and its most used atoms'
 * red/blue maps (definitions in the file comment), and the frozen classifier's verdicts.
 * Leaves every atom on. It records a decoder list on first use: call it inside an allocation
 * scope the caller disposes with the task.
 */
export async function eightToThreeView(rt: GpuRuntime, task: MnistVaeTask, adapters: readonly unknown[], indices: readonly number[], opts: { maxAtoms?: number; judge?: DigitJudge; probe?: AtomsVaeProbe } = {}): Promise<EightToThreeView | null> {
  if (adapters.length === 0 || !adapters.every((a) => a instanceof AtomsAdapter)) return null;
  const probe = opts.probe ?? new AtomsVaeProbe(rt, task, adapters as AtomsAdapter[]);
  const latents = await probe.noisyLatents(indices);
  const a = await analyseContributions(probe, latents, { maxAtoms: opts.maxAtoms ?? 8 });
  const M = probe.M;
  const layers = a.layers.map((l) => {
    const summed = new Float64Array(M);
    for (let i = 0; i < a.count; i++) for (let m = 0; m < M; m++) summed[m]! += l.usage[i * M + m]!;
    const total = summed.reduce((s, v) => s + v, 0) || 1;
    return {
      path: l.path,
      activeAtoms: coveringSet(summed).length,
      total: l.total,
      atoms: l.atoms.map((c) => ({ atom: c.atom, share: c.usage.reduce((s, v) => s + v, 0) / total, map: c.map })),
    };
  });
  let verdictsOut: EightToThreeView['verdicts'] = null;
  if (opts.judge) {
    const vb = await opts.judge.classify(a.base);
    const va = await opts.judge.classify(a.adapted);
    const p = (v: { pred: Int32Array; probs: Float32Array }) => Array.from(v.pred, (d, i) => v.probs[i * 10 + d]!);
    verdictsOut = { base: Array.from(vb.pred), adapted: Array.from(va.pred), pBase: p(vb), pAdapted: p(va) };
  }
  return { indices: indices.slice(), base: a.base, adapted: a.adapted, overall: a.overall, layers, verdicts: verdictsOut };
}
