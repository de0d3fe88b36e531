/** The configuration a first visit gets (and the base every URL is applied on top of). */
import type { PlaygroundConfig } from './schema';

export const DEFAULT_CONFIG: PlaygroundConfig = {
  version: 1,
  task: 'fourier',
  adapter: {
    kind: 'atoms',
    targets: ['**'],
    stan: { expansion: 2, k: 16, topk: 'signed' },
    // train: 'atoms' — the first visit trains the Fourier toy; tuning coefficients there spikes the loss (REPRODUCTION.md).
    atoms: { atoms: 64, sigma: 'topk', lambda: 0, k: 8, form: 'paper', train: 'atoms', l1: 0 },
    lora: { rank: 8, alpha: 8 },
    sora: { rank: 8, alpha: 8, lambda: 0.1 },
  },
  training: { lr: 3e-3, steps: 500, batch: 32, seed: 1, schedule: 'cosine', warmup: 20 },
};
