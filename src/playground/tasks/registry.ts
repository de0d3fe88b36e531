/**
 * Every playground task, in the order the page lists them. Adding a task: one file in this
 * folder exporting a TaskModule (./task.ts), plus one line in TASK_MODULES. The config schema
 * (task ids, each task's settings), the URL, the page's Task panel and explanations, which
 * adapters each task offers (from its sites and the adapter registry) and the registry-driven
 * tests read this list.
 *
 * `registerTask` adds a module at run time (test fixtures): checked like the built-in ones.
 */
import type { AdapterModule } from '../../adapters/adapter';
import { adapterModules, adapterRegistryVersion, NO_ADAPTER } from '../../adapters/registry';
import { ConfigError } from '../../engine/errors';
import { checkSpec } from '../../settings/fields';
import type { TaskSummary } from '../types';
import { digitsTask } from './digits';
import { fourierTask } from './fourier';
import { mnistVaeTask } from './mnist-vae';
import { regressionTask } from './regression';
import type { TaskModule } from './task';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyTaskModule = TaskModule<any>;

const TASK_MODULES: AnyTaskModule[] = [fourierTask, mnistVaeTask, digitsTask, regressionTask];

const byId = new Map<string, AnyTaskModule>();
let version = 0;

export function registerTask(m: AnyTaskModule): void {
  if (!/^[a-z][a-z0-9-]{0,31}$/.test(m.id)) throw new Error(`task id '${m.id}' must be lowercase letters, digits and '-'`);
  if (byId.has(m.id)) throw new Error(`task '${m.id}' is registered already`);
  checkSpec(`task '${m.id}'`, m.settings);
  const paths = new Set<string>();
  for (const s of m.sites) {
    if (paths.has(s.path)) throw new Error(`task '${m.id}' lists site '${s.path}' twice`);
    paths.add(s.path);
  }
  byId.set(m.id, m);
  version++;
}

/** Removes a module added with registerTask (test fixtures clean up after themselves). */
export function unregisterTask(id: string): void {
  if (TASK_MODULES.some((m) => m.id === id)) throw new Error(`task '${id}' is built in and cannot be removed`);
  if (byId.delete(id)) version++;
}

for (const m of TASK_MODULES) registerTask(m);

/** Changes whenever the set of tasks or adapters changes (what derived schemas depend on). */
export function registryVersion(): string {
  return `${version}.${adapterRegistryVersion()}`;
}

export function taskModules(): AnyTaskModule[] {
  return [...byId.values()];
}

export function taskIds(): string[] {
  return [...byId.keys()];
}

/** The module of task `id`; ConfigError on 'task' naming the registered ids otherwise. */
export function taskModule(id: string): AnyTaskModule {
  const m = byId.get(id);
  if (!m) throw new ConfigError('task', `unknown task '${String(id).slice(0, 40)}'; available: ${taskIds().join(', ')}`);
  return m;
}

/** Whether `adapter` attaches to a site kind the task's model offers. */
export function taskOffers(task: Pick<AnyTaskModule, 'sites'>, adapter: Pick<AdapterModule, 'sites'>): boolean {
  return adapter.sites.some((k) => task.sites.some((s) => s.kind === k));
}

/** The adapter kinds a task offers: 'none' first, then every registered adapter with a site kind the task has. */
export function offeredAdapters(task: Pick<AnyTaskModule, 'sites'>): string[] {
  return [NO_ADAPTER, ...adapterModules().filter((m) => taskOffers(task, m)).map((m) => m.kind)];
}

/** The target patterns used for `adapterKind` on this task when the config lists none. */
export function defaultTargets(task: AnyTaskModule, adapter: Pick<AdapterModule, 'sites'>): string[] {
  const out: string[] = [];
  for (const k of adapter.sites) for (const p of task.defaultTargets[k] ?? []) if (!out.includes(p)) out.push(p);
  return out.length ? out : ['**'];
}

/** The plain-data summary of a task (what SessionInfo carries and the page shows). */
export function taskSummary(m: AnyTaskModule): TaskSummary {
  return {
    id: m.id,
    ...m.description,
    adapters: offeredAdapters(m),
    sites: m.sites.map((s) => ({ ...s })),
    defaultTargets: Object.fromEntries(Object.entries(m.defaultTargets).map(([k, v]) => [k, [...(v as string[])]])),
    baseCheckpoint: m.baseCheckpoint,
  };
}
