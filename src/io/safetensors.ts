/**
 * Strict safetensors reader/writer (https://github.com/huggingface/safetensors), pure TS so it
 * runs in the browser, a Web Worker and Node alike.
 *
 * File layout: 8-byte little-endian u64 header length N, N bytes of UTF-8 JSON, then the data
 * section. The reader follows the reference implementation's rules and is stricter where the
 * reference is lax (documented inline). Every rejection is a SafetensorsError with a `code` and a
 * one-line message naming what is wrong, where, and what was expected. Any input, however
 * malformed, either parses into a fully validated file or throws SafetensorsError; nothing
 * else escapes and nothing touches Object.prototype.
 *
 * Where this reader differs from the reference:
 * - duplicate keys in any JSON object are rejected ('duplicate'); JSON.parse alone would silently
 *   keep the last one, so a pre-scan of the header text finds them;
 * - tensor entries may hold only dtype/shape/data_offsets (the reference ignores extra fields);
 *   `__metadata__` must be an object (not null);
 * - shape entries must be safe integers (<= 2^53-1); the reference takes any u64, which can only
 *   matter for zero-element tensors;
 * - a zero dimension makes a tensor 0 bytes wherever it sits in the shape (the reference's
 *   overflow check depends on the order of dimensions).
 * Like the reference: 100,000,000-byte header limit, JSON nesting limit 128 (serde_json's),
 * whitespace around the JSON allowed (the writer pads with spaces), unpaired surrogates rejected.
 */

export type Dtype =
  | 'BOOL'
  | 'U8'
  | 'I8'
  | 'F8_E5M2'
  | 'F8_E4M3'
  | 'I16'
  | 'U16'
  | 'F16'
  | 'BF16'
  | 'I32'
  | 'U32'
  | 'F32'
  | 'F64'
  | 'I64'
  | 'U64';

/**
 * Element size in bytes. Key order is the reference's Dtype order (increasing alignment); the
 * writer lays tensors out in the reverse order so every tensor starts aligned to its element size.
 * The sub-byte dtypes (F4, F6_*) and F8_E8M0 of newer reference versions are not supported and are
 * rejected as unknown.
 */
export const DTYPE_SIZES: Readonly<Record<Dtype, number>> = Object.freeze({
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
});
const DTYPE_ORDER = Object.keys(DTYPE_SIZES) as Dtype[];

export function isDtype(s: unknown): s is Dtype {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_SIZES, s);
}

export type SafetensorsErrorCode =
  | 'truncated' // file shorter than 8 bytes, header or data running past the end of the file
  | 'header-too-large' // header length above the limit (100,000,000 bytes by default)
  | 'bad-utf8' // header bytes are not valid UTF-8
  | 'bad-json' // header is not JSON, not an object, nested too deep, or has lone surrogates
  | 'duplicate' // the same key twice in one JSON object (or two input tensors with one name)
  | 'bad-metadata' // __metadata__ is not an object of string -> string
  | 'bad-entry' // a tensor entry is not {dtype, shape, data_offsets} exactly
  | 'bad-name' // tensor name the format cannot carry (writer only)
  | 'bad-dtype' // unknown dtype, or a conversion that the dtype does not support
  | 'bad-shape' // shape is not an array of non-negative safe integers
  | 'overflow' // element count x element size does not fit in u64
  | 'bad-offsets' // data_offsets is not [begin, end] with 0 <= begin <= end safe integers
  | 'size-mismatch' // shape x dtype size differs from the byte span (or the data given)
  | 'overlap' // two tensors share bytes
  | 'hole' // bytes between tensors (or before the first) that belong to no tensor
  | 'trailing-bytes'; // data section longer than the last tensor's end

export class SafetensorsError extends Error {
  readonly code: SafetensorsErrorCode;
  constructor(code: SafetensorsErrorCode, message: string) {
    super(message);
    this.name = 'SafetensorsError';
    this.code = code;
  }
}

export interface TensorEntry {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Absolute offset of the tensor's bytes in the file (8 + header length + data_offsets[0]). */
  byteOffset: number;
  byteLength: number;
  /** View into the parsed bytes (no copy); little-endian, row-major. */
  data: Uint8Array;
}

export interface SafetensorsFile {
  /** Null-prototype object: use Object.hasOwn / `in`, not metadata.hasOwnProperty. */
  metadata: Record<string, string>;
  /** In file order (ascending data offset). */
  tensors: Map<string, TensorEntry>;
  /** N, the header's byte length including any space padding. */
  headerByteLength: number;
}

export interface ParseOptions {
  /** Reject headers longer than this many bytes. Default 100,000,000 (the reference's limit). */
  maxHeaderBytes?: number;
}

export const MAX_HEADER_BYTES = 100_000_000;
/** serde_json's default recursion limit; a valid header needs depth 3 (root, entry, shape). */
const MAX_JSON_DEPTH = 128;
const U64_MAX = (1n << 64n) - 1n;
const LITTLE_ENDIAN_HOST = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** Quote a user-controlled string for a one-line message (escapes newlines, caps length). */
function q(s: string): string {
  const json = JSON.stringify(s);
  return json.length > 80 ? `${json.slice(0, 76)}..."` : json;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return `the string ${q(v)}`;
  return `an ${typeof v}`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Matches a lone surrogate (in /u mode a proper pair is one code point and does not match). */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * One pass over the header text, before JSON.parse: enforce the nesting limit (V8's JSON.parse is
 * iterative, but other engines recurse, and 50M levels take V8 seconds) and find the first key
 * that repeats within one object (JSON.parse silently keeps the last one). The scan is only
 * trusted for syntactically valid JSON: if it gets confused it stops and lets JSON.parse report.
 */
function scanHeader(text: string): { tooDeep: boolean; duplicate?: { key: string; parent: string } } {
  const keySets: (Set<string> | null)[] = []; // one per open container; null for arrays
  const lastKey: string[] = []; // most recent key at each object level, for messages
  let prev = 0; // last significant character code
  let duplicate: { key: string; parent: string } | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (keySets.length >= MAX_JSON_DEPTH) return { tooDeep: true };
      keySets.push(c === 0x7b ? new Set() : null);
      lastKey.push('');
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      keySets.pop();
      lastKey.pop();
    } else if (c === 0x22 /* " */) {
      let j = i + 1;
      let escaped = false;
      for (; j < text.length; j++) {
        const d = text.charCodeAt(j);
        if (d === 0x5c) {
          escaped = true;
          j++;
        } else if (d === 0x22) break;
      }
      if (j >= text.length) break; // unterminated string: JSON.parse will say so
      const set = keySets[keySets.length - 1];
      if (set && !duplicate && (prev === 0x7b || prev === 0x2c /* , */)) {
        let key: string;
        try {
          key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
        } catch {
          break; // bad escape: JSON.parse will say so
        }
        if (set.has(key)) {
          const at = lastKey[lastKey.length - 2];
          const parent = keySets.length === 1 ? 'the header' : at ? `the object at key ${q(at)}` : 'a nested object';
          duplicate = { key, parent };
        }
        set.add(key);
        lastKey[lastKey.length - 1] = key;
      }
      i = j;
    } else if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) {
      continue;
    }
    prev = c;
  }
  return { tooDeep: false, duplicate };
}

/** JSON `-0` is accepted as 0 but normalised, so shapes compare and re-serialise cleanly. */
function readNonNegativeInt(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v + 0 : undefined;
}

/** Parse and fully validate a safetensors file. `data` views in the result alias `bytes`. */
export function parseSafetensors(bytes: Uint8Array | ArrayBuffer, opts: ParseOptions = {}): SafetensorsFile {
  const buf = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const maxHeader = opts.maxHeaderBytes ?? MAX_HEADER_BYTES;
  if (!Number.isSafeInteger(maxHeader) || maxHeader < 0) {
    throw new RangeError(`maxHeaderBytes must be a non-negative safe integer, got ${maxHeader}`);
  }
  if (buf.length < 8) {
    throw new SafetensorsError('truncated', `file is ${buf.length} bytes; a safetensors file needs at least 8 (the header length)`);
  }
  // u64 read as BigInt: values up to 2^64-1 must be compared exactly, never rounded.
  const n64 = new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(maxHeader)) {
    throw new SafetensorsError('header-too-large', `header length ${n64} exceeds the limit of ${maxHeader} bytes`);
  }
  const n = Number(n64);
  if (n > buf.length - 8) {
    throw new SafetensorsError(
      'truncated',
      `header length ${n} runs past the end of the file: only ${buf.length - 8} bytes follow the 8-byte length`,
    );
  }

  let text: string;
  try {
    // ignoreBOM keeps a leading U+FEFF in the text so JSON.parse rejects it, as the reference does.
    let headerBytes = buf.subarray(8, 8 + n);
    if (typeof SharedArrayBuffer !== 'undefined' && headerBytes.buffer instanceof SharedArrayBuffer) {
      headerBytes = headerBytes.slice(); // TextDecoder refuses shared memory in browsers
    }
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    throw new SafetensorsError('bad-utf8', `header (bytes 8..${8 + n}) is not valid UTF-8`);
  }

  const scan = scanHeader(text);
  if (scan.tooDeep) {
    throw new SafetensorsError('bad-json', `header JSON nests deeper than ${MAX_JSON_DEPTH} levels; a safetensors header needs 3`);
  }
  let root: unknown;
  try {
    // JSON.parse defines keys as own data properties, so "__proto__" is a plain key here.
    root = JSON.parse(text);
  } catch (e) {
    // Engine messages may quote raw header text: keep it to one short line without controls.
    const why = (e instanceof Error ? e.message : String(e)).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').slice(0, 200);
    throw new SafetensorsError('bad-json', n === 0 ? 'header is empty (length 0); expected a JSON object such as {}' : `header is not valid JSON: ${why}`);
  }
  if (!isPlainObject(root)) {
    throw new SafetensorsError('bad-json', `header must be a JSON object, got ${describe(root)}`);
  }
  if (scan.duplicate) {
    throw new SafetensorsError('duplicate', `key ${q(scan.duplicate.key)} appears twice in ${scan.duplicate.parent}`);
  }

  const metadata: Record<string, string> = Object.create(null);
  const raw: { name: string; dtype: Dtype; shape: number[]; begin: number; end: number }[] = [];
  for (const name of Object.keys(root)) {
    const value = root[name];
    if (LONE_SURROGATE.test(name)) {
      throw new SafetensorsError('bad-json', `key ${q(name)} contains an unpaired surrogate escape (not representable in UTF-8)`);
    }
    if (name === '__metadata__') {
      if (!isPlainObject(value)) {
        throw new SafetensorsError('bad-metadata', `__metadata__ must be an object of string values, got ${describe(value)}`);
      }
      for (const k of Object.keys(value)) {
        const v = value[k];
        if (typeof v !== 'string') {
          throw new SafetensorsError('bad-metadata', `__metadata__[${q(k)}] must be a string, got ${describe(v)}`);
        }
        if (LONE_SURROGATE.test(k) || LONE_SURROGATE.test(v)) {
          throw new SafetensorsError('bad-json', `__metadata__[${q(k)}] contains an unpaired surrogate escape`);
        }
        metadata[k] = v;
      }
      continue;
    }
    raw.push(validateEntry(name, value));
  }

  // Contiguity, as the reference checks it: sorted by offsets, each tensor starts where the
  // previous one ended, the first at 0, the last at the end of the file.
  raw.sort((a, b) => a.begin - b.begin || a.end - b.end);
  const dataStart = 8 + n;
  const dataLength = buf.length - dataStart;
  const tensors = new Map<string, TensorEntry>();
  let cursor = 0;
  let prevName = '';
  for (const t of raw) {
    if (t.begin > cursor) {
      const prev = tensors.size === 0 ? 'the data section starts at 0' : `tensor ${q(prevName)} ends at ${cursor}`;
      throw new SafetensorsError('hole', `tensor ${q(t.name)} starts at ${t.begin} but ${prev}: bytes ${cursor}..${t.begin} belong to no tensor`);
    }
    if (t.begin < cursor) {
      throw new SafetensorsError('overlap', `tensor ${q(t.name)} data_offsets [${t.begin},${t.end}] overlap tensor ${q(prevName)} which ends at ${cursor}`);
    }
    if (t.end > dataLength) {
      throw new SafetensorsError('truncated', `tensor ${q(t.name)} data_offsets [${t.begin},${t.end}] run past the data section, which has ${dataLength} bytes`);
    }
    tensors.set(t.name, {
      name: t.name,
      dtype: t.dtype,
      shape: t.shape,
      byteOffset: dataStart + t.begin,
      byteLength: t.end - t.begin,
      data: buf.subarray(dataStart + t.begin, dataStart + t.end),
    });
    cursor = t.end;
    prevName = t.name;
  }
  if (cursor !== dataLength) {
    throw new SafetensorsError('trailing-bytes', `data section has ${dataLength} bytes but tensors cover only ${cursor}: ${dataLength - cursor} trailing bytes`);
  }
  return { metadata, tensors, headerByteLength: n };
}

function validateEntry(name: string, value: unknown): { name: string; dtype: Dtype; shape: number[]; begin: number; end: number } {
  const where = `tensor ${q(name)}`;
  if (!isPlainObject(value)) {
    throw new SafetensorsError('bad-entry', `${where} must be an object {dtype, shape, data_offsets}, got ${describe(value)}`);
  }
  // Stricter than the reference, which ignores unknown fields: a typo there hides real mistakes.
  for (const k of Object.keys(value)) {
    if (k !== 'dtype' && k !== 'shape' && k !== 'data_offsets') {
      throw new SafetensorsError('bad-entry', `${where} has unexpected field ${q(k)}; expected only dtype, shape, data_offsets`);
    }
  }
  for (const k of ['dtype', 'shape', 'data_offsets']) {
    if (!Object.prototype.hasOwnProperty.call(value, k)) {
      throw new SafetensorsError('bad-entry', `${where} is missing field ${q(k)}`);
    }
  }
  const dtype = value.dtype;
  if (!isDtype(dtype)) {
    throw new SafetensorsError('bad-dtype', `${where} has unknown dtype ${describe(dtype)}; expected one of ${DTYPE_ORDER.join(', ')}`);
  }
  const shapeIn = value.shape;
  if (!Array.isArray(shapeIn)) {
    throw new SafetensorsError('bad-shape', `${where} shape must be an array of non-negative integers, got ${describe(shapeIn)}`);
  }
  const shape: number[] = [];
  for (let i = 0; i < shapeIn.length; i++) {
    const d = readNonNegativeInt(shapeIn[i]);
    if (d === undefined) {
      throw new SafetensorsError('bad-shape', `${where} shape[${i}] must be a non-negative safe integer, got ${describe(shapeIn[i])}`);
    }
    shape.push(d);
  }
  const offs = value.data_offsets;
  const begin = Array.isArray(offs) && offs.length === 2 ? readNonNegativeInt(offs[0]) : undefined;
  const end = Array.isArray(offs) && offs.length === 2 ? readNonNegativeInt(offs[1]) : undefined;
  if (begin === undefined || end === undefined || begin > end) {
    const got = Array.isArray(offs) ? `[${offs.map(describe).join(', ')}]` : describe(offs);
    throw new SafetensorsError('bad-offsets', `${where} data_offsets must be [begin, end] with 0 <= begin <= end safe integers, got ${got}`);
  }
  const need = byteSize(shape, dtype);
  if (need === undefined) {
    throw new SafetensorsError('overflow', `${where}: shape [${shape.join(',')}] ${dtype} is more than 2^64-1 bytes`);
  }
  if (need !== BigInt(end - begin)) {
    throw new SafetensorsError('size-mismatch', `${where}: shape [${shape.join(',')}] ${dtype} needs ${need} bytes but data_offsets [${begin},${end}] span ${end - begin}`);
  }
  return { name, dtype, shape, begin, end };
}

/**
 * Exact byte size of a tensor, or undefined above u64 (the reference's ValidationOverflow).
 * A zero dimension makes the size 0 wherever it appears, unlike the reference's
 * order-dependent checked_mul fold.
 */
function byteSize(shape: readonly number[], dtype: Dtype): bigint | undefined {
  if (shape.includes(0)) return 0n;
  let size = BigInt(DTYPE_SIZES[dtype]);
  for (const d of shape) {
    size *= BigInt(d);
    if (size > U64_MAX) return undefined; // stop early so huge shapes stay cheap
  }
  return size;
}

export function numElements(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

// ---------------------------------------------------------------------------------------------
// Decoding

function view(entry: TensorEntry): DataView {
  return new DataView(entry.data.buffer, entry.data.byteOffset, entry.data.byteLength);
}

/** IEEE binary16 bits -> binary32 bits, exact (keeps -0, subnormals, inf and NaN payloads). */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal half: normalise; every half subnormal is a normal float32.
  let e = 113;
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

/** FP8 E4M3 "FN" (as in PyTorch float8_e4m3fn): bias 7, no infinities, S.1111.111 is NaN. */
function e4m3ToNumber(b: number): number {
  const sign = b & 0x80 ? -1 : 1;
  const exp = (b >> 3) & 0xf;
  const mant = b & 0x7;
  if (exp === 0xf && mant === 0x7) return NaN;
  if (exp === 0) return sign * mant * 2 ** -9;
  return sign * (1 + mant / 8) * 2 ** (exp - 7);
}

/**
 * Decode any dtype to a fresh Float32Array. F32, F16, BF16 and F8_E5M2 are bit-exact (NaN
 * payloads and -0 kept); F64 and integers wider than 24 bits round to nearest float32 (I64/U64
 * go through Number first, so they may round twice: use toBigInt64/toBigUint64 for exact values);
 * BOOL maps any nonzero byte to 1.
 */
export function toFloat32(entry: TensorEntry): Float32Array {
  const count = entry.byteLength / DTYPE_SIZES[entry.dtype];
  const out = new Float32Array(count);
  const bits = new Uint32Array(out.buffer);
  const dv = view(entry);
  const b = entry.data;
  switch (entry.dtype) {
    case 'F32':
      if (LITTLE_ENDIAN_HOST) new Uint8Array(out.buffer).set(b);
      else for (let i = 0; i < count; i++) bits[i] = dv.getUint32(4 * i, true);
      break;
    case 'F16':
      for (let i = 0; i < count; i++) bits[i] = f16BitsToF32Bits(dv.getUint16(2 * i, true));
      break;
    case 'BF16':
      for (let i = 0; i < count; i++) bits[i] = dv.getUint16(2 * i, true) << 16;
      break;
    case 'F8_E5M2': // the top byte of a binary16
      for (let i = 0; i < count; i++) bits[i] = f16BitsToF32Bits(b[i]! << 8);
      break;
    case 'F8_E4M3':
      for (let i = 0; i < count; i++) out[i] = e4m3ToNumber(b[i]!);
      break;
    case 'F64':
      for (let i = 0; i < count; i++) out[i] = dv.getFloat64(8 * i, true);
      break;
    case 'BOOL':
      for (let i = 0; i < count; i++) out[i] = b[i] === 0 ? 0 : 1;
      break;
    case 'U8':
      out.set(b);
      break;
    case 'I8':
      for (let i = 0; i < count; i++) out[i] = dv.getInt8(i);
      break;
    case 'I16':
      for (let i = 0; i < count; i++) out[i] = dv.getInt16(2 * i, true);
      break;
    case 'U16':
      for (let i = 0; i < count; i++) out[i] = dv.getUint16(2 * i, true);
      break;
    case 'I32':
      for (let i = 0; i < count; i++) out[i] = dv.getInt32(4 * i, true);
      break;
    case 'U32':
      for (let i = 0; i < count; i++) out[i] = dv.getUint32(4 * i, true);
      break;
    case 'I64':
      for (let i = 0; i < count; i++) out[i] = Number(dv.getBigInt64(8 * i, true));
      break;
    case 'U64':
      for (let i = 0; i < count; i++) out[i] = Number(dv.getBigUint64(8 * i, true));
      break;
  }
  return out;
}

const SIGNED_INTS: readonly Dtype[] = ['BOOL', 'U8', 'I8', 'I16', 'U16', 'I32', 'U32', 'I64'];

/** Exact integers as a fresh BigInt64Array: I64 and every narrower integer dtype (and BOOL as 0/1 bytes). */
export function toBigInt64(entry: TensorEntry): BigInt64Array {
  if (!SIGNED_INTS.includes(entry.dtype)) {
    throw new SafetensorsError('bad-dtype', `toBigInt64: tensor ${q(entry.name)} is ${entry.dtype}; expected an integer dtype (use toBigUint64 for U64)`);
  }
  if (entry.dtype === 'I64') {
    const dv = view(entry);
    const out = new BigInt64Array(entry.byteLength / 8);
    for (let i = 0; i < out.length; i++) out[i] = dv.getBigInt64(8 * i, true);
    return out;
  }
  // Narrower integers widen exactly (I32/U32 would not survive float32, hence BigInt here).
  const dv = view(entry);
  const size = DTYPE_SIZES[entry.dtype];
  const out = new BigInt64Array(entry.byteLength / size);
  for (let i = 0; i < out.length; i++) {
    const o = i * size;
    const v =
      entry.dtype === 'I8' ? dv.getInt8(o)
      : entry.dtype === 'I16' ? dv.getInt16(o, true)
      : entry.dtype === 'U16' ? dv.getUint16(o, true)
      : entry.dtype === 'I32' ? dv.getInt32(o, true)
      : entry.dtype === 'U32' ? dv.getUint32(o, true)
      : dv.getUint8(o); // U8, BOOL
    out[i] = BigInt(v);
  }
  return out;
}

/** Exact U64 values as a fresh BigUint64Array. */
export function toBigUint64(entry: TensorEntry): BigUint64Array {
  if (entry.dtype !== 'U64') {
    throw new SafetensorsError('bad-dtype', `toBigUint64: tensor ${q(entry.name)} is ${entry.dtype}; expected U64 (use toBigInt64 for signed/narrower integers)`);
  }
  const dv = view(entry);
  const out = new BigUint64Array(entry.byteLength / 8);
  for (let i = 0; i < out.length; i++) out[i] = dv.getBigUint64(8 * i, true);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writing

export type TensorData = Float32Array | Int32Array | Uint8Array | BigInt64Array;

export interface TensorInput {
  name: string;
  /**
   * Defaults from the array type (Float32Array F32, Int32Array I32, Uint8Array U8,
   * BigInt64Array I64). A Uint8Array may carry the raw little-endian bytes of any dtype, which
   * lets a parsed file's entries be written back unchanged.
   */
  dtype?: Dtype;
  shape: readonly number[];
  data: TensorData;
}

function arrayDtype(data: TensorData): Dtype | undefined {
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof Int32Array) return 'I32';
  if (data instanceof Uint8Array) return 'U8';
  if (data instanceof BigInt64Array) return 'I64';
  return undefined;
}

const utf8 = new TextEncoder();

/** Rust's String ordering: bytewise over UTF-8 (differs from JS `<` for astral characters). */
function compareUtf8(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/**
 * Write a safetensors file. Layout matches the reference writer: tensors ordered by descending
 * dtype (so each starts aligned to its element size), then by name as UTF-8 bytes; JSON keys in
 * that same order after `__metadata__` (written only when non-empty; its keys sorted); header
 * padded with spaces to a multiple of 8. Data bytes are copied verbatim, so NaN payloads and -0
 * survive.
 */
export function serializeSafetensors(
  tensors: readonly TensorInput[] | ReadonlyMap<string, Omit<TensorInput, 'name'>>,
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  if (!LITTLE_ENDIAN_HOST) throw new Error('serializeSafetensors copies typed arrays verbatim and needs a little-endian host');
  const list: TensorInput[] = Array.isArray(tensors)
    ? (tensors as readonly TensorInput[]).slice()
    : [...(tensors as ReadonlyMap<string, Omit<TensorInput, 'name'>>)].map(([name, t]) => ({ ...t, name }));

  const seen = new Set<string>();
  const items = list.map((t) => {
    const where = `tensor ${q(t.name)}`;
    if (typeof t.name !== 'string' || t.name === '__metadata__' || LONE_SURROGATE.test(t.name)) {
      throw new SafetensorsError('bad-name', `${where}: names must be well-formed strings other than "__metadata__"`);
    }
    if (seen.has(t.name)) throw new SafetensorsError('duplicate', `${where} given twice`);
    seen.add(t.name);
    const fromArray = arrayDtype(t.data);
    if (fromArray === undefined) {
      throw new SafetensorsError('bad-dtype', `${where}: data must be a Float32Array, Int32Array, Uint8Array or BigInt64Array`);
    }
    const dtype = t.dtype ?? fromArray;
    if (!isDtype(dtype) || (dtype !== fromArray && fromArray !== 'U8')) {
      throw new SafetensorsError('bad-dtype', `${where}: dtype ${q(String(dtype))} does not match its ${fromArray} data (only a Uint8Array may carry raw bytes of another dtype)`);
    }
    if (!Array.isArray(t.shape) || t.shape.some((d) => readNonNegativeInt(d) === undefined)) {
      throw new SafetensorsError('bad-shape', `${where}: shape must be an array of non-negative safe integers, got ${JSON.stringify(t.shape)}`);
    }
    const need = byteSize(t.shape, dtype);
    if (need !== BigInt(t.data.byteLength)) {
      throw new SafetensorsError('size-mismatch', `${where}: shape [${t.shape.join(',')}] ${dtype} needs ${need ?? '> 2^64'} bytes but data has ${t.data.byteLength}`);
    }
    return { name: t.name, key: utf8.encode(t.name), dtype, shape: t.shape, data: t.data };
  });
  items.sort((a, b) => DTYPE_ORDER.indexOf(b.dtype) - DTYPE_ORDER.indexOf(a.dtype) || compareUtf8(a.key, b.key));

  const parts: string[] = [];
  const metaKeys = Object.keys(metadata)
    .map((k) => ({ k, key: utf8.encode(k) }))
    .sort((a, b) => compareUtf8(a.key, b.key));
  if (metaKeys.length > 0) {
    const kv = metaKeys.map(({ k }) => {
      const v = metadata[k];
      if (typeof v !== 'string' || LONE_SURROGATE.test(k) || LONE_SURROGATE.test(v)) {
        throw new SafetensorsError('bad-metadata', `metadata[${q(k)}] must be a well-formed string, got ${describe(v)}`);
      }
      return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
    });
    parts.push(`"__metadata__":{${kv.join(',')}}`);
  }
  let offset = 0;
  for (const t of items) {
    const end = offset + t.data.byteLength;
    parts.push(`${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  const json = utf8.encode(`{${parts.join(',')}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let pos = 8 + headerLength;
  for (const t of items) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
    pos += t.data.byteLength;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Checksums

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, as zlib/gzip/PNG and `crc32` tools compute it) of the bytes. */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[i] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = crcTable[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** crc32 as 8 lowercase hex digits, for display. */
export function crc32Hex(bytes: Uint8Array): string {
  return crc32(bytes).toString(16).padStart(8, '0');
}
