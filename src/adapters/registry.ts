/**
 * Every adapter, by kind. Adding one: a file exporting an AdapterFactory, plus one line here.
 */
import type { AdapterFactory, AdapterKind } from './adapter';
import { atomsAdapter } from './atoms';
import { loraAdapter } from './lora';
import { soraAdapter } from './sora';
import { stanAdapter } from './stan';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const ADAPTERS: Partial<Record<AdapterKind, AdapterFactory<any>>> = {
  lora: loraAdapter,
  sora: soraAdapter,
  stan: stanAdapter,
  atoms: atomsAdapter,
};

export function adapterFactory(kind: AdapterKind): AdapterFactory<unknown> {
  const f = ADAPTERS[kind];
  if (!f) throw new Error(`unknown adapter '${kind}'; known: ${Object.keys(ADAPTERS).join(', ')}`);
  return f;
}
