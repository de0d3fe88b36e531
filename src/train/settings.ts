/**
 * The training hyperparameters a playground session takes, declared once (src/settings/fields.ts):
 * the config schema's `training` section, its defaults and the page's Training fields derive
 * from this.
 */
import { choice, int, num, type SettingsSpec } from '../settings/fields';

export interface TrainingSettings {
  lr: number;
  batch: number;
  steps: number;
  seed: number;
  schedule: 'cosine' | 'linear' | 'constant';
  warmup: number;
}

/** The default warm-up; a run shorter than it warms up over its whole length (effectiveWarmup). */
export const DEFAULT_WARMUP = 20;

/**
 * The warm-up a run uses: the warm-up shortened to the run's length. Only the default can be
 * longer than the run (the check below rejects any other value > steps), so a short run from a
 * link that sets only `training.steps` works, while an impossible warm-up someone typed is an error.
 */
export function effectiveWarmup(t: Pick<TrainingSettings, 'warmup' | 'steps'>): number {
  return Math.min(t.warmup, t.steps);
}

export const TRAINING_SETTINGS: SettingsSpec<TrainingSettings> = {
  fields: {
    lr: num('learning rate', 0, 1, { exclusiveMin: true, help: 'AdamW step size (peak of the schedule).' }),
    batch: int('batch', 1, 4096, { help: 'Examples per step; each task caps it at what its view sets allow.' }),
    steps: int('steps', 1, 1_000_000, { help: 'Length of the schedule; Play stops there.' }),
    seed: int('seed', 0, 2 ** 32 - 1, { help: 'Initialisation and data order: the same seed gives the same run.' }),
    schedule: choice('schedule', ['cosine', 'linear', 'constant']),
    warmup: int('warm-up steps', 0, 1_000_000, { help: `Linear learning-rate warm-up. The default (${DEFAULT_WARMUP}) is shortened to a shorter run; any other value must be ≤ steps.` }),
  },
  defaults: { lr: 3e-3, batch: 32, steps: 500, seed: 1, schedule: 'cosine', warmup: DEFAULT_WARMUP },
  checks: [{ field: 'warmup', message: `warm-up steps must be ≤ steps (only the default ${DEFAULT_WARMUP} is shortened to a shorter run)`, ok: (t) => t.warmup <= t.steps || t.warmup === DEFAULT_WARMUP }],
};
