/**
 * Transformer VAE for 28×28 MNIST (the atoms paper, App. B: encoder and decoder of two layers
 * each, feature dim 128, 4 heads, patch size 7, latent 32), trained as a denoising VAE.
 *
 * Layout and choices:
 *  - Images are [B, side²] in [0, 1]. Patchify (a permutation kernel) makes T = (side/patch)²
 *    tokens of patch² pixels: 16 tokens of 49 pixels at full size, row-major over the patch grid.
 *  - Encoder: Linear(patch² → dim) + learned positions [T, dim] → `encoderLayers` pre-LN blocks →
 *    LayerNorm → Linear heads μ and logσ² (latent each) on either
 *      pool 'flatten' (default): all T·dim values of an image (the [B·T, dim] activation viewed
 *        as [B, T·dim], no kernel) — the mirror of the decoder's projection; it keeps *where*
 *        each stroke is, which a mean over patch tokens blurs (their position embeddings start
 *        near zero), or
 *      pool 'mean': the mean over the T tokens (a batched matmul with a constant row of ones,
 *        α = 1/T; its backward is the same matmul with a column of ones), or
 *      pool 'cls': a CLS token — patchify puts one all-zero "patch" before each image's T
 *        patches, so the encoder runs on T + 1 tokens and token 0's embedding is the embed bias
 *        + its own learned position vector (a learned CLS embedding, no extra parameter); the
 *        heads read token 0 after the final LayerNorm (the same batched matmul as 'mean' with a
 *        one-hot row instead of ones). A 128-wide bottleneck: the heads cannot see where each
 *        stroke is except through what attention gathered into the CLS token, so digits the
 *        base never saw are pulled towards the ones it knows (the atoms experiment needs that).
 *    Measured (full size, 120 steps, β = 0): mean pooling and no output-bias init stayed at the
 *    mean-image loss (rec ≈ 204 nats, μ the same for every image); flatten + the output-bias
 *    init below reached rec ≈ 99.
 *  - z = μ + exp(½ logσ²)·ε, ε [B, latent] uploaded per step by the task (a seeded host stream,
 *    a pure function of seed and step, so runs are reproducible); ε = 0 gives z = μ (evaluation).
 *  - Decoder: Linear(latent → T·dim) whose [B, T·dim] output *is* [B·T, dim] token-major, so the
 *    tokens need no reshape kernel; the projection's T·dim bias acts as the decoder's learned
 *    position embedding (a separate table would be redundant) → `decoderLayers` pre-LN blocks →
 *    LayerNorm → Linear(dim → patch², no bias, zero-initialised) per token → unpatchify → + a
 *    per-pixel output bias [side²] (initialised by the task to the logit of the training mean
 *    image) → image logits [B, side²] (→ sigmoid for images).
 *  - Loss (per image, averaged over the batch): reconstruction = Σ_pixels BCE-with-logits of the
 *    decoder logits against the CLEAN image (the input is the noisy one), KL = Σ_latent
 *    ½(μ² + σ² − 1 − logσ²); loss = rec + β·KL (β = 1 is the ELBO of a Bernoulli decoder). BCE
 *    rather than MSE: MNIST pixels are mostly near 0 or 1, BCE keeps gradients alive where a
 *    sigmoid saturates, and with β = 1 it makes prior samples z ~ N(0, I) decode to digits —
 *    which the atoms experiment needs ("the same noisy latent decoded before/after").
 *  - MLP ratio 2 (the paper does not state it): a step costs ~⅓ less than with 4 on SwiftShader.
 *  - β lives in a GPU buffer (klWeight) so the task can schedule it per step (KL warm-up) with
 *    a queue write; cfg.beta is its initial and evaluation value.
 *
 * Adapters: decoderAttention(i) / encoderAttention(i) expose the blocks' MultiHeadAttention
 * (atoms attach to `outputAdapter`), decoderAttentionSites() gives ready Sites, and
 * linears() lists every Linear for LoRA/STAN-style sites. Attach before recording. With a frozen
 * model (cfg.frozen) the backward still runs through the decoder so adapter gradients flow; the
 * encoder's backward (and the reparameterisation's) is recorded only when something in the
 * encoder is trainable or adapted.
 *
 * Parameter names: `${name}.encoder.embed.weight`, `${name}.encoder.pos`,
 * `${name}.encoder.blocks.{i}.…`, `${name}.encoder.ln_f.…`, `${name}.encoder.mu.…`,
 * `${name}.encoder.logvar.…`, `${name}.decoder.proj.…`, `${name}.decoder.blocks.{i}.…`,
 * `${name}.decoder.ln_f.…`, `${name}.decoder.head.weight`, `${name}.decoder.out_bias`.
 */
import type { Site } from '../nn/site';
import { ConfigError } from '../engine/errors';
import type { ParamRef } from '../engine/param-pack';
import { CommandList, type GpuRuntime } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { MAX_ATTENTION_SEQ } from '../kernels/attention';
import { recordBroadcastAdd } from '../kernels/elementwise';
import { recordMatmul } from '../kernels/matmul';
import { recordColSum } from '../kernels/reduce';
import {
  recordBceWithLogits,
  recordPatchify,
  recordReparamBackward,
  recordReparamForward,
  recordSigmoid,
  recordUnpatchify,
  recordVaeLossCombine,
} from '../kernels/vae';
import type { MultiHeadAttention } from '../nn/attention';
import { recordBlocksBackward, TransformerBlock } from '../nn/block';
import { LayerNorm } from '../nn/layernorm';
import { Linear } from '../nn/linear';
import { declareParam, isTrainable, type Activation, type BuildContext } from '../nn/module';
import { baseCheckpointMetadata as parseMetadataOnly, loadBaseCheckpoint } from '../io/base-checkpoint';

export interface VaeConfig {
  /** Images per step (every activation is allocated for this many). */
  batch: number;
  /** Image side (28 for MNIST). */
  side: number;
  /** Patch side; side must be a multiple. */
  patch: number;
  dim: number;
  heads: number;
  encoderLayers: number;
  decoderLayers: number;
  latent: number;
  mlpRatio: number;
  /** How the encoder's tokens become one vector for the μ/logσ² heads: their mean, all T·dim values (flatten), or a CLS token. */
  pool: 'mean' | 'flatten' | 'cls';
  /** Initial bias of the logσ² head (σ₀ = exp(½·this)). */
  logvarInit: number;
  /** Weight of the KL term (1 = ELBO); the initial value of `klWeight`. */
  beta: number;
  /** Every parameter in the frozen pack (the base under an adapter). */
  frozen?: boolean;
}

/** The paper's shape (App. B) with this repository's choices (MLP ratio 2, flattened-token heads, β = 1), batch 32. */
export const VAE_BASE_CONFIG: VaeConfig = { batch: 32, side: 28, patch: 7, dim: 128, heads: 4, encoderLayers: 2, decoderLayers: 2, latent: 32, mlpRatio: 2, pool: 'flatten', logvarInit: 0, beta: 1 };

/** The shape-defining fields (a checkpoint fits a model iff these agree; batch/β/frozen may differ). */
export const VAE_SHAPE_KEYS = ['side', 'patch', 'dim', 'heads', 'encoderLayers', 'decoderLayers', 'latent', 'mlpRatio', 'pool'] as const;

export function validateVaeConfig(cfg: VaeConfig): void {
  const posInt = (k: keyof VaeConfig) => {
    const v = cfg[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ConfigError(`vae.${k}`, `must be a positive integer, got ${String(v)}`);
  };
  for (const k of ['batch', 'side', 'patch', 'dim', 'heads', 'encoderLayers', 'decoderLayers', 'latent'] as const) posInt(k);
  if (cfg.side % cfg.patch !== 0) throw new ConfigError('vae.patch', `image side ${cfg.side} is not a multiple of patch ${cfg.patch}`);
  const tokens = (cfg.side / cfg.patch) ** 2 + (cfg.pool === 'cls' ? 1 : 0);
  if (tokens > MAX_ATTENTION_SEQ) throw new ConfigError('vae.patch', `${tokens} tokens exceed the attention kernels' maximum ${MAX_ATTENTION_SEQ}`);
  if (cfg.dim % cfg.heads !== 0) throw new ConfigError('vae.heads', `dim ${cfg.dim} is not divisible by ${cfg.heads} heads`);
  if (!(cfg.mlpRatio > 0) || !Number.isInteger(Math.round(cfg.dim * cfg.mlpRatio))) throw new ConfigError('vae.mlpRatio', `must be > 0, got ${cfg.mlpRatio}`);
  if (!(cfg.beta >= 0) || !Number.isFinite(cfg.beta)) throw new ConfigError('vae.beta', `must be a finite number ≥ 0, got ${cfg.beta}`);
  if (cfg.pool !== 'mean' && cfg.pool !== 'flatten' && cfg.pool !== 'cls') throw new ConfigError('vae.pool', `must be 'mean', 'flatten' or 'cls', got '${String(cfg.pool)}'`);
  if (!Number.isFinite(cfg.logvarInit)) throw new ConfigError('vae.logvarInit', `must be a finite number, got ${cfg.logvarInit}`);
}

/** Every Linear of a transformer block, in a fixed order. */
function blockLinears(b: TransformerBlock): Linear[] {
  return [b.attn.q, b.attn.k, b.attn.v, b.attn.o, b.mlp.fc1, b.mlp.fc2];
}

export class TransformerVae {
  /** Image tokens T = (side/patch)² (the decoder's sequence). */
  readonly tokens: number;
  /** The encoder's sequence: T, or T + 1 with a CLS token (token 0 of each image). */
  readonly encoderTokens: number;
  readonly patchPixels: number;
  readonly pixels: number;
  /** Noisy input images [B, side²] (written by the task). */
  readonly input: Tensor;
  /** Clean target images [B, side²] (written by the task). */
  readonly target: Tensor;
  /** Reparameterisation noise [B, latent] (written by the task; zeros → z = μ). */
  readonly eps: Tensor;

  // encoder
  private readonly inPatches: Activation;
  readonly embed: Linear;
  readonly pos: ParamRef;
  readonly encoderBlocks: TransformerBlock[] = [];
  readonly encoderLn: LayerNorm;
  private readonly pooled: Activation;
  /** The pooling weights over the encoder's tokens ([Te]: ones for 'mean', one-hot at 0 for 'cls'). */
  private readonly poolWeights: Tensor;
  readonly muHead: Linear;
  readonly logvarHead: Linear;

  /** The latent batch [B, latent]: written by the reparameterisation, or directly for decoding. */
  readonly z: Activation;
  readonly klSum: Tensor;
  /** β of the loss on the GPU ([1], initially cfg.beta); setKlWeight changes it between steps (KL warm-up). */
  readonly klWeight: Tensor;
  private readonly klWeightHost = new Float32Array(1);

  // decoder
  readonly proj: Linear;
  private readonly decTokens: Activation;
  readonly decoderBlocks: TransformerBlock[] = [];
  readonly decoderLn: LayerNorm;
  readonly head: Linear;
  /** Per-pixel logit bias [side²] added after unpatchify. */
  readonly outBias: ParamRef;

  /** Decoder logits in image layout [B, side²], and their gradient. */
  readonly logits: Activation;
  /** σ(logits) [B, side²] (written by recordDecoderForward with images: true). */
  readonly images: Tensor;

  // loss
  private readonly recSum: Tensor;
  /** rec + β·kl ([1]). */
  readonly loss: Tensor;
  /** Σ_pixels BCE per image, batch mean ([1]). */
  readonly rec: Tensor;
  /** Σ_latent KL per image, batch mean ([1]). */
  readonly kl: Tensor;

  private readonly ownParams: ParamRef[];
  private readonly encoderParamList: ParamRef[];

  constructor(
    private readonly ctx: BuildContext,
    readonly name: string,
    readonly cfg: VaeConfig,
  ) {
    validateVaeConfig(cfg);
    const rt = ctx.rt;
    const { batch, dim, latent, side, patch } = cfg;
    const frozen = cfg.frozen ?? false;
    const T = (this.tokens = (side / patch) ** 2);
    const P = (this.patchPixels = patch * patch);
    const N = (this.pixels = side * side);
    const rows = batch * T;
    const cls = cfg.pool === 'cls';
    const Te = (this.encoderTokens = T + (cls ? 1 : 0));
    const encRows = batch * Te;
    const t0 = ctx.trainable.params.length;
    const f0 = ctx.frozen.params.length;
    const blockOpts = { dim, heads: cfg.heads, batch, seq: T, mlpRatio: cfg.mlpRatio, frozen };
    const encBlockOpts = { ...blockOpts, seq: Te };

    this.input = rt.tensor([batch, N], `${name}.input`);
    this.target = rt.tensor([batch, N], `${name}.target`);
    this.eps = rt.tensor([batch, latent], `${name}.eps`);

    // ---- encoder ----
    const enc = `${name}.encoder`;
    this.inPatches = { value: rt.tensor([encRows, P], `${enc}.patches`), grad: null };
    this.embed = new Linear(ctx, `${enc}.embed`, { inDim: P, outDim: dim, frozen }, this.inPatches, encRows);
    this.pos = declareParam(ctx, `${enc}.pos`, [Te, dim], { uniform: 0.02 * Math.sqrt(3) }, { frozen, decay: false });
    let x: Activation = this.embed.out;
    for (let i = 0; i < cfg.encoderLayers; i++) {
      const b = new TransformerBlock(ctx, `${enc}.blocks.${i}`, encBlockOpts, x);
      this.encoderBlocks.push(b);
      x = b.out;
    }
    this.encoderLn = new LayerNorm(ctx, `${enc}.ln_f`, dim, x, encRows, { frozen });
    const flat = cfg.pool === 'flatten';
    this.pooled = flat
      ? { value: this.encoderLn.out.value.view([batch, T * dim], `${enc}.flat`), grad: this.encoderLn.out.grad!.view([batch, T * dim], `${enc}.flat.grad`) }
      : { value: rt.tensor([batch, dim], `${enc}.pooled`), grad: rt.tensor([batch, dim], `${enc}.pooled.grad`) };
    const w = new Float32Array(Te);
    if (cls) w[0] = 1;
    else w.fill(1 / T);
    this.poolWeights = rt.tensor([Te], `${enc}.pool_weights`, w);
    const headIn = flat ? T * dim : dim;
    this.muHead = new Linear(ctx, `${enc}.mu`, { inDim: headIn, outDim: latent, frozen }, this.pooled, batch);
    this.logvarHead = new Linear(ctx, `${enc}.logvar`, { inDim: headIn, outDim: latent, frozen, accumulateDx: true }, this.pooled, batch);
    if (cfg.logvarInit !== 0) this.logvarHead.bias!.init.fill(cfg.logvarInit);
    this.encoderParamList = [...ctx.trainable.params.slice(t0), ...ctx.frozen.params.slice(f0)];

    this.z = { value: rt.tensor([batch, latent], `${name}.z`), grad: rt.tensor([batch, latent], `${name}.z.grad`) };
    this.klSum = rt.tensor([1], `${name}.kl_sum`);
    this.klWeight = rt.tensor([1], `${name}.kl_weight`, [cfg.beta]);

    // ---- decoder ----
    const dec = `${name}.decoder`;
    this.proj = new Linear(ctx, `${dec}.proj`, { inDim: latent, outDim: T * dim, frozen }, this.z, batch);
    this.decTokens = { value: this.proj.out.value.view([rows, dim], `${dec}.tokens`), grad: this.proj.out.grad!.view([rows, dim], `${dec}.tokens.grad`) };
    x = this.decTokens;
    for (let i = 0; i < cfg.decoderLayers; i++) {
      const b = new TransformerBlock(ctx, `${dec}.blocks.${i}`, blockOpts, x);
      this.decoderBlocks.push(b);
      x = b.out;
    }
    this.decoderLn = new LayerNorm(ctx, `${dec}.ln_f`, dim, x, rows, { frozen });
    // No bias: the per-pixel output bias below subsumes a per-patch-pixel one. Zero-initialised,
    // so an untrained decoder outputs exactly the output bias (the data mean, see setOutputBias).
    this.head = new Linear(ctx, `${dec}.head`, { inDim: dim, outDim: P, frozen, bias: false }, this.decoderLn.out, rows);
    this.head.weight.init.fill(0);
    this.outBias = declareParam(ctx, `${dec}.out_bias`, [N], { constant: 0 }, { frozen, decay: false });
    this.logits = { value: rt.tensor([batch, N], `${name}.logits`), grad: rt.tensor([batch, N], `${name}.logits.grad`) };
    this.images = rt.tensor([batch, N], `${name}.images`);

    this.recSum = rt.tensor([1], `${name}.rec_sum`);
    this.loss = rt.tensor([1], `${name}.loss`);
    this.rec = rt.tensor([1], `${name}.rec`);
    this.kl = rt.tensor([1], `${name}.kl`);
    this.ownParams = [...ctx.trainable.params.slice(t0), ...ctx.frozen.params.slice(f0)];
  }

  private get patchShape() {
    return { batch: this.cfg.batch, side: this.cfg.side, patch: this.cfg.patch };
  }

  private get inputPatchShape() {
    return { ...this.patchShape, lead: this.encoderTokens - this.tokens };
  }

  /** This model's parameters (in whichever pack each was declared), in declaration order. */
  parameters(): ParamRef[] {
    return this.ownParams.slice();
  }

  encoderParameters(): ParamRef[] {
    return this.encoderParamList.slice();
  }

  decoderAttention(i: number): MultiHeadAttention {
    const b = this.decoderBlocks[i];
    if (!b) throw new RangeError(`decoderAttention(${i}): the decoder has ${this.decoderBlocks.length} blocks`);
    return b.attn;
  }

  encoderAttention(i: number): MultiHeadAttention {
    const b = this.encoderBlocks[i];
    if (!b) throw new RangeError(`encoderAttention(${i}): the encoder has ${this.encoderBlocks.length} blocks`);
    return b.attn;
  }

  /** 'attention-output' sites of the decoder blocks (where the atoms adapter attaches). */
  decoderAttentionSites(): Site[] {
    const { batch, heads, dim } = this.cfg;
    return this.decoderBlocks.map((b) => ({ kind: 'attention-output' as const, path: b.attn.name, layer: b.attn, batch, seq: this.tokens, heads, dim }));
  }

  /** Every Linear (encoder then decoder) with the row count it runs at, for Linear adapter sites. */
  linears(): { path: string; layer: Linear; rows: number }[] {
    const rows = this.cfg.batch * this.tokens;
    const encRows = this.cfg.batch * this.encoderTokens;
    const out: { path: string; layer: Linear; rows: number }[] = [];
    const push = (l: Linear, r: number) => out.push({ path: l.name, layer: l, rows: r });
    push(this.embed, encRows);
    for (const b of this.encoderBlocks) for (const l of blockLinears(b)) push(l, encRows);
    push(this.muHead, this.cfg.batch);
    push(this.logvarHead, this.cfg.batch);
    push(this.proj, this.cfg.batch);
    for (const b of this.decoderBlocks) for (const l of blockLinears(b)) push(l, rows);
    push(this.head, rows);
    return out;
  }

  /** True when the encoder (or the reparameterisation feeding it) must be back-propagated. */
  encoderNeedsBackward(): boolean {
    if (this.encoderParamList.some(isTrainable)) return true;
    const encLinears = [this.embed, this.muHead, this.logvarHead, ...this.encoderBlocks.flatMap(blockLinears)];
    return encLinears.some((l) => l.adapter !== null) || this.encoderBlocks.some((b) => b.attn.outputAdapter !== null);
  }

  /**
   * Sets the output bias to logit(mean) of `meanImage` [side²] (clamped to [1e-3, 1 − 1e-3]): with
   * the zero-initialised head an untrained decoder then outputs the data mean, so early gradients
   * carry each image's difference from the mean rather than a common offset (without this the
   * encoder grows a huge constant μ while the decoder learns the mean image, and the VAE stalls at
   * the mean-image loss). Call after the packs are finalized, before training.
   */
  initOutputBias(meanImage: ArrayLike<number>): void {
    if (meanImage.length !== this.pixels) throw new Error(`initOutputBias: ${meanImage.length} values, expected ${this.pixels}`);
    const v = new Float32Array(this.pixels);
    for (let i = 0; i < v.length; i++) {
      const m = Math.min(1 - 1e-3, Math.max(1e-3, meanImage[i]!));
      v[i] = Math.log(m / (1 - m));
    }
    this.outBias.pack.writeAll(new Map([[this.outBias.name, v]]), { partial: true });
  }

  /** Sets β (the KL weight) used by the next submitted loss/backward; a queue write, no allocation. */
  setKlWeight(beta: number): void {
    this.klWeightHost[0] = beta;
    this.ctx.rt.write(this.klWeight, this.klWeightHost);
  }

  // ---------- forward ----------

  /** input → μ, logσ² (muHead.out, logvarHead.out). */
  recordEncoderForward(list: CommandList): void {
    const rt = this.ctx.rt;
    const { batch, dim } = this.cfg;
    const Te = this.encoderTokens;
    recordPatchify(rt, list, this.inputPatchShape, this.input, this.inPatches.value);
    this.embed.recordForward(list);
    recordBroadcastAdd(rt, list, this.pos.value, this.embed.out.value);
    for (const b of this.encoderBlocks) b.recordForward(list);
    this.encoderLn.recordForward(list);
    // pooled[b] = wᵀ·h[b]: w = 1/T (mean) or e₀ (cls)
    if (this.cfg.pool !== 'flatten') recordMatmul(rt, list, { a: this.poolWeights, b: this.encoderLn.out.value, c: this.pooled.value, M: 1, N: dim, K: Te, batch, strideA: 0, strideB: Te * dim, strideC: dim, label: `${this.name}.pool` });
    this.muHead.recordForward(list);
    this.logvarHead.recordForward(list);
  }

  /** z = μ + σ·ε, klSum. */
  recordReparam(list: CommandList): void {
    recordReparamForward(this.ctx.rt, list, { mu: this.muHead.out.value, logvar: this.logvarHead.out.value, eps: this.eps, z: this.z.value, klSum: this.klSum });
  }

  /** z → image logits (and σ(logits) into `images` when asked). The decoder-only graph. */
  recordDecoderForward(list: CommandList, opts: { images?: boolean } = {}): void {
    const rt = this.ctx.rt;
    this.proj.recordForward(list);
    for (const b of this.decoderBlocks) b.recordForward(list);
    this.decoderLn.recordForward(list);
    this.head.recordForward(list);
    recordUnpatchify(rt, list, this.patchShape, this.head.out.value, this.logits.value);
    recordBroadcastAdd(rt, list, this.outBias.value, this.logits.value);
    if (opts.images) recordSigmoid(rt, list, this.logits.value, this.images);
  }

  /** The whole VAE: input → μ, logσ² → z → logits (→ images). */
  recordForward(list: CommandList, opts: { images?: boolean } = {}): void {
    this.recordEncoderForward(list);
    this.recordReparam(list);
    this.recordDecoderForward(list, opts);
  }

  /** rec, kl, loss from the last forward; the logits' gradient (overwrite) for the backward. */
  recordLoss(list: CommandList): void {
    const rt = this.ctx.rt;
    const { batch } = this.cfg;
    recordBceWithLogits(rt, list, { logits: this.logits.value, target: this.target, sum: this.recSum, grad: this.logits.grad!, gradScale: 1 / batch });
    recordVaeLossCombine(rt, list, { recSum: this.recSum, klSum: this.klSum, loss: this.loss, rec: this.rec, kl: this.kl, batch, beta: this.klWeight });
  }

  // ---------- backward ----------

  recordBackward(list: CommandList): void {
    const rt = this.ctx.rt;
    const { batch, dim } = this.cfg;
    const Te = this.encoderTokens;
    if (isTrainable(this.outBias)) recordColSum(rt, list, { x: this.logits.grad!, out: this.outBias.grad, rows: batch, cols: this.pixels });
    recordPatchify(rt, list, this.patchShape, this.logits.grad!, this.head.out.grad!);
    this.head.recordBackward(list);
    this.decoderLn.recordBackward(list);
    // Under a frozen decoder only what its adapters need (see recordBlocksBackward).
    const encoder = this.encoderNeedsBackward();
    recordBlocksBackward(list, this.decoderBlocks, encoder || this.proj.trains);
    if (!encoder) {
      // Only the projection's own parameter gradients (its dz is not needed).
      if (this.proj.trains) this.proj.recordBackward(list, { dx: false });
      return;
    }
    this.proj.recordBackward(list);
    recordReparamBackward(rt, list, {
      mu: this.muHead.out.value,
      logvar: this.logvarHead.out.value,
      eps: this.eps,
      dz: this.z.grad!,
      dmu: this.muHead.out.grad!,
      dlogvar: this.logvarHead.out.grad!,
      beta: this.klWeight,
      batch,
    });
    this.muHead.recordBackward(list);
    this.logvarHead.recordBackward(list);
    // dh[b] = w·dpooled[b] (overwrites every token's gradient: only the pooled vector feeds the heads)
    if (this.cfg.pool !== 'flatten') recordMatmul(rt, list, { a: this.poolWeights, b: this.pooled.grad!, c: this.encoderLn.out.grad!, M: Te, N: dim, K: 1, batch, strideA: 0, strideB: dim, strideC: Te * dim, label: `${this.name}.pool.bwd` });
    this.encoderLn.recordBackward(list);
    for (let i = this.encoderBlocks.length - 1; i >= 0; i--) this.encoderBlocks[i]!.recordBackward(list);
    if (isTrainable(this.pos)) recordColSum(rt, list, { x: this.embed.out.grad!, out: this.pos.grad, rows: batch, cols: Te * dim });
    this.embed.recordBackward(list);
  }

  /**
   * A decoder-only graph on this model's layers (adapters included): write latents into z,
   * run, read `images`. Record it after every adapter is attached.
   */
  createDecoder(): VaeDecoder {
    return new VaeDecoder(this.ctx.rt, this);
  }

  /** Shapes as plain numbers, for metadata. */
  describe(): Record<string, number> {
    const { batch, side, patch, dim, heads, encoderLayers, decoderLayers, latent, mlpRatio, beta } = this.cfg;
    return { batch, side, patch, dim, heads, encoderLayers, decoderLayers, latent, mlpRatio, beta, tokens: this.tokens, encoderTokens: this.encoderTokens, parameters: this.ownParams.reduce((a, p) => a + p.size, 0) };
  }
}

/** Latents in → images out, through the model's decoder, in chunks of the model's batch size. */
export class VaeDecoder {
  readonly list = new CommandList('vae-decode');
  private readonly zHost: Float32Array;

  constructor(
    private readonly rt: GpuRuntime,
    readonly vae: TransformerVae,
  ) {
    vae.recordDecoderForward(this.list, { images: true });
    this.zHost = new Float32Array(vae.cfg.batch * vae.cfg.latent);
  }

  /** latents [count, latent] → images [count, side²] in [0, 1] (σ of the logits). */
  async decode(latents: Float32Array, count = latents.length / this.vae.cfg.latent): Promise<Float32Array> {
    const { batch, latent } = this.vae.cfg;
    const N = this.vae.pixels;
    if (!Number.isInteger(count) || count < 0 || latents.length < count * latent) throw new Error(`decode: ${latents.length} values do not hold ${count} latents of ${latent}`);
    const out = new Float32Array(count * N);
    for (let s = 0; s < count; s += batch) {
      const n = Math.min(batch, count - s);
      this.zHost.fill(0);
      this.zHost.set(latents.subarray(s * latent, (s + n) * latent));
      this.rt.write(this.vae.z.value, this.zHost);
      this.rt.submit([this.list]);
      const imgs = await this.rt.read(this.vae.images);
      out.set(imgs.subarray(0, n * N), s * N);
    }
    return out;
  }
}

/** The `model` metadata value of VAE base checkpoints. */
export const VAE_CHECKPOINT_MODEL = 'mnist-vae';

/** The VaeConfig stored in a checkpoint's metadata (`config` JSON holds the task config, whose `model` is the VaeConfig). */
export function vaeConfigFromMetadata(metadata: Record<string, string>): VaeConfig {
  if (metadata.model !== VAE_CHECKPOINT_MODEL) throw new Error(`not a VAE checkpoint: model is '${metadata.model ?? '(none)'}'`);
  const cfg = JSON.parse(metadata.config ?? 'null') as { model?: VaeConfig } | null;
  if (!cfg?.model) throw new Error('VAE checkpoint metadata has no config.model');
  validateVaeConfig(cfg.model);
  return { ...cfg.model };
}

/**
 * Loads a VAE base checkpoint into `vae` (trainable or frozen): the shape-defining config fields
 * (heads, pool … — some do not show in tensor shapes) must agree, and every parameter name and
 * shape must match. Returns the metadata; throws CheckpointMismatchError naming every mismatch
 * (config fields and tensors) at once.
 */
export function loadVaeCheckpoint(bytes: Uint8Array, vae: TransformerVae): Record<string, string> {
  const meta = parseMetadataOnly(bytes);
  const problems: string[] = [];
  const stored = (() => {
    try {
      return JSON.parse(meta.config ?? 'null')?.model as Partial<VaeConfig> | undefined;
    } catch {
      return undefined;
    }
  })();
  if (stored) {
    for (const k of VAE_SHAPE_KEYS) if (stored[k] !== undefined && stored[k] !== vae.cfg[k]) problems.push(`config ${k}: the checkpoint has ${String(stored[k])}, the model ${String(vae.cfg[k])}`);
  }
  return loadBaseCheckpoint(bytes, vae.parameters(), { model: VAE_CHECKPOINT_MODEL, extraProblems: problems });
}
