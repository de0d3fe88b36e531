/**
 * A tiny sequence-to-sequence transformer: per-token input projection + learned position
 * embedding, `layers` pre-LN blocks, final LayerNorm, per-token output head.
 *   x [batch, seq, inDim] → y [batch, seq, outDim]
 * Used by the synthetic regression demo, the CLI, and as the frozen base for adapters.
 */
import type { CommandList } from '../engine/runtime';
import { recordBroadcastAdd } from '../kernels/elementwise';
import { recordColSum } from '../kernels/reduce';
import { recordBlocksBackward, TransformerBlock } from '../nn/block';
import { LayerNorm } from '../nn/layernorm';
import { Linear } from '../nn/linear';
import { declareParam, isTrainable, type Activation, type BuildContext } from '../nn/module';
import type { ParamRef } from '../engine/param-pack';
import { blockSiteRefs, linearParams, sitePath, type AdaptableModel, type Site, type SiteRef } from '../nn/site';

export interface TinyTransformerConfig {
  inDim: number;
  outDim: number;
  dim: number;
  heads: number;
  layers: number;
  seq: number;
  batch: number;
  mlpRatio?: number;
  causal?: boolean;
  /** Freeze everything (the base under an adapter). */
  frozen?: boolean;
}

/** What TinyTransformer.sites() returns for `layers` blocks, without building it (paths and kinds). */
export function tinyTransformerSiteRefs(layers: number): SiteRef[] {
  const out: SiteRef[] = [];
  for (let i = 0; i < layers; i++) out.push(...blockSiteRefs(`blocks.${i}`));
  out.push({ path: 'head', kind: 'linear' });
  return out;
}

export class TinyTransformer implements AdaptableModel {
  readonly input: Activation;
  readonly embed: Linear;
  readonly pos: ParamRef;
  readonly blocks: TransformerBlock[] = [];
  readonly lnF: LayerNorm;
  readonly head: Linear;
  readonly output: Activation;
  private readonly embedded: Activation;

  constructor(
    private readonly ctx: BuildContext,
    readonly name: string,
    readonly cfg: TinyTransformerConfig,
  ) {
    const { batch, seq, dim } = cfg;
    const rows = batch * seq;
    const frozen = cfg.frozen ?? false;
    const rt = ctx.rt;
    this.input = { value: rt.tensor([rows, cfg.inDim], `${name}.input`), grad: null };
    this.embed = new Linear(ctx, `${name}.embed`, { inDim: cfg.inDim, outDim: dim, frozen }, this.input, rows);
    this.pos = declareParam(ctx, `${name}.pos`, [seq, dim], { uniform: 0.02 * Math.sqrt(3) }, { frozen, decay: false });
    this.embedded = this.embed.out;
    let x: Activation = this.embedded;
    for (let i = 0; i < cfg.layers; i++) {
      const b = new TransformerBlock(ctx, `${name}.blocks.${i}`, { dim, heads: cfg.heads, batch, seq, frozen, ...(cfg.mlpRatio ? { mlpRatio: cfg.mlpRatio } : {}), ...(cfg.causal ? { causal: true } : {}) }, x);
      this.blocks.push(b);
      x = b.out;
    }
    this.lnF = new LayerNorm(ctx, `${name}.ln_f`, dim, x, rows, { frozen });
    this.head = new Linear(ctx, `${name}.head`, { inDim: dim, outDim: cfg.outDim, frozen }, this.lnF.out, rows);
    this.output = this.head.out;
  }

  recordForward(list: CommandList): void {
    this.embed.recordForward(list);
    recordBroadcastAdd(this.ctx.rt, list, this.pos.value, this.embedded.value);
    for (const b of this.blocks) b.recordForward(list);
    this.lnF.recordForward(list);
    this.head.recordForward(list);
  }

  recordBackward(list: CommandList): void {
    const { batch, seq, dim } = this.cfg;
    this.head.recordBackward(list);
    this.lnF.recordBackward(list);
    // Under a frozen base only what the adapters need (see recordBlocksBackward); the embedding
    // and positions only when they train.
    const embedTrains = this.embed.trains || isTrainable(this.pos);
    recordBlocksBackward(list, this.blocks, embedTrains);
    if (!embedTrains) return;
    // dpos = Σ_b dEmbedded[b]
    if (isTrainable(this.pos)) recordColSum(this.ctx.rt, list, { x: this.embedded.grad!, out: this.pos.grad, rows: batch, cols: seq * dim });
    this.embed.recordBackward(list);
  }

  /**
   * Every adapter site, in forward order (per block: q, k, v, o, attention output, fc1, fc2; then
   * head). `embed` (the input projection) is not offered: it reads the raw task features (a
   * handful of dimensions, no gradient flows into them), which is not where PEFT methods adapt a
   * model. The LayerNorms and the position table are not sites either.
   */
  sites(): Site[] {
    const { batch, seq, heads, dim } = this.cfg;
    const rows = batch * seq;
    const linear = (layer: Linear): Site => ({ kind: 'linear', path: sitePath(this.name, layer.name), layer, rows });
    const sites: Site[] = [];
    for (const b of this.blocks) {
      const a = b.attn;
      sites.push(linear(a.q), linear(a.k), linear(a.v), linear(a.o));
      sites.push({ kind: 'attention-output', path: sitePath(this.name, a.name), layer: a, batch, seq, heads, dim });
      sites.push(linear(b.mlp.fc1), linear(b.mlp.fc2));
    }
    sites.push(linear(this.head));
    return sites;
  }

  /** Every parameter of the model (embed, pos, blocks, final LayerNorm, head), frozen or not. */
  baseParameters(): ParamRef[] {
    const out: ParamRef[] = [...linearParams(this.embed), this.pos];
    for (const b of this.blocks) {
      out.push(b.ln1.gamma, b.ln1.beta, ...linearParams(b.attn.q), ...linearParams(b.attn.k), ...linearParams(b.attn.v), ...linearParams(b.attn.o));
      out.push(b.ln2.gamma, b.ln2.beta, ...linearParams(b.mlp.fc1), ...linearParams(b.mlp.fc2));
    }
    out.push(this.lnF.gamma, this.lnF.beta, ...linearParams(this.head));
    return out;
  }
}
