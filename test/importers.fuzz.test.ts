/**
 * Fuzzing the importers that take files and links from other people: the session-file decoder
 * (through decodeSessionCheckpoint, what the page's import and resume use),
 * the adapter-file decoder, and the URL-hash / config parser. Random and mutated inputs —
 * truncations, flipped bytes, huge lengths, overlapping offsets, wrong dtypes, `__proto__` keys,
 * deep JSON, wrong types in every metadata field — must give either a fully valid result or the
 * importer's typed error: never another exception, a hang or a polluted prototype.
 *
 * CI: 10,000 inputs per parser (FUZZ_RUNS; counts printed at the end). Longer runs:
 *   npm run fuzz -- --runs 1000000        (all fuzz files; see scripts/fuzz.mjs)
 * FUZZ_SEED=<n> replays a seed that fast-check printed on a failure.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../src/config/defaults';
import { checkPlaygroundConfig } from '../src/persistence/session-checkpoint';
import { adapterFileFormats } from '../src/adapters/registry';

const DEFAULT_CONFIG = defaultConfig();
import { parseConfig, type PlaygroundConfig } from '../src/config/schema';
import { configFromHash, configToHash } from '../src/config/url';
import { AdapterFileError, decodeAdapter, encodeAdapter } from '../src/io/adapter-file';
import { DTYPE_SIZES, parseSafetensors, type Dtype } from '../src/io/safetensors';
import { decodeSessionCheckpoint } from '../src/persistence/session-checkpoint';
import { decodeSession, encodeSession, SessionFileError, type Session } from '../src/io/session-file';

const RUNS = Math.max(10, Number(process.env.FUZZ_RUNS ?? 10_000));
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
/** fast-check options for `fraction` of this parser's runs. */
const runs = (fraction: number) => ({ numRuns: Math.max(1, Math.round(RUNS * fraction)), ...(SEED === undefined ? {} : { seed: SEED }) });

type Stats = { total: number; accepted: number; rejected: number; crashes: number; maxMs: number; codes: Map<string, number> };
const stats = new Map<string, Stats>();
function stat(parser: string): Stats {
  let s = stats.get(parser);
  if (!s) stats.set(parser, (s = { total: 0, accepted: 0, rejected: 0, crashes: 0, maxMs: 0, codes: new Map() }));
  return s;
}
afterAll(() => {
  for (const [parser, s] of stats) {
    const codes = [...s.codes].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c}=${n}`).join(' ');
    console.log(`${parser} fuzz: ${s.total} inputs (${s.accepted} returned, ${s.rejected} typed errors, ${s.crashes} crashes; slowest ${s.maxMs.toFixed(1)} ms)\n  ${codes}`);
  }
});

function noPollution(): void {
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(Object.keys(Object.prototype)).toEqual([]);
  expect(Object.keys(Array.prototype)).toEqual([]);
  expect(Object.getPrototypeOf({})).toBe(Object.prototype);
}

/** Runs `f`; a result goes to `check` (which may return a label to count it under), an error must be `Typed` (its code counted). */
function fuzzOne<T>(parser: string, Typed: new (...a: never[]) => Error & { code: string }, f: () => T, check: (v: T) => string | void): void {
  const s = stat(parser);
  s.total++;
  const t0 = performance.now();
  let out: { v: T } | null = null;
  try {
    out = { v: f() };
  } catch (e) {
    if (!(e instanceof Typed)) s.crashes++;
    if (!(e instanceof Typed)) throw new Error(`${parser}: ${String(e)} escaped (expected a ${Typed.name})`);
    expect(e.message.length).toBeGreaterThan(0);
    s.rejected++;
    s.codes.set(e.code, (s.codes.get(e.code) ?? 0) + 1);
  }
  const ms = performance.now() - t0;
  s.maxMs = Math.max(s.maxMs, ms);
  expect(ms).toBeLessThan(2000); // inputs are small: anything slow is a runaway
  if (out) {
    s.accepted++;
    const label = check(out.v) ?? 'ok';
    s.codes.set(label, (s.codes.get(label) ?? 0) + 1);
  }
  noPollution();
}

// ---------------------------------------------------------------------------------------------
// Shared mutation machinery: a valid file, its header as JSON, and ways to break both.

const enc = new TextEncoder();
const DTYPES = [...(Object.keys(DTYPE_SIZES) as Dtype[]), 'F4', 'f32', '', 'F32 '];

/** Nasty JSON texts for metadata values. */
const nastyJson = fc.oneof(
  fc.constant('['.repeat(20_000) + ']'.repeat(20_000)),
  fc.constant('{"a":'.repeat(3000) + '1' + '}'.repeat(3000)),
  fc.constant('{"__proto__":{"polluted":1}}'),
  fc.constant('{"constructor":{"prototype":{"polluted":1}}}'),
  fc.constant('[{"name":"__proto__","params":[]}]'),
  fc.constant('[{"name":"p","params":["__proto__"]}]'),
  fc.constant('["__proto__"]'),
  fc.constant('{"id":"x","hash":"none","__proto__":1}'),
  fc.constant('1e999'),
  fc.constant('"\\ud800"'),
  fc.constant(''),
  fc.integer().map(String),
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 12 }),
);

/** Rebuilds a file from a parsed header object and raw data (length prefix fixed up). */
function rebuild(header: unknown, data: Uint8Array, pad = 0): Uint8Array {
  const json = enc.encode(JSON.stringify(header) + ' '.repeat(pad));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function headerOf(bytes: Uint8Array): { header: Record<string, Record<string, unknown>>; data: Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, Record<string, unknown>>, data: bytes.subarray(8 + n) };
}

type Mutation = (bytes: Uint8Array) => Uint8Array;

/** Byte-level and header-level mutations of a valid file. */
function mutationArb(metaKeys: readonly string[]): fc.Arbitrary<Mutation[]> {
  const m = fc.oneof(
    // truncate / extend
    fc.nat().map((k): Mutation => (b) => b.subarray(0, k % (b.length + 1))),
    fc.uint8Array({ minLength: 1, maxLength: 16 }).map((extra): Mutation => (b) => Uint8Array.from([...b, ...extra])),
    // flip bytes anywhere, or in the length prefix (huge header lengths)
    fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })).map(([i, v]): Mutation => (b) => {
      const c = b.slice();
      if (c.length) c[i % c.length] = v;
      return c;
    }),
    fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((n): Mutation => (b) => {
      const c = b.slice();
      if (c.length >= 8) new DataView(c.buffer).setBigUint64(0, n, true);
      return c;
    }),
    // header surgery: metadata values, tensor entries, offsets, dtypes, shapes, names
    fc.tuple(fc.constantFrom(...metaKeys, '__proto__', 'extra', 'evil'), nastyJson).map(([k, v]): Mutation => (b) => {
      const { header, data } = headerOf(b);
      const meta = { ...(header.__metadata__ ?? {}) };
      Object.defineProperty(meta, k, { value: v, enumerable: true, configurable: true, writable: true });
      return rebuild({ ...header, __metadata__: meta }, data);
    }),
    fc.tuple(fc.nat(), fc.constantFrom(...DTYPES)).map(([i, dtype]): Mutation => (b) => {
      const { header, data } = headerOf(b);
      const names = Object.keys(header).filter((k) => k !== '__metadata__');
      if (names.length) header[names[i % names.length]!]!.dtype = dtype;
      return rebuild(header, data);
    }),
    fc.tuple(fc.nat(), fc.array(fc.oneof(fc.nat({ max: 64 }), fc.constant(2 ** 53), fc.constant(-1), fc.constant(1.5)), { maxLength: 4 })).map(([i, shape]): Mutation => (b) => {
      const { header, data } = headerOf(b);
      const names = Object.keys(header).filter((k) => k !== '__metadata__');
      if (names.length) header[names[i % names.length]!]!.shape = shape;
      return rebuild(header, data);
    }),
    fc.tuple(fc.nat(), fc.oneof(fc.nat({ max: 4096 }), fc.constant(2 ** 53 + 2), fc.constant(-8)), fc.oneof(fc.nat({ max: 4096 }), fc.constant(1e300))).map(([i, a, d]): Mutation => (b) => {
      const { header, data } = headerOf(b);
      const names = Object.keys(header).filter((k) => k !== '__metadata__');
      if (names.length) header[names[i % names.length]!]!.data_offsets = [a, a + d]; // overlaps, holes, huge
      return rebuild(header, data);
    }),
    fc.tuple(fc.nat(), fc.constantFrom('__proto__', 'constructor', '', 'adapters/x', 'metrics/step', 'base_model.model.x')).map(([i, name]): Mutation => (b) => {
      const { header, data } = headerOf(b);
      const names = Object.keys(header).filter((k) => k !== '__metadata__');
      if (!names.length) return b;
      const old = names[i % names.length]!;
      const entry = header[old];
      const next: Record<string, unknown> = {};
      for (const k of Object.keys(header)) if (k !== old) next[k] = header[k];
      Object.defineProperty(next, name, { value: entry, enumerable: true, configurable: true, writable: true });
      return rebuild(next, data);
    }),
    fc.nat().map((i): Mutation => (b) => {
      const { header, data } = headerOf(b);
      const names = Object.keys(header).filter((k) => k !== '__metadata__');
      if (names.length) delete header[names[i % names.length]!];
      return rebuild(header, data);
    }),
  );
  return fc.array(m, { minLength: 1, maxLength: 3 });
}

/**
 * Mutations that keep the file valid safetensors (same byte sizes, same offsets), so they reach
 * the importer's own checks: metadata values, tensor names, same-size dtypes, reshapes.
 */
function gentleArb(metaKeys: readonly string[]): fc.Arbitrary<Mutation[]> {
  const bySize = new Map<number, string[]>();
  for (const [d, n] of Object.entries(DTYPE_SIZES)) bySize.set(n, [...(bySize.get(n) ?? []), d]);
  const tensorNames = (header: Record<string, unknown>) => Object.keys(header).filter((k) => k !== '__metadata__');
  const m = fc.oneof(
    fc.tuple(fc.constantFrom(...metaKeys, '__proto__', 'extra', 'evil'), fc.option(nastyJson)).map(([k, v]): Mutation => (b) => {
      const { header, data } = headerOf(b);
      const meta = { ...(header.__metadata__ ?? {}) };
      if (v === null) delete meta[k];
      else Object.defineProperty(meta, k, { value: v, enumerable: true, configurable: true, writable: true });
      return rebuild({ ...header, __metadata__: meta }, data);
    }),
    fc.tuple(fc.nat(), fc.nat()).map(([i, j]): Mutation => (b) => {
      const { header, data } = headerOf(b);
      const names = tensorNames(header);
      if (!names.length) return b;
      const t = header[names[i % names.length]!]!;
      const same = bySize.get(DTYPE_SIZES[t.dtype as Dtype])!;
      t.dtype = same[j % same.length];
      return rebuild(header, data);
    }),
    fc.tuple(fc.nat(), fc.constantFrom('flat', 'row', 'col', 'scalar')).map(([i, how]): Mutation => (b) => {
      const { header, data } = headerOf(b);
      const names = tensorNames(header);
      if (!names.length) return b;
      const t = header[names[i % names.length]!]!;
      const n = (t.shape as number[]).reduce((a, c) => a * c, 1);
      t.shape = how === 'flat' ? [n] : how === 'row' ? [1, n] : how === 'col' ? [n, 1] : n === 1 ? [] : [n];
      return rebuild(header, data);
    }),
    fc.tuple(fc.nat(), fc.constantFrom('__proto__', 'constructor', '', 'adapters/x', 'adapters/adamw.m', 'metrics/values', 'base_model.model.x', 'base_model.model.head.lora_B.weight', 'head/w')).map(([i, name]): Mutation => (b) => {
      const { header, data } = headerOf(b);
      const names = tensorNames(header);
      if (!names.length || Object.hasOwn(header, name)) return b;
      const old = names[i % names.length]!;
      const next: Record<string, unknown> = {};
      for (const k of Object.keys(header)) if (k !== old) next[k] = header[k];
      Object.defineProperty(next, name, { value: header[old], enumerable: true, configurable: true, writable: true });
      return rebuild(next, data);
    }),
  );
  return fc.array(m, { minLength: 1, maxLength: 3 });
}

function applyAll(bytes: Uint8Array, ms: Mutation[]): Uint8Array {
  let b = bytes;
  for (const m of ms) {
    try {
      b = m(b);
    } catch {
      // A mutation that needs a parseable header is skipped once an earlier one broke it.
    }
  }
  return b;
}

// ---------------------------------------------------------------------------------------------
// Sessions

const CONFIG: PlaygroundConfig = { ...DEFAULT_CONFIG, task: 'regression', adapter: { ...DEFAULT_CONFIG.adapter, kind: 'stan' } };

const paramNameArb = fc.stringMatching(/^[a-z][a-z0-9_.]{0,12}$/).filter((s) => !s.includes('..') && !['constructor', 'prototype'].includes(s));

const sessionArb: fc.Arbitrary<Session> = fc
  .record({
    packs: fc.uniqueArray(
      fc.record({
        name: fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/).filter((s) => s !== 'constructor' && s !== 'prototype'),
        params: fc.uniqueArray(fc.record({ name: paramNameArb, shape: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }) }), { selector: (p) => p.name, maxLength: 3 }),
        pad: fc.nat({ max: 4 }),
      }),
      { selector: (p) => p.name, maxLength: 2 },
    ),
    step: fc.nat({ max: 50 }),
    rowSteps: fc.uniqueArray(fc.nat({ max: 60 }), { maxLength: 5 }),
    value: fc.float(),
    extra: fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9]{0,5}$/).filter((s) => s !== 'constructor' && s !== 'prototype'), fc.string({ maxLength: 8 }), { maxKeys: 2 }),
  })
  .map(({ packs, step, rowSteps, value, extra }) => ({
    config: CONFIG,
    base: { id: 'seed:1', hash: `sha256:${'ab'.repeat(32)}` },
    step,
    packs: packs.map((p) => {
      const params = p.params.map((q) => ({ name: q.name, shape: q.shape, data: Float32Array.from({ length: q.shape.reduce((a, b) => a * b, 1) }, (_, i) => value + i) }));
      const len = params.reduce((a, q) => a + q.data.length, 0) + p.pad;
      return { name: p.name, params, m: new Float32Array(len).fill(value), v: new Float32Array(len).fill(Math.abs(value)) };
    }),
    metrics: { fields: ['loss', 'grad_norm'], rows: rowSteps.map((s) => ({ step: s, values: { loss: value, grad_norm: s } })) },
    extra: { ...extra },
  }));

function checkSession(s: Session): void {
  expect(parseConfig(s.config).ok).toBe(true);
  expect(Number.isSafeInteger(s.step) && s.step >= 0).toBe(true);
  for (const p of s.packs) {
    let total = 0;
    for (const t of p.params) {
      expect(t.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
      total += t.data.length;
    }
    expect(p.m.length).toBe(p.v.length);
    expect(p.m.length).toBeGreaterThanOrEqual(total);
  }
  for (const r of s.metrics.rows) expect(r.step).toBeLessThan(s.step);
  // What decoded encodes again, to a file that decodes the same.
  expect(decodeSession(encodeSession(s, checkPlaygroundConfig), checkPlaygroundConfig).packs.map((p) => p.name)).toEqual(s.packs.map((p) => p.name));
}

describe('session importer fuzz', () => {
  const valid = encodeSession({
    config: CONFIG,
    base: { id: 'seed:1', hash: 'none' },
    step: 9,
    packs: [
      { name: 'adapters', params: [{ name: 'a.stan_E.weight', shape: [2, 3], data: new Float32Array(6).fill(1) }, { name: 'a.stan_D.weight', shape: [3, 2], data: new Float32Array(6) }], m: new Float32Array(12), v: new Float32Array(12) },
      { name: 'head', params: [{ name: 'w', shape: [1], data: Float32Array.of(2) }], m: new Float32Array(4), v: new Float32Array(4) },
    ],
    metrics: { fields: ['loss', 'grad_norm', 'non_finite'], rows: [0, 4, 8].map((s) => ({ step: s, values: { loss: 1 / (s + 1), grad_norm: 1, non_finite: 0 } })) },
    extra: { mask: '1,1,0' },
  }, checkPlaygroundConfig);
  const metaKeys = Object.keys(parseSafetensors(valid).metadata);

  it('random sessions round-trip exactly', () => {
    fc.assert(
      fc.property(sessionArb, (s) => {
        fuzzOne('session', SessionFileError, () => decodeSession(encodeSession(s, checkPlaygroundConfig), checkPlaygroundConfig), (back) => {
          checkSession(back);
          expect(back.packs).toEqual(s.packs);
          expect(back.metrics.rows).toEqual(s.metrics.rows.filter((r) => r.step < s.step).sort((a, b) => a.step - b.step));
          expect(back.extra).toEqual(s.extra);
        });
      }),
      runs(0.15),
    );
  });

  it('mutated session files: a valid session or a SessionFileError', () => {
    fc.assert(
      fc.property(mutationArb(metaKeys), (ms) => fuzzOne('session', SessionFileError, () => decodeSessionCheckpoint(applyAll(valid, ms)).session, checkSession)),
      runs(0.4),
    );
  });

  it('mutations that stay valid safetensors reach the session checks', () => {
    fc.assert(
      fc.property(gentleArb(metaKeys), (ms) => fuzzOne('session', SessionFileError, () => decodeSessionCheckpoint(applyAll(valid, ms)).session, checkSession)),
      runs(0.35),
    );
  });

  it('random bytes: a SessionFileError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (b) => fuzzOne('session', SessionFileError, () => decodeSession(b, checkPlaygroundConfig), checkSession)),
      runs(0.1),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Adapters

const F = adapterFileFormats();

describe('adapter importer fuzz', () => {
  const files = encodeAdapter(
    { kind: 'lora', config: { rank: 2, alpha: 4 }, targets: ['blocks.0.attn.q_proj', 'head'], base: { id: 'seed:7', hash: 'none' } },
    [
      { name: 'blocks.0.attn.q_proj.lora_A.weight', shape: [2, 4], data: new Float32Array(8).fill(0.5) },
      { name: 'blocks.0.attn.q_proj.lora_B.weight', shape: [4, 2], data: new Float32Array(8).fill(-0.5) },
      { name: 'head.lora_A.weight', shape: [2, 4], data: new Float32Array(8) },
    ],
    F,
  );
  const check = (d: ReturnType<typeof decodeAdapter>) => {
    expect(F.map((f) => f.kind)).toContain(d.description.kind);
    for (const t of d.tensors) expect(t.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
  };

  it('mutated adapter files (the .safetensors alone, or with a mutated adapter_config.json)', () => {
    const cfgText = fc.oneof(
      fc.constant(files.config),
      nastyJson,
      fc.tuple(fc.constantFrom('peft_type', 'format', 'target_modules', 'adapter_config', 'r', 'lora_alpha', 'base_model_hash', '__proto__', 'x'), fc.jsonValue({ maxDepth: 3 })).map(([k, v]) => {
        const o = JSON.parse(files.config) as Record<string, unknown>;
        Object.defineProperty(o, k, { value: v, enumerable: true, configurable: true, writable: true });
        return JSON.stringify(o);
      }),
    );
    fc.assert(
      fc.property(mutationArb(['format', 'adapter_format', 'adapter_config']), fc.option(cfgText), (ms, text) =>
        fuzzOne('adapter', AdapterFileError, () => decodeAdapter(applyAll(files.model, ms), text ?? undefined, F), check),
      ),
      runs(0.45),
    );
  });

  it('mutations that stay valid safetensors reach the adapter checks', () => {
    fc.assert(
      fc.property(gentleArb(['format', 'adapter_format', 'adapter_config']), (ms) => fuzzOne('adapter', AdapterFileError, () => decodeAdapter(applyAll(files.model, ms), undefined, F), check)),
      runs(0.45),
    );
  });

  it('random bytes: an AdapterFileError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), fc.option(fc.string({ maxLength: 64 })), (b, text) => fuzzOne('adapter', AdapterFileError, () => decodeAdapter(b, text ?? undefined, F), check)),
      runs(0.1),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// URL hash and config (never throw: a config that validates, or the defaults plus issues)

class NeverThrown extends Error {
  code = 'never';
}

describe('URL/config parser fuzz', () => {
  const keys = ['task', 'adapter.kind', 'adapter.targets', 'adapter.stan.k', 'adapter.stan.expansion', 'adapter.atoms.k', 'adapter.atoms.atoms', 'adapter.lora.rank', 'training.lr', 'training.steps', 'training.warmup', 'training.seed', 'version', '__proto__', '__proto__.polluted', 'constructor.prototype.polluted', 'adapter.__proto__.polluted', 'adapter', 'training'];
  const valueArb = fc.oneof(fc.string({ maxLength: 10 }), fc.double().map(String), fc.integer().map(String), fc.constantFrom('', 'NaN', 'Infinity', '-0', '1e400', '%', '%E0%A4%A', 'stan', 'atoms', 'a,b', 'true', '0x10'));
  const hashArb = fc.oneof(
    fc.array(fc.tuple(fc.constantFrom(...keys), valueArb, fc.boolean()), { maxLength: 6 }).map((pairs) => `#${pairs.map(([k, v, raw]) => `${encodeURIComponent(k)}=${raw ? v : encodeURIComponent(v)}`).join('&')}`),
    fc.string({ maxLength: 80 }),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.constant(`#${'a=1&'.repeat(5000)}`),
  );
  const check = (r: ReturnType<typeof configFromHash>) => {
    expect(parseConfig(r.config).ok).toBe(true);
    if (r.issues.length) expect(r.config).toEqual(DEFAULT_CONFIG);
    for (const i of r.issues) expect(typeof i.message).toBe('string');
    return r.issues.length ? 'defaults+issues' : 'valid';
  };

  it('configFromHash: random and structured hashes', () => {
    fc.assert(
      fc.property(hashArb, (h) => fuzzOne('url', NeverThrown, () => configFromHash(h), check)),
      runs(0.7),
    );
  });

  it('parseConfig: random JSON, mutated defaults, deep nesting, __proto__ keys', () => {
    const mutated = fc.tuple(fc.constantFrom(...keys), fc.jsonValue({ maxDepth: 3 })).map(([k, v]) => {
      const o = JSON.parse(JSON.stringify(DEFAULT_CONFIG)) as Record<string, unknown>;
      const path = k.split('.');
      let node = o;
      for (const seg of path.slice(0, -1)) {
        const next = Object.hasOwn(node, seg) ? node[seg] : undefined;
        if (typeof next !== 'object' || next === null) return o;
        node = next as Record<string, unknown>;
      }
      Object.defineProperty(node, path[path.length - 1]!, { value: v, enumerable: true, configurable: true, writable: true });
      return o;
    });
    const input = fc.oneof(fc.jsonValue({ maxDepth: 4 }), mutated, fc.constant(JSON.parse('{"__proto__":{"polluted":1}}') as unknown), fc.constant(JSON.parse('['.repeat(5000) + ']'.repeat(5000)) as unknown));
    fc.assert(
      fc.property(input, (x) =>
        fuzzOne('url', NeverThrown, () => parseConfig(x), (r) => {
          if (r.ok) expect(configFromHash(configToHash(r.config)).config).toEqual(r.config);
          else expect(r.issues.length).toBeGreaterThan(0);
          return r.ok ? 'valid' : 'issues';
        }),
      ),
      runs(0.3),
    );
  });
});
