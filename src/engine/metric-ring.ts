/**
 * Metrics without stalls. Kernels write each step's scalars (loss, grad norm, NaN flag, …) into
 * row `slot = step % interval` of a small GPU history buffer. Every `interval` steps the whole
 * history is copied, inside that step's single encoder, into one of a few staging buffers and
 * mapped asynchronously; the step never waits for it. If every staging buffer is still in flight
 * (a very slow consumer) the copy is skipped and counted in `dropped`.
 *
 * Snapshots: other small GPU tensors (e.g. a latent-statistics window's totals) can travel back
 * with the metrics. Each is copied into the same staging buffer at every flush, after its
 * optional `prepare` list (a reduce) is encoded into the flushing step's encoder — so the step
 * still makes one submit and waits for nothing, and flush steps add only the prepare dispatches.
 */
import { MAP_READ_DST, type CommandList, type GpuRuntime } from './runtime';
import type { Tensor } from './tensor';

/** A tensor read back with every metric flush. */
export interface RingSnapshot {
  name: string;
  tensor: Tensor;
  /** Encoded before the copy at each flush (e.g. the reduce that writes `tensor`). */
  prepare?: CommandList;
}

/** The snapshots of one flush: taken after step `step`. */
export interface SnapshotRow {
  step: number;
  data: Map<string, Float32Array>;
}

export interface MetricRow {
  step: number;
  values: Record<string, number>;
}

export class MetricRing {
  readonly history: Tensor;
  private readonly staging: { buffer: GPUBuffer; busy: boolean }[] = [];
  private pending: { slot: number; firstStep: number; count: number } | null = null;
  dropped = 0;
  private listeners: ((rows: MetricRow[]) => void)[] = [];
  private snapshotListeners: ((s: SnapshotRow) => void)[] = [];
  /** Byte offset of each snapshot in a staging buffer (after the history). */
  private readonly snapshotAt: number[] = [];
  readonly snapshots: readonly RingSnapshot[];

  constructor(
    private readonly rt: GpuRuntime,
    readonly fields: readonly string[],
    readonly interval: number,
    stagingCount = 3,
    snapshots: readonly RingSnapshot[] = [],
  ) {
    if (interval < 1) throw new Error('metric interval must be ≥ 1');
    this.history = rt.tensor([interval, fields.length], 'metrics.history');
    this.snapshots = snapshots.slice();
    const names = new Set<string>();
    let bytes = this.history.byteLength;
    for (const s of this.snapshots) {
      if (names.has(s.name)) throw new Error(`metric ring: snapshot '${s.name}' given twice`);
      names.add(s.name);
      bytes = Math.ceil(bytes / 8) * 8; // getMappedRange offsets are multiples of 8
      this.snapshotAt.push(bytes);
      bytes += s.tensor.size * 4;
    }
    for (let i = 0; i < stagingCount; i++) {
      this.staging.push({
        buffer: rt.device.createBuffer({ size: Math.max(16, bytes), usage: MAP_READ_DST, label: `metrics.staging${i}` }),
        busy: false,
      });
    }
  }

  field(name: string): number {
    const i = this.fields.indexOf(name);
    if (i < 0) throw new Error(`unknown metric ${name}`);
    return i;
  }

  slotOf(step: number): number {
    return step % this.interval;
  }

  onMetrics(fn: (rows: MetricRow[]) => void): () => void {
    this.listeners.push(fn);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== fn);
    };
  }

  /** Receives the snapshots of every flush (after the metric rows of the same flush). */
  onSnapshots(fn: (s: SnapshotRow) => void): () => void {
    this.snapshotListeners.push(fn);
    return () => {
      this.snapshotListeners = this.snapshotListeners.filter((l) => l !== fn);
    };
  }

  /**
   * Called while encoding step `step`: when that step fills the history (or `force`), adds the
   * copy to a free staging buffer. Rows cover steps (step - filled + 1) … step.
   */
  encodeFlush(encoder: GPUCommandEncoder, step: number, force = false): void {
    const filled = this.slotOf(step) + 1;
    if (!force && filled !== this.interval) return;
    const idx = this.staging.findIndex((s) => !s.busy);
    if (idx < 0) {
      this.dropped++;
      return;
    }
    const staging = this.staging[idx]!.buffer;
    encoder.copyBufferToBuffer(this.history.buffer, this.history.offset, staging, 0, filled * this.fields.length * 4);
    this.snapshots.forEach((s, j) => {
      if (s.prepare) this.rt.encode(encoder, s.prepare);
      encoder.copyBufferToBuffer(s.tensor.buffer, s.tensor.offset, staging, this.snapshotAt[j]!, s.tensor.size * 4);
    });
    this.pending = { slot: idx, firstStep: step - filled + 1, count: filled };
  }

  /** Called right after the submit that carried `encodeFlush`: starts the async map. */
  afterSubmit(): Promise<MetricRow[]> | null {
    const p = this.pending;
    if (!p) return null;
    this.pending = null;
    const st = this.staging[p.slot]!;
    st.busy = true;
    this.rt.noteMetricReadback();
    const nf = this.fields.length;
    return st.buffer.mapAsync(0x0001).then(
      () => {
        const data = new Float32Array(st.buffer.getMappedRange(0, p.count * nf * 4).slice(0));
        const snaps = new Map<string, Float32Array>();
        this.snapshots.forEach((s, j) => snaps.set(s.name, new Float32Array(st.buffer.getMappedRange(this.snapshotAt[j]!, s.tensor.size * 4).slice(0))));
        st.buffer.unmap();
        st.busy = false;
        const rows: MetricRow[] = [];
        for (let r = 0; r < p.count; r++) {
          const values: Record<string, number> = {};
          for (let f = 0; f < nf; f++) values[this.fields[f]!] = data[r * nf + f]!;
          rows.push({ step: p.firstStep + r, values });
        }
        for (const l of this.listeners) l(rows);
        if (this.snapshots.length) for (const l of this.snapshotListeners) l({ step: p.firstStep + p.count - 1, data: snaps });
        return rows;
      },
      (err) => {
        st.busy = false;
        throw err;
      },
    );
  }

  destroy(): void {
    for (const s of this.staging) s.buffer.destroy();
    this.rt.release(this.history);
  }
}
