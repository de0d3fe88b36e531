/**
 * What a playing session reports as it goes (src/playground/session.ts emits these; the worker
 * forwards them to the page unchanged: they are among src/worker/protocol.ts's `WorkerEvent`s).
 */
import type { LatentStatsSummary, MetricPoint, ValidationPoint } from './types';

/** How often the playing session streams what (in steps). */
export interface StreamOptions {
  /** Train-loss rows come back every this many steps (the MetricRing interval). Default 5. */
  metricEvery?: number;
  /** Validation loss on the held-out batch every this many steps (0: never). Default 50. */
  validateEvery?: number;
  /** Latent-statistics snapshot (App. F) every this many steps (0: never). Default 25. */
  statsEvery?: number;
  /**
   * Rows in the training-statistics window (default 16384): the window keeps the last
   * W = round(statsWindow / rows per step) steps (at least 1), so it holds W × rows per step rows.
   */
  statsWindow?: number;
}

/** Event: metric rows as they come back from the GPU (every few steps); `extra` holds task/adapter metrics. */
export interface MetricsEvent {
  type: 'metrics';
  rows: MetricPoint[];
  /** Wall-clock ms per step over the rows' window. */
  msPerStep: number;
}

/** Event: the training loop stopped. */
export interface TrainingStoppedEvent {
  type: 'training-stopped';
  step: number;
  reason: 'done' | 'paused' | 'non-finite' | 'error';
  message?: string;
}

/** Event: validation loss on the held-out batch (every StreamOptions.validateEvery steps, and when play stops). */
export interface ValidationEvent {
  type: 'validation';
  point: ValidationPoint;
}

/** Event: latent statistics (App. F) of every collecting group (every StreamOptions.statsEvery steps). */
export interface LatentStatsEvent {
  type: 'latent-stats';
  step: number;
  groups: LatentStatsSummary[];
}

/** Event: progress of long work (loading a base, pre-training); `cancel` stops it. */
export interface ProgressEvent {
  type: 'progress';
  label: string;
  done: number;
  total: number;
}
