/** Shared setup and output helpers of the STAN experiments (see ./stan.ts). */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { acquireNodeGpu } from '../engine/node-gpu';
import { GpuRuntime } from '../engine/runtime';
import { loadMnistNode } from '../data/mnist-node';
import { baseCheckpointMetadata } from '../io/base-checkpoint';
import { DIGITS_CHECKPOINT_FILE, digitsConfigFromMetadata } from '../tasks/digits';
import { numberOption, stringOption, type ExperimentIo, type ExperimentOption, type ExperimentValues } from './experiment';
import { FULL_SETTINGS, QUICK_SETTINGS, type ProtocolSettings, type RunEnv } from './stan-runs';

export const STAN_COMMON_OPTIONS: Record<string, ExperimentOption> = {
  quick: { type: 'boolean', default: false },
  out: { type: 'string' },
  base: { type: 'string' },
  store: { type: 'string' },
  seeds: { type: 'string' },
  cap: { type: 'string' },
  'stored-only': { type: 'boolean', default: false },
};

export const STAN_COMMON_USAGE = '[--quick] [--out dir] [--base file] [--store dir] [--seeds N] [--cap steps] [--stored-only]';

export interface StanCommon {
  io: ExperimentIo;
  quick: boolean;
  out: string;
  env: RunEnv;
  seeds: number[];
  device: string;
  baseFile: string;
  baseMeta: Record<string, string>;
  started: number;
  destroy(): void;
}

export async function stanSetup(name: string, values: ExperimentValues, io: ExperimentIo): Promise<StanCommon> {
  const quick = values.quick === true;
  const baseFile = stringOption(values.base) ?? join('public', 'checkpoints', DIGITS_CHECKPOINT_FILE);
  let base: Uint8Array;
  try {
    base = new Uint8Array(readFileSync(baseFile));
  } catch (e) {
    throw new Error(`cannot read the base checkpoint '${baseFile}' (${(e as Error).message}); create it with \`npm run cli -- pretrain digits\` or pass --base file`);
  }
  const baseMeta = baseCheckpointMetadata(base);
  const model = digitsConfigFromMetadata(baseMeta);
  const nSeeds = numberOption(values.seeds, 'seeds', { int: true, min: 1 }) ?? 2;
  const settings: ProtocolSettings = { ...(quick ? QUICK_SETTINGS : FULL_SETTINGS) };
  const cap = numberOption(values.cap, 'cap', { int: true, min: 1 });
  if (cap !== undefined) settings.cap = cap;
  const out = stringOption(values.out) ?? join('repro-results', name);
  const store = stringOption(values.store) ?? join('repro-results', quick ? 'stan-runs-quick' : 'stan-runs');
  mkdirSync(out, { recursive: true });
  mkdirSync(store, { recursive: true });
  const ctx = await acquireNodeGpu();
  const rt = new GpuRuntime(ctx);
  const device = `${ctx.info.vendor} ${ctx.info.architecture} ${ctx.info.description}`.trim();
  io.log(`adapter: ${device}; run store ${store}`);
  return {
    io,
    quick,
    out,
    env: { io, rt, mnist: loadMnistNode(), base, model, settings, store, baseCache: new Map(), storedOnly: values['stored-only'] === true },
    seeds: Array.from({ length: nSeeds }, (_, i) => i + 1),
    device,
    baseFile,
    baseMeta,
    started: performance.now(),
    destroy: () => rt.destroy(),
  };
}

export function writeOutputs(c: StanCommon, results: object, md: string, figs: Record<string, string>): void {
  writeFileSync(join(c.out, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  for (const [f, svg] of Object.entries(figs)) writeFileSync(join(c.out, f), svg);
  writeFileSync(join(c.out, 'results.md'), md);
  c.io.print(md);
  c.io.log(`wrote ${join(c.out, 'results.json')}, results.md and ${Object.keys(figs).length} figures`);
}

/** The protocol, as results.json states it. */
export function protocolSummary(s: ProtocolSettings): Record<string, unknown> {
  return {
    validation: `${s.validation} images carved from the train split (fixed, the same for every seed); every choice is made on it`,
    test: `${s.testImages} test digits per view`,
    optimizer: `AdamW, weight decay ${s.weightDecay} on every adapter weight, batch ${s.batch}`,
    schedule: `${Math.round(100 * s.warmupFraction)} % linear warm-up, cosine decay to 0 over the step cap (${s.cap} steps)`,
    lrGrid: s.lrs,
    lrSelection: `successive halving on validation with seed 1: every rate to step ${s.halvingAt}, the best ${s.halvingKeep} to their plateau, highest best-validation accuracy wins (ties: the smaller rate)`,
    evaluation: `validation accuracy every ${s.evalEvery} steps`,
    plateau: `stop when max validation accuracy over the last ${s.plateauWindow} steps exceeds the max before them by < ${100 * s.plateauMinGain} points, or at the cap; the best validation checkpoint is scored on test`,
  };
}

export const pts = (v: number, d = 1) => (100 * v).toFixed(d);
