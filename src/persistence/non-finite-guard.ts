/**
 * NaN/Inf guard around a Trainer. The GPU already refuses bad updates: AdamW writes a
 * `non_finite` flag and leaves parameters and moments untouched when any gradient or the norm is
 * NaN/Inf (src/kernels/adamw.ts). This guard reads that flag (and the loss) with the metric rows,
 * pauses training within one metric interval of the first bad step, names the step, and keeps
 * the last good state — an in-memory snapshot (parameters + moments) taken every
 * `snapshotEvery` steps, kept only when every metric row before it was finite — so the user can
 * restore it with a lower learning rate.
 *
 * Why its own run loop: Trainer.run keeps up to two metric flushes in flight, so a bad row can
 * arrive up to three intervals late. Here each interval's rows are awaited before the next
 * interval starts (the GPU still runs the interval's steps back to back; the CPU waits once per
 * interval), so training stops at most `interval` steps after the bad one.
 */
import type { MetricRow } from '../engine/metric-ring';
import type { Checkpoint, Trainer } from '../train/trainer';

export interface NonFiniteTrip {
  /** The first step whose loss or gradients were not finite. */
  step: number;
  /** The step training stopped at (≤ step + metric interval). */
  pausedAt: number;
  /** What was not finite: 'loss', 'gradients' or both. */
  what: string;
  message: string;
}

export interface GuardedRunResult {
  reason: 'done' | 'paused' | 'non-finite';
  step: number;
  trip: NonFiniteTrip | null;
}

export class NonFiniteGuard {
  /** Parameters + optimizer state with every metric row before its step finite. */
  lastGood: Checkpoint | null = null;
  trip: NonFiniteTrip | null = null;
  private seenThrough = -1;
  private waiters: { step: number; resolve: () => void }[] = [];
  private stopRequested = false;
  private readonly unsubscribe: () => void;

  constructor(
    readonly trainer: Trainer,
    readonly opts: { snapshotEvery: number },
  ) {
    const interval = trainer.ring.interval;
    if (!(opts.snapshotEvery >= interval && opts.snapshotEvery % interval === 0)) {
      throw new Error(`snapshotEvery (${opts.snapshotEvery}) must be a positive multiple of the metric interval (${interval})`);
    }
    this.unsubscribe = trainer.ring.onMetrics((rows) => this.onRows(rows));
  }

  private onRows(rows: MetricRow[]): void {
    for (const r of rows) {
      const lossBad = !Number.isFinite(r.values.loss);
      const gradBad = r.values.non_finite !== 0 || !Number.isFinite(r.values.grad_norm);
      if ((lossBad || gradBad) && !this.trip) {
        const what = lossBad && gradBad ? 'the loss and the gradients' : lossBad ? 'the loss' : 'the gradients';
        this.trip = { step: r.step, pausedAt: -1, what, message: '' };
        this.trainer.pause();
      }
      this.seenThrough = Math.max(this.seenThrough, r.step);
    }
    this.waiters = this.waiters.filter((w) => (w.step <= this.seenThrough ? (w.resolve(), false) : true));
  }

  private rowsThrough(step: number): Promise<void> {
    if (this.seenThrough >= step) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ step, resolve }));
  }

  /** Takes a snapshot now; it becomes `lastGood` unless a bad row came in before its step. */
  async snapshot(): Promise<void> {
    const c = await this.trainer.checkpoint(); // drains: every row before c.step is in
    if (!this.trip) this.lastGood = c;
  }

  pause(): void {
    this.stopRequested = true;
  }

  /** Runs up to `steps` steps; stops early on pause, abort or a non-finite step. */
  async run(steps: number, opts: { signal?: AbortSignal; onStep?: (step: number) => void } = {}): Promise<GuardedRunResult> {
    const t = this.trainer;
    const interval = t.ring.interval;
    this.stopRequested = false;
    if (!this.lastGood && !this.trip) await this.snapshot();
    const end = t.step + steps;
    while (t.step < end && !this.trip && !this.stopRequested && !opts.signal?.aborted) {
      t.stepOnce();
      opts.onStep?.(t.step);
      const last = t.step - 1;
      if (t.ring.slotOf(last) === interval - 1) {
        await this.rowsThrough(last);
        if (!this.trip && t.step % this.opts.snapshotEvery === 0) await this.snapshot();
      }
    }
    if (!this.trip) await t.drain(); // a partial window's rows (may trip too)
    if (this.trip) {
      const good = this.lastGood ? `the last good state (step ${this.lastGood.step})` : 'the start';
      this.trip.pausedAt = t.step;
      this.trip.message =
        `Training paused at step ${t.step}: ${this.trip.what} became NaN/Inf at step ${this.trip.step} (that update was skipped). ` +
        `Restore ${good} with a lower learning rate (e.g. ${formatLr(t.opts.lr / 10)}) to continue.`;
      return { reason: 'non-finite', step: t.step, trip: this.trip };
    }
    return { reason: t.step >= end ? 'done' : 'paused', step: t.step, trip: null };
  }

  /** Restores `lastGood` (parameters, moments, step) and sets the learning rate; clears the trip. */
  restoreLastGood(lr: number): number {
    if (!this.lastGood) throw new Error('no good state to restore (no snapshot was taken before the first bad step)');
    if (!(lr > 0 && Number.isFinite(lr))) throw new Error(`learning rate must be a finite number > 0, got ${lr}`);
    this.trainer.restore(this.lastGood);
    this.trainer.opts.lr = lr;
    this.trip = null;
    this.seenThrough = this.lastGood.step - 1;
    return this.lastGood.step;
  }

  destroy(): void {
    this.unsubscribe();
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
  }
}

function formatLr(lr: number): string {
  return Number(lr.toPrecision(2)).toString();
}
