/**
 * `npm run cli -- latents`: builds a playground session in Node from a page link's settings,
 * trains it, and prints as JSON the site metrics of every group (training window or held-out
 * set) and, with --unit, one unit's dashboard — the numbers the page shows, without a browser.
 * Parses and prints only: everything else is the session API (src/playground/session.ts).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { configFromHash } from '../config/url';
import { acquireNodeGpu } from '../engine/node-gpu';
import { GpuRuntime } from '../engine/runtime';
import { nodeAssets } from '../playground/node-assets';
import { PlaygroundSession } from '../playground/session';

export const LATENTS_USAGE = `latents [--config 'task=digits&adapter.kind=stan&…'] [--steps N] [--held-out] [--eval] [--window ROWS] [--group G] [--unit U] [--small] [--out file.json]
    Train a playground session (settings as in the page's link) and print the site metrics of every
    group (L0, dead/dense fractions, density histogram, output share, per-unit statistics) over the
    training window (or the held-out set), and with --unit that unit's dashboard, as JSON. --eval adds
    the validation loss and the held-out set's metrics per group after training.`;

/** JSON with typed arrays as plain arrays and non-finite numbers as null. */
function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_k, v: unknown) => {
      if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>);
      if (typeof v === 'number' && !Number.isFinite(v)) return null;
      return v;
    },
    2,
  );
}

export async function latentsCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', default: '' },
      steps: { type: 'string', default: '50' },
      'held-out': { type: 'boolean', default: false },
      eval: { type: 'boolean', default: false },
      window: { type: 'string' },
      group: { type: 'string' },
      unit: { type: 'string' },
      small: { type: 'boolean', default: false },
      out: { type: 'string' },
    },
    strict: true,
  });
  const { config, issues } = configFromHash(values.config!);
  if (issues.length) {
    process.stderr.write(`error: --config: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}\n`);
    return 2;
  }
  const steps = Number(values.steps);
  if (!Number.isInteger(steps) || steps < 0 || steps > 100_000) throw new Error(`--steps must be an integer in 0…100000, got '${values.steps}'`);
  const window = values.window === undefined ? undefined : Number(values.window);
  if (window !== undefined && !(Number.isInteger(window) && window >= 1)) throw new Error(`--window must be a positive integer (rows), got '${values.window}'`);
  const unit = values.unit === undefined ? null : Number(values.unit);
  if (unit !== null && !(Number.isInteger(unit) && unit >= 0)) throw new Error(`--unit must be an integer ≥ 0, got '${values.unit}'`);
  const group = values.group === undefined ? null : Number(values.group);
  if (group !== null && !(Number.isInteger(group) && group >= 0)) throw new Error(`--group must be an integer ≥ 0, got '${values.group}'`);

  const ctx = await acquireNodeGpu();
  const rt = new GpuRuntime(ctx);
  process.stderr.write(`adapter: ${`${ctx.info.vendor} ${ctx.info.architecture} ${ctx.info.description}`.trim()}\n`);
  const session = await PlaygroundSession.create(rt, config, {
    assets: nodeAssets(),
    small: values.small!,
    stream: { metricEvery: 10, validateEvery: 0, statsEvery: 0, ...(window !== undefined ? { statsWindow: window } : {}) },
    onEvent: (e) => {
      if (e.type === 'progress') process.stderr.write(`${e.label}: ${e.done}/${e.total}\n`);
    },
  });
  try {
    const t0 = performance.now();
    for (let done = 0; done < steps; ) {
      const n = Math.min(1000, steps - done);
      await session.stepN(n);
      done += n;
      process.stderr.write(`step ${session.step}\n`);
    }
    const trainSeconds = (performance.now() - t0) / 1000;
    const info = session.info();
    const stats = await session.stats({ source: values['held-out'] ? 'held-out' : 'training' });
    const shown = group === null ? stats : stats.filter((s) => s.group === group);
    if (group !== null && !info.groups[group]) throw new Error(`--group ${group}: this session has groups 0…${info.groups.length - 1}`);
    const out: Record<string, unknown> = {
      config: info.config,
      step: session.step,
      trainSeconds,
      groups: info.groups,
      sites: shown.map((s) => ({ ...s, path: info.groups[s.group]!.path })),
    };
    if (values.eval) {
      out.validation = await session.validate();
      const held = await session.stats({ source: 'held-out' });
      out.heldOut = held.filter((s) => group === null || s.group === group).map((s) => ({ group: s.group, path: info.groups[s.group]!.path, samples: s.samples, metrics: s.metrics }));
    }
    if (unit !== null) out.dashboard = await session.dashboard(group ?? 0, unit);
    const text = toJson(out);
    if (values.out) writeFileSync(values.out, `${text}\n`);
    else process.stdout.write(`${text}\n`);
    return 0;
  } finally {
    session.destroy();
  }
}
