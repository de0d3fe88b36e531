/**
 * From a validated PlaygroundConfig to what the rest needs: the task's build config (the adapter
 * resolved: its settings, and its targets — the task's defaults when the config lists none),
 * the label of any config field, and a run's legend label. All derived from the registries.
 */
import type { AdapterSpec } from '../adapters/attach';
import { adapterModule, NO_ADAPTER } from '../adapters/registry';
import { defaultTargets, taskModule } from '../playground/tasks/registry';
import type { TaskBuildConfig } from '../playground/tasks/task';
import type { PlaygroundConfig } from '../playground/types';
import type { FieldSpec } from '../settings/fields';
import { TRAINING_SETTINGS } from '../train/settings';

/** The adapter to attach (null for 'none'), with the task's default targets when the config has none. */
export function adapterSpecOf(config: PlaygroundConfig): AdapterSpec | null {
  const kind = config.adapter.kind;
  if (kind === NO_ADAPTER) return null;
  const m = adapterModule(kind);
  const targets = config.adapter.targets.length ? [...config.adapter.targets] : defaultTargets(taskModule(config.task), m);
  return { kind, config: { ...(config.adapter[kind] as object) }, targets };
}

export function buildConfigOf(config: PlaygroundConfig): TaskBuildConfig {
  return { settings: { ...(config.tasks[config.task] ?? taskModule(config.task).settings.defaults) }, adapter: adapterSpecOf(config), training: { ...config.training } };
}

/** The target patterns in force (what an empty targets field stands for). */
export function effectiveTargets(config: PlaygroundConfig): string[] {
  return adapterSpecOf(config)?.targets ?? [];
}

/** The field behind a dot path ('adapter.stan.k', 'tasks.digits.view', 'training.lr'), or null. */
export function fieldSpecAt(path: string): FieldSpec | null {
  const [section, a, b] = path.split('.');
  try {
    if (section === 'training' && a) return (TRAINING_SETTINGS.fields as Record<string, FieldSpec>)[a] ?? null;
    if (section === 'adapter' && a && b) return (adapterModule(a).settings.fields as Record<string, FieldSpec>)[b] ?? null;
    if (section === 'tasks' && a && b) return (taskModule(a).settings.fields as Record<string, FieldSpec>)[b] ?? null;
  } catch {
    return null;
  }
  return null;
}

/** What the page calls a config field: its label ('k (active latents)'), or a plain name for the structural ones. */
export function fieldLabel(path: string): string {
  const f = fieldSpecAt(path);
  if (f) return f.label;
  if (path === 'task') return 'task';
  if (path === 'adapter.kind') return 'adapter';
  if (path === 'adapter.targets') return 'injection sites';
  return path;
}

/** A legend label that tells runs apart, e.g. "Rotated digits · STAN k=16 ×2 · lr 0.003 · seed 1". */
export function runLabel(c: PlaygroundConfig): string {
  const task = taskModule(c.task);
  const parts = [task.description.name];
  const own = task.runLabel?.(c.tasks[c.task] ?? task.settings.defaults);
  if (own) parts.push(own);
  if (c.adapter.kind === NO_ADAPTER) parts.push('no adapter');
  else {
    const m = adapterModule(c.adapter.kind);
    parts.push(`${m.label} ${m.runLabel(c.adapter[c.adapter.kind] as never)}`.trim());
    if (c.adapter.targets.length) parts.push(c.adapter.targets.join(','));
  }
  parts.push(`lr ${c.training.lr}`, `batch ${c.training.batch}`, `seed ${c.training.seed}`);
  return parts.join(' · ');
}
