/**
 * A whole training session as ONE safetensors file: the validated configuration, a reference to
 * the base checkpoint (id + content hash), the step, every parameter pack's tensors, the AdamW
 * moments, the metric history and a little task state — everything needed to resume bit-exactly.
 * The same bytes are the autosave record (IndexedDB) and the "export session" download.
 *
 * Layout (all F32 unless noted):
 *   <pack>/<param>        one tensor per parameter, under its own name and shape
 *   <pack>/adamw.m, .v    the pack's flat AdamW moments ([pack length], padding included)
 *   metrics/step          I32 [rows]: the step of each metric row (strictly increasing, < step)
 *   metrics/values        F32 [rows, fields]
 *   validation/step, /values   the same for held-out evaluations (optional; steps ≤ step, non-decreasing)
 *   __metadata__          format, config (JSON), base (JSON {id, hash}), step, layout (JSON
 *                         [{name, params: [names]}]), metric_fields (JSON), validation_fields (JSON,
 *                         with the validation tensors), extra (JSON string map)
 *
 * Decoding trusts nothing: the strict safetensors reader first, then every metadata key is
 * known, JSON is size- and depth-limited with `__proto__` keys refused, the config goes through
 * the caller's schema (ConfigCheck), names and counts are bounded, every tensor the layout names is
 * present with the right dtype and rank, no tensor is left over, and sizes are taken from the
 * checked tensors, never from the metadata. Every failure is a SessionFileError whose `code`
 * says what kind and whose message names the key/tensor and what was expected.
 */
import type { MetricRow } from '../engine/metric-ring';
import type { ParamPack } from '../engine/param-pack';
import { isPlainRecord, JsonGuardError, parseGuardedJson } from './json-guard';
import { parseSafetensors, SafetensorsError, serializeSafetensors, toBigInt64, toFloat32, type TensorEntry, type TensorInput } from './safetensors';

export const SESSION_FORMAT = 'sparse-adapter-playground/session@1';

export type SessionFileErrorCode =
  | 'safetensors' // not a valid safetensors file at all (the cause's code says why)
  | 'format' // another kind of file (missing or different `format`)
  | 'metadata' // unknown, missing or malformed metadata entry
  | 'config' // the configuration fails the schema
  | 'layout' // pack/parameter list malformed, or a tensor missing, mistyped or unexpected
  | 'metrics' // metric history malformed
  | 'mismatch'; // a well-formed session that does not fit the model it is restored into

export class SessionFileError extends Error {
  constructor(
    readonly code: SessionFileErrorCode,
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'SessionFileError';
  }
}

/** Which frozen base the session's parameters were trained on. */
export interface BaseRef {
  /** e.g. a shipped checkpoint's path, or `seed:<n>` for a seeded random base. */
  id: string;
  /** `sha256:<64 hex>` of the base (see fingerprint.ts), or `none`. */
  hash: string;
}

export interface SessionParam {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface SessionPack {
  name: string;
  params: SessionParam[];
  m: Float32Array;
  v: Float32Array;
}

export interface MetricHistory {
  fields: string[];
  rows: MetricRow[];
}

/** A trainer's whole state (what src/train/trainer.ts's checkpoint() returns; structural, so this file needs no trainer). */
export interface TrainerState {
  step: number;
  params: Map<string, Float32Array>[];
  optimizer: { m: Float32Array[]; v: Float32Array[] };
}

/** A session's configuration: a JSON object the caller's schema validates. */
export type SessionConfig = object;

/**
 * Checks a session's configuration: null when valid, else the issues as text. Files hold
 * whatever configuration the application defines; the playground passes its schema
 * (src/persistence/session-checkpoint.ts). Default: any JSON object.
 */
export type ConfigCheck = (config: unknown) => string | null;

const anyObject: ConfigCheck = (c) => (isPlainRecord(c) ? null : 'the config must be a JSON object');

export interface Session {
  config: SessionConfig;
  base: BaseRef;
  step: number;
  packs: SessionPack[];
  metrics: MetricHistory;
  /** Held-out evaluations (steps ≤ step, non-decreasing); absent when none were made. */
  validation?: MetricHistory;
  /** Small task/UI state as strings (masks, k overrides …); keys are checked like names. */
  extra: Record<string, string>;
}

const META_KEYS = ['format', 'config', 'base', 'step', 'layout', 'metric_fields', 'validation_fields', 'extra'] as const;
const REQUIRED_META = ['format', 'config', 'base', 'step', 'layout', 'metric_fields'] as const;

const LIMITS = { packs: 64, paramsPerPack: 10_000, fields: 64, extraKeys: 256, extraValue: 1_000_000, nameLength: 300, rank: 8 };
/** Pack and field names: plain identifiers. Parameter names: also dots (module paths). */
const PACK_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}$/;
const PARAM_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.\-:]*$/;
const FIELD_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$/;
const RESERVED = new Set(['__proto__', 'constructor', 'prototype']);
const HASH = /^(none|sha256:[0-9a-f]{64})$/;

function q(s: string): string {
  const j = JSON.stringify(s);
  return j.length > 80 ? `${j.slice(0, 76)}..."` : j;
}

function checkName(kind: string, name: unknown, re: RegExp, where: string, code: SessionFileErrorCode): string {
  if (typeof name !== 'string' || name.length > LIMITS.nameLength || !re.test(name) || RESERVED.has(name)) {
    throw new SessionFileError(code, `${where}: ${kind} name ${typeof name === 'string' ? q(name) : String(name)} is not allowed (letters, digits, _ . - only, at most ${LIMITS.nameLength} characters)`);
  }
  return name;
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** The session as one safetensors file. Validates what it writes, so a decode of it never fails. */
export function encodeSession(s: Session, checkConfig: ConfigCheck = anyObject): Uint8Array {
  const issues = checkConfig(s.config);
  if (issues !== null) throw new SessionFileError('config', `session config is invalid:\n${issues}`);
  if (!Number.isSafeInteger(s.step) || s.step < 0) throw new SessionFileError('metadata', `step must be a non-negative integer, got ${s.step}`);
  if (typeof s.base.id !== 'string' || s.base.id.length > 300 || !HASH.test(s.base.hash)) {
    throw new SessionFileError('metadata', `base must be {id: string ≤ 300 characters, hash: 'none' | 'sha256:<64 hex>'}, got ${q(JSON.stringify(s.base))}`);
  }
  const tensors: TensorInput[] = [];
  const layout: { name: string; params: string[] }[] = [];
  const packNames = new Set<string>();
  for (const p of s.packs) {
    checkName('pack', p.name, PACK_NAME, 'encodeSession', 'layout');
    if (packNames.has(p.name)) throw new SessionFileError('layout', `pack ${q(p.name)} appears twice`);
    packNames.add(p.name);
    let total = 0;
    for (const t of p.params) {
      checkName('parameter', t.name, PARAM_NAME, `pack ${q(p.name)}`, 'layout');
      tensors.push({ name: `${p.name}/${t.name}`, shape: t.shape, data: t.data });
      total += t.data.length;
    }
    if (p.m.length !== p.v.length || p.m.length < total) throw new SessionFileError('layout', `pack ${q(p.name)}: AdamW moments have ${p.m.length}/${p.v.length} values for ${total} parameters`);
    tensors.push({ name: `${p.name}/adamw.m`, shape: [p.m.length], data: p.m }, { name: `${p.name}/adamw.v`, shape: [p.v.length], data: p.v });
    layout.push({ name: p.name, params: p.params.map((t) => t.name) });
  }
  // Rows at or after `step` belong to a future this state never reached (e.g. a restored snapshot): drop them.
  const rows = s.metrics.rows.filter((r) => r.step < s.step).sort((a, b) => a.step - b.step).filter((r, i, all) => i === 0 || all[i - 1]!.step !== r.step);
  const fields = historyTensors('metrics', s.metrics.fields, rows, tensors);
  const validation = s.validation ? historyTensors('validation', s.validation.fields, s.validation.rows.filter((r) => r.step <= s.step).sort((a, b) => a.step - b.step), tensors) : null;
  const extraKeys = Object.keys(s.extra);
  for (const k of extraKeys) checkName('extra', k, FIELD_NAME, 'encodeSession', 'metadata');
  const metadata: Record<string, string> = {
    format: SESSION_FORMAT,
    config: JSON.stringify(s.config),
    base: JSON.stringify({ id: s.base.id, hash: s.base.hash }),
    step: String(s.step),
    layout: JSON.stringify(layout),
    metric_fields: JSON.stringify(fields),
  };
  if (validation) metadata.validation_fields = JSON.stringify(validation);
  if (extraKeys.length) metadata.extra = JSON.stringify(s.extra);
  try {
    return serializeSafetensors(tensors, metadata);
  } catch (e) {
    if (e instanceof SafetensorsError) throw new SessionFileError('layout', `cannot write the session: ${e.message}`, e);
    throw e;
  }
}

function historyTensors(prefix: string, rawFields: readonly string[], rows: readonly MetricRow[], tensors: TensorInput[]): string[] {
  const fields = rawFields.map((f) => checkName('metric field', f, FIELD_NAME, 'encodeSession', 'metrics'));
  if (new Set(fields).size !== fields.length || fields.length > LIMITS.fields) throw new SessionFileError('metrics', `${prefix} fields must be at most ${LIMITS.fields} distinct names`);
  const steps = Int32Array.from(rows, (r) => r.step);
  const values = new Float32Array(rows.length * fields.length);
  rows.forEach((r, i) => fields.forEach((f, j) => (values[i * fields.length + j] = Object.hasOwn(r.values, f) ? r.values[f]! : NaN)));
  tensors.push({ name: `${prefix}/step`, shape: [rows.length], data: steps }, { name: `${prefix}/values`, shape: [rows.length, fields.length], data: values });
  return fields;
}

// ---------------------------------------------------------------------------------------------
// Decoding

function json(meta: Record<string, string>, key: string): unknown {
  try {
    return parseGuardedJson(meta[key], `metadata ${q(key)}`, { maxDepth: 8, maxLength: key === 'extra' ? 4 * LIMITS.extraValue : 2_000_000 });
  } catch (e) {
    if (e instanceof JsonGuardError) throw new SessionFileError(key === 'config' ? 'config' : key === 'metric_fields' ? 'metrics' : 'metadata', e.message, e);
    throw e;
  }
}

function f32(file: Map<string, TensorEntry>, name: string, rank: number | null, used: Set<string>): TensorEntry {
  const t = file.get(name);
  if (!t) throw new SessionFileError('layout', `tensor ${q(name)} is missing`);
  if (t.dtype !== 'F32') throw new SessionFileError('layout', `tensor ${q(name)} is ${t.dtype}; a session stores F32`);
  if (rank !== null && t.shape.length !== rank) throw new SessionFileError('layout', `tensor ${q(name)} has shape [${t.shape}], expected rank ${rank}`);
  if (t.shape.length > LIMITS.rank) throw new SessionFileError('layout', `tensor ${q(name)} has rank ${t.shape.length}; at most ${LIMITS.rank}`);
  used.add(name);
  return t;
}

/** Decodes and validates a session file; throws SessionFileError, nothing else. */
export function decodeSession(bytes: Uint8Array | ArrayBuffer, checkConfig: ConfigCheck = anyObject): Session {
  let file;
  try {
    file = parseSafetensors(bytes);
  } catch (e) {
    if (e instanceof SafetensorsError) throw new SessionFileError('safetensors', `not a valid session file: ${e.message}`, e);
    if (e instanceof RangeError) throw new SessionFileError('safetensors', `not a valid session file: ${e.message}`, e);
    throw e;
  }
  const meta = file.metadata;
  if (meta.format !== SESSION_FORMAT) {
    throw new SessionFileError('format', meta.format === undefined ? `not a session file: no 'format' metadata (expected ${q(SESSION_FORMAT)})` : `not a session file: format is ${q(meta.format)}, expected ${q(SESSION_FORMAT)}`);
  }
  for (const k of Object.keys(meta)) if (!(META_KEYS as readonly string[]).includes(k)) throw new SessionFileError('metadata', `unknown metadata key ${q(k)}; a session has ${META_KEYS.join(', ')}`);
  for (const k of REQUIRED_META) if (!Object.hasOwn(meta, k)) throw new SessionFileError('metadata', `metadata ${q(k)} is missing`);

  const config = json(meta, 'config');
  const issues = checkConfig(config);
  if (issues !== null) throw new SessionFileError('config', `the session's config is invalid:\n${issues}`);

  const baseRaw = json(meta, 'base');
  if (!isPlainRecord(baseRaw) || Object.keys(baseRaw).sort().join(',') !== 'hash,id' || typeof baseRaw.id !== 'string' || baseRaw.id.length > 300 || typeof baseRaw.hash !== 'string' || !HASH.test(baseRaw.hash)) {
    throw new SessionFileError('metadata', `metadata 'base' must be {"id": string ≤ 300 characters, "hash": "none" | "sha256:<64 hex>"}`);
  }
  const base: BaseRef = { id: baseRaw.id, hash: baseRaw.hash };

  if (!/^(0|[1-9][0-9]{0,15})$/.test(meta.step!) || !Number.isSafeInteger(Number(meta.step))) {
    throw new SessionFileError('metadata', `metadata 'step' must be a non-negative integer, got ${q(meta.step!)}`);
  }
  const step = Number(meta.step);

  const layoutRaw = json(meta, 'layout');
  if (!Array.isArray(layoutRaw) || layoutRaw.length > LIMITS.packs) throw new SessionFileError('layout', `metadata 'layout' must be a list of at most ${LIMITS.packs} packs`);
  const used = new Set<string>();
  const packs: SessionPack[] = [];
  const packNames = new Set<string>();
  for (const [i, entry] of layoutRaw.entries()) {
    const where = `layout[${i}]`;
    if (!isPlainRecord(entry) || Object.keys(entry).sort().join(',') !== 'name,params' || !Array.isArray(entry.params)) {
      throw new SessionFileError('layout', `${where} must be {"name": string, "params": [names]}`);
    }
    const name = checkName('pack', entry.name, PACK_NAME, where, 'layout');
    if (packNames.has(name)) throw new SessionFileError('layout', `${where}: pack ${q(name)} appears twice`);
    packNames.add(name);
    if (entry.params.length > LIMITS.paramsPerPack) throw new SessionFileError('layout', `${where}: ${entry.params.length} parameters; at most ${LIMITS.paramsPerPack}`);
    const params: SessionParam[] = [];
    const seen = new Set<string>();
    let total = 0;
    for (const pn of entry.params) {
      const pname = checkName('parameter', pn, PARAM_NAME, where, 'layout');
      if (seen.has(pname)) throw new SessionFileError('layout', `${where}: parameter ${q(pname)} appears twice`);
      seen.add(pname);
      const t = f32(file.tensors, `${name}/${pname}`, null, used);
      if (t.shape.length === 0) throw new SessionFileError('layout', `tensor ${q(t.name)} is a scalar; parameters have rank ≥ 1`);
      const data = toFloat32(t);
      total += data.length;
      params.push({ name: pname, shape: [...t.shape], data });
    }
    const m = f32(file.tensors, `${name}/adamw.m`, 1, used);
    const v = f32(file.tensors, `${name}/adamw.v`, 1, used);
    if (m.shape[0] !== v.shape[0] || m.shape[0]! < total) {
      throw new SessionFileError('layout', `pack ${q(name)}: adamw.m [${m.shape}] and adamw.v [${v.shape}] must have the same length, at least the ${total} parameter values`);
    }
    packs.push({ name, params, m: toFloat32(m), v: toFloat32(v) });
  }

  const metrics = readHistory(file.tensors, meta, 'metrics', 'metric_fields', step, true, used);
  const validation = Object.hasOwn(meta, 'validation_fields') ? readHistory(file.tensors, meta, 'validation', 'validation_fields', step, false, used) : undefined;

  for (const name of file.tensors.keys()) if (!used.has(name)) throw new SessionFileError('layout', `unexpected tensor ${q(name)}: the layout does not name it`);

  const extra: Record<string, string> = {};
  if (Object.hasOwn(meta, 'extra')) {
    const raw = json(meta, 'extra');
    if (!isPlainRecord(raw)) throw new SessionFileError('metadata', `metadata 'extra' must be an object of strings`);
    const keys = Object.keys(raw);
    if (keys.length > LIMITS.extraKeys) throw new SessionFileError('metadata', `metadata 'extra' has ${keys.length} keys; at most ${LIMITS.extraKeys}`);
    for (const k of keys) {
      checkName('extra', k, FIELD_NAME, `metadata 'extra'`, 'metadata');
      const val = raw[k];
      if (typeof val !== 'string') throw new SessionFileError('metadata', `metadata 'extra'[${q(k)}] must be a string`);
      extra[k] = val;
    }
  }
  return { config: config as SessionConfig, base, step, packs, metrics, ...(validation ? { validation } : {}), extra };
}

/**
 * A metric history: names from metadata `key`, `<prefix>/step` I32 [rows] and `<prefix>/values`
 * F32 [rows, fields]. Train rows (strict) increase strictly below `step`; validation rows are
 * non-decreasing and at most `step`.
 */
function readHistory(tensors: Map<string, TensorEntry>, meta: Record<string, string>, prefix: string, key: string, step: number, strict: boolean, used: Set<string>): MetricHistory {
  const fieldsRaw = json(meta, key);
  if (!Array.isArray(fieldsRaw) || fieldsRaw.length > LIMITS.fields) throw new SessionFileError('metrics', `metadata '${key}' must be a list of at most ${LIMITS.fields} names`);
  const fields = fieldsRaw.map((f, i) => checkName('metric field', f, FIELD_NAME, `${key}[${i}]`, 'metrics'));
  if (new Set(fields).size !== fields.length) throw new SessionFileError('metrics', `metadata '${key}' lists a field twice`);
  const stepT = tensors.get(`${prefix}/step`);
  if (!stepT || stepT.dtype !== 'I32' || stepT.shape.length !== 1) throw new SessionFileError('metrics', `tensor '${prefix}/step' must be I32 [rows]${stepT ? `, got ${stepT.dtype} [${stepT.shape}]` : ', it is missing'}`);
  used.add(`${prefix}/step`);
  const rowsN = stepT.shape[0]!;
  const valT = tensors.get(`${prefix}/values`);
  if (!valT || valT.dtype !== 'F32' || valT.shape.length !== 2 || valT.shape[0] !== rowsN || valT.shape[1] !== fields.length) {
    throw new SessionFileError('metrics', `tensor '${prefix}/values' must be F32 [${rowsN}, ${fields.length}] (rows × ${key})${valT ? `, got ${valT.dtype} [${valT.shape}]` : ', it is missing'}`);
  }
  used.add(`${prefix}/values`);
  const stepVals = toBigInt64(stepT);
  const vals = toFloat32(valT);
  const rows: MetricRow[] = [];
  let prev = -1;
  for (let i = 0; i < rowsN; i++) {
    const s = Number(stepVals[i]!);
    if (strict ? s <= prev || s >= step : s < prev || s < 0 || s > step) {
      throw new SessionFileError('metrics', `${prefix}/step[${i}] = ${s}: steps must ${strict ? `increase strictly and stay below the session step ${step}` : `not decrease and stay within 0…${step}`}`);
    }
    prev = s;
    const values: Record<string, number> = {};
    fields.forEach((f, j) => (values[f] = vals[i * fields.length + j]!));
    rows.push({ step: s, values });
  }
  return { fields, rows };
}

// ---------------------------------------------------------------------------------------------
// Between sessions and live trainers

/** A session from a trainer checkpoint and the packs it was taken from. */
export function sessionFromCheckpoint(
  c: TrainerState,
  packs: readonly ParamPack[],
  info: { config: SessionConfig; base: BaseRef; metrics: MetricHistory; extra?: Record<string, string> },
): Session {
  return {
    config: info.config,
    base: info.base,
    step: c.step,
    packs: packs.map((p, i) => ({
      name: p.name,
      params: p.params.map((r) => ({ name: r.name, shape: [...r.shape], data: c.params[i]!.get(r.name)! })),
      m: c.optimizer.m[i]!,
      v: c.optimizer.v[i]!,
    })),
    metrics: info.metrics,
    extra: info.extra ?? {},
  };
}

/**
 * The trainer checkpoint a session holds, checked against the live packs: the same packs (by
 * name, in order), each with exactly the same parameters and shapes, moments of the pack's
 * length. Throws SessionFileError('mismatch') listing every difference by name.
 */
export function checkpointFromSession(s: Session, packs: readonly ParamPack[]): TrainerState {
  const problems: string[] = [];
  if (s.packs.length !== packs.length || s.packs.some((p, i) => p.name !== packs[i]!.name)) {
    problems.push(`the session has packs [${s.packs.map((p) => p.name).join(', ')}], this model has [${packs.map((p) => p.name).join(', ')}]`);
  } else {
    packs.forEach((pack, i) => {
      const sp = s.packs[i]!;
      const byName = new Map(sp.params.map((t) => [t.name, t]));
      for (const r of pack.params) {
        const t = byName.get(r.name);
        if (!t) problems.push(`missing tensor '${pack.name}/${r.name}' (the model needs shape [${r.shape}])`);
        else if (t.shape.length !== r.shape.length || t.shape.some((d, j) => d !== r.shape[j])) problems.push(`tensor '${pack.name}/${r.name}' has shape [${t.shape}], the model needs [${r.shape}]`);
        byName.delete(r.name);
      }
      for (const name of byName.keys()) problems.push(`unexpected tensor '${pack.name}/${name}' (the model has no such parameter)`);
      if (sp.m.length !== pack.length) problems.push(`pack '${pack.name}': AdamW moments have ${sp.m.length} values, this model's pack has ${pack.length}`);
    });
  }
  if (problems.length) throw new SessionFileError('mismatch', `the session does not fit this model:\n  ${problems.join('\n  ')}`);
  return {
    step: s.step,
    params: s.packs.map((p) => new Map(p.params.map((t) => [t.name, t.data]))),
    optimizer: { m: s.packs.map((p) => p.m), v: s.packs.map((p) => p.v) },
  };
}
