/**
 * Float64 CPU reference of the transformer VAE's forward and loss (src/models/vae.ts), built from
 * the layer references in src/nn/reference.ts and the kernel references in src/kernels/vae.ts.
 * Parameters are a name → Float64Array map with the GPU model's parameter names. The yardstick
 * for the GPU model's gradients (float64 finite differences of `vaeLossCpu`).
 */
import { permutePatchesCpu, bceWithLogitsCpu, reparamForwardCpu } from '../kernels/vae';
import { blockForward, layerNormForward, linearForward, type Params64 } from '../nn/reference';
import type { VaeConfig } from './vae';

export interface VaeCpuResult {
  loss: number;
  rec: number;
  kl: number;
  mu: Float64Array;
  logvar: Float64Array;
  z: Float64Array;
  /** Image layout [B, side²]. */
  logits: Float64Array;
}

function get(p: Params64, name: string): Float64Array {
  const v = p.get(name);
  if (!v) throw new Error(`vae reference: missing parameter ${name}`);
  return v;
}

/** z [B, latent] → image logits [B, side²]. */
export function vaeDecodeCpu(p: Params64, name: string, cfg: VaeConfig, z: Float64Array): Float64Array {
  const { batch, dim, latent, side, patch } = cfg;
  const T = (side / patch) ** 2;
  const P = patch * patch;
  const rows = batch * T;
  const hidden = Math.round(dim * cfg.mlpRatio);
  const shape = { batch, seq: T, dim, heads: cfg.heads, hidden };
  const dec = `${name}.decoder`;
  let h = linearForward(p, `${dec}.proj`, z, batch, latent, T * dim);
  for (let i = 0; i < cfg.decoderLayers; i++) h = blockForward(p, `${dec}.blocks.${i}`, h, shape);
  const n = layerNormForward(p, `${dec}.ln_f`, h, rows, dim);
  const patches = linearForward(p, `${dec}.head`, n, rows, dim, P, false);
  const logits = permutePatchesCpu(patches, { batch, side, patch }, true);
  const ob = get(p, `${dec}.out_bias`);
  for (let i = 0; i < logits.length; i++) logits[i]! += ob[i % (side * side)]!;
  return logits;
}

/** The whole VAE on noisy `input` with clean `target` (both [B, side²]) and noise `eps` [B, latent]. */
export function vaeLossCpu(p: Params64, name: string, cfg: VaeConfig, input: ArrayLike<number>, target: ArrayLike<number>, eps: ArrayLike<number>): VaeCpuResult {
  const { batch, dim, latent, side, patch } = cfg;
  const T = (side / patch) ** 2;
  const lead = cfg.pool === 'cls' ? 1 : 0;
  const Te = T + lead;
  const P = patch * patch;
  const rows = batch * Te;
  const hidden = Math.round(dim * cfg.mlpRatio);
  const shape = { batch, seq: Te, dim, heads: cfg.heads, hidden };
  const enc = `${name}.encoder`;

  const patches = permutePatchesCpu(input, { batch, side, patch, lead }, false);
  let h = linearForward(p, `${enc}.embed`, patches, rows, P, dim);
  const pos = get(p, `${enc}.pos`);
  for (let i = 0; i < h.length; i++) h[i]! += pos[i % (Te * dim)]!;
  for (let i = 0; i < cfg.encoderLayers; i++) h = blockForward(p, `${enc}.blocks.${i}`, h, shape);
  const n = layerNormForward(p, `${enc}.ln_f`, h, rows, dim);
  let pooled: Float64Array = n;
  if (cfg.pool === 'mean') {
    pooled = new Float64Array(batch * dim);
    for (let b = 0; b < batch; b++) for (let t = 0; t < T; t++) for (let d = 0; d < dim; d++) pooled[b * dim + d]! += n[(b * T + t) * dim + d]! / T;
  } else if (cfg.pool === 'cls') {
    pooled = new Float64Array(batch * dim);
    for (let b = 0; b < batch; b++) for (let d = 0; d < dim; d++) pooled[b * dim + d] = n[b * Te * dim + d]!;
  }
  const headIn = cfg.pool === 'flatten' ? T * dim : dim;
  const mu = linearForward(p, `${enc}.mu`, pooled, batch, headIn, latent);
  const logvar = linearForward(p, `${enc}.logvar`, pooled, batch, headIn, latent);
  const { z, klSum } = reparamForwardCpu(mu, logvar, eps);
  const logits = vaeDecodeCpu(p, name, cfg, z);
  const rec = bceWithLogitsCpu(logits, target).sum / batch;
  const kl = klSum / batch;
  return { loss: rec + cfg.beta * kl, rec, kl, mu, logvar, z, logits };
}
