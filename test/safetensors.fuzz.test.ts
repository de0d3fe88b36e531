/**
 * Property tests for the safetensors reader/writer.
 *
 * Default: 12,000 inputs in total (about 1-2 s). For a longer run:
 *   FUZZ_RUNS=200000 npx vitest run test/safetensors.fuzz.test.ts
 * and FUZZ_SEED=<n> replays a particular seed (fast-check prints the seed and path on failure).
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DTYPE_SIZES,
  parseSafetensors,
  SafetensorsError,
  serializeSafetensors,
  toFloat32,
  type Dtype,
  type SafetensorsErrorCode,
  type SafetensorsFile,
  type TensorInput,
} from '../src/io/safetensors';

const TOTAL_RUNS = Math.max(4, Number(process.env.FUZZ_RUNS ?? 12_000));
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const share = (fraction: number) => Math.max(1, Math.round(TOTAL_RUNS * fraction));
const params = (fraction: number) => ({ numRuns: share(fraction), ...(SEED === undefined ? {} : { seed: SEED }) });

const CODES = new Set<SafetensorsErrorCode>([
  'truncated', 'header-too-large', 'bad-utf8', 'bad-json', 'duplicate', 'bad-metadata', 'bad-entry',
  'bad-name', 'bad-dtype', 'bad-shape', 'overflow', 'bad-offsets', 'size-mismatch', 'overlap', 'hole', 'trailing-bytes',
]);
const DTYPES = Object.keys(DTYPE_SIZES) as Dtype[];
const enc = new TextEncoder();

const tried = { total: 0, accepted: 0, rejected: 0, maxMs: 0 };
const byCode = new Map<string, number>();
afterAll(() => {
  const codes = [...byCode].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c}=${n}`).join(' ');
  console.log(
    `safetensors fuzz: ${tried.total} inputs (${tried.accepted} accepted, ${tried.rejected} rejected; slowest ${tried.maxMs.toFixed(1)} ms)\n  ${codes}`,
  );
});

function noPollution(): void {
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(Object.keys(Object.prototype)).toEqual([]);
  expect(Object.keys(Array.prototype)).toEqual([]);
}

/** Independent re-check of every invariant a successfully parsed file must satisfy. */
function checkValid(bytes: Uint8Array, f: SafetensorsFile): void {
  const n = f.headerByteLength;
  expect(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true)).toBe(BigInt(n));
  expect(8 + n).toBeLessThanOrEqual(bytes.length);
  expect(Object.getPrototypeOf(f.metadata)).toBe(null);
  for (const v of Object.values(f.metadata)) expect(typeof v).toBe('string');
  const header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n))) as Record<string, { data_offsets: number[] }>;
  expect(Object.keys(header).filter((k) => k !== '__metadata__').sort()).toEqual([...f.tensors.keys()].sort());
  let cursor = 8 + n;
  for (const [name, t] of f.tensors) {
    expect(t.name).toBe(name);
    expect(DTYPES).toContain(t.dtype);
    for (const d of t.shape) expect(Number.isSafeInteger(d) && d >= 0).toBe(true);
    expect(BigInt(t.byteLength)).toBe(t.shape.reduce((a, d) => a * BigInt(d), BigInt(DTYPE_SIZES[t.dtype])));
    expect(t.byteOffset).toBe(cursor); // contiguous, in file order, no holes or overlaps
    expect(t.byteOffset).toBe(8 + n + header[name]!.data_offsets[0]!);
    expect(t.data.buffer).toBe(bytes.buffer);
    expect(t.data.byteOffset).toBe(bytes.byteOffset + t.byteOffset);
    expect(t.data.byteLength).toBe(t.byteLength);
    expect(toFloat32(t).length * DTYPE_SIZES[t.dtype]).toBe(t.byteLength);
    cursor += t.byteLength;
  }
  expect(cursor).toBe(bytes.length);
  // What was accepted can be written back and reads the same.
  const again = parseSafetensors(
    serializeSafetensors([...f.tensors.values()].map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: t.data })), f.metadata),
  );
  expect({ ...again.metadata }).toEqual({ ...f.metadata });
  for (const [name, t] of f.tensors) {
    const u = again.tensors.get(name)!;
    expect([u.dtype, u.shape, u.data]).toEqual([t.dtype, t.shape, t.data]);
  }
}

/** Parse arbitrary bytes: success must be fully valid, failure must be a SafetensorsError. */
function parseOrReject(bytes: Uint8Array): void {
  tried.total++;
  const t0 = performance.now();
  let f: SafetensorsFile | undefined;
  try {
    f = parseSafetensors(bytes);
  } catch (e) {
    if (!(e instanceof SafetensorsError)) throw new Error(`non-SafetensorsError escaped: ${String(e)}`);
    expect(CODES.has(e.code)).toBe(true);
    expect(e.message.length).toBeGreaterThan(0);
    expect(e.message).not.toContain('\n');
    tried.rejected++;
    byCode.set(e.code, (byCode.get(e.code) ?? 0) + 1);
  }
  const ms = performance.now() - t0;
  tried.maxMs = Math.max(tried.maxMs, ms);
  expect(ms).toBeLessThan(2000); // every input is small; anything slow is a runaway loop
  if (f) {
    tried.accepted++;
    byCode.set('ok', (byCode.get('ok') ?? 0) + 1);
    checkValid(bytes, f);
  }
  noPollution();
}

// ------------------------------------------------------------------------------------------
// Generators

const nameArb = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '', 'w', 'a.b', '__metadata'),
  fc.string({ maxLength: 6 }),
  fc.string({ unit: 'binary', maxLength: 4 }),
);

const shapeArb = fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 });

/** A valid tensor: typed arrays for the writer's native dtypes, raw bytes for the rest. */
const tensorArb: fc.Arbitrary<TensorInput> = fc
  .record({ name: nameArb, dtype: fc.constantFrom(...DTYPES), shape: shapeArb })
  .chain(({ name, dtype, shape }) => {
    const count = shape.reduce((a, b) => a * b, 1);
    return fc.uint8Array({ minLength: count * DTYPE_SIZES[dtype], maxLength: count * DTYPE_SIZES[dtype] }).map((raw): TensorInput => {
      const copy = raw.slice().buffer;
      if (dtype === 'F32') return { name, shape, data: new Float32Array(copy) };
      if (dtype === 'I32') return { name, shape, data: new Int32Array(copy) };
      if (dtype === 'I64') return { name, shape, data: new BigInt64Array(copy) };
      return { name, dtype, shape, data: raw };
    });
  });

const metadataArb = fc
  .array(fc.tuple(nameArb, fc.string({ unit: 'binary', maxLength: 8 })), { maxLength: 4 })
  .map((pairs) => Object.fromEntries(pairs) as Record<string, string>); // fromEntries: "__proto__" stays an own key

const fileArb = fc
  .tuple(fc.uniqueArray(tensorArb, { selector: (t) => t.name, maxLength: 5 }), metadataArb)
  .map(([tensors, metadata]) => ({ tensors, metadata, bytes: serializeSafetensors(tensors, metadata) }));

const INTERESTING_BYTES = [...'{}[]":,\\ 0-e.'].map((c) => c.charCodeAt(0)).concat([0x00, 0x80, 0xc0, 0xed, 0xef, 0xff]);

type ByteMutation =
  | { kind: 'flip'; pos: number; xor: number }
  | { kind: 'set'; pos: number; byte: number }
  | { kind: 'truncate'; pos: number }
  | { kind: 'insert'; pos: number; bytes: Uint8Array }
  | { kind: 'delete'; pos: number; len: number }
  | { kind: 'length'; value: bigint }
  | { kind: 'lengthDelta'; delta: number };

const byteMutationArb: fc.Arbitrary<ByteMutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), pos: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('set' as const), pos: fc.nat(), byte: fc.constantFrom(...INTERESTING_BYTES) }),
  fc.record({ kind: fc.constant('truncate' as const), pos: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), pos: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 8 }) }),
  fc.record({
    kind: fc.constant('length' as const),
    value: fc.oneof(fc.bigInt(0n, 2n ** 64n - 1n), fc.constantFrom(0n, 1n, 2n ** 63n, 2n ** 64n - 1n, 100_000_000n, 100_000_001n, 2n ** 32n)),
  }),
  fc.record({ kind: fc.constant('lengthDelta' as const), delta: fc.integer({ min: -16, max: 16 }) }),
);

function applyByteMutation(src: Uint8Array, m: ByteMutation): Uint8Array {
  const at = (pos: number, len: number) => (len === 0 ? 0 : pos % len);
  switch (m.kind) {
    case 'flip':
    case 'set': {
      if (src.length === 0) return src;
      const out = src.slice();
      const i = at(m.pos, out.length);
      out[i] = m.kind === 'flip' ? out[i]! ^ m.xor : m.byte;
      return out;
    }
    case 'truncate':
      return src.slice(0, at(m.pos, src.length + 1));
    case 'insert': {
      const i = at(m.pos, src.length + 1);
      return Uint8Array.from([...src.subarray(0, i), ...m.bytes, ...src.subarray(i)]);
    }
    case 'delete': {
      const i = at(m.pos, src.length + 1);
      return Uint8Array.from([...src.subarray(0, i), ...src.subarray(i + m.len)]);
    }
    case 'length':
    case 'lengthDelta': {
      if (src.length < 8) return src;
      const out = src.slice();
      const dv = new DataView(out.buffer);
      const v = m.kind === 'length' ? m.value : BigInt.asUintN(64, dv.getBigUint64(0, true) + BigInt(m.delta));
      dv.setBigUint64(0, v, true);
      return out;
    }
  }
}

/** JSON fragments (as text, so they can say things JSON.stringify cannot: 1e400, lone surrogates, deep nesting). */
const jsonNumberText = fc.oneof(
  fc.integer({ min: -3, max: 300 }).map(String),
  fc.constantFrom('-0', '0.0', '1.5', '1e2', '1e400', '-1e400', '9007199254740992', '9007199254740993', '18446744073709551615', '18446744073709551616', '4294967296'),
);
/** Shapes whose element count is near or past u64, to reach the overflow check. */
const bigShapeText = fc
  .array(fc.constantFrom('0', '1', '2', '65536', '2147483648', '4294967296', '4503599627370496', '9007199254740991'), { minLength: 1, maxLength: 5 })
  .map((xs) => `[${xs.join(',')}]`);
const deepText = fc.constantFrom(3, 127, 128, 129, 3000).map((d) => '['.repeat(d) + ']'.repeat(d));
const jsonLeafText = fc.oneof(
  jsonNumberText,
  fc.constantFrom('null', 'true', 'false', '"F32"', '"U8"', '"F31"', '"toString"', '"__proto__"', '"\\ud800"', '"\\u0000"', '{}', '[]'),
  fc.constantFrom(...DTYPES).map((d) => JSON.stringify(d)),
  fc.string({ unit: 'binary', maxLength: 6 }).map((s) => JSON.stringify(s)),
  deepText,
);
const jsonValueText: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: jsonLeafText },
  { weight: 2, arbitrary: fc.array(jsonNumberText, { maxLength: 4 }).map((xs) => `[${xs.join(',')}]`) },
  { weight: 1, arbitrary: fc.array(jsonLeafText, { maxLength: 3 }).map((xs) => `[${xs.join(',')}]`) },
  { weight: 1, arbitrary: bigShapeText },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.tuple(nameArb, jsonLeafText), { maxLength: 3 })
      .map((kv) => `{${kv.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`),
  },
);

type Pair = [key: string, valueText: string];
type JsonMutation =
  | { kind: 'field'; tensor: number; field: string; value: string }
  | { kind: 'dropField'; tensor: number; field: string }
  | { kind: 'shiftOffsets'; tensor: number; db: number; de: number } // de === db moves a tensor without resizing it
  | { kind: 'dupKey'; tensor: number }
  | { kind: 'addKey'; key: string; value: string }
  | { kind: 'metadata'; value: string }
  | { kind: 'dropTensor'; tensor: number };

const fieldArb = fc.constantFrom('dtype', 'shape', 'data_offsets', '__proto__', 'constructor', 'extra');
const jsonMutationArb: fc.Arbitrary<JsonMutation> = fc.oneof(
  fc.record({ kind: fc.constant('field' as const), tensor: fc.nat(), field: fieldArb, value: jsonValueText }),
  fc.record({ kind: fc.constant('dropField' as const), tensor: fc.nat(), field: fieldArb }),
  fc.record({ kind: fc.constant('shiftOffsets' as const), tensor: fc.nat(), db: fc.integer({ min: -9, max: 9 }), de: fc.integer({ min: -9, max: 9 }) }),
  fc.integer({ min: -16, max: 16 }).chain((d) => fc.record({ kind: fc.constant('shiftOffsets' as const), tensor: fc.nat(), db: fc.constant(d), de: fc.constant(d) })),
  fc.record({ kind: fc.constant('dupKey' as const), tensor: fc.nat() }),
  fc.record({
    kind: fc.constant('addKey' as const),
    key: fc.oneof(fc.constantFrom('__proto__', 'constructor', '__metadata__', 'prototype'), nameArb),
    value: fc.oneof(jsonValueText, fc.constant('{"polluted":"yes"}'), fc.constant('{"dtype":"U8","shape":[0],"data_offsets":[0,0]}')),
  }),
  fc.record({
    kind: fc.constant('metadata' as const),
    value: fc.oneof(jsonValueText, fc.constant('{"__proto__":{"polluted":"yes"}}'), fc.constant('{"__proto__":"x","constructor":"y"}')),
  }),
  fc.record({ kind: fc.constant('dropTensor' as const), tensor: fc.nat() }),
);

/** Fragments are meant to be JSON text, but the harness itself must never be what throws. */
function tryJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Header as ordered [key, value-text] pairs; entry objects as ordered field pairs. */
function headerPairs(bytes: Uint8Array): { meta?: string; tensors: [string, Pair[]][] } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const h = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, Record<string, unknown>>;
  const tensors: [string, Pair[]][] = [];
  let meta: string | undefined;
  for (const k of Object.keys(h)) {
    if (k === '__metadata__') meta = JSON.stringify(h[k]);
    else tensors.push([k, Object.keys(h[k]!).map((f) => [f, JSON.stringify(h[k]![f])] as Pair)]);
  }
  return { meta, tensors };
}

/**
 * Rebuild the file from mutated header pairs. `data`: a number grows/shrinks the data section by
 * that many bytes; 'fit' sizes it to the largest data_offsets end in the header, so moved or
 * resized tensors get past the end-of-file check and reach the overlap/hole checks.
 */
function applyJsonMutations(bytes: Uint8Array, ms: JsonMutation[], pad: number, data: number | 'fit', lengthDelta: number): Uint8Array {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const { meta: meta0, tensors } = headerPairs(bytes);
  let meta = meta0;
  const extra: Pair[] = [];
  for (const m of ms) {
    const t = tensors.length === 0 ? undefined : tensors[('tensor' in m ? m.tensor : 0) % tensors.length];
    switch (m.kind) {
      case 'field':
        if (t) {
          const i = t[1].findIndex(([k]) => k === m.field);
          if (i >= 0) t[1][i] = [m.field, m.value];
          else t[1].push([m.field, m.value]);
        }
        break;
      case 'dropField':
        if (t) t[1] = t[1].filter(([k]) => k !== m.field);
        break;
      case 'shiftOffsets':
        if (t) {
          const i = t[1].findIndex(([k]) => k === 'data_offsets');
          const offs = i >= 0 ? tryJson(t[1][i]![1]) : undefined;
          if (Array.isArray(offs) && offs.length === 2 && Number.isFinite(offs[0]) && Number.isFinite(offs[1])) {
            t[1][i] = ['data_offsets', `[${offs[0] + m.db},${offs[1] + m.de}]`];
          }
        }
        break;
      case 'dupKey':
        if (t) extra.push([t[0], `{${t[1].map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`]);
        break;
      case 'addKey':
        extra.push([m.key, m.value]);
        break;
      case 'metadata':
        meta = m.value;
        break;
      case 'dropTensor':
        if (t) tensors.splice(tensors.indexOf(t), 1);
        break;
    }
  }
  const pairs: Pair[] = [
    ...(meta === undefined ? [] : [['__metadata__', meta] as Pair]),
    ...tensors.map(([k, fields]): Pair => [k, `{${fields.map(([f, v]) => `${JSON.stringify(f)}:${v}`).join(',')}}`]),
    ...extra,
  ];
  const header = enc.encode(`{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}${' '.repeat(pad)}`);
  const oldData = bytes.subarray(8 + n);
  let dataLen = Math.max(0, oldData.length + (data === 'fit' ? 0 : data));
  if (data === 'fit') {
    const ends = tensors.flatMap(([, fields]) =>
      fields.filter(([f]) => f === 'data_offsets').map(([, v]) => {
        const offs = tryJson(v);
        return Array.isArray(offs) ? (offs[1] as unknown) : undefined;
      }),
    );
    dataLen = Math.max(0, ...ends.filter((e): e is number => Number.isSafeInteger(e) && (e as number) <= 4096));
  }
  const out = new Uint8Array(8 + header.length + dataLen);
  new DataView(out.buffer).setBigUint64(0, BigInt(Math.max(0, header.length + lengthDelta)), true);
  out.set(header, 8);
  out.set(oldData.subarray(0, dataLen), 8 + header.length);
  return out;
}

// ------------------------------------------------------------------------------------------
// Properties

describe(`safetensors fuzz (${TOTAL_RUNS} inputs${SEED === undefined ? '' : `, seed ${SEED}`})`, () => {
  it('(a) every serialized file round-trips bit-exactly', () => {
    fc.assert(
      fc.property(fileArb, ({ tensors, metadata, bytes }) => {
        tried.total++;
        tried.accepted++;
        const f = parseSafetensors(bytes);
        checkValid(bytes, f);
        expect({ ...f.metadata }).toEqual({ ...metadata });
        expect(f.tensors.size).toBe(tensors.length);
        for (const t of tensors) {
          const e = f.tensors.get(t.name)!;
          expect(e.shape).toEqual(t.shape);
          expect(e.data).toEqual(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
        }
        noPollution();
      }),
      params(0.2),
    );
  });

  it('(b) byte-level mutations of valid files parse validly or throw SafetensorsError', () => {
    fc.assert(
      fc.property(fileArb, fc.array(byteMutationArb, { minLength: 1, maxLength: 4 }), ({ bytes }, ms) => {
        parseOrReject(ms.reduce(applyByteMutation, bytes));
      }),
      params(0.35),
    );
  });

  it('(c) JSON-level mutations (offsets, shapes, dtypes, __proto__, duplicates, huge numbers, nesting) are handled', () => {
    fc.assert(
      fc.property(
        fileArb,
        fc.array(jsonMutationArb, { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 0, max: 8 }),
        fc.oneof(
          { weight: 3, arbitrary: fc.constant(0) },
          { weight: 2, arbitrary: fc.constant('fit' as const) },
          { weight: 1, arbitrary: fc.integer({ min: -8, max: 8 }) },
        ),
        fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -4, max: 4 }) }),
        ({ bytes }, ms, pad, data, lengthDelta) => {
          parseOrReject(applyJsonMutations(bytes, ms, pad, data, lengthDelta));
        },
      ),
      params(0.35),
    );
  });

  it('(d) arbitrary JSON headers and random bytes are handled', () => {
    const header = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null'),
      fc.array(fc.tuple(nameArb, jsonValueText), { maxLength: 4 }).map((kv) => `{${kv.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`),
    );
    const input = fc.oneof(
      fc.tuple(header, fc.integer({ min: 0, max: 64 })).map(([h, dataLen]) => {
        const hb = enc.encode(h);
        const out = new Uint8Array(8 + hb.length + dataLen);
        new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
        out.set(hb, 8);
        return out;
      }),
      fc.uint8Array({ maxLength: 64 }),
    );
    fc.assert(fc.property(input, parseOrReject), params(0.1));
  });

  it('counted at least the configured number of inputs', () => {
    expect(tried.total).toBeGreaterThanOrEqual(share(0.2) + share(0.35) + share(0.35) + share(0.1));
    expect(tried.accepted).toBeGreaterThan(0);
    expect(tried.rejected).toBeGreaterThan(0);
  });
});
