/**
 * Every adapter, in the order the page lists them. Adding one: a file exporting an
 * AdapterModule (./adapter.ts), plus one line in ADAPTER_MODULES. Everything else — the config
 * schema and defaults, the URL, the page's Adapter panel, run labels, adapter files, the interop
 * CLI and the registry-driven tests — reads this registry.
 *
 * `registerAdapter` adds a module at run time (test fixtures; plugins): it is checked like the
 * built-in ones, and `registryVersion()` changes so derived schemas are rebuilt.
 */
import { ConfigError } from '../engine/errors';
import { checkSpec } from '../settings/fields';
import type { AdapterModule } from './adapter';
import { atomsAdapter } from './atoms';
import { loraAdapter } from './lora';
import { soraAdapter } from './sora';
import { stanAdapter } from './stan';
import { veraAdapter } from './vera';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyAdapterModule = AdapterModule<any>;

const ADAPTER_MODULES: AnyAdapterModule[] = [stanAdapter, atomsAdapter, loraAdapter, soraAdapter, veraAdapter];

/** 'none' (no adapter) is a config choice, not a module. */
export const NO_ADAPTER = 'none';

const byKind = new Map<string, AnyAdapterModule>();
let version = 0;

/** Adds a module; throws when its kind, PEFT type or settings clash or are malformed. */
export function registerAdapter(m: AnyAdapterModule): void {
  if (!/^[a-z][a-z0-9-]{0,31}$/.test(m.kind) || m.kind === NO_ADAPTER) throw new Error(`adapter kind '${m.kind}' must be lowercase letters, digits and '-' (and not '${NO_ADAPTER}')`);
  if (byKind.has(m.kind)) throw new Error(`adapter '${m.kind}' is registered already`);
  for (const o of byKind.values()) if (o.export.peftType === m.export.peftType) throw new Error(`adapter '${m.kind}': peft_type '${m.export.peftType}' is taken by '${o.kind}'`);
  if (m.sites.length === 0) throw new Error(`adapter '${m.kind}' attaches to no site kind`);
  checkSpec(`adapter '${m.kind}'`, m.settings);
  for (const [peftKey, ours] of Object.entries(m.export.mirrors ?? {})) {
    if (!(ours in m.settings.defaults)) throw new Error(`adapter '${m.kind}': export mirror '${peftKey}' names '${String(ours)}', which is not one of its settings`);
  }
  byKind.set(m.kind, m);
  version++;
}

/** Removes a module added with registerAdapter (test fixtures clean up after themselves). */
export function unregisterAdapter(kind: string): void {
  if (ADAPTER_MODULES.some((m) => m.kind === kind)) throw new Error(`adapter '${kind}' is built in and cannot be removed`);
  if (byKind.delete(kind)) version++;
}

for (const m of ADAPTER_MODULES) registerAdapter(m);

/** Changes whenever the set of adapters changes. */
export function adapterRegistryVersion(): number {
  return version;
}

/** Every registered adapter, in registration order. */
export function adapterModules(): AnyAdapterModule[] {
  return [...byKind.values()];
}

/** Every registered kind, in registration order. */
export function adapterKinds(): string[] {
  return [...byKind.keys()];
}

/** The module of `kind`; ConfigError on 'adapter.kind' naming the registered kinds otherwise. */
export function adapterModule(kind: string): AnyAdapterModule {
  const m = byKind.get(kind);
  if (!m) throw new ConfigError('adapter.kind', `unknown adapter '${String(kind).slice(0, 40)}'; registered: ${adapterKinds().join(', ') || '(none)'}`);
  return m;
}

/** The module whose adapter files say `peft_type` (undefined when none does). */
export function adapterByPeftType(peftType: string): AnyAdapterModule | undefined {
  for (const m of byKind.values()) if (m.export.peftType === peftType) return m;
  return undefined;
}

/** How each registered kind is written to adapter files (src/io/adapter-file.ts's AdapterFormat). */
export function adapterFileFormats(): { kind: string; peftType: string; mirrors: Record<string, string> }[] {
  return adapterModules().map((m) => ({ kind: m.kind, peftType: m.export.peftType, mirrors: { ...(m.export.mirrors ?? {}) } as Record<string, string> }));
}
