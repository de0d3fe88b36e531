/**
 * Every WGSL file under shaders/, by name. Vite inlines `?raw` imports for the page and vitest;
 * Node (CLI, bench) gets the same through scripts/wgsl-loader.mjs. Adding a kernel family is
 * one file in shaders/ plus one line here.
 */
import type { ShaderSource } from '../engine/runtime';
import attention from '../../shaders/attention.wgsl?raw';
import elementwise from '../../shaders/elementwise.wgsl?raw';
import elementwiseBackward from '../../shaders/elementwise_backward.wgsl?raw';
import reduce from '../../shaders/reduce.wgsl?raw';
import loss from '../../shaders/loss.wgsl?raw';
import metrics from '../../shaders/metrics.wgsl?raw';
import adamw from '../../shaders/adamw.wgsl?raw';
import layernorm from '../../shaders/layernorm.wgsl?raw';
import matmulRegblock from '../../shaders/matmul_regblock.wgsl?raw';
import matmulTiled from '../../shaders/matmul_tiled.wgsl?raw';
import vae from '../../shaders/vae.wgsl?raw';
import softmaxRows from '../../shaders/softmax_rows.wgsl?raw';
import lowRank from '../../shaders/low_rank.wgsl?raw';
import soraProx from '../../shaders/sora_prox.wgsl?raw';
import topk from '../../shaders/topk.wgsl?raw';
import stanSparse from '../../shaders/stan_sparse.wgsl?raw';
import stanDense from '../../shaders/stan_dense.wgsl?raw';
import stanAux from '../../shaders/stan_aux.wgsl?raw';
import latentStats from '../../shaders/latent_stats.wgsl?raw';
import shrink from '../../shaders/shrink.wgsl?raw';
import atoms from '../../shaders/atoms.wgsl?raw';
import ista from '../../shaders/ista.wgsl?raw';
import conv from '../../shaders/conv.wgsl?raw';
import fourier from '../../shaders/fourier.wgsl?raw';

const sources = {
  attention,
  elementwise,
  elementwise_backward: elementwiseBackward,
  reduce,
  loss,
  metrics,
  adamw,
  layernorm,
  matmul_regblock: matmulRegblock,
  matmul_tiled: matmulTiled,
  vae,
  softmax_rows: softmaxRows,
  low_rank: lowRank,
  sora_prox: soraProx,
  topk,
  stan_dense: stanDense,
  stan_aux: stanAux,
  stan_sparse: stanSparse,
  latent_stats: latentStats,
  shrink,
  atoms,
  ista,
  conv,
  fourier,
} as const;

export type ShaderName = keyof typeof sources;

export function shader(name: ShaderName): ShaderSource {
  return { name, code: sources[name] };
}

export function allShaders(): ShaderSource[] {
  return (Object.keys(sources) as ShaderName[]).map(shader);
}
