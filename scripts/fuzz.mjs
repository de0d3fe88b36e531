#!/usr/bin/env node
// Longer fuzz runs than CI's: `npm run fuzz -- --runs 1000000 [--seed N] [--only session|safetensors]`.
// Runs the property-based fuzz files with FUZZ_RUNS inputs per parser (the safetensors file
// splits its FUZZ_RUNS over its properties) and no per-test timeout; the counts print at the end.
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
let runs = '100000';
let seed;
let only;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--runs') runs = args[++i];
  else if (a === '--seed') seed = args[++i];
  else if (a === '--only') only = args[++i];
  else {
    console.error(`fuzz: unknown argument ${JSON.stringify(a)}\nusage: npm run fuzz -- [--runs N] [--seed N] [--only importers|safetensors]`);
    process.exit(1);
  }
}
if (!/^[1-9][0-9]*$/.test(runs ?? '')) {
  console.error(`fuzz: --runs needs a positive integer, got ${JSON.stringify(runs)}`);
  process.exit(1);
}
const files = ['test/importers.fuzz.test.ts', 'test/safetensors.fuzz.test.ts'].filter((f) => !only || f.includes(only));
const env = { ...process.env, FUZZ_RUNS: runs, ...(seed === undefined ? {} : { FUZZ_SEED: seed }) };
const t0 = Date.now();
const r = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', '--testTimeout=0', '--maxWorkers=1', ...files], { stdio: 'inherit', env });
console.log(`fuzz: ${runs} runs per parser, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
process.exit(r.status ?? 1);
