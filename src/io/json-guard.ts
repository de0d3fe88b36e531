/**
 * JSON from untrusted files (session and adapter files, their metadata strings): bounded size and
 * nesting depth checked before JSON.parse, so deep input can never blow the stack of whatever
 * walks the result (valibot, our own checks), and `__proto__` keys are rejected outright —
 * JSON.parse makes them plain own keys, but any later `{...spread}` or `Object.assign` would turn
 * them into a prototype change.
 */

export class JsonGuardError extends Error {
  constructor(readonly where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = 'JsonGuardError';
  }
}

export interface JsonGuardOptions {
  /** Characters (default 1,000,000). */
  maxLength?: number;
  /** Nesting depth of arrays/objects (default 16). */
  maxDepth?: number;
}

/** Nesting depth of a JSON text (strings skipped), stopping early once `limit` is passed. */
function depthOf(text: string, limit: number): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > max) max = depth;
      if (max > limit) return max;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

function rejectProtoKeys(v: unknown, where: string): void {
  if (typeof v !== 'object' || v === null) return;
  if (Array.isArray(v)) {
    for (const x of v) rejectProtoKeys(x, where);
    return;
  }
  for (const k of Object.keys(v)) {
    if (k === '__proto__' || k === 'constructor' || k === 'prototype') throw new JsonGuardError(where, `the key ${JSON.stringify(k)} is not allowed`);
    rejectProtoKeys((v as Record<string, unknown>)[k], where);
  }
}

/** Parses `text` (from `where`, named in errors) or throws JsonGuardError; never anything else. */
export function parseGuardedJson(text: unknown, where: string, opts: JsonGuardOptions = {}): unknown {
  const maxLength = opts.maxLength ?? 1_000_000;
  const maxDepth = opts.maxDepth ?? 16;
  if (typeof text !== 'string') throw new JsonGuardError(where, `expected JSON text, got ${text === null ? 'null' : typeof text}`);
  if (text.length > maxLength) throw new JsonGuardError(where, `is ${text.length} characters long; at most ${maxLength} are accepted`);
  if (depthOf(text, maxDepth) > maxDepth) throw new JsonGuardError(where, `nests deeper than ${maxDepth} levels`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const why = (e instanceof Error ? e.message : String(e)).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').slice(0, 160);
    throw new JsonGuardError(where, `is not valid JSON (${why})`);
  }
  rejectProtoKeys(value, where);
  return value;
}

export function isPlainRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
