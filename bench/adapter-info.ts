/**
 * `node --import tsx bench/adapter-info.ts`: the adapter Node's Dawn picks, as one JSON line
 * ({vendor, architecture, description, device, isSwiftShader, slug, features}) — used by
 * scripts/gpu-check.sh to name its results file and to refuse SwiftShader in full mode.
 */
import { acquireNodeGpu } from '../src/engine/node-gpu';

const ctx = await acquireNodeGpu({ optionalFeatures: ['timestamp-query', 'subgroups'] });
const i = ctx.info;
const slug = `${i.vendor}-${i.description || i.architecture || i.device}`.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'unknown';
process.stdout.write(JSON.stringify({ ...i, slug, features: [...ctx.features].sort() }) + '\n');
ctx.device.destroy();
process.exit(0);
