/**
 * `inspect` against the reference implementation's rules (huggingface/safetensors), one file per
 * rule through the command itself: each malformed file exits 2 with one line naming the problem;
 * the boundary cases that are legal (header of exactly the limit's length is only refused for
 * being truncated, U64 = 2^64 − 1 and I64 = −2^63 print exactly) pass.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { inspectCommand } from '../src/cli/inspect';
import { serializeSafetensors } from '../src/io/safetensors';

const dir = mkdtempSync(join(tmpdir(), 'inspect-rules-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let stdout: MockInstance;
let stderr: MockInstance;
const text = (m: MockInstance) => m.mock.calls.map((c) => String(c[0])).join('');
beforeEach(() => {
  stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(() => vi.restoreAllMocks());

/** A file from a raw header (bytes or text), an explicit length prefix and data. */
function file(header: string | Uint8Array, data = new Uint8Array(0), lengthPrefix?: bigint): Uint8Array {
  const h = typeof header === 'string' ? new TextEncoder().encode(header) : header;
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthPrefix ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

const entry = (dtype: string, shape: number[], a: number | string, b: number | string) => `{"dtype":"${dtype}","shape":[${shape}],"data_offsets":[${a},${b}]}`;

let n = 0;
async function run(bytes: Uint8Array): Promise<{ code: number; out: string; err: string }> {
  const p = join(dir, `f${n++}.safetensors`);
  writeFileSync(p, bytes);
  stdout.mockClear();
  stderr.mockClear();
  const code = await inspectCommand([p]);
  return { code, out: text(stdout), err: text(stderr) };
}

describe('inspect follows the reference rules', () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ['header length above 100,000,000', file('{}', new Uint8Array(0), 100_000_001n), /header length 100000001 exceeds the limit of 100000000 bytes/],
    ['header length of 2^64 - 1', file('{}', new Uint8Array(0), (1n << 64n) - 1n), /header length 18446744073709551615 exceeds the limit/],
    ['header not UTF-8', file(Uint8Array.of(0x7b, 0xff, 0x7d)), /not valid UTF-8/],
    ['header not a JSON object', file('[1,2]'), /must be a JSON object, got an array/],
    ['header not JSON', file('{"a":'), /not valid JSON/],
    ['unknown dtype', file(`{"w":${entry('F4', [1], 0, 1)}}`, new Uint8Array(1)), /unknown dtype the string "F4"/],
    ['first tensor not at offset 0 (hole)', file(`{"w":${entry('U8', [1], 1, 2)}}`, new Uint8Array(2)), /starts at 1 but the data section starts at 0/],
    ['hole between tensors', file(`{"a":${entry('U8', [1], 0, 1)},"b":${entry('U8', [1], 2, 3)}}`, new Uint8Array(3)), /bytes 1\.\.2 belong to no tensor/],
    ['overlapping tensors', file(`{"a":${entry('U8', [2], 0, 2)},"b":${entry('U8', [2], 1, 3)}}`, new Uint8Array(3)), /overlap/],
    ['data past the end of the file', file(`{"w":${entry('F32', [2], 0, 8)}}`, new Uint8Array(4)), /run past the data section, which has 4 bytes/],
    ['trailing bytes after the last tensor', file(`{"w":${entry('U8', [1], 0, 1)}}`, new Uint8Array(3)), /2 trailing bytes/],
    ['size not shape x dtype', file(`{"w":${entry('F32', [3], 0, 8)}}`, new Uint8Array(8)), /shape \[3\] F32 needs 12 bytes but data_offsets \[0,8\] span 8/],
    ['shape x dtype overflows u64', file(`{"w":${entry('F64', [4294967296, 4294967296], 0, 0)}}`), /shape \[4294967296,4294967296\] F64 is more than 2\^64-1 bytes/],
    ['offsets above 2^53', file(`{"w":${entry('U8', [0], '9007199254740993', '9007199254740993')}}`), /data_offsets/],
    ['non-string metadata', file(`{"__metadata__":{"n":1}}`), /__metadata__\["n"\] must be a string, got 1/],
  ];
  for (const [label, bytes, why] of cases) {
    it(`${label}: exit 2, one line naming it`, async () => {
      const r = await run(bytes);
      expect(r.code).toBe(2);
      expect(r.out).toBe('');
      expect(r.err).toMatch(why);
      expect(r.err.indexOf('\n')).toBe(r.err.length - 1);
    });
  }

  it('a header of exactly 100,000,000 bytes is within the limit (this short file is refused as truncated instead)', async () => {
    const r = await run(file('{}', new Uint8Array(0), 100_000_000n));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/header length 100000000 runs past the end of the file/);
  });

  it('integers above 2^53 print exactly (U64 max, I64 min)', async () => {
    const u64 = new Uint8Array(16);
    const dv = new DataView(u64.buffer);
    dv.setBigUint64(0, (1n << 64n) - 1n, true);
    dv.setBigUint64(8, (1n << 53n) + 1n, true);
    const bytes = serializeSafetensors([
      { name: 'u', dtype: 'U64', shape: [2], data: u64 },
      { name: 'i', shape: [1], data: BigInt64Array.of(-(1n << 63n)) },
    ]);
    const r = await run(bytes);
    expect(r.code).toBe(0);
    expect(r.out).toContain('values: [18446744073709551615, 9007199254740993]');
    expect(r.out).toContain('values: [-9223372036854775808]');
  });
});
