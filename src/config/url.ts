/**
 * The whole configuration in the URL hash, readable like TensorFlow Playground's:
 *   #task=digits&adapter.kind=stan&adapter.stan.k=8&tasks.digits.view=flip&training.seed=3
 * Only fields that differ from the defaults are written. Reading applies the pairs onto the
 * defaults (types follow the defaults: numbers, strings, comma-separated lists — split only at
 * commas outside {…}, since site patterns such as blocks.{0,1}.attn.q_proj hold commas), then the schema
 * validates the result. Anything wrong → the defaults plus a list of what was wrong, never a throw.
 */
import { defaultConfig } from './defaults';
import { parseConfig, type ConfigIssue, type PlaygroundConfig } from './schema';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function flatten(obj: Json, prefix: string, out: Map<string, Json>): void {
  if (obj !== null && typeof obj === 'object' && !Array.isArray(obj)) {
    for (const [k, val] of Object.entries(obj)) flatten(val, prefix ? `${prefix}.${k}` : k, out);
  } else out.set(prefix, obj);
}

/** A list field's items: the text split at commas outside {…} (inverse of join(',') for valid site patterns). */
export function splitList(raw: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === '{') depth++;
    else if (c === '}') depth = Math.max(0, depth - 1);
    else if (c === ',' && depth === 0) {
      out.push(raw.slice(start, i));
      start = i + 1;
    }
  }
  out.push(raw.slice(start));
  return out;
}

function encodeValue(x: Json): string {
  return Array.isArray(x) ? x.map(String).join(',') : String(x);
}

export function configToHash(config: PlaygroundConfig, defaults: PlaygroundConfig = defaultConfig()): string {
  const cur = new Map<string, Json>();
  const def = new Map<string, Json>();
  flatten(config as unknown as Json, '', cur);
  flatten(defaults as unknown as Json, '', def);
  const parts: string[] = [];
  for (const [k, val] of cur) {
    if (k === 'version') continue;
    if (encodeValue(val) === encodeValue(def.get(k) ?? null)) continue;
    parts.push(`${k}=${encodeURIComponent(encodeValue(val))}`);
  }
  return parts.length ? `#${parts.join('&')}` : '';
}

export interface HashResult {
  config: PlaygroundConfig;
  /** Empty when the hash was valid (or absent). */
  issues: ConfigIssue[];
}

const MAX_HASH_LENGTH = 8192;

export function configFromHash(hash: string, defaults: PlaygroundConfig = defaultConfig()): HashResult {
  const text = hash.startsWith('#') ? hash.slice(1) : hash;
  if (text === '') return { config: defaults, issues: [] };
  if (text.length > MAX_HASH_LENGTH) return { config: defaults, issues: [{ field: '(url)', message: `the link's settings are ${text.length} characters long; at most ${MAX_HASH_LENGTH} are read` }] };
  const def = new Map<string, Json>();
  flatten(defaults as unknown as Json, '', def);
  const issues: ConfigIssue[] = [];
  // Plain object tree rebuilt from the defaults; keys only ever come from the defaults' own keys.
  const tree = JSON.parse(JSON.stringify(defaults)) as Record<string, Json>;
  for (const pair of text.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    let key: string;
    let raw: string;
    try {
      key = decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq));
      raw = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1));
    } catch {
      issues.push({ field: '(url)', message: `'${pair.slice(0, 40)}' is not valid URL encoding` });
      continue;
    }
    if (!def.has(key) || key === 'version') {
      issues.push({ field: key.slice(0, 80), message: `unknown setting '${key.slice(0, 80)}'` });
      continue;
    }
    const like = def.get(key)!;
    let value: Json;
    if (typeof like === 'number') {
      value = raw.trim() === '' ? NaN : Number(raw);
      if (!Number.isFinite(value)) {
        issues.push({ field: key, message: `${key} must be a number, got '${raw.slice(0, 40)}'` });
        continue;
      }
    } else if (typeof like === 'boolean') {
      if (raw !== 'true' && raw !== 'false') {
        issues.push({ field: key, message: `${key} must be true or false` });
        continue;
      }
      value = raw === 'true';
    } else if (Array.isArray(like)) value = raw === '' ? [] : splitList(raw);
    else value = raw;
    const path = key.split('.');
    let node = tree as Record<string, Json>;
    for (const seg of path.slice(0, -1)) node = node[seg] as Record<string, Json>;
    node[path[path.length - 1]!] = value;
  }
  const parsed = parseConfig(tree);
  if (!parsed.ok) issues.push(...parsed.issues);
  if (issues.length) return { config: defaults, issues };
  return { config: parsed.ok ? parsed.config : defaults, issues };
}
