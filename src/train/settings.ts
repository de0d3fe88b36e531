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

export const TRAINING_SETTINGS: SettingsSpec<TrainingSettings> = {
  fields: {
    lr: num('learning rate', 0, 1, { exclusiveMin: true, help: 'AdamW step size (peak of the schedule).' }),
    batch: int('batch', 1, 4096, { help: 'Examples per step; each task caps it at what its view sets allow.' }),
    steps: int('steps', 1, 1_000_000, { help: 'Length of the schedule; Play stops there.' }),
    seed: int('seed', 0, 2 ** 32 - 1, { help: 'Initialisation and data order: the same seed gives the same run.' }),
    schedule: choice('schedule', ['cosine', 'linear', 'constant']),
    warmup: int('warm-up steps', 0, 1_000_000),
  },
  defaults: { lr: 3e-3, batch: 32, steps: 500, seed: 1, schedule: 'cosine', warmup: 20 },
  checks: [{ field: 'warmup', message: 'warm-up steps must be ≤ steps', ok: (t) => t.warmup <= t.steps }],
};
