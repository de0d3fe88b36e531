/**
 * Every playground task, by id (ids: TASK_IDS in src/config/schema.ts).
 *
 * Adding a task:
 *   1. write src/tasks/<name>-task.ts exporting a TaskModule (src/tasks/task.ts): its
 *      description (title, claim, what to look for, adapters, default targets, base checkpoint)
 *      and `build(rt, config, assets, opts)` returning a TaskInstance;
 *   2. add one line below (and the id to TASK_IDS if it is new);
 *   3. add the id to TASKS in test/playground-session.test.ts: every adapter the description
 *      lists is then built and trained there (add the task to the override / checkpoint lists
 *      too when it has inspectable units).
 * A task id listed in TASK_IDS without a module here is reported as "not available yet" by the
 * session (ConfigError on `task`).
 */
import type { TaskId } from '../../config/schema';
import { ConfigError } from '../../engine/errors';
import { digitsTask } from './digits';
import { fourierTask } from './fourier';
import { mnistVaeTask } from './mnist-vae';
import { regressionTask } from './regression';
import type { TaskModule } from './task';

export const TASKS: Partial<Record<TaskId, TaskModule>> = {
  fourier: fourierTask,
  digits: digitsTask,
  'mnist-vae': mnistVaeTask,
  regression: regressionTask,
};

export function taskModule(id: TaskId): TaskModule {
  const m = TASKS[id];
  if (!m) throw new ConfigError('task', `task '${id}' is not available yet; available: ${Object.keys(TASKS).join(', ')}`);
  return m;
}
