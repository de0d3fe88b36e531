/**
 * Denoising pre-training of the transformer VAE on a subset of MNIST digits (5–9 by default, as
 * the atoms paper), and its evaluation helpers. The same builder serves fine-tuning: pass
 * `digits: [3]`, a frozen model and a `configure` hook that attaches adapters.
 *
 * Data: the train split of splitMnist(set, splitSeed) restricted to `digits`. Batches: epoch e
 * visits the subset in the order of a Fisher–Yates shuffle seeded by (seed, e); step s takes
 * batch s mod (⌊n/B⌋) of epoch ⌊s/⌊n/B⌋⌋ (the ragged tail of an epoch is skipped). Everything a
 * step uploads — batch, noise, ε — is a pure function of (seed, step), so resumed runs match.
 *
 * Noise model (documented choice): additive Gaussian noise of standard deviation `sigma` (0.3)
 * on every pixel, then clamped to [0, 1]: x̃ = clamp(x + σ·n, 0, 1). The normals are Irwin–Hall
 * (sum of four uniforms, rescaled: bounded at ±2√3, bit-identical in every JS engine). The
 * target is the clean image. ε for the reparameterisation comes from the same kind of stream.
 *
 * Evaluation uses z = μ (ε = 0), the full β, and fixed noise seeded by each image's index in the
 * data set, so a checkpoint's test metrics are reproducible.
 */
import { ConfigError } from '../engine/errors';
import { ParamPack } from '../engine/param-pack';
import { mixSeed, Rng } from '../engine/rng';
import { CommandList, type GpuRuntime } from '../engine/runtime';
import { TransformerVae, VAE_BASE_CONFIG, type VaeConfig, type VaeDecoder } from '../models/vae';
import type { BuildContext } from '../nn/module';
import type { TrainGraph } from '../train/trainer';
import { MNIST_PIXELS, splitMnist, type MnistSet } from '../data/mnist';
import { EpochOrder } from '../data/epoch-order';

export interface NoiseConfig {
  kind: 'gaussian';
  /** Standard deviation of the additive noise (pixels are in [0, 1]); 0 = no noise. */
  sigma: number;
  /**
   * Training-noise warm-up: σ ramps linearly from 0 at step 0 to `sigma` at this step (0 or
   * absent = full σ from the start). Evaluation always uses the full σ. The CLS base needs it:
   * with σ = 0.5 from step 0 its encoder stayed at the mean-image loss (PyTorch replica: rec ≈
   * 190 nats after 800 steps, then collapsed when β rose), while on clean inputs it learned.
   */
  warmupSteps?: number;
}

export interface MnistVaeTaskConfig {
  model: VaeConfig;
  /** Digits trained on. */
  digits: number[];
  noise: NoiseConfig;
  /**
   * KL schedule: β = 0 for the first klFreeSteps steps, then a linear ramp over klWarmupSteps
   * steps up to model.beta, which it keeps (both 0 = full β from the start). Without it the KL
   * term pulls μ to the prior before the decoder has learned to use z, and the VAE collapses to
   * an "average digit" decoder (measured at full size: KL ≈ 3 nats, rec ≈ 195 nats after 300
   * steps; a linear ramp from step 0 did not prevent it).
   */
  klFreeSteps: number;
  klWarmupSteps: number;
  /** Batch order, noise and ε streams. */
  seed: number;
  /** splitMnist's seed (the repository's fixed split by default). */
  splitSeed?: number;
  /**
   * Share of the training subset held out as a validation subset (default 0): a fixed choice
   * (seeded by the split seed, not `seed`, so every training seed sees the same split) that is
   * never trained on — for choosing hyperparameters without touching the test split.
   */
  validation?: number;
  /** Seed of the fixed per-image evaluation noise (default `seed`): give runs with different training seeds the same held-out inputs. */
  evalSeed?: number;
}

export const MNIST_VAE_DEFAULTS: MnistVaeTaskConfig = { model: VAE_BASE_CONFIG, digits: [5, 6, 7, 8, 9], noise: { kind: 'gaussian', sigma: 0.3 }, klFreeSteps: 50, klWarmupSteps: 200, seed: 1 };

/** β at `step` under the task's KL warm-up. */
export function klWeightAt(cfg: MnistVaeTaskConfig, step: number): number {
  const s = step - cfg.klFreeSteps;
  if (s < 0) return 0;
  const w = cfg.klWarmupSteps;
  return w > 0 && s < w ? (cfg.model.beta * (s + 1)) / w : cfg.model.beta;
}

/** Images of the test subset (its first ones) whose metrics a checkpoint records and the tests reproduce. */
export const VAE_CHECK_IMAGES = 64;

/** Fields of the metric stream besides loss / grad_norm / non_finite. */
export const VAE_METRICS = ['rec', 'kl'] as const;

const TAG_NOISE = 1;
const TAG_EPS = 2;
const TAG_EVAL_NOISE = 3;
const TAG_VALIDATION = 4;

function checkTaskConfig(cfg: MnistVaeTaskConfig): void {
  if (!cfg.digits.length || cfg.digits.some((d) => !Number.isInteger(d) || d < 0 || d > 9)) throw new ConfigError('digits', `must be a non-empty list of digits 0–9, got ${JSON.stringify(cfg.digits)}`);
  if (cfg.noise.kind !== 'gaussian') throw new ConfigError('noise.kind', `only 'gaussian' is supported, got '${String(cfg.noise.kind)}'`);
  if (!(cfg.noise.sigma >= 0) || !Number.isFinite(cfg.noise.sigma)) throw new ConfigError('noise.sigma', `must be a finite number ≥ 0, got ${cfg.noise.sigma}`);
  if (cfg.noise.warmupSteps !== undefined && !(Number.isInteger(cfg.noise.warmupSteps) && cfg.noise.warmupSteps >= 0)) throw new ConfigError('noise.warmupSteps', `must be an integer ≥ 0, got ${cfg.noise.warmupSteps}`);
  if (!Number.isInteger(cfg.klFreeSteps) || cfg.klFreeSteps < 0) throw new ConfigError('klFreeSteps', `must be an integer ≥ 0, got ${cfg.klFreeSteps}`);
  if (!Number.isInteger(cfg.klWarmupSteps) || cfg.klWarmupSteps < 0) throw new ConfigError('klWarmupSteps', `must be an integer ≥ 0, got ${cfg.klWarmupSteps}`);
  if (cfg.validation !== undefined && !(cfg.validation >= 0 && cfg.validation < 1)) throw new ConfigError('validation', `must be a share in [0, 1), got ${cfg.validation}`);
  if (cfg.model.side * cfg.model.side !== MNIST_PIXELS) throw new ConfigError('model.side', `MNIST images are 28×28, the model expects ${cfg.model.side}×${cfg.model.side}`);
}

/** Writes clamp(clean + σ·n, 0, 1) for one image, n from `rng`. */
function addNoise(clean: Float32Array, out: Float32Array, at: number, sigma: number, rng: Rng): void {
  for (let i = 0; i < clean.length; i++) {
    const v = clean[i]! + (sigma > 0 ? sigma * rng.normal() : 0);
    out[at + i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
}

export interface VaeEvalResult {
  images: number;
  /** Σ_pixels BCE per image (nats). */
  rec: number;
  /** KL per image (nats). */
  kl: number;
  /** rec + β·kl */
  loss: number;
  /** Mean squared error per pixel of σ(logits) against the clean image. */
  mse: number;
}

export interface MnistVaeTask {
  readonly cfg: MnistVaeTaskConfig;
  readonly vae: TransformerVae;
  readonly graph: TrainGraph;
  readonly packs: { trainable: ParamPack; frozen: ParamPack };
  /** Data-set indices of the training subset, the validation subset (cfg.validation; else empty) and the test subset (same digits). */
  readonly trainIndices: number[];
  readonly validationIndices: number[];
  readonly testIndices: number[];
  readonly batchesPerEpoch: number;
  /** The noisy input images step `step` uses ([B, 784], host copy; for inspection). */
  batchImages(step: number): { noisy: Float32Array; clean: Float32Array; indices: number[] };
  /**
   * Denoising metrics over `indices` (default: the whole test subset), in full batches only
   * (the ragged tail is left out; `images` says how many were used). z = μ, fixed noise.
   */
  evaluate(indices?: readonly number[]): Promise<VaeEvalResult>;
  /** Denoised reconstructions σ(decoder(μ(noisy))) of the given images; returns noisy inputs too. */
  reconstruct(indices: readonly number[]): Promise<{ noisy: Float32Array; clean: Float32Array; recon: Float32Array }>;
  /**
   * Reconstructions of `n` ≤ batch images given as pixels [n, 784] (e.g. drawn by the user), taken
   * as the input as they are (no noise added), z = μ. The adapters' codes then hold image 0 in rows
   * 0…rows/batch − 1 (the rest of the batch repeats the last image).
   */
  reconstructPixels(pixels: Float32Array, n: number): Promise<Float32Array>;
  /** μ and logσ² of the given (noisy, unless noise = false) images. */
  encode(indices: readonly number[], opts?: { noise?: boolean }): Promise<{ mu: Float32Array; logvar: Float32Array }>;
  /** latents [count, latent] → images [count, 784] through the decoder (adapters included). */
  decode(latents: Float32Array): Promise<Float32Array>;
  destroy(): void;
}

export interface BuildMnistVaeOptions {
  /** Called after the model is built and before the packs are finalized and the graph recorded: attach adapters here. */
  configure?: (ctx: BuildContext, vae: TransformerVae) => void;
  /** Parameter name prefix (default 'vae'). */
  name?: string;
  /** Packs to build into (default: fresh 'vae' / 'vae.frozen' packs, finalized here). */
  packs?: { trainable: ParamPack; frozen: ParamPack };
  /** Initialisation seed of the model (default cfg.seed). */
  initSeed?: number;
  /** Set the decoder's output bias to the logit of the training subset's mean image (default true; irrelevant when a checkpoint is loaded afterwards). */
  initOutputBias?: boolean;
}

export function buildMnistVaeTask(rt: GpuRuntime, mnist: MnistSet, cfg: MnistVaeTaskConfig, opts: BuildMnistVaeOptions = {}): MnistVaeTask {
  checkTaskConfig(cfg);
  const name = opts.name ?? 'vae';
  const trainable = opts.packs?.trainable ?? new ParamPack(rt, name, true);
  const frozen = opts.packs?.frozen ?? new ParamPack(rt, `${name}.frozen`, false);
  const ctx: BuildContext = { rt, trainable, frozen, rng: new Rng(opts.initSeed ?? cfg.seed) };
  const vae = new TransformerVae(ctx, name, cfg.model);
  opts.configure?.(ctx, vae);
  trainable.finalize();
  frozen.finalize();

  const { batch, latent } = cfg.model;
  const N = MNIST_PIXELS;
  const split = splitMnist(mnist, cfg.splitSeed ?? 2024);
  const wanted = new Set(cfg.digits);
  let trainIndices = split.train.filter((i) => wanted.has(mnist.labels[i]!));
  const testIndices = split.test.filter((i) => wanted.has(mnist.labels[i]!));
  let validationIndices: number[] = [];
  if (cfg.validation) {
    const shuffled = trainIndices.slice();
    new Rng(mixSeed(cfg.splitSeed ?? 2024, 0, TAG_VALIDATION)).shuffle(shuffled);
    const held = new Set(shuffled.slice(0, Math.round(cfg.validation * shuffled.length)));
    validationIndices = trainIndices.filter((i) => held.has(i));
    trainIndices = trainIndices.filter((i) => !held.has(i));
  }
  if (trainIndices.length < batch) throw new ConfigError('model.batch', `${batch} exceeds the ${trainIndices.length} training images of digits ${cfg.digits.join(',')}`);
  const batchesPerEpoch = Math.floor(trainIndices.length / batch);
  if (opts.initOutputBias ?? true) {
    const mean = new Float64Array(N);
    for (const i of trainIndices) for (let k = 0; k < N; k++) mean[k]! += mnist.pixels[i * N + k]! / trainIndices.length;
    vae.initOutputBias(mean);
  }

  const forward = new CommandList('vae.forward');
  const loss = new CommandList('vae.loss');
  const backward = new CommandList('vae.backward');
  vae.recordForward(forward);
  vae.recordLoss(loss);
  vae.recordBackward(backward);

  const noisyHost = new Float32Array(batch * N);
  const cleanHost = new Float32Array(batch * N);
  const epsHost = new Float32Array(batch * latent);
  const batchIdx = new Array<number>(batch).fill(0);
  const order = new EpochOrder(trainIndices, cfg.seed, batch);
  const rng = new Rng(0);
  const image = (i: number) => mnist.pixels.subarray(i * N, (i + 1) * N);

  const warm = cfg.noise.warmupSteps ?? 0;
  const trainSigma = (step: number) => (warm > 0 ? cfg.noise.sigma * Math.min(1, step / warm) : cfg.noise.sigma);
  const fillStep = (step: number) => {
    rng.reseed(mixSeed(cfg.seed, step, TAG_NOISE));
    for (let b = 0; b < batch; b++) {
      const idx = order.at(step, b);
      batchIdx[b] = idx;
      const clean = image(idx);
      cleanHost.set(clean, b * N);
      addNoise(clean, noisyHost, b * N, trainSigma(step), rng);
    }
    rng.reseed(mixSeed(cfg.seed, step, TAG_EPS));
    for (let i = 0; i < epsHost.length; i++) epsHost[i] = rng.normal();
  };

  const graph: TrainGraph = {
    packs: [trainable],
    forward,
    loss,
    backward,
    lossValue: vae.loss,
    extraMetrics: [
      { name: 'rec', tensor: vae.rec },
      { name: 'kl', tensor: vae.kl },
    ],
    loadBatch(step) {
      fillStep(step);
      rt.write(vae.input, noisyHost);
      rt.write(vae.target, cleanHost);
      rt.write(vae.eps, epsHost);
      vae.setKlWeight(klWeightAt(cfg, step));
    },
  };

  // ---- evaluation ----
  let evalList: CommandList | null = null;
  let encodeList: CommandList | null = null;
  let decoder: VaeDecoder | null = null;
  const zeros = new Float32Array(batch * latent);
  /** Uploads fixed-noise inputs for up to `batch` indices (the rest of the batch repeats the first). */
  const loadFixed = (idx: readonly number[], noise: boolean) => {
    for (let b = 0; b < batch; b++) {
      const i = idx[Math.min(b, idx.length - 1)]!;
      const clean = image(i);
      cleanHost.set(clean, b * N);
      rng.reseed(mixSeed(cfg.evalSeed ?? cfg.seed, i, TAG_EVAL_NOISE));
      addNoise(clean, noisyHost, b * N, noise ? cfg.noise.sigma : 0, rng);
    }
    rt.write(vae.input, noisyHost);
    rt.write(vae.target, cleanHost);
    rt.write(vae.eps, zeros);
    vae.setKlWeight(cfg.model.beta);
  };
  const chunks = (idx: readonly number[]) => {
    const out: number[][] = [];
    for (let s = 0; s < idx.length; s += batch) out.push(idx.slice(s, s + batch));
    return out;
  };

  return {
    cfg,
    vae,
    graph,
    packs: { trainable, frozen },
    trainIndices,
    validationIndices,
    testIndices,
    batchesPerEpoch,
    batchImages(step) {
      fillStep(step);
      return { noisy: noisyHost.slice(), clean: cleanHost.slice(), indices: batchIdx.slice() };
    },
    async evaluate(indices = testIndices) {
      if (!evalList) {
        evalList = new CommandList('vae.eval');
        vae.recordForward(evalList, { images: true });
        vae.recordLoss(evalList);
      }
      const full = Math.floor(indices.length / batch) * batch;
      if (full === 0) throw new Error(`evaluate: needs at least one full batch of ${batch} images, got ${indices.length}`);
      let rec = 0;
      let kl = 0;
      let sq = 0;
      for (const c of chunks(indices.slice(0, full))) {
        loadFixed(c, true);
        rt.submit([evalList]);
        rec += (await rt.read(vae.rec))[0]!;
        kl += (await rt.read(vae.kl))[0]!;
        const imgs = await rt.read(vae.images);
        for (let i = 0; i < imgs.length; i++) {
          const d = imgs[i]! - cleanHost[i]!;
          sq += d * d;
        }
      }
      const nb = full / batch;
      rec /= nb;
      kl /= nb;
      return { images: full, rec, kl, loss: rec + cfg.model.beta * kl, mse: sq / (full * N) };
    },
    async reconstruct(indices) {
      if (!evalList) {
        evalList = new CommandList('vae.eval');
        vae.recordForward(evalList, { images: true });
        vae.recordLoss(evalList);
      }
      const noisy = new Float32Array(indices.length * N);
      const clean = new Float32Array(indices.length * N);
      const recon = new Float32Array(indices.length * N);
      let at = 0;
      for (const c of chunks(indices)) {
        loadFixed(c, true);
        rt.submit([evalList]);
        const imgs = await rt.read(vae.images);
        noisy.set(noisyHost.subarray(0, c.length * N), at * N);
        clean.set(cleanHost.subarray(0, c.length * N), at * N);
        recon.set(imgs.subarray(0, c.length * N), at * N);
        at += c.length;
      }
      return { noisy, clean, recon };
    },
    async reconstructPixels(pixels, n) {
      if (!Number.isInteger(n) || n < 1 || n > batch) throw new ConfigError('images', `1…${batch} images per call, got ${n}`);
      if (pixels.length < n * N) throw new ConfigError('pixels', `${n} images need ${n * N} pixels, got ${pixels.length}`);
      if (!evalList) {
        evalList = new CommandList('vae.eval');
        vae.recordForward(evalList, { images: true });
        vae.recordLoss(evalList);
      }
      for (let b = 0; b < batch; b++) {
        const src = pixels.subarray(Math.min(b, n - 1) * N, (Math.min(b, n - 1) + 1) * N);
        noisyHost.set(src, b * N);
        cleanHost.set(src, b * N);
      }
      rt.write(vae.input, noisyHost);
      rt.write(vae.target, cleanHost);
      rt.write(vae.eps, zeros);
      vae.setKlWeight(cfg.model.beta);
      rt.submit([evalList]);
      return (await rt.read(vae.images)).slice(0, n * N);
    },
    async encode(indices, o = {}) {
      if (!encodeList) {
        encodeList = new CommandList('vae.encode');
        vae.recordEncoderForward(encodeList);
      }
      const mu = new Float32Array(indices.length * latent);
      const logvar = new Float32Array(indices.length * latent);
      let at = 0;
      for (const c of chunks(indices)) {
        loadFixed(c, o.noise ?? true);
        rt.submit([encodeList]);
        const m = await rt.read(vae.muHead.out.value);
        const l = await rt.read(vae.logvarHead.out.value);
        mu.set(m.subarray(0, c.length * latent), at * latent);
        logvar.set(l.subarray(0, c.length * latent), at * latent);
        at += c.length;
      }
      return { mu, logvar };
    },
    async decode(latents) {
      decoder ??= vae.createDecoder();
      return decoder.decode(latents);
    },
    destroy() {
      if (!opts.packs) {
        trainable.destroy();
        frozen.destroy();
      }
    },
  };
}

/**
 * Seeded standard-normal latents [count, latent] (Irwin–Hall, as the training ε): the "noisy
 * latents" to decode. Latent i of a seed is the same whatever the count (a prefix property).
 */
export function sampleLatents(count: number, latent: number, seed: number): Float32Array {
  const rng = new Rng(0);
  rng.reseed(mixSeed(seed, 0, 7));
  const out = new Float32Array(count * latent);
  for (let i = 0; i < out.length; i++) out[i] = rng.normal();
  return out;
}
