/**
 * The one configuration schema (valibot), shared by the URL, the UI, the CLI and session import.
 * Every rule names its field and allowed range, so an impossible value (k < 1, λ < 0,
 * expansion ≤ 0, an unknown task or adapter) comes back as "<field>: <what is allowed>".
 * Rules that need the model's shapes (k ≤ l, rank ≤ min(m, n)) are checked again by the adapter
 * factories' `validate` when the adapter is attached.
 */
import * as v from 'valibot';

export const TASK_IDS = ['fourier', 'mnist-vae', 'digits', 'regression'] as const;
export const ADAPTER_KINDS = ['none', 'stan', 'atoms', 'lora', 'sora'] as const;
export type TaskId = (typeof TASK_IDS)[number];
export type AdapterChoice = (typeof ADAPTER_KINDS)[number];

const int = (field: string, min: number, max: number) =>
  v.pipe(v.number(`${field} must be a number`), v.integer(`${field} must be an integer in ${min}…${max}`), v.minValue(min, `${field} must be ≥ ${min} (allowed ${min}…${max})`), v.maxValue(max, `${field} must be ≤ ${max} (allowed ${min}…${max})`));
const num = (field: string, min: number, max: number, opts: { exclusiveMin?: boolean } = {}) =>
  v.pipe(
    v.number(`${field} must be a number`),
    v.finite(`${field} must be finite`),
    v.check((x) => (opts.exclusiveMin ? x > min : x >= min), `${field} must be ${opts.exclusiveMin ? '>' : '≥'} ${min} (allowed ${opts.exclusiveMin ? '(' : '['}${min}, ${max}])`),
    v.maxValue(max, `${field} must be ≤ ${max}`),
  );
const oneOf = <T extends readonly [string, ...string[]]>(field: string, options: T) => v.picklist(options, `${field} must be one of ${options.join(', ')}`);

export const StanConfigSchema = v.strictObject({
  expansion: num('adapter.stan.expansion', 0, 64, { exclusiveMin: true }),
  k: int('adapter.stan.k', 1, 16384),
  topk: oneOf('adapter.stan.topk', ['signed', 'abs']),
});

export const AtomsConfigSchema = v.strictObject({
  atoms: int('adapter.atoms.atoms', 1, 4096),
  sigma: oneOf('adapter.atoms.sigma', ['soft', 'relu', 'topk']),
  lambda: num('adapter.atoms.lambda', 0, 100),
  k: int('adapter.atoms.k', 1, 4096),
  form: oneOf('adapter.atoms.form', ['paper', 'simplified']),
  train: oneOf('adapter.atoms.train', ['atoms', 'coefficients', 'both']),
  l1: num('adapter.atoms.l1', 0, 100),
});

export const LoraConfigSchema = v.strictObject({
  rank: int('adapter.lora.rank', 1, 1024),
  alpha: num('adapter.lora.alpha', 0, 1e4, { exclusiveMin: true }),
});

export const SoraConfigSchema = v.strictObject({
  rank: int('adapter.sora.rank', 1, 1024),
  alpha: num('adapter.sora.alpha', 0, 1e4, { exclusiveMin: true }),
  lambda: num('adapter.sora.lambda', 0, 100),
});

export const TrainingSchema = v.strictObject({
  lr: num('training.lr', 0, 1, { exclusiveMin: true }),
  steps: int('training.steps', 1, 1_000_000),
  batch: int('training.batch', 1, 4096),
  seed: int('training.seed', 0, 2 ** 32 - 1),
  schedule: oneOf('training.schedule', ['constant', 'linear', 'cosine']),
  warmup: int('training.warmup', 0, 1_000_000),
});

export const PlaygroundConfigSchema = v.pipe(
  v.strictObject({
    version: v.literal(1, 'version must be 1'),
    task: oneOf('task', TASK_IDS),
    adapter: v.strictObject({
      kind: oneOf('adapter.kind', ADAPTER_KINDS),
      targets: v.pipe(v.array(v.pipe(v.string(), v.minLength(1), v.maxLength(200)), 'adapter.targets must be a list of site patterns'), v.maxLength(64, 'adapter.targets: at most 64 patterns')),
      stan: StanConfigSchema,
      atoms: AtomsConfigSchema,
      lora: LoraConfigSchema,
      sora: SoraConfigSchema,
    }),
    training: TrainingSchema,
  }),
  v.forward(
    v.check((c) => c.adapter.atoms.sigma !== 'topk' || c.adapter.atoms.k <= c.adapter.atoms.atoms, 'adapter.atoms.k must be ≤ adapter.atoms.atoms (top-k selects k of the M atoms)'),
    ['adapter', 'atoms', 'k'] as const,
  ),
  v.forward(
    v.check((c) => c.training.warmup <= c.training.steps, 'training.warmup must be ≤ training.steps'),
    ['training', 'warmup'] as const,
  ),
);

export type PlaygroundConfig = v.InferOutput<typeof PlaygroundConfigSchema>;

export interface ConfigIssue {
  field: string;
  message: string;
}

export type ParseResult = { ok: true; config: PlaygroundConfig } | { ok: false; issues: ConfigIssue[] };

/** Validates anything (parsed JSON, a URL's payload, an imported session's config). Never throws. */
export function parseConfig(input: unknown): ParseResult {
  const r = v.safeParse(PlaygroundConfigSchema, input);
  if (r.success) return { ok: true, config: r.output };
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  for (const i of r.issues) {
    const field = v.getDotPath(i) ?? '(root)';
    // valibot reports the type check and the range check separately; keep the most specific line per field.
    const key = `${field}\u0000${i.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push({ field, message: i.message });
  }
  return { ok: false, issues };
}

export function formatIssues(issues: ConfigIssue[]): string {
  return issues.map((i) => (i.message.startsWith(i.field) ? i.message : `${i.field}: ${i.message}`)).join('\n');
}
