/**
 * A small patch-transformer digit classifier: the frozen base that STAN and LoRA adapt in the
 * labelled experiments (STAN paper §4.3, §4.4, App. F).
 *
 *   image [B, 784] → (host) 16 patches of 7×7 = [B·16, 49] → TinyTransformer (embed + learned
 *   positions, `layers` pre-LN blocks, final LayerNorm, per-token head → 10 logits per token)
 *   → mean over the 16 tokens → class logits [B, 10].
 *
 * Mean-pooling the per-token head outputs equals mean-pooling the final features and applying
 * the head once (the head is linear), and it keeps the body a plain TinyTransformer, so the
 * adapter sites (blocks.{i}.attn.{q,k,v,o}_proj, blocks.{i}.mlp.fc1/fc2, head) and attach.ts's
 * glob targets work unchanged. The pooling is one batched matmul with a constant row of ones
 * (α = 1/T); its backward is the same matmul with a column of ones (as the VAE's mean pool).
 *
 * Parameter names: `${name}.embed.*`, `${name}.pos`, `${name}.blocks.{i}.…`, `${name}.ln_f.*`,
 * `${name}.head.*` (the TinyTransformer's).
 */
import { ConfigError } from '../engine/errors';
import type { ParamRef } from '../engine/param-pack';
import type { CommandList } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { MAX_ATTENTION_SEQ } from '../kernels/attention';
import { recordMatmul } from '../kernels/matmul';
import type { Activation, BuildContext } from '../nn/module';
import { TinyTransformer } from './tiny-transformer';

export interface DigitTransformerConfig {
  /** Images per step (activations are allocated for this many). */
  batch: number;
  /** Image side (28) and patch side (7): side must be a multiple of patch. */
  side: number;
  patch: number;
  dim: number;
  heads: number;
  layers: number;
  mlpRatio: number;
  classes: number;
  /** Every parameter in the frozen pack (the base under an adapter). */
  frozen?: boolean;
}

/** The shipped base's shape: dim 64 (so k = 64 ≤ l at expansion 1 on the 64-wide sites), 2 blocks, 4 heads. */
export const DIGIT_TRANSFORMER_BASE_CONFIG: DigitTransformerConfig = { batch: 32, side: 28, patch: 7, dim: 64, heads: 4, layers: 2, mlpRatio: 2, classes: 10 };

/** Fields that define the parameter shapes (a checkpoint fits a model iff these agree). */
export const DIGIT_TRANSFORMER_SHAPE_KEYS = ['side', 'patch', 'dim', 'heads', 'layers', 'mlpRatio', 'classes'] as const;

export function validateDigitTransformerConfig(cfg: DigitTransformerConfig): void {
  for (const k of ['batch', 'side', 'patch', 'dim', 'heads', 'layers', 'classes'] as const) {
    const v = cfg[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ConfigError(`model.${k}`, `must be a positive integer, got ${String(v)}`);
  }
  if (cfg.side % cfg.patch !== 0) throw new ConfigError('model.patch', `image side ${cfg.side} is not a multiple of patch ${cfg.patch}`);
  const tokens = (cfg.side / cfg.patch) ** 2;
  if (tokens > MAX_ATTENTION_SEQ) throw new ConfigError('model.patch', `${tokens} tokens exceed the attention kernels' maximum ${MAX_ATTENTION_SEQ}`);
  if (cfg.dim % cfg.heads !== 0) throw new ConfigError('model.heads', `dim ${cfg.dim} is not divisible by ${cfg.heads} heads`);
  if (!(cfg.mlpRatio > 0) || !Number.isInteger(Math.round(cfg.dim * cfg.mlpRatio))) throw new ConfigError('model.mlpRatio', `must be > 0, got ${cfg.mlpRatio}`);
  if (cfg.classes < 2) throw new ConfigError('model.classes', `needs at least 2 classes, got ${cfg.classes}`);
}

/** [count, side²] images → [count·T, patch²] patch rows, row-major over the patch grid (host; the batch loader's layout). */
export function patchifyImages(images: ArrayLike<number>, count: number, side: number, patch: number, out: Float32Array, outOffset = 0): void {
  const g = side / patch;
  const P = patch * patch;
  for (let b = 0; b < count; b++) {
    for (let ty = 0; ty < g; ty++) {
      for (let tx = 0; tx < g; tx++) {
        const row = outOffset + ((b * g + ty) * g + tx) * P;
        for (let py = 0; py < patch; py++) {
          const src = b * side * side + (ty * patch + py) * side + tx * patch;
          for (let px = 0; px < patch; px++) out[row + py * patch + px] = images[src + px]!;
        }
      }
    }
  }
}

export class DigitTransformer {
  readonly tokens: number;
  readonly patchPixels: number;
  readonly body: TinyTransformer;
  /** Patch rows [B·T, patch²] (written by the task). */
  readonly input: Activation;
  /** Class logits [B, classes] and their gradient (written by the loss). */
  readonly logits: Activation;
  private readonly ones: Tensor;
  private readonly ownParams: ParamRef[];

  constructor(
    private readonly ctx: BuildContext,
    readonly name: string,
    readonly cfg: DigitTransformerConfig,
  ) {
    validateDigitTransformerConfig(cfg);
    const rt = ctx.rt;
    const T = (this.tokens = (cfg.side / cfg.patch) ** 2);
    const P = (this.patchPixels = cfg.patch * cfg.patch);
    this.body = new TinyTransformer(ctx, name, {
      inDim: P,
      outDim: cfg.classes,
      dim: cfg.dim,
      heads: cfg.heads,
      layers: cfg.layers,
      seq: T,
      batch: cfg.batch,
      mlpRatio: cfg.mlpRatio,
      frozen: cfg.frozen ?? false,
    });
    this.input = this.body.input;
    this.logits = { value: rt.tensor([cfg.batch, cfg.classes], `${name}.logits`), grad: rt.tensor([cfg.batch, cfg.classes], `${name}.logits.grad`) };
    this.ones = rt.tensor([T], `${name}.pool_ones`, new Float32Array(T).fill(1));
    this.ownParams = this.body.baseParameters();
  }

  /** The base model's parameters (whichever pack they sit in), in a fixed order. */
  parameters(): ParamRef[] {
    return this.ownParams.slice();
  }

  recordForward(list: CommandList): void {
    const { batch, classes } = this.cfg;
    const T = this.tokens;
    this.body.recordForward(list);
    // logits[b] = (1/T)·1ᵀ·tokenLogits[b]
    recordMatmul(this.ctx.rt, list, { a: this.ones, b: this.body.output.value, c: this.logits.value, M: 1, N: classes, K: T, batch, strideA: 0, strideB: T * classes, strideC: classes, alpha: 1 / T, label: `${this.name}.pool` });
  }

  /** Needs logits.grad written (by the loss). Runs through the frozen layers too, so adapter gradients flow. */
  recordBackward(list: CommandList): void {
    const { batch, classes } = this.cfg;
    const T = this.tokens;
    // dTokenLogits[b] = (1/T)·1·dlogits[b]
    recordMatmul(this.ctx.rt, list, { a: this.ones, b: this.logits.grad!, c: this.body.output.grad!, M: T, N: classes, K: 1, batch, strideA: 0, strideB: classes, strideC: T * classes, alpha: 1 / T, label: `${this.name}.pool.bwd` });
    this.body.recordBackward(list);
  }
}
