/**
 * The site/hook interface between models and adapters. A model lists the places an adapter can
 * attach (its sites); each site carries the layer whose hook an adapter installs — `Linear.adapter`
 * (a delta on a Linear's output) or `MultiHeadAttention.outputAdapter` (a delta on an attention
 * block's output). Models import this file, never an adapter; adapters consume sites.
 *
 * `path` is the PEFT-style module path (the model's own name stripped), used by target patterns
 * and in export names: `blocks.0.attn.q_proj`, `decoder.blocks.1.attn`, `head`.
 */
import type { ParamRef } from '../engine/param-pack';
import type { MultiHeadAttention } from './attention';
import type { Linear } from './linear';

export type Site =
  | { kind: 'linear'; path: string; layer: Linear; rows: number }
  | { kind: 'attention-output'; path: string; layer: MultiHeadAttention; batch: number; seq: number; heads: number; dim: number };

export type SiteKind = Site['kind'];

/** Every site kind a model can offer (what the adapter registry and the UI check against). */
export const SITE_KINDS: readonly SiteKind[] = ['linear', 'attention-output'];

/** A model adapters can attach to: its sites in forward order, and its own (base) parameters. */
export interface AdaptableModel {
  sites(): Site[];
  baseParameters(): ParamRef[];
}

/** A Linear's parameters (weight, then bias when it has one). */
export function linearParams(l: Linear): ParamRef[] {
  return l.bias ? [l.weight, l.bias] : [l.weight];
}

/** Strips `${modelName}.` from a module name (PEFT-style module path). */
export function sitePath(modelName: string, moduleName: string): string {
  const prefix = `${modelName}.`;
  return moduleName.startsWith(prefix) ? moduleName.slice(prefix.length) : moduleName;
}

/** A site's path and kind without the layer: what a model offers, known before it is built. */
export interface SiteRef {
  path: string;
  kind: SiteKind;
}

/**
 * The sites of a pre-LN transformer block at `path` (`blocks.0`), in forward order: the q, k, v, o
 * projections, the attention output (when `attentionOutput`), the MLP's fc1 and fc2.
 */
export function blockSiteRefs(path: string, attentionOutput = true): SiteRef[] {
  const lin = (p: string): SiteRef => ({ path: `${path}.${p}`, kind: 'linear' });
  return [lin('attn.q_proj'), lin('attn.k_proj'), lin('attn.v_proj'), lin('attn.o_proj'), ...(attentionOutput ? [{ path: `${path}.attn`, kind: 'attention-output' as const }] : []), lin('mlp.fc1'), lin('mlp.fc2')];
}
