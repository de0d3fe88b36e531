/**
 * `npm run cli -- repro <experiment> [options]` (or `npm run repro -- …`): parses the options an
 * experiment declares (src/experiments/registry.ts) and runs it with printers for stderr/stdout
 * and a progress bar. The experiment itself writes results.json, results.md and its figures.
 */
import { parseArgs } from 'node:util';
import type { ExperimentIo } from '../experiments/experiment';
import { EXPERIMENTS } from '../experiments/registry';
import { ProgressBar } from './progress';

export const REPRO_USAGE = `repro <experiment> [options]   (experiments: ${Object.keys(EXPERIMENTS).join(', ')})
    ${Object.entries(EXPERIMENTS)
      .map(([name, e]) => `repro ${name} ${e.usage}\n        ${e.summary}`)
      .join('\n    ')}
    Writes results.json, results.md and SVG figures (default out: repro-results/<experiment>/).
    fourier: --write-checkpoints public/checkpoints regenerates the shipped base models
    (fourier-dense/-sparse.safetensors); --load-bases dir fine-tunes those instead of pre-training.`;

/** The CLI's printers: log lines and progress on stderr, the result table on stdout. */
export const cliIo: ExperimentIo = {
  log: (line) => console.error(line),
  print: (text) => void process.stdout.write(text),
  progress: (total, label) => new ProgressBar(total, label),
};

export async function reproCommand(argv: string[], io: ExperimentIo = cliIo): Promise<number> {
  const [name, ...rest] = argv;
  const exp = name ? EXPERIMENTS[name] : undefined;
  if (!exp) {
    process.stderr.write(`error: ${name ? `unknown experiment '${name}'` : 'missing experiment name'}\n\nusage: npm run cli -- ${REPRO_USAGE}\n`);
    return 1;
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: rest, options: exp.options, strict: true }).values;
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n\nusage: npm run repro -- ${name} ${exp.usage}\n`);
    return 1;
  }
  return exp.run(values, io);
}
