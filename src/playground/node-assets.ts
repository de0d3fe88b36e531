/** TaskAssets in Node (tests, CLI): files under <root>/public, MNIST built on first use. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MNIST_URL } from '../data/mnist';
import { loadMnistNode } from '../data/mnist-node';
import type { TaskAssets } from './tasks/task';

export function nodeAssets(root = process.cwd()): TaskAssets {
  return {
    async bytes(path: string): Promise<Uint8Array> {
      const file = join(root, 'public', path);
      if (path === MNIST_URL && !existsSync(file)) loadMnistNode(root); // builds the binary
      if (!existsSync(file)) throw new Error(`${file} does not exist (task asset '${path}')`);
      return new Uint8Array(readFileSync(file));
    },
  };
}
