import { describe, expect, it } from 'vitest';
import {
  crc32,
  crc32Hex,
  f16BitsToF32Bits,
  parseSafetensors,
  SafetensorsError,
  serializeSafetensors,
  toBigInt64,
  toBigUint64,
  toFloat32,
  type Dtype,
  type SafetensorsErrorCode,
  type TensorInput,
} from '../src/io/safetensors';

const enc = new TextEncoder();

/** A file from raw header text; the length field defaults to the text's byte length. */
function rawFile(header: string | Uint8Array, data: Uint8Array | number = 0, n?: bigint): Uint8Array {
  const h = typeof header === 'string' ? enc.encode(header) : header;
  const d = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + h.length + d.length);
  new DataView(out.buffer).setBigUint64(0, n ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(d, 8 + h.length);
  return out;
}

function entry(dtype: string, shape: unknown, offsets: unknown): string {
  return JSON.stringify({ dtype, shape, data_offsets: offsets });
}

function errorOf(f: () => unknown): SafetensorsError {
  try {
    f();
  } catch (e) {
    if (e instanceof SafetensorsError) return e;
    throw new Error(`expected SafetensorsError, got ${String(e)}`);
  }
  throw new Error('expected SafetensorsError, but nothing was thrown');
}

function expectCode(bytes: Uint8Array, code: SafetensorsErrorCode, message?: RegExp | string): SafetensorsError {
  const e = errorOf(() => parseSafetensors(bytes));
  expect(e.code, e.message).toBe(code);
  expect(e.message).not.toContain('\n');
  if (message !== undefined) expect(e.message).toMatch(message);
  return e;
}

/** Small deterministic PRNG (mulberry32) so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

describe('serializeSafetensors matches the reference writer byte for byte', () => {
  // Expected bytes are the reference implementation's own test vectors (safetensors/src/tensor.rs).
  it('one F32 tensor', () => {
    const out = serializeSafetensors([{ name: 'attn.0', shape: [1, 2, 3], data: Float32Array.of(0, 1, 2, 3, 4, 5) }]);
    const header = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
    expect(header.length).toBe(64);
    expect(out).toEqual(rawFile(header, bytesOf(Float32Array.of(0, 1, 2, 3, 4, 5))));
  });
  it('pads the header with spaces to a multiple of 8 so data is aligned', () => {
    const out = serializeSafetensors([{ name: 'attn0', shape: [1, 1, 2, 3], data: Float32Array.of(0, 1, 2, 3, 4, 5) }]);
    expect(new DataView(out.buffer).getBigUint64(0, true)).toBe(72n);
    const header = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}';
    expect(out).toEqual(rawFile(header + ' '.repeat(72 - header.length), bytesOf(Float32Array.of(0, 1, 2, 3, 4, 5))));
  });
  it('empty file and metadata-only file', () => {
    expect(Array.from(serializeSafetensors([]))).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    expect(serializeSafetensors([], { framework: 'pt' })).toEqual(rawFile('{"__metadata__":{"framework":"pt"}}     '));
  });
  it('orders tensors by descending dtype, then by UTF-8 name; every tensor aligned', () => {
    const out = serializeSafetensors([
      { name: 'b', shape: [3], data: Uint8Array.of(1, 2, 3) },
      { name: 'a', shape: [1], data: Float32Array.of(1) },
      { name: '\u{1F600}', shape: [1], data: Int32Array.of(7) }, // astral: sorts after U+FFFD in UTF-8
      { name: '\uFFFD', shape: [1], data: Int32Array.of(8) },
      { name: 'z', shape: [2], data: BigInt64Array.of(1n, 2n) },
    ]);
    const f = parseSafetensors(out);
    expect([...f.tensors.keys()]).toEqual(['z', 'a', '\uFFFD', '\u{1F600}', 'b']);
    for (const t of f.tensors.values()) {
      expect((t.byteOffset) % ({ I64: 8, F32: 4, I32: 4, U8: 1 } as Record<string, number>)[t.dtype]!).toBe(0);
    }
  });
  it('is deterministic whatever the input order, and Map input equals array input', () => {
    const a: TensorInput[] = [
      { name: 'x', shape: [2], data: Float32Array.of(1, 2) },
      { name: 'y', shape: [], data: Int32Array.of(-3) },
    ];
    const m = new Map(a.map((t) => [t.name, { shape: t.shape, data: t.data }] as const));
    const one = serializeSafetensors(a, { b: '2', a: '1' });
    expect(serializeSafetensors([...a].reverse(), { a: '1', b: '2' })).toEqual(one);
    expect(serializeSafetensors(m, { a: '1', b: '2' })).toEqual(one);
  });
});

describe('round trip', () => {
  it('is bit-exact for random shapes (scalars, zero-size dims), NaN payloads, -0, Inf and metadata', () => {
    const rand = rng(1234);
    for (let trial = 0; trial < 50; trial++) {
      const tensors: TensorInput[] = [];
      const count = Math.floor(rand() * 6);
      for (let i = 0; i < count; i++) {
        const rank = Math.floor(rand() * 4); // rank 0 is a scalar
        const shape = Array.from({ length: rank }, () => Math.floor(rand() * 4)); // 0 gives an empty tensor
        const size = shape.reduce((a, b) => a * b, 1);
        const kind = Math.floor(rand() * 5);
        const bits = Uint32Array.from({ length: size * 2 }, () => (rand() * 2 ** 32) >>> 0);
        const special = [0x7fc00001, 0xffbfffff, 0x7f800001, 0x80000000, 0x7f800000, 0xff800000, 0x00000001];
        for (let k = 0; k < size; k++) if (rand() < 0.3) bits[k] = special[Math.floor(rand() * special.length)]!;
        const data =
          kind === 0 ? new Float32Array(bits.buffer, 0, size)
          : kind === 1 ? new Int32Array(bits.buffer, 0, size)
          : kind === 2 ? new Uint8Array(bits.buffer, 0, size)
          : kind === 3 ? new BigInt64Array(bits.buffer, 0, size)
          : new Uint8Array(bits.buffer, 0, size * 2); // raw F16 bytes
        tensors.push({ name: `t${trial}.${i}`, shape, data, ...(kind === 4 ? { dtype: 'F16' as Dtype } : {}) });
      }
      const metadata: Record<string, string> = rand() < 0.5 ? {} : { format: 'pt', note: `trial ${trial} \u00e9\u{1F600}"\\\n` };
      const bytes = serializeSafetensors(tensors, metadata);
      const f = parseSafetensors(bytes);
      expect({ ...f.metadata }).toEqual(metadata);
      expect(f.tensors.size).toBe(tensors.length);
      for (const t of tensors) {
        const e = f.tensors.get(t.name)!;
        expect(e.shape).toEqual(t.shape);
        expect(e.dtype).toBe(t.dtype ?? { Float32Array: 'F32', Int32Array: 'I32', Uint8Array: 'U8', BigInt64Array: 'I64' }[t.data.constructor.name]);
        expect(e.data).toEqual(bytesOf(t.data));
        if (e.dtype === 'F32') expect(bytesOf(toFloat32(e))).toEqual(bytesOf(t.data)); // NaN payloads, -0 intact
        if (e.dtype === 'I64') expect(toBigInt64(e)).toEqual(t.data);
      }
      // Writing the parsed entries back (raw bytes) reproduces the file exactly.
      const again = serializeSafetensors([...f.tensors.values()].map((e) => ({ name: e.name, dtype: e.dtype, shape: e.shape, data: e.data })), f.metadata);
      expect(again).toEqual(bytes);
    }
  });
  it('accepts ArrayBuffer input and Uint8Array views at a nonzero offset', () => {
    const bytes = serializeSafetensors([{ name: 'w', shape: [2], data: Float32Array.of(1.5, -2) }]);
    expect(toFloat32(parseSafetensors(bytes.slice().buffer).tensors.get('w')!)).toEqual(Float32Array.of(1.5, -2));
    const big = new Uint8Array(bytes.length + 3);
    big.set(bytes, 3);
    const f = parseSafetensors(big.subarray(3));
    expect(f.tensors.get('w')!.byteOffset).toBe(bytes.length - 8);
    expect(toFloat32(f.tensors.get('w')!)).toEqual(Float32Array.of(1.5, -2));
  });
  it('accepts whitespace around the JSON, as the reference does', () => {
    const f = parseSafetensors(rawFile(` \n{"w":${entry('U8', [2], [0, 2])}}\t  `, Uint8Array.of(5, 6)));
    expect(Array.from(f.tensors.get('w')!.data)).toEqual([5, 6]);
  });
});

describe('malformed files give specific errors', () => {
  const w48 = `{"w":${entry('F32', [3, 4], [0, 48])}}`;

  it('truncated: fewer than 8 bytes', () => {
    expectCode(new Uint8Array(0), 'truncated', /0 bytes/);
    expectCode(new Uint8Array(7), 'truncated', /7 bytes.*at least 8/);
  });
  it('truncated: header length beyond the end of the file', () => {
    expectCode(rawFile(w48, 48, 1000n), 'truncated', /header length 1000 runs past the end of the file: only \d+ bytes/);
    expectCode(rawFile('{}', 0, 3n), 'truncated');
    expectCode(rawFile(w48, 48).subarray(0, 20), 'truncated');
  });
  it('truncated: tensor data running past the end (out-of-range offsets)', () => {
    expectCode(rawFile(w48, 40), 'truncated', /"w" data_offsets \[0,48\] run past the data section, which has 40 bytes/);
    expectCode(rawFile(`{"w":${entry('U8', [1], [2 ** 40, 2 ** 40 + 1])}}`, 1), 'hole');
  });
  it('header-too-large: absurd lengths are rejected before anything is read', () => {
    expectCode(rawFile('{}', 0, 2n ** 63n), 'header-too-large', /header length 9223372036854775808 exceeds the limit of 100000000 bytes/);
    expectCode(rawFile('{}', 0, 2n ** 64n - 1n), 'header-too-large', /18446744073709551615/);
    expectCode(rawFile('{}', 0, 100_000_001n), 'header-too-large');
    const ok = rawFile(w48, 48);
    expect(() => parseSafetensors(ok, { maxHeaderBytes: w48.length })).not.toThrow();
    const e = errorOf(() => parseSafetensors(ok, { maxHeaderBytes: w48.length - 1 }));
    expect(e.code).toBe('header-too-large');
  });
  it('bad-utf8', () => {
    const head = (bad: number[]) => Uint8Array.from([...enc.encode('{"__metadata__":{"k":"'), ...bad, ...enc.encode('"}}')]);
    expectCode(rawFile(head([0xff])), 'bad-utf8', /not valid UTF-8/);
    expectCode(rawFile(head([0xc0, 0x80])), 'bad-utf8'); // overlong NUL
    expectCode(rawFile(head([0xed, 0xa0, 0x80])), 'bad-utf8'); // UTF-8-encoded surrogate
    expectCode(rawFile(head([0xe2, 0x82])), 'bad-utf8'); // cut multi-byte sequence
    expect(parseSafetensors(rawFile(head([0xe2, 0x82, 0xac]))).metadata.k).toBe('\u20ac');
  });
  it('bad-json: syntax, non-object roots, BOM, NUL padding, lone surrogates', () => {
    expectCode(rawFile('{"w":}'), 'bad-json', /not valid JSON/);
    expectCode(rawFile(''), 'bad-json', /header is empty/);
    expectCode(rawFile('{"w":\n\u001b}'), 'bad-json', /^[^\u001b]*$/);
    for (const root of ['[]', '"s"', '1', 'null', 'true']) expectCode(rawFile(root), 'bad-json', /must be a JSON object/);
    expectCode(rawFile('\uFEFF{}'), 'bad-json');
    expectCode(rawFile('{}\0\0\0\0\0\0'), 'bad-json');
    expectCode(rawFile(`{"\\ud800":${entry('U8', [0], [0, 0])}}`), 'bad-json', /unpaired surrogate/);
    expectCode(rawFile('{"__metadata__":{"k":"\\udc00"}}'), 'bad-json', /unpaired surrogate/);
    expect(parseSafetensors(rawFile('{"__metadata__":{"k":"\\ud83d\\ude00"}}')).metadata.k).toBe('\u{1F600}');
  });
  it('bad-json: deep nesting is rejected without blowing the stack', () => {
    for (const depth of [100_000, 1_000_000]) {
      expectCode(rawFile('['.repeat(depth) + ']'.repeat(depth)), 'bad-json', /nests deeper than 128 levels/);
      expectCode(rawFile(`{"__metadata__":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`), 'bad-json', /nests deeper/);
      expectCode(rawFile(`{"w":{"dtype":"F32","shape":${'['.repeat(depth)}${']'.repeat(depth)},"data_offsets":[0,0]}}`), 'bad-json');
    }
    expectCode(rawFile('['.repeat(128) + ']'.repeat(128)), 'bad-json', /must be a JSON object/); // at the limit
    expectCode(rawFile('['.repeat(129) + ']'.repeat(129)), 'bad-json', /nests deeper/);
    // Under the limit the structure is checked normally; brackets inside strings do not count.
    expectCode(rawFile(`{"__metadata__":{"k":${'['.repeat(100)}${']'.repeat(100)}}}`), 'bad-metadata');
    expect(parseSafetensors(rawFile(`{"__metadata__":{"k":"${'['.repeat(1000)}"}}`)).metadata.k).toBe('['.repeat(1000));
  });
  it('duplicate keys, at any level, including escaped spellings', () => {
    const e = entry('U8', [0], [0, 0]);
    expectCode(rawFile(`{"w":${e},"w":${e}}`), 'duplicate', /key "w" appears twice in the header/);
    expectCode(rawFile(`{"a":${e},"\\u0061":${e}}`), 'duplicate', /key "a"/);
    expectCode(rawFile('{"w":{"dtype":"U8","dtype":"U8","shape":[0],"data_offsets":[0,0]}}'), 'duplicate', /"dtype" appears twice in the object at key "w"/);
    expectCode(rawFile('{"__metadata__":{"k":"1","k":"2"}}'), 'duplicate', /"k"/);
    expectCode(rawFile('{"__metadata__":{},"__metadata__":{}}'), 'duplicate');
    // Same key in different objects, or a repeated string value, is fine.
    expect(parseSafetensors(rawFile(`{"__metadata__":{"w":"w"},"w":${e}}`)).tensors.has('w')).toBe(true);
  });
  it('bad-metadata: non-object or non-string values', () => {
    expectCode(rawFile('{"__metadata__":{"epoch":3}}'), 'bad-metadata', /__metadata__\["epoch"\] must be a string, got 3/);
    expectCode(rawFile('{"__metadata__":{"k":null}}'), 'bad-metadata');
    expectCode(rawFile('{"__metadata__":{"k":["a"]}}'), 'bad-metadata');
    expectCode(rawFile('{"__metadata__":["a"]}'), 'bad-metadata', /must be an object/);
    expectCode(rawFile('{"__metadata__":null}'), 'bad-metadata');
    expectCode(rawFile('{"__metadata__":"x"}'), 'bad-metadata');
  });
  it('bad-entry: non-object entries, missing and unexpected fields', () => {
    expectCode(rawFile('{"w":[1]}'), 'bad-entry', /tensor "w" must be an object/);
    expectCode(rawFile('{"w":{"dtype":"U8","shape":[0]}}'), 'bad-entry', /missing field "data_offsets"/);
    expectCode(rawFile('{"w":{"dtype":"U8","shape":[0],"data_offsets":[0,0],"offsets":[0,0]}}'), 'bad-entry', /unexpected field "offsets"/);
  });
  it('bad-dtype: unknown or non-string dtypes', () => {
    expectCode(rawFile(`{"w":${entry('F31', [1], [0, 4])}}`, 4), 'bad-dtype', /tensor "w" has unknown dtype the string "F31"; expected one of BOOL, U8/);
    expectCode(rawFile(`{"w":${entry('f32', [1], [0, 4])}}`, 4), 'bad-dtype');
    expectCode(rawFile(`{"w":${entry('F4', [2], [0, 1])}}`, 1), 'bad-dtype'); // sub-byte dtypes unsupported
    expectCode(rawFile(`{"w":${entry('toString', [1], [0, 1])}}`, 1), 'bad-dtype'); // not fooled by Object.prototype
    expectCode(rawFile('{"w":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}', 4), 'bad-dtype');
  });
  it('bad-shape: negative, fractional, unsafe, non-number entries', () => {
    for (const shape of [[-1], [1.5], [2 ** 53], [1e300], ['3'], [[2]], [null], 3, null, '[3]']) {
      expectCode(rawFile(`{"w":${entry('U8', shape, [0, 3])}}`, 3), 'bad-shape', /tensor "w" shape/);
    }
    expectCode(rawFile('{"w":{"dtype":"U8","shape":[1e400],"data_offsets":[0,1]}}', 1), 'bad-shape'); // parses as Infinity
    expectCode(rawFile('{"w":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,1]}}', 1), 'bad-shape');
    expect(parseSafetensors(rawFile('{"w":{"dtype":"U8","shape":[3.0],"data_offsets":[0,3]}}', 3)).tensors.get('w')!.shape).toEqual([3]);
    // -0 is an integer in JSON; it is normalised to +0 (found by the fuzzer: it broke re-serialisation).
    const z = parseSafetensors(rawFile('{"w":{"dtype":"U8","shape":[-0],"data_offsets":[-0,0]}}')).tensors.get('w')!;
    expect(Object.is(z.shape[0], 0)).toBe(true);
  });
  it('overflow: shape product beyond u64; a zero dimension anywhere makes the size 0', () => {
    expectCode(rawFile(`{"w":${entry('F32', [2 ** 31, 2 ** 31], [0, 4])}}`, 4), 'overflow', /more than 2\^64-1 bytes/);
    expectCode(rawFile(`{"w":${entry('U8', Array(70).fill(2), [0, 4])}}`, 4), 'overflow');
    expectCode(rawFile(`{"w":${entry('U8', Array(100_000).fill(1).concat([2 ** 40, 2 ** 40]), [0, 4])}}`, 4), 'overflow');
    // 2^62 elements x 4 bytes = 2^64 overflows by one; 2^61 x 8 = 2^64 as well.
    expectCode(rawFile(`{"w":${entry('F32', [2 ** 31, 2 ** 31], [0, 0])}}`), 'overflow');
    const f = parseSafetensors(rawFile(`{"w":${entry('F32', [2 ** 40, 2 ** 40, 0], [0, 0])}}`));
    expect(f.tensors.get('w')!.byteLength).toBe(0);
    // Fits in u64 but cannot match any real span.
    expectCode(rawFile(`{"w":${entry('U8', [2 ** 32, 2 ** 31], [0, 4])}}`, 4), 'size-mismatch', /needs 9223372036854775808 bytes/);
  });
  it('bad-offsets: malformed data_offsets', () => {
    for (const offs of [[4, 0], [-1, 3], [0.5, 3.5], ['0', '4'], [0], [0, 4, 8], null, { 0: 0, 1: 4 }, [0, 2 ** 53]]) {
      expectCode(rawFile(`{"w":${entry('U8', [4], offs)}}`, 4), 'bad-offsets', /tensor "w" data_offsets must be \[begin, end\]/);
    }
  });
  it('size-mismatch: shape x dtype size differs from the span', () => {
    expectCode(rawFile(`{"w":${entry('F32', [3, 4], [0, 40])}}`, 40), 'size-mismatch', 'tensor "w": shape [3,4] F32 needs 48 bytes but data_offsets [0,40] span 40');
    expectCode(rawFile(`{"w":${entry('F16', [3], [0, 3])}}`, 3), 'size-mismatch', /needs 6 bytes/);
    expectCode(rawFile(`{"w":${entry('I64', [], [0, 4])}}`, 4), 'size-mismatch', /shape \[\] I64 needs 8 bytes/);
  });
  it('overlap, hole, trailing-bytes', () => {
    const two = (a: unknown, b: unknown, n: number) => rawFile(`{"a":${entry('U8', [4], a)},"b":${entry('U8', [4], b)}}`, n);
    expectCode(two([0, 4], [2, 6], 6), 'overlap', /tensor "b" data_offsets \[2,6\] overlap tensor "a" which ends at 4/);
    expectCode(two([0, 4], [0, 4], 4), 'overlap');
    expectCode(two([0, 4], [6, 10], 10), 'hole', /tensor "b" starts at 6 but tensor "a" ends at 4: bytes 4\.\.6 belong to no tensor/);
    expectCode(two([2, 6], [6, 10], 10), 'hole', /tensor "a" starts at 2 but the data section starts at 0/);
    expectCode(two([0, 4], [4, 8], 9), 'trailing-bytes', /data section has 9 bytes but tensors cover only 8: 1 trailing bytes/);
    expectCode(rawFile('{}', 1), 'trailing-bytes');
    expect(parseSafetensors(two([4, 8], [0, 4], 8)).tensors.size).toBe(2); // key order need not match file order
    // Zero-size tensors may sit at any boundary, but not inside another tensor.
    const z = (at: number) => rawFile(`{"a":${entry('U8', [4], [0, 4])},"z":${entry('U8', [0], [at, at])}}`, 4);
    expect(parseSafetensors(z(0)).tensors.size).toBe(2);
    expect(parseSafetensors(z(4)).tensors.size).toBe(2);
    expectCode(z(2), 'overlap');
    expectCode(z(5), 'hole');
  });
});

describe('prototype safety', () => {
  it('__proto__ and constructor are ordinary names; nothing is polluted', () => {
    const e = entry('U8', [1], [0, 1]);
    const e2 = entry('U8', [1], [1, 2]);
    const f = parseSafetensors(
      rawFile(`{"__metadata__":{"__proto__":"p","constructor":"c","polluted":"no"},"__proto__":${e},"constructor":${e2}}`, Uint8Array.of(1, 2)),
    );
    expect(Object.getPrototypeOf(f.metadata)).toBe(null);
    expect(Object.keys(f.metadata).sort()).toEqual(['__proto__', 'constructor', 'polluted']);
    expect(f.metadata['__proto__']).toBe('p');
    expect([...f.tensors.keys()]).toEqual(['__proto__', 'constructor']);
    expect(Array.from(f.tensors.get('constructor')!.data)).toEqual([2]);
    expectCode(rawFile('{"__proto__":{"polluted":"yes"}}'), 'bad-entry', /unexpected field "polluted"/);
    expectCode(rawFile('{"w":{"__proto__":{"polluted":"yes"},"dtype":"U8","shape":[0],"data_offsets":[0,0]}}'), 'bad-entry');
    expectCode(rawFile('{"__metadata__":{"__proto__":{"polluted":"yes"}}}'), 'bad-metadata');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(Object.prototype)).toEqual([]);
  });
  it('the writer round-trips such names too', () => {
    const meta = JSON.parse('{"__proto__":"x"}') as Record<string, string>;
    const bytes = serializeSafetensors([{ name: '__proto__', shape: [], data: Float32Array.of(1) }], meta);
    const f = parseSafetensors(bytes);
    expect(f.metadata['__proto__']).toBe('x');
    expect(toFloat32(f.tensors.get('__proto__')!)).toEqual(Float32Array.of(1));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('decoding', () => {
  function single(dtype: Dtype, bytes: number[] | Uint8Array, shape = [bytes.length / ({ F16: 2, BF16: 2, I16: 2, U16: 2, I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8 } as Record<string, number>)[dtype]! || bytes.length]) {
    const data = Uint8Array.from(bytes);
    return parseSafetensors(serializeSafetensors([{ name: 't', dtype, shape, data }])).tensors.get('t')!;
  }
  const u16le = (xs: number[]) => xs.flatMap((x) => [x & 0xff, x >> 8]);
  const f32bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer));

  it('F16, including subnormals, infinities and NaN payloads, against hand-computed values', () => {
    const cases: [number, number][] = [
      [0x0000, 0],
      [0x3c00, 1],
      [0xc000, -2],
      [0x3555, 0.333251953125], // 0x155 / 1024 + 1, times 2^-2
      [0x7bff, 65504], // largest finite half
      [0x0400, 2 ** -14], // smallest normal
      [0x0001, 2 ** -24], // smallest subnormal
      [0x03ff, 1023 * 2 ** -24], // largest subnormal
      [0x8001, -(2 ** -24)],
      [0x7c00, Infinity],
      [0xfc00, -Infinity],
    ];
    const out = toFloat32(single('F16', u16le(cases.map((c) => c[0]))));
    expect(Array.from(out)).toEqual(cases.map((c) => c[1]));
    // -0, quiet NaN, and a signalling NaN's payload, checked as bits.
    expect(f32bits(toFloat32(single('F16', u16le([0x8000, 0x7e00, 0x7c01, 0xfe01]))))).toEqual([0x80000000, 0x7fc00000, 0x7f802000, 0xffc02000]);
    // Exhaustive cross-check of the bit routine against the value formula for all finite halves.
    for (let h = 0; h < 0x10000; h++) {
      const exp = (h >> 10) & 0x1f;
      if (exp === 0x1f) continue;
      const m = h & 0x3ff;
      const v = (h & 0x8000 ? -1 : 1) * (exp === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (exp - 15));
      const got = new Float32Array(new Uint32Array([f16BitsToF32Bits(h)]).buffer)[0]!;
      if (!Object.is(got, v)) throw new Error(`half 0x${h.toString(16)}: got ${got}, want ${v}`);
    }
  });
  it('BF16, including subnormals, infinities and NaN', () => {
    const out = toFloat32(single('BF16', u16le([0x3f80, 0xc2f7, 0x0001, 0x7f7f, 0x7f80, 0xff80])));
    expect(Array.from(out)).toEqual([1, -123.5, 2 ** -133, (2 - 2 ** -7) * 2 ** 127, Infinity, -Infinity]);
    expect(f32bits(toFloat32(single('BF16', u16le([0x8000, 0x7fc0, 0x7f81]))))).toEqual([0x80000000, 0x7fc00000, 0x7f810000]);
  });
  it('FP8 E5M2 and E4M3FN', () => {
    expect(Array.from(toFloat32(single('F8_E5M2', [0x3c, 0x01, 0x7b, 0x7c, 0xbc])))).toEqual([1, 2 ** -16, 57344, Infinity, -1]);
    const e4 = toFloat32(single('F8_E4M3', [0x38, 0x01, 0x08, 0x7e, 0xb8, 0x7f, 0xff, 0x80]));
    expect(Array.from(e4.subarray(0, 5))).toEqual([1, 2 ** -9, 2 ** -6, 448, -1]);
    expect(Number.isNaN(e4[5]) && Number.isNaN(e4[6])).toBe(true);
    expect(Object.is(e4[7], -0)).toBe(true);
  });
  it('integers, BOOL and F64 to float', () => {
    expect(Array.from(toFloat32(single('I8', [0x80, 0x7f, 0xff])))).toEqual([-128, 127, -1]);
    expect(Array.from(toFloat32(single('U8', [0, 200, 255])))).toEqual([0, 200, 255]);
    expect(Array.from(toFloat32(single('BOOL', [0, 1, 2])))).toEqual([0, 1, 1]);
    expect(Array.from(toFloat32(single('I16', u16le([0x8000, 0x7fff]))))).toEqual([-32768, 32767]);
    expect(Array.from(toFloat32(single('U16', u16le([0xffff]))))).toEqual([65535]);
    expect(Array.from(toFloat32(single('I32', bytesOf(Int32Array.of(-(2 ** 31), 16777217)))))).toEqual([-(2 ** 31), 16777216]); // rounds to float32
    expect(Array.from(toFloat32(single('U32', bytesOf(Uint32Array.of(2 ** 32 - 1)))))).toEqual([2 ** 32]);
    expect(Array.from(toFloat32(single('F64', bytesOf(Float64Array.of(0.1, -1e300)))))).toEqual([Math.fround(0.1), -Infinity]);
  });
  it('I64 and U64 above 2^53 are exact through BigInt; toFloat32 rounds', () => {
    const big = BigInt64Array.of(2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n), -1n, 0n);
    const e = parseSafetensors(serializeSafetensors([{ name: 'i', shape: [5], data: big }])).tensors.get('i')!;
    expect(e.dtype).toBe('I64');
    expect(Array.from(toBigInt64(e))).toEqual([2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n), -1n, 0n]);
    expect(Array.from(toFloat32(e))).toEqual([2 ** 53, 2 ** 63, -(2 ** 63), -1, 0]);
    const u = single('U64', bytesOf(BigUint64Array.of(2n ** 64n - 1n, 2n ** 53n + 1n)));
    expect(Array.from(toBigUint64(u))).toEqual([2n ** 64n - 1n, 2n ** 53n + 1n]);
    expect(Array.from(toBigInt64(single('U32', bytesOf(Uint32Array.of(2 ** 32 - 1)))))).toEqual([2n ** 32n - 1n]);
    expect(Array.from(toBigInt64(single('I16', u16le([0x8000]))))).toEqual([-32768n]);
    expect(errorOf(() => toBigInt64(single('F32', [0, 0, 0, 0]))).code).toBe('bad-dtype');
    expect(errorOf(() => toBigInt64(u)).code).toBe('bad-dtype');
    expect(errorOf(() => toBigUint64(e)).code).toBe('bad-dtype');
  });
});

describe('serializer input validation', () => {
  const f = Float32Array.of(1, 2);
  it.each([
    ['duplicate', [{ name: 'a', shape: [2], data: f }, { name: 'a', shape: [2], data: f }]],
    ['size-mismatch', [{ name: 'a', shape: [3], data: f }]],
    ['bad-dtype', [{ name: 'a', dtype: 'I32', shape: [2], data: f }]],
    ['bad-dtype', [{ name: 'a', dtype: 'F99', shape: [8], data: new Uint8Array(8) }]],
    ['bad-name', [{ name: '__metadata__', shape: [2], data: f }]],
    ['bad-name', [{ name: 'a\ud800', shape: [2], data: f }]],
    ['bad-shape', [{ name: 'a', shape: [-2], data: f }]],
    ['bad-shape', [{ name: 'a', shape: [2.5], data: f }]],
  ] as [SafetensorsErrorCode, TensorInput[]][])('%s', (code, tensors) => {
    expect(errorOf(() => serializeSafetensors(tensors)).code).toBe(code);
  });
  it('bad-metadata', () => {
    expect(errorOf(() => serializeSafetensors([], { a: 3 } as unknown as Record<string, string>)).code).toBe('bad-metadata');
  });
});

describe('crc32', () => {
  it('matches the standard check values', () => {
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32Hex(enc.encode('123456789'))).toBe('cbf43926');
    expect(crc32Hex(enc.encode('The quick brown fox jumps over the lazy dog'))).toBe('414fa339');
  });
});
