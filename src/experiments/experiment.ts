/**
 * What every paper reproduction is to the rest of the code: a summary, its command-line options
 * as plain data, and `run(values, io)`. The CLI (src/cli/repro.ts) only parses the arguments with
 * `options` and hands `io` its printers; an experiment computes, writes its output folder
 * (results.json with a `checks` list, results.md, figures) and reports through `io`, so it never
 * touches process.argv, stdout or a progress bar itself.
 */

/** A parseArgs-style option: `--name value` (string) or a flag (boolean). */
export interface ExperimentOption {
  type: 'string' | 'boolean';
  default?: string | boolean;
}

export type ExperimentValues = Record<string, string | boolean | undefined>;

export interface Progress {
  update(done: number, note?: string): void;
  done(note?: string): void;
}

export interface ExperimentIo {
  /** A line of progress or information (the CLI writes it to stderr). */
  log(line: string): void;
  /** The result table in markdown (the CLI writes it to stdout). */
  print(text: string): void;
  /** A progress indicator over `total` units of work. */
  progress(total: number, label: string): Progress;
}

export interface Experiment {
  summary: string;
  /** One line of options, e.g. `[--quick] [--out dir] [--seed S]`. */
  usage: string;
  options: Record<string, ExperimentOption>;
  /** Resolves to the process exit code (0 ok). Throws Error with an actionable message on bad options. */
  run(values: ExperimentValues, io: ExperimentIo): Promise<number>;
}

/** Rounds to `d` significant digits for results files (non-finite values pass through). */
export const round = (v: number, d = 4): number => (Number.isFinite(v) ? Number(v.toPrecision(d)) : v);

/** A numeric option: undefined when absent; an Error naming the option when it is not a number ≥ min (an integer with `int`). */
export function numberOption(v: string | boolean | undefined, name: string, opts: { int?: boolean; min: number; exclusiveMin?: boolean }): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  const tooSmall = opts.exclusiveMin ? !(n > opts.min) : !(n >= opts.min);
  if (!Number.isFinite(n) || (opts.int && !Number.isInteger(n)) || tooSmall) {
    throw new Error(`--${name} must be ${opts.int ? 'an integer' : 'a number'} ${opts.exclusiveMin ? '>' : '≥'} ${opts.min}, got '${String(v)}'`);
  }
  return n;
}

/** A string option (undefined when absent). */
export function stringOption(v: string | boolean | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
