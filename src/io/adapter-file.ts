/**
 * Adapter export/import, PEFT-like: `adapter_config.json` + `adapter_model.safetensors`.
 *
 * Tensor keys are `base_model.model.<parameter name>`, the parameter name being the one the
 * adapter declares: `<module path>.stan_E.weight`, `<module path>.lora_A.weight`, … (the full
 * table is in the README, "Adapter files"). The config JSON carries `peft_type` (STAN, ATOMS,
 * LORA, SORA), `target_modules` (the exact module paths adapted), the adapter's own settings
 * (`adapter_config`, with PEFT's familiar `r`/`lora_alpha` mirrored for LoRA/SoRA), and the base
 * model reference (`base_model_name_or_path` + `base_model_hash`).
 *
 * Browser-friendly without zip: the safetensors file also embeds the config JSON in its
 * metadata (`adapter_config`), so that one file alone imports too; the page offers both files
 * for download and accepts either the pair or the .safetensors alone. When both are given they
 * must agree.
 *
 * Import trusts nothing: strict safetensors parsing, guarded JSON with known keys only, float
 * tensors only, every key under a declared target module with the kind's prefix; then applying
 * to a live model checks kind, base hash, targets, config and every tensor's shape, and reports
 * every mismatch by name before writing anything.
 */
import type { ParamPack, ParamRef } from '../engine/param-pack';
import { isPlainRecord, JsonGuardError, parseGuardedJson } from './json-guard';
import { parseSafetensors, SafetensorsError, serializeSafetensors, toFloat32 } from './safetensors';
import type { BaseRef } from './session-file';

export const ADAPTER_FORMAT = 'sparse-adapter-playground/adapter@1';
export const PEFT_PREFIX = 'base_model.model.';
export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_MODEL_FILE = 'adapter_model.safetensors';

const BASE_CONFIG_KEYS = ['peft_type', 'format', 'base_model_name_or_path', 'base_model_hash', 'target_modules', 'adapter_config', 'inference_mode'];
const HASH = /^(none|sha256:[0-9a-f]{64})$/;
const MODULE_PATH = /^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$/;

/**
 * How each adapter kind is written (from the adapter registry — this file knows no adapter):
 * its PEFT type and the settings PEFT keeps at the top level of adapter_config.json
 * (`mirrors`: PEFT key → our setting, e.g. LoRA's r → rank).
 */
export interface AdapterFormat {
  kind: string;
  peftType: string;
  mirrors: Readonly<Record<string, string>>;
}

/** Live adapters as the file sees them: kind, module path, and the parameters they declared. */
export interface AdapterLike {
  readonly kind: string;
  readonly path: string;
}

function formatOfKind(formats: readonly AdapterFormat[], kind: string): AdapterFormat {
  const f = formats.find((x) => x.kind === kind);
  if (!f) throw new AdapterFileError('kind', `no adapter file format for kind '${kind}'; known: ${formats.map((x) => x.kind).join(', ')}`);
  return f;
}

export type AdapterFileErrorCode = 'safetensors' | 'config' | 'tensor' | 'kind' | 'base' | 'targets' | 'shape';

export class AdapterFileError extends Error {
  constructor(
    readonly code: AdapterFileErrorCode,
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'AdapterFileError';
  }
}

/** What an adapter file describes. */
export interface AdapterDescription {
  kind: string;
  /** The adapter factory's config (JSON values only). */
  config: Record<string, string | number | boolean>;
  /** Exact module paths (site paths), in the model's site order. */
  targets: string[];
  base: BaseRef;
}

export interface AdapterTensor {
  /** The parameter name the adapter declares (no PEFT prefix). */
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface AdapterFiles {
  /** adapter_config.json text. */
  config: string;
  /** adapter_model.safetensors bytes (config embedded in its metadata). */
  model: Uint8Array;
}

function q(s: string): string {
  const j = JSON.stringify(s);
  return j.length > 80 ? `${j.slice(0, 76)}..."` : j;
}

/** Parameter `name` belongs to the adapter of `kind` at module `path`. */
function belongsTo(name: string, kind: string, path: string): boolean {
  return name.startsWith(`${path}.${kind}_`) && !name.slice(path.length + 1).includes('..');
}

/**
 * Every parameter of the adapters (trainable or frozen, e.g. the fixed half of atoms-only
 * training), found in `packs` by the names the adapters declare.
 */
export function adapterParams(adapters: readonly AdapterLike[], packs: readonly ParamPack[]): ParamRef[] {
  const out: ParamRef[] = [];
  for (const a of adapters) for (const pack of packs) for (const p of pack.params) if (belongsTo(p.name, a.kind, a.path)) out.push(p);
  return out;
}

function configJson(d: AdapterDescription, formats: readonly AdapterFormat[]): string {
  const c = d.config;
  const format = formatOfKind(formats, d.kind);
  const mirrors: Record<string, unknown> = {};
  for (const [peftKey, ours] of Object.entries(format.mirrors)) mirrors[peftKey] = c[ours];
  return JSON.stringify(
    {
      peft_type: format.peftType,
      format: ADAPTER_FORMAT,
      base_model_name_or_path: d.base.id,
      base_model_hash: d.base.hash,
      target_modules: d.targets,
      adapter_config: d.config,
      inference_mode: true,
      ...mirrors,
    },
    null,
    2,
  );
}

/** The two files (the safetensors one also carries the config). */
export function encodeAdapter(d: AdapterDescription, tensors: readonly AdapterTensor[], formats: readonly AdapterFormat[]): AdapterFiles {
  const config = configJson(d, formats);
  // Validate what we write with the reader's rules, so an export always imports.
  describeFrom(parseConfigText(config), formats);
  for (const t of tensors) {
    if (!d.targets.some((p) => belongsTo(t.name, d.kind, p))) throw new AdapterFileError('tensor', `tensor ${q(t.name)} belongs to none of the target modules`);
  }
  const model = serializeSafetensors(
    tensors.map((t) => ({ name: PEFT_PREFIX + t.name, shape: t.shape, data: t.data })),
    { format: 'pt', adapter_format: ADAPTER_FORMAT, adapter_config: config },
  );
  return { config, model };
}

/** Reads the adapters' parameters from the GPU and encodes them. */
export async function exportAdapter(d: AdapterDescription, adapters: readonly AdapterLike[], packs: readonly ParamPack[], formats: readonly AdapterFormat[]): Promise<AdapterFiles> {
  const refs = adapterParams(adapters, packs);
  const values = new Map<ParamPack, Map<string, Float32Array>>();
  for (const r of refs) if (!values.has(r.pack)) values.set(r.pack, await r.pack.readAll());
  return encodeAdapter(
    d,
    refs.map((r) => ({ name: r.name, shape: [...r.shape], data: values.get(r.pack)!.get(r.name)! })),
    formats,
  );
}

function parseConfigText(text: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = parseGuardedJson(text, ADAPTER_CONFIG_FILE, { maxDepth: 4, maxLength: 200_000 });
  } catch (e) {
    if (e instanceof JsonGuardError) throw new AdapterFileError('config', e.message, e);
    throw e;
  }
  if (!isPlainRecord(raw)) throw new AdapterFileError('config', `${ADAPTER_CONFIG_FILE} must be a JSON object`);
  return raw;
}

function describeFrom(raw: Record<string, unknown>, formats: readonly AdapterFormat[]): AdapterDescription {
  const bad = (msg: string) => new AdapterFileError('config', `${ADAPTER_CONFIG_FILE}: ${msg}`);
  const mirrorKeys = [...new Set(formats.flatMap((f) => Object.keys(f.mirrors)))];
  const configKeys = new Set([...BASE_CONFIG_KEYS, ...mirrorKeys]);
  for (const k of Object.keys(raw)) if (!configKeys.has(k)) throw bad(`unknown key ${q(k)}; known: ${[...configKeys].join(', ')}`);
  if (raw.format !== ADAPTER_FORMAT) throw bad(`'format' must be ${q(ADAPTER_FORMAT)}`);
  const format = typeof raw.peft_type === 'string' ? formats.find((f) => f.peftType === raw.peft_type) : undefined;
  if (!format) throw bad(`'peft_type' must be one of ${formats.map((f) => f.peftType).join(', ')}, got ${JSON.stringify(raw.peft_type)?.slice(0, 40)}`);
  const kind = format.kind;
  const id = raw.base_model_name_or_path;
  const hash = raw.base_model_hash;
  if (typeof id !== 'string' || id.length > 300) throw bad(`'base_model_name_or_path' must be a string of at most 300 characters`);
  if (typeof hash !== 'string' || !HASH.test(hash)) throw bad(`'base_model_hash' must be "none" or "sha256:<64 hex digits>"`);
  const targets = raw.target_modules;
  if (!Array.isArray(targets) || targets.length === 0 || targets.length > 1024) throw bad(`'target_modules' must be a non-empty list (at most 1024) of module paths`);
  for (const t of targets) if (typeof t !== 'string' || t.length > 200 || !MODULE_PATH.test(t)) throw bad(`'target_modules' entry ${typeof t === 'string' ? q(t) : String(t)} is not a module path like "blocks.0.attn.q_proj"`);
  if (new Set(targets).size !== targets.length) throw bad(`'target_modules' lists a module twice`);
  if (raw.inference_mode !== undefined && typeof raw.inference_mode !== 'boolean') throw bad(`'inference_mode' must be true or false`);
  const cfg = raw.adapter_config;
  if (!isPlainRecord(cfg) || Object.keys(cfg).length > 64) throw bad(`'adapter_config' must be an object of at most 64 settings`);
  const config: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(cfg)) {
    if (!/^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(k)) throw bad(`'adapter_config' key ${q(k)} is not a setting name`);
    if (!(typeof v === 'string' && v.length <= 100) && !(typeof v === 'number' && Number.isFinite(v)) && typeof v !== 'boolean') throw bad(`'adapter_config'.${k} must be a number, a short string or a boolean`);
    config[k] = v as string | number | boolean;
  }
  for (const key of mirrorKeys) {
    if (raw[key] === undefined) continue;
    const ours = format.mirrors[key];
    if (ours === undefined) {
      const owners = formats.filter((f) => Object.hasOwn(f.mirrors, key)).map((f) => f.peftType);
      throw bad(`'${key}' belongs to ${owners.join('/')} adapters, not ${format.peftType}`);
    }
    if (raw[key] !== config[ours]) throw bad(`'${key}' (${String(raw[key])}) differs from adapter_config.${ours} (${String(config[ours])})`);
  }
  return { kind, config, targets: targets as string[], base: { id, hash } };
}

export interface DecodedAdapter {
  description: AdapterDescription;
  tensors: AdapterTensor[];
}

/**
 * Decodes an adapter from its safetensors bytes and, optionally, the adapter_config.json text
 * (without it, the config embedded in the safetensors metadata is used). Throws AdapterFileError.
 */
export function decodeAdapter(model: Uint8Array | ArrayBuffer, configText: string | undefined, formats: readonly AdapterFormat[]): DecodedAdapter {
  let file;
  try {
    file = parseSafetensors(model);
  } catch (e) {
    if (e instanceof SafetensorsError || e instanceof RangeError) throw new AdapterFileError('safetensors', `${ADAPTER_MODEL_FILE}: ${e.message}`, e);
    throw e;
  }
  for (const k of Object.keys(file.metadata)) {
    if (k !== 'format' && k !== 'adapter_format' && k !== 'adapter_config') throw new AdapterFileError('config', `${ADAPTER_MODEL_FILE}: unknown metadata key ${q(k)}`);
  }
  const embedded = file.metadata.adapter_config;
  if (configText === undefined && embedded === undefined) {
    throw new AdapterFileError('config', `${ADAPTER_MODEL_FILE} has no embedded adapter_config: import it together with its ${ADAPTER_CONFIG_FILE}`);
  }
  const description = describeFrom(parseConfigText(configText ?? embedded!), formats);
  const peftType = formatOfKind(formats, description.kind).peftType;
  if (configText !== undefined && embedded !== undefined && JSON.stringify(describeFrom(parseConfigText(embedded), formats)) !== JSON.stringify(description)) {
    throw new AdapterFileError('config', `${ADAPTER_CONFIG_FILE} and the config embedded in ${ADAPTER_MODEL_FILE} differ: they are not from the same export`);
  }
  const tensors: AdapterTensor[] = [];
  for (const t of file.tensors.values()) {
    if (!t.name.startsWith(PEFT_PREFIX)) throw new AdapterFileError('tensor', `tensor ${q(t.name)}: adapter keys start with ${q(PEFT_PREFIX)}`);
    const name = t.name.slice(PEFT_PREFIX.length);
    if (!description.targets.some((p) => belongsTo(name, description.kind, p))) {
      throw new AdapterFileError('tensor', `tensor ${q(t.name)} is not a ${peftType} parameter of any target module (expected ${PEFT_PREFIX}<module>.${description.kind}_…)`);
    }
    if (t.dtype !== 'F32' && t.dtype !== 'F16' && t.dtype !== 'BF16') throw new AdapterFileError('tensor', `tensor ${q(t.name)} is ${t.dtype}; adapter weights must be F32, F16 or BF16`);
    if (t.shape.length < 1 || t.shape.length > 4) throw new AdapterFileError('tensor', `tensor ${q(t.name)} has rank ${t.shape.length}; adapter weights have rank 1 to 4`);
    tensors.push({ name, shape: [...t.shape], data: toFloat32(t) });
  }
  return { description, tensors };
}

/**
 * Writes a decoded adapter into live adapters (built with the file's kind, config and targets
 * on a model with the same base). Checks everything first and throws one AdapterFileError that
 * names every mismatch (base hash, targets, config fields, tensor names and shapes).
 */
export function applyAdapter(
  decoded: DecodedAdapter,
  live: { description: AdapterDescription; adapters: readonly AdapterLike[]; packs: readonly ParamPack[] },
  formats: readonly AdapterFormat[],
): void {
  const f = decoded.description;
  const m = live.description;
  const peft = (kind: string) => formats.find((x) => x.kind === kind)?.peftType ?? kind;
  if (f.kind !== m.kind) throw new AdapterFileError('kind', `the file holds a ${peft(f.kind)} adapter; this model has ${peft(m.kind)} adapters`);
  // A base built in the page has no file to hash ('none'): its id (task + seed) identifies it.
  if (f.base.hash !== m.base.hash || (f.base.hash === 'none' && f.base.id !== m.base.id)) {
    const show = (b: BaseRef) => `'${b.id}'${b.hash === 'none' ? '' : ` (${b.hash.slice(0, 19)}…)`}`;
    throw new AdapterFileError('base', `the adapter was trained on base ${show(f.base)}, this model's base is ${show(m.base)}: load that base (or that task and seed) first`);
  }
  const missingT = m.targets.filter((t) => !f.targets.includes(t));
  const extraT = f.targets.filter((t) => !m.targets.includes(t));
  if (missingT.length || extraT.length) {
    throw new AdapterFileError('targets', `target modules differ: the file adapts [${f.targets.join(', ')}], this model [${m.targets.join(', ')}]`);
  }
  const problems: string[] = [];
  for (const [k, v] of Object.entries(f.config)) if (Object.hasOwn(m.config, k) && m.config[k] !== v) problems.push(`adapter_config.${k} is ${JSON.stringify(v)} in the file, ${JSON.stringify(m.config[k])} in this model`);
  const refs = adapterParams(live.adapters, live.packs);
  const byName = new Map(decoded.tensors.map((t) => [t.name, t]));
  for (const r of refs) {
    const t = byName.get(r.name);
    if (!t) problems.push(`missing tensor '${PEFT_PREFIX}${r.name}' (this model needs shape [${r.shape}])`);
    else if (t.shape.length !== r.shape.length || t.shape.some((d, i) => d !== r.shape[i])) problems.push(`tensor '${PEFT_PREFIX}${r.name}' has shape [${t.shape}], this model needs [${r.shape}]`);
    byName.delete(r.name);
  }
  for (const name of byName.keys()) problems.push(`unexpected tensor '${PEFT_PREFIX}${name}' (this model has no such adapter parameter)`);
  if (problems.length) throw new AdapterFileError('shape', `the adapter does not fit this model:\n  ${problems.join('\n  ')}`);
  const perPack = new Map<ParamPack, Map<string, Float32Array>>();
  const values = new Map(decoded.tensors.map((t) => [t.name, t.data]));
  for (const r of refs) {
    let mm = perPack.get(r.pack);
    if (!mm) perPack.set(r.pack, (mm = new Map()));
    mm.set(r.name, values.get(r.name)!);
  }
  for (const [pack, mm] of perPack) pack.writeAll(mm, { partial: true });
}
