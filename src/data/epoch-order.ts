/**
 * The one batch order every training task uses: epoch e visits the rows in a Fisher–Yates order
 * seeded by mixSeed(seed, e, stream); step s takes rows (s mod batchesPerEpoch)·batch … +batch of
 * that order (a trailing partial batch is dropped). A pure function of (seed, step), so a restored
 * run sees the same batches; one array, reshuffled once per epoch, nothing allocated per step.
 */
import { mixSeed, Rng } from '../engine/rng';

export class EpochOrder {
  readonly batchesPerEpoch: number;
  private readonly indices: readonly number[];
  private readonly order: number[];
  private readonly rng = new Rng(0);
  private epoch = -1;

  /** `rows`: the row indices to visit, or a count n for rows 0 … n−1. */
  constructor(
    rows: readonly number[] | number,
    private readonly seed: number,
    private readonly batch: number,
    private readonly stream = 0,
  ) {
    this.indices = typeof rows === 'number' ? Array.from({ length: rows }, (_, i) => i) : rows;
    if (!(batch >= 1) || this.indices.length < batch) throw new Error(`EpochOrder: a batch of ${batch} needs at least ${batch} rows, got ${this.indices.length}`);
    this.order = this.indices.slice();
    this.batchesPerEpoch = Math.floor(this.indices.length / batch);
  }

  /** The row index of row `b` of step `step`'s batch. */
  at(step: number, b: number): number {
    const epoch = Math.floor(step / this.batchesPerEpoch);
    if (epoch !== this.epoch) {
      for (let i = 0; i < this.order.length; i++) this.order[i] = this.indices[i]!;
      this.rng.reseed(mixSeed(this.seed, epoch, this.stream)).shuffle(this.order);
      this.epoch = epoch;
    }
    return this.order[(step % this.batchesPerEpoch) * this.batch + b]!;
  }

  /** dst[b] = src[at(step, b)] for each row of `width` values: the batch's slice of a row-major array. */
  gather(step: number, src: ArrayLike<number> & { subarray(a: number, b: number): ArrayLike<number> }, width: number, dst: Float32Array): void {
    for (let b = 0; b < this.batch; b++) {
      const r = this.at(step, b);
      dst.set(src.subarray(r * width, (r + 1) * width), b * width);
    }
  }
}
