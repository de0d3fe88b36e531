// Node module-loader hook: files ending in .wgsl (optionally with ?raw) load as a default-exported string.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export async function load(url, context, nextLoad) {
  const clean = url.split('?')[0];
  if (clean.endsWith('.wgsl')) {
    const text = await readFile(fileURLToPath(clean), 'utf8');
    return { format: 'module', shortCircuit: true, source: `export default ${JSON.stringify(text)};` };
  }
  return nextLoad(url, context);
}
