import { describe, expect, it } from 'vitest';
import { CommandList, type GpuRuntime } from '../src/engine/runtime';
import { createTopKOverride, recordTopK, resolveTopKVariant, threadKernel, topkCpu, topkKey, TOPK_INSERT_MAX_K, writeTopKOverride, type TopKMode, type TopKThreadKernel } from '../src/kernels/topk';
import { randomArray, testRuntime } from './helpers/gpu';

type Variant = 'thread' | 'workgroup';

interface Case {
  rows: number;
  l: number;
  k: number;
  mode?: TopKMode;
  /** Generator of x (default uniform in [-1, 1)). */
  data?: (n: number, seed: number) => Float32Array;
  mask?: boolean;
  kOverride?: number;
}

/** Values on a coarse grid: many exact ties (and ±0). */
const tied = (n: number, seed: number) => randomArray(n, seed, -1, 1).map((v) => Math.round(v * 3) / 3);
const allNegative = (n: number, seed: number) => randomArray(n, seed, -5, -0.001);
const constant = (n: number) => new Float32Array(n).fill(0.25);
/** NaNs of both signs, ±inf, ±0 and ordinary values (NaNs order by their bit pattern). */
const special = (n: number, seed: number) => {
  const out = randomArray(n, seed);
  const bits = new Uint32Array(out.buffer);
  const pick = randomArray(n, seed + 1, 0, 1);
  for (let i = 0; i < n; i++) {
    const u = pick[i]!;
    if (u < 0.05) bits[i] = 0x7fc00000; // +NaN
    else if (u < 0.1) bits[i] = 0xffc00000; // −NaN
    else if (u < 0.15) out[i] = Infinity;
    else if (u < 0.2) out[i] = -Infinity;
    else if (u < 0.25) out[i] = 0;
    else if (u < 0.3) out[i] = -0;
  }
  return out;
};

async function run(rt: GpuRuntime, variant: Variant, c: Case, seed: number, kernel?: TopKThreadKernel) {
  const n = c.rows * c.l;
  const xv = (c.data ?? ((m: number, s: number) => randomArray(m, s)))(n, seed);
  const x = rt.tensor([c.rows, c.l], 'x', xv);
  const indices = rt.tensor([c.rows, c.k], 'idx');
  const values = rt.tensor([c.rows, c.k], 'val');
  const maskv = c.mask ? randomArray(c.l, seed + 7).map((v) => (v > 0 ? 1 : 0)) : undefined;
  const mask = maskv ? rt.tensor([c.l], 'mask', maskv) : undefined;
  const kOverride = c.kOverride !== undefined ? createTopKOverride(rt, c.kOverride) : undefined;
  const list = new CommandList('topk');
  rt.device.pushErrorScope('validation');
  recordTopK(rt, list, { x, rows: c.rows, l: c.l, k: c.k, indices, values, mode: c.mode ?? 'signed', variant, ...(kernel ? { threadKernel: kernel } : {}), ...(mask ? { mask } : {}), ...(kOverride ? { kOverride } : {}) });
  rt.submit([list]);
  const err = await rt.device.popErrorScope();
  expect(err?.message ?? null).toBeNull();
  const gi = new Uint32Array((await rt.read(indices)).buffer);
  const gv = await rt.read(values);
  const ref = topkCpu(xv, { rows: c.rows, l: c.l, k: c.k, mode: c.mode ?? 'signed', ...(maskv ? { mask: maskv } : {}), ...(c.kOverride !== undefined ? { kOverride: c.kOverride } : {}) });
  for (const t of [x, indices, values, mask, kOverride]) if (t) rt.release(t);
  return { gi, gv, ref, xv };
}

// Thread-variant kernels: insert4 (k ≤ 64, l % 4 == 0), insert (k ≤ 64, other l), radix (k > 64, or
// 48 ≤ k ≤ 64 with 4k ≤ l ≤ 8k).
const cases: Case[] = [
  { rows: 4, l: 72, k: 9, data: special }, // NaNs of both signs, ±inf, ±0
  { rows: 4, l: 72, k: 9, data: special, mode: 'abs' },
  { rows: 3, l: 300, k: 8, data: special },
  { rows: 3, l: 37, k: 20, data: special },
  { rows: 3, l: 130, k: 70, data: special },
  { rows: 5, l: 256, k: 64, data: tied, mask: true }, // radix below the insertion limit (radixPays)
  { rows: 3, l: 300, k: 50, mode: 'abs', kOverride: 9 }, // radix (radixPays)
  { rows: 1, l: 1, k: 1 }, // insert
  { rows: 3, l: 37, k: 1 }, // insert
  { rows: 5, l: 37, k: 37 }, // k = l, l not a multiple of any workgroup size (insert)
  { rows: 4, l: 300, k: 8 }, // insert4
  { rows: 4, l: 300, k: 33, mode: 'abs' }, // insert4
  { rows: 2, l: 257, k: 257, mode: 'abs' }, // radix, k = l
  { rows: 6, l: 100, k: 20, data: tied }, // insert4
  { rows: 6, l: 99, k: 50, data: tied, mode: 'abs' }, // insert
  { rows: 6, l: 300, k: 90, data: tied }, // radix with ties at the threshold
  { rows: 3, l: 64, k: 10, data: allNegative }, // insert4
  { rows: 3, l: 130, k: 70, data: allNegative }, // radix
  { rows: 2, l: 50, k: 7, data: constant }, // every key ties (insert)
  { rows: 2, l: 52, k: 45, data: constant }, // insert4
  { rows: 2, l: 100, k: 65, data: constant }, // radix
  { rows: 17, l: 129, k: 16, mask: true }, // insert
  { rows: 17, l: 129, k: 100, mask: true, mode: 'abs' }, // radix
  { rows: 9, l: 200, k: 12, kOverride: 5 }, // insert4
  { rows: 9, l: 200, k: 64, kOverride: 1, mask: true }, // insert4 at the insertion limit
  { rows: 9, l: 201, k: 80, kOverride: 7, mask: true }, // radix
  { rows: 2, l: 4096, k: 64 }, // insert4
  { rows: 1, l: 4096, k: 1024, data: tied }, // radix
];

function label(c: Case): string {
  return `rows=${c.rows} l=${c.l} k=${c.k}${c.mode === 'abs' ? ' abs' : ''}${c.data === tied ? ' ties' : ''}${c.data === special ? ' NaN/inf/±0' : ''}${c.data === allNegative ? ' all-negative' : ''}${c.data === constant ? ' constant' : ''}${c.mask ? ' mask' : ''}${c.kOverride !== undefined ? ` k'=${c.kOverride}` : ''}`;
}

describe('topk kernels vs the exact CPU reference', () => {
  for (const variant of ['thread', 'workgroup'] as const) {
    for (const [i, c] of cases.entries()) {
      it(`${variant}: ${label(c)}`, async () => {
        const rt = await testRuntime();
        const { gi, gv, ref } = await run(rt, variant, c, 100 + i);
        expect(Array.from(gi)).toEqual(Array.from(ref.indices));
        expect(Array.from(gv)).toEqual(Array.from(ref.values));
      });
    }
  }

  // Every thread-variant entry point on every case it accepts, whatever the rule would pick.
  const forced: [TopKThreadKernel, (c: Case) => boolean][] = [
    ['topk_insert4', (c) => c.l % 4 === 0 && c.k <= TOPK_INSERT_MAX_K],
    ['topk_insert', (c) => c.k <= TOPK_INSERT_MAX_K],
    ['topk_thread', () => true],
  ];
  for (const [kernel, accepts] of forced) {
    it(`${kernel} forced on every case it accepts`, async () => {
      const rt = await testRuntime();
      let n = 0;
      const probe = rt.tensor([4], 'probe');
      for (const [i, c] of cases.entries()) {
        if (!accepts(c) || threadKernel(c.k, c.l, probe) === kernel) continue;
        const { gi, gv, ref } = await run(rt, 'thread', c, 300 + i, kernel);
        expect(Array.from(gi), label(c)).toEqual(Array.from(ref.indices));
        expect(Array.from(gv), label(c)).toEqual(Array.from(ref.values));
        n++;
      }
      rt.release(probe);
      expect(n).toBeGreaterThan(1);
    });
  }

  it('l = 4096, k = 1000 (above the workgroup limit) on the thread path', async () => {
    const rt = await testRuntime();
    const { gi, gv, ref } = await run(rt, 'thread', { rows: 2, l: 4096, k: 1000 }, 5);
    expect(Array.from(gi)).toEqual(Array.from(ref.indices));
    expect(Array.from(gv)).toEqual(Array.from(ref.values));
  });
});

describe('topk semantics', () => {
  it('reference: descending order, ties by lower index, abs keeps the sign, mask zeroes without reselecting', () => {
    const x = [0.5, -2, 0.5, 1, -0, 0];
    expect(topkCpu(x, { rows: 1, l: 6, k: 4 })).toEqual({ indices: Uint32Array.from([3, 0, 2, 4]), values: Float64Array.from([1, 0.5, 0.5, -0]) });
    expect(topkCpu(x, { rows: 1, l: 6, k: 3, mode: 'abs' })).toEqual({ indices: Uint32Array.from([1, 3, 0]), values: Float64Array.from([-2, 1, 0.5]) });
    expect(topkCpu(x, { rows: 1, l: 6, k: 3, mask: [1, 1, 1, 0, 1, 1] })).toEqual({ indices: Uint32Array.from([3, 0, 2]), values: Float64Array.from([0, 0.5, 0.5]) });
    expect(topkCpu(x, { rows: 1, l: 6, k: 3, kOverride: 1 })).toEqual({ indices: Uint32Array.from([3, 0, 2]), values: Float64Array.from([1, 0, 0]) });
    expect(topkKey(-0)).toBe(topkKey(0));
    expect(topkKey(-1)).toBeLessThan(topkKey(-0.5));
    expect(topkKey(-0.5)).toBeLessThan(topkKey(0));
    expect(topkKey(0)).toBeLessThan(topkKey(1e-30));
  });

  it('k override rewritten between submits changes the output without re-recording', async () => {
    const rt = await testRuntime();
    const rows = 4;
    const l = 90;
    const k = 12;
    const xv = randomArray(rows * l, 3);
    const x = rt.tensor([rows, l], 'x', xv);
    const indices = rt.tensor([rows, k], 'idx');
    const values = rt.tensor([rows, k], 'val');
    const kbuf = createTopKOverride(rt, k);
    const list = new CommandList('topk');
    recordTopK(rt, list, { x, rows, l, k, indices, values, kOverride: kbuf });
    for (const kk of [12, 3, 1, 7]) {
      writeTopKOverride(rt, kbuf, kk);
      rt.submit([list]);
      expect(Array.from(await rt.read(values))).toEqual(Array.from(topkCpu(xv, { rows, l, k, kOverride: kk }).values));
    }
  });

  it('the cases above exercise every thread-variant kernel', async () => {
    const rt = await testRuntime();
    const x = rt.tensor([4], 'x');
    const used = new Set(cases.map((c) => threadKernel(c.k, c.l, x)));
    expect([...used].sort()).toEqual(['topk_insert', 'topk_insert4', 'topk_thread']);
  });

  it('auto resolves to the thread variant on SwiftShader and for k above the workgroup limit', async () => {
    const rt = await testRuntime();
    expect(resolveTopKVariant(rt, 2000)).toBe('thread');
    expect(resolveTopKVariant(rt, 8)).toBe(rt.isSwiftShader ? 'thread' : 'workgroup');
    expect(resolveTopKVariant(rt, 8, 'workgroup')).toBe('workgroup');
  });

  it('rejects impossible shapes with the field named', async () => {
    const rt = await testRuntime();
    const x = rt.tensor([2, 8], 'x');
    const i = rt.tensor([2, 8], 'i');
    const v = rt.tensor([2, 8], 'v');
    const list = new CommandList('bad');
    expect(() => recordTopK(rt, list, { x, rows: 2, l: 8, k: 9, indices: i, values: v })).toThrow(/k must be an integer in \[1, 8\]/);
    expect(() => recordTopK(rt, list, { x, rows: 2, l: 8, k: 0, indices: i, values: v })).toThrow(/k must be/);
    expect(() => recordTopK(rt, list, { x, rows: 3, l: 8, k: 2, indices: i, values: v })).toThrow(/x 'x' has 16 elements/);
    expect(() => recordTopK(rt, list, { x, rows: 2, l: 8, k: 2, indices: x, values: v })).toThrow(/shares a GPU buffer/);
    expect(list.ops.length).toBe(0);
  });
});
