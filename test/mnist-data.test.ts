import { describe, expect, it } from 'vitest';
import { MnistFormatError, parseMnist, splitMnist } from '../src/data/mnist';
import { loadMnistNode } from '../src/data/mnist-node';

describe('MNIST binary', () => {
  it('loads 10,000 labelled 28×28 digits with pixels in [0,1]', () => {
    const m = loadMnistNode();
    expect(m.count).toBe(10000);
    expect(m.pixels.length).toBe(10000 * 784);
    const perDigit = Array.from({ length: 10 }, (_, d) => m.labels.filter((l) => l === d).length);
    expect(perDigit.reduce((a, b) => a + b, 0)).toBe(10000);
    expect(Math.min(...perDigit)).toBeGreaterThan(800);
    let max = 0;
    let min = 1;
    for (const v of m.pixels) {
      max = Math.max(max, v);
      min = Math.min(min, v);
    }
    expect(min).toBe(0);
    expect(max).toBe(1);
    // Digits have ink: mean intensity of each image well above 0.
    const ink = m.pixels.subarray(0, 784).reduce((a, b) => a + b, 0) / 784;
    expect(ink).toBeGreaterThan(0.05);
  });

  it('splits deterministically and disjointly, stratified by digit', () => {
    const m = loadMnistNode();
    const a = splitMnist(m, 7);
    const b = splitMnist(m, 7);
    expect(a).toEqual(b);
    expect(a.train.length + a.test.length).toBe(10000);
    const testSet = new Set(a.test);
    expect(a.train.some((i) => testSet.has(i))).toBe(false);
    expect(splitMnist(m, 8).test).not.toEqual(a.test);
  });

  it('rejects malformed files with a clear error', () => {
    expect(() => parseMnist(new Uint8Array(10))).toThrow(MnistFormatError);
    const bad = new Uint8Array(20 + 1 + 784);
    bad.set([0x4d, 0x4e, 0x53, 0x54]);
    expect(() => parseMnist(bad)).toThrow(/version/);
    const dv = new DataView(bad.buffer);
    dv.setUint32(4, 1, true);
    dv.setUint32(8, 2, true);
    dv.setUint32(12, 28, true);
    dv.setUint32(16, 28, true);
    expect(() => parseMnist(bad)).toThrow(/2 digits need/);
    dv.setUint32(8, 1, true);
    bad[20] = 12;
    expect(() => parseMnist(bad)).toThrow(/label 12/);
  });
});
