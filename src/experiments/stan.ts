/**
 * STAN paper reproductions on the labelled digits task (src/tasks/digits.ts): the frozen digit
 * transformer pre-trained on upright digits, adapters on the q and v projections of both blocks,
 * task A = digits rotated 90°, task B = digits mirrored. Three experiments share one protocol and
 * one run store (stan-runs.ts: validation split, learning rate per method and per k picked on
 * validation, cosine schedule, plateau rule, seeds):
 *
 *  - stan-k-expansion (§4.3, Table 8): k ∈ {1, 8, 16, n-latents} × expansion ∈ {1, 2}, test
 *    accuracy mean ± 95 % t-interval over seeds, paired differences against k = 8;
 *  - stan-forgetting (§4.4, Table 9): first task trained to a shared validation target, then the
 *    second task for a fixed number of steps; drop, retention and first-task accuracy at a matched
 *    second-task accuracy, STAN vs LoRA in two budgets, both directions;
 *  - stan-latents (App. F, Fig. 3 vs Fig. 4): on the same runs, per-unit frequency, mean activation
 *    and label entropy over the training batches and over the test set, STAN's latents beside
 *    LoRA's rank directions.
 *
 * Run them in that order (later ones reuse earlier runs; each one runs what it is missing).
 * --quick runs the same protocol on a tiny budget (CI).
 */
export { stanForgettingExperiment } from './stan-forgetting';
export { stanKExpansionExperiment } from './stan-k-expansion';
export { stanLatentsExperiment } from './stan-latents';
