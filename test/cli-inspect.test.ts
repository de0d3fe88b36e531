import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { inspectCommand, INSPECT_USAGE } from '../src/cli/inspect';
import { crc32Hex, serializeSafetensors } from '../src/io/safetensors';

const dir = mkdtempSync(join(tmpdir(), 'inspect-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

let stdout: MockInstance;
let stderr: MockInstance;
const text = (m: MockInstance) => m.mock.calls.map((c) => String(c[0])).join('');
beforeEach(() => {
  stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(() => vi.restoreAllMocks());

const w = Float32Array.of(1.5, -2, 0.25, NaN, 4, 0.5, 8, 1);
const good = write(
  'good.safetensors',
  serializeSafetensors(
    [
      { name: 'layer.0.weight', shape: [2, 4], data: w },
      { name: 'steps', shape: [2], data: BigInt64Array.of(2n ** 53n + 1n, -5n) },
      { name: 'bf', dtype: 'BF16', shape: [2], data: Uint8Array.of(0x80, 0x3f, 0x00, 0xc0) }, // 1, -2
      { name: 'empty', shape: [0, 3], data: new Float32Array(0) },
      { name: 'evil\n\u001b[31m\u009b', shape: [1], data: Uint8Array.of(7) },
    ],
    { format: 'pt', note: 'two\nlines' },
  ),
);

describe('inspectCommand', () => {
  it('prints metadata, per-tensor dtype/shape/checksum, first values and float stats', async () => {
    expect(await inspectCommand([good])).toBe(0);
    const out = text(stdout);
    expect(text(stderr)).toBe('');
    expect(out).toContain(`${good}: 5 tensors, 13 elements`);
    expect(out).toContain('  format: pt\n');
    expect(out).toContain('  note: "two\\nlines"\n');
    const bytesOfW = new Uint8Array(w.buffer);
    expect(out).toContain(`  layer.0.weight  F32 [2,4]  32 bytes  crc32=${crc32Hex(bytesOfW)}\n`);
    expect(out).toContain('    values: [1.5, -2, 0.25, NaN, 4, 0.5, ... (8 total)]\n');
    // NaN is left out of the statistics: (1.5 - 2 + 0.25 + 4 + 0.5 + 8 + 1) / 7 = 13.25 / 7
    expect(out).toContain(`    min=-2 max=8 mean=${Number((13.25 / 7).toPrecision(6))}  nan=1\n`);
    expect(out).toContain('  steps  I64 [2]  16 bytes');
    expect(out).toContain('    values: [9007199254740993, -5]\n'); // exact above 2^53
    expect(out).toContain('  bf  BF16 [2]  4 bytes');
    expect(out).toContain('    values: [1, -2]\n    min=-2 max=1 mean=-0.5\n');
    expect(out).toContain('  empty  F32 [0,3]  0 bytes  crc32=00000000\n    (empty)\n');
    // Control characters from the file never reach the terminal raw.
    expect(out).toContain('  "evil\\n\\u001b[31m\\u009b"  U8 [1]');
    expect(out).not.toMatch(/[\u001b\u009b]/);
  });

  it('--values limits how many values are shown', async () => {
    expect(await inspectCommand(['--values', '2', good])).toBe(0);
    expect(text(stdout)).toContain('    values: [1.5, -2, ... (8 total)]\n');
    stdout.mockClear();
    expect(await inspectCommand(['--values=0', good])).toBe(0);
    expect(text(stdout)).not.toContain('values:');
    expect(text(stdout)).toContain('min=-2 max=8');
  });

  it('a malformed file gives one clear line on stderr and exit code 2', async () => {
    const cases: [string, Uint8Array, RegExp][] = [
      ['short.safetensors', new Uint8Array(5), /file is 5 bytes/],
      ['cut.safetensors', readGood().subarray(0, readGood().length - 3), /run past the data section/],
      ['huge.safetensors', Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0x80), /header length 9223372036854775808 exceeds the limit/],
    ];
    for (const [name, bytes, why] of cases) {
      stderr.mockClear();
      stdout.mockClear();
      const p = write(name, bytes);
      expect(await inspectCommand([p])).toBe(2);
      const err = text(stderr);
      expect(err.startsWith(`error: ${p}: `)).toBe(true);
      expect(err).toMatch(why);
      expect(err.endsWith('\n') && err.indexOf('\n') === err.length - 1).toBe(true);
      expect(text(stdout)).toBe('');
    }
  });

  it('control characters in an error message are escaped too', async () => {
    const h = new TextEncoder().encode('{"bad\\u009b\\n":{"dtype":"X","shape":[],"data_offsets":[0,0]}}');
    const bytes = new Uint8Array(8 + h.length);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(h.length), true);
    bytes.set(h, 8);
    expect(await inspectCommand([write('ctl.safetensors', bytes)])).toBe(2);
    const err = text(stderr);
    expect(err).toContain('unknown dtype');
    expect(err).not.toMatch(/[\u009b]/);
    expect(err.indexOf('\n')).toBe(err.length - 1);
  });

  it('missing file or directory: exit code 1', async () => {
    const missing = join(dir, 'nope.safetensors');
    expect(await inspectCommand([missing])).toBe(1);
    expect(text(stderr)).toBe(`error: ${missing}: no such file\n`);
    stderr.mockClear();
    expect(await inspectCommand([dir])).toBe(1);
    expect(text(stderr)).toBe(`error: ${dir}: is a directory\n`);
  });

  it('reports every file and returns the worst code', async () => {
    const bad = write('bad.safetensors', new Uint8Array(3));
    expect(await inspectCommand([good, bad, good])).toBe(2);
    expect(text(stdout).split(`${good}: 5 tensors`).length - 1).toBe(2);
    expect(text(stderr)).toMatch(/^error: .*bad\.safetensors: file is 3 bytes/);
  });

  it('usage errors and --help', async () => {
    expect(await inspectCommand([])).toBe(1);
    expect(text(stderr)).toContain(INSPECT_USAGE);
    stderr.mockClear();
    expect(await inspectCommand(['--bogus', good])).toBe(1);
    expect(text(stderr)).toContain('unknown option --bogus');
    stderr.mockClear();
    expect(await inspectCommand(['--values', '-1', good])).toBe(1);
    expect(await inspectCommand(['--values'])).toBe(1);
    expect(text(stdout)).toBe('');
    expect(await inspectCommand(['--help'])).toBe(0);
    expect(text(stdout)).toContain(INSPECT_USAGE);
  });
});

function readGood(): Uint8Array {
  return serializeSafetensors([{ name: 'w', shape: [4], data: Float32Array.of(1, 2, 3, 4) }]);
}
