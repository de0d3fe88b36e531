/**
 * The one configuration schema (valibot), shared by the URL, the page, the CLI and session
 * import — derived from the registries: task ids and each task's settings from
 * src/playground/tasks/registry.ts, adapter kinds and each adapter's settings from
 * src/adapters/registry.ts, the training section from src/train/settings.ts. Every message names
 * the field by its label and gives the allowed range ("k (active latents) must be ≤ 16384 …").
 * Rules that need the model's shapes (k ≤ l, rank ≤ min(m, n)) are checked again by the
 * adapter's `validate` when it is attached.
 */
import * as v from 'valibot';
import { patternRegExp } from '../adapters/attach';
import { adapterModules, NO_ADAPTER } from '../adapters/registry';
import { settingsSchema } from '../settings/fields';
import { TRAINING_SETTINGS } from '../train/settings';
import { offeredAdapters, registryVersion, taskModule, taskModules } from '../playground/tasks/registry';
import type { PlaygroundConfig } from '../playground/types';

export type { PlaygroundConfig };

export interface ConfigIssue {
  /** Dot path of the field ('adapter.stan.k', 'tasks.fourier.train', 'training.lr'). */
  field: string;
  message: string;
}

export type ParseResult = { ok: true; config: PlaygroundConfig } | { ok: false; issues: ConfigIssue[] };

// A pattern's syntax (characters, {a,b} alternatives, segments) is checked here with the matcher's
// own parser, so a malformed pattern is refused with its reason when the config is read, not
// later when the adapter is attached.
const PATTERN = v.pipe(
  v.string('each injection-site pattern must be text'),
  v.minLength(1, 'an injection-site pattern cannot be empty'),
  v.maxLength(200, 'an injection-site pattern has at most 200 characters'),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    try {
      patternRegExp(dataset.value);
    } catch (e) {
      addIssue({ message: e instanceof Error ? e.message : String(e) });
    }
  }),
);

function buildSchema(): v.GenericSchema<unknown, PlaygroundConfig> {
  const tasks = taskModules();
  const adapters = adapterModules();
  const taskIds = tasks.map((t) => t.id) as [string, ...string[]];
  const kinds = [NO_ADAPTER, ...adapters.map((m) => m.kind)] as [string, ...string[]];
  const taskSettings: Record<string, v.GenericSchema> = {};
  for (const t of tasks) taskSettings[t.id] = v.optional(settingsSchema(t.settings), { ...t.settings.defaults }) as unknown as v.GenericSchema;
  const adapterEntries: Record<string, v.GenericSchema> = {
    kind: v.picklist(kinds, `adapter must be one of ${kinds.join(', ')}`),
    targets: v.optional(v.pipe(v.array(PATTERN, 'injection sites must be a list of site patterns'), v.maxLength(64, 'injection sites: at most 64 patterns')), []) as unknown as v.GenericSchema,
  };
  for (const m of adapters) adapterEntries[m.kind] = v.optional(settingsSchema(m.settings), { ...m.settings.defaults }) as unknown as v.GenericSchema;
  const object = v.strictObject({
    version: v.literal(1, 'version must be 1'),
    task: v.picklist(taskIds, `task must be one of ${taskIds.join(', ')}`),
    tasks: v.optional(v.strictObject(taskSettings), {}) as unknown as v.GenericSchema,
    adapter: v.strictObject(adapterEntries),
    training: settingsSchema(TRAINING_SETTINGS),
  }) as unknown as v.GenericSchema<unknown, PlaygroundConfig>;
  const offered = v.forward(
    v.check((c: Record<string, unknown>) => offeredAdapters(taskModule((c as unknown as PlaygroundConfig).task)).includes((c as unknown as PlaygroundConfig).adapter.kind), 'this task does not offer that adapter'),
    ['adapter', 'kind'] as never,
  );
  const schema = v.pipe(object, offered as never);
  return schema as unknown as v.GenericSchema<unknown, PlaygroundConfig>;
}

let cached: { version: string; schema: v.GenericSchema<unknown, PlaygroundConfig> } | null = null;

/** The schema for the adapters and tasks registered now. */
export function configSchema(): v.GenericSchema<unknown, PlaygroundConfig> {
  const version = registryVersion();
  if (!cached || cached.version !== version) cached = { version, schema: buildSchema() };
  return cached.schema;
}

/** Fills the task and adapter sections that a config leaves out with their defaults (valibot's optional defaults are shared objects). */
function complete(c: PlaygroundConfig): PlaygroundConfig {
  const tasks: Record<string, Record<string, unknown>> = {};
  for (const t of taskModules()) tasks[t.id] = { ...t.settings.defaults, ...(c.tasks?.[t.id] ?? {}) };
  const adapter: PlaygroundConfig['adapter'] = { ...c.adapter, targets: [...(c.adapter.targets ?? [])] };
  for (const m of adapterModules()) adapter[m.kind] = { ...m.settings.defaults, ...((c.adapter[m.kind] as object | undefined) ?? {}) };
  return { ...c, tasks, adapter, training: { ...c.training } };
}

/** Validates anything (parsed JSON, a URL's payload, an imported session's config). Never throws. */
export function parseConfig(input: unknown): ParseResult {
  const r = v.safeParse(configSchema(), input);
  if (r.success) return { ok: true, config: complete(r.output) };
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  for (const i of r.issues) {
    const field = v.getDotPath(i) ?? '(root)';
    let message = i.message;
    if (field === 'adapter.kind' && message === 'this task does not offer that adapter') {
      const c = input as PlaygroundConfig;
      message = `the ${taskModule(c.task).description.name} task offers ${offeredAdapters(taskModule(c.task)).join(', ')}; '${String(c.adapter.kind)}' attaches to sites this task's model does not have`;
    }
    const key = `${field}\u0000${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push({ field, message });
  }
  return { ok: false, issues };
}

/** One line per issue; messages already name their field by its label. */
export function formatIssues(issues: ConfigIssue[]): string {
  return issues.map((i) => i.message).join('\n');
}
