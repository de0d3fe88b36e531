/**
 * The configuration a first visit gets (and the base every URL is applied on top of): the
 * default task with its default settings, no adapter (on the Fourier toy the task itself
 * fine-tunes its model's atoms), every adapter's and task's defaults from their modules, and the
 * training defaults.
 */
import { adapterModules, NO_ADAPTER } from '../adapters/registry';
import { registryVersion, taskModules } from '../playground/tasks/registry';
import type { PlaygroundConfig } from '../playground/types';
import { TRAINING_SETTINGS } from '../train/settings';

/** The task a first visit opens on. */
export const DEFAULT_TASK = 'fourier';

let cached: { version: string; config: PlaygroundConfig } | null = null;

/** A fresh copy of the defaults for the adapters and tasks registered now. */
export function defaultConfig(): PlaygroundConfig {
  const version = registryVersion();
  if (!cached || cached.version !== version) {
    const tasks: Record<string, Record<string, unknown>> = {};
    for (const t of taskModules()) tasks[t.id] = { ...t.settings.defaults };
    const adapter: PlaygroundConfig['adapter'] = { kind: NO_ADAPTER, targets: [] };
    for (const m of adapterModules()) adapter[m.kind] = { ...m.settings.defaults };
    cached = { version, config: { version: 1, task: DEFAULT_TASK, tasks, adapter, training: { ...TRAINING_SETTINGS.defaults } } };
  }
  return structuredClone(cached.config);
}
