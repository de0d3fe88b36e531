/**
 * `inspect`: print what a safetensors file holds (Node only: reads with node:fs).
 *
 * Exit codes: 0 all files fine, 1 usage error or a file that cannot be read (missing,
 * a directory, no permission), 2 a file that is not valid safetensors. With several files every
 * file is reported and the worst code is returned.
 */
import { readFile } from 'node:fs/promises';
import {
  crc32Hex,
  DTYPE_SIZES,
  numElements,
  parseSafetensors,
  SafetensorsError,
  toBigInt64,
  toBigUint64,
  toFloat32,
  type TensorEntry,
} from '../io/safetensors';

export const INSPECT_USAGE = 'usage: inspect [--values N] <file.safetensors>...';
const HELP = `${INSPECT_USAGE}
Print metadata and, per tensor, dtype, shape, size, CRC-32 of its bytes, the first N values
(default 6) and, for float dtypes, min/max/mean over the non-NaN values.
Exit codes: 0 ok, 1 usage error or unreadable file, 2 malformed file.`;

const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64', 'F8_E5M2', 'F8_E4M3']);

/**
 * Names and metadata come from untrusted files: keep them on one line and free of terminal
 * control sequences (C0/C1 controls, bidi overrides) by JSON-quoting anything not plain ASCII.
 */
function show(s: string, max = 200): string {
  if (/^[\x21-\x7e]+$/.test(s) && s.length <= max) return s;
  return escapeControls(JSON.stringify(s.length > max ? `${s.slice(0, max)}...` : s));
}

function escapeControls(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function fmt(v: number): string {
  return Number.isFinite(v) ? String(Number(v.toPrecision(6))) : String(v);
}

/** The first `count` elements as strings; integers exact (I64/U64 via BigInt). */
function firstValues(t: TensorEntry, count: number): string[] {
  const size = DTYPE_SIZES[t.dtype];
  const k = Math.min(count, t.byteLength / size);
  const head: TensorEntry = { ...t, data: t.data.subarray(0, k * size), byteLength: k * size };
  if (t.dtype === 'U64') return Array.from(toBigUint64(head), String);
  if (!FLOAT_DTYPES.has(t.dtype)) return Array.from(toBigInt64(head), String);
  return Array.from(toFloat32(head), fmt);
}

function floatStats(t: TensorEntry): string {
  const xs = toFloat32(t);
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let nan = 0;
  for (const x of xs) {
    if (Number.isNaN(x)) {
      nan++;
      continue;
    }
    if (x < min) min = x;
    if (x > max) max = x;
    sum += x;
  }
  const n = xs.length - nan;
  const nanNote = nan > 0 ? `  nan=${nan}` : '';
  return n === 0 ? `min=n/a max=n/a mean=n/a${nanNote}` : `min=${fmt(min)} max=${fmt(max)} mean=${fmt(sum / n)}${nanNote}`;
}

async function inspectFile(path: string, valueCount: number, out: string[]): Promise<number> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory' : err.message;
    process.stderr.write(`error: ${path}: ${why}\n`);
    return 1;
  }
  let file;
  try {
    file = parseSafetensors(bytes);
  } catch (e) {
    if (!(e instanceof SafetensorsError)) throw e;
    process.stderr.write(`error: ${path}: ${escapeControls(e.message)}\n`);
    return 2;
  }
  const tensors = [...file.tensors.values()];
  const params = tensors.reduce((a, t) => a + numElements(t.shape), 0);
  out.push(
    `${path}: ${tensors.length} tensor${tensors.length === 1 ? '' : 's'}, ${params} elements, ` +
      `header ${file.headerByteLength} bytes, data ${bytes.length - 8 - file.headerByteLength} bytes`,
  );
  const metaKeys = Object.keys(file.metadata).sort();
  out.push(metaKeys.length === 0 ? 'metadata: (none)' : 'metadata:');
  for (const k of metaKeys) out.push(`  ${show(k)}: ${show(file.metadata[k]!)}`);
  out.push('tensors:');
  for (const t of tensors) {
    out.push(`  ${show(t.name)}  ${t.dtype} [${t.shape.join(',')}]  ${t.byteLength} byte${t.byteLength === 1 ? '' : 's'}  crc32=${crc32Hex(t.data)}`);
    const count = numElements(t.shape);
    if (count === 0) {
      out.push('    (empty)');
      continue;
    }
    const vals = firstValues(t, valueCount);
    if (vals.length > 0) out.push(`    values: [${vals.join(', ')}${count > vals.length ? `, ... (${count} total)` : ''}]`);
    if (FLOAT_DTYPES.has(t.dtype)) out.push(`    ${floatStats(t)}`);
  }
  return 0;
}

/** `inspect [--values N] <file.safetensors>...`; resolves to the process exit code. */
export async function inspectCommand(args: string[]): Promise<number> {
  let valueCount = 6;
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-h' || a === '--help') {
      process.stdout.write(`${HELP}\n`);
      return 0;
    }
    if (a === '--values' || a.startsWith('--values=')) {
      const v = a === '--values' ? args[++i] : a.slice('--values='.length);
      const n = Number(v);
      if (v === undefined || v === '' || !Number.isSafeInteger(n) || n < 0) {
        process.stderr.write(`error: --values needs a non-negative integer, got ${v === undefined ? 'nothing' : show(v)}\n${INSPECT_USAGE}\n`);
        return 1;
      }
      valueCount = n;
    } else if (a === '--') {
      files.push(...args.slice(i + 1));
      break;
    } else if (a.startsWith('-') && a !== '-') {
      process.stderr.write(`error: unknown option ${show(a)}\n${INSPECT_USAGE}\n`);
      return 1;
    } else {
      files.push(a);
    }
  }
  if (files.length === 0) {
    process.stderr.write(`error: no file given\n${INSPECT_USAGE}\n`);
    return 1;
  }
  let code = 0;
  for (const f of files) {
    const out: string[] = [];
    code = Math.max(code, await inspectFile(f, valueCount, out));
    if (out.length > 0) process.stdout.write(`${out.join('\n')}\n`);
  }
  return code;
}
