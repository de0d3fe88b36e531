/**
 * Buffers are allocated when a model/adapter is built, never inside a training step. When a
 * model is torn down its buffers return here, so rebuilding with the same shapes (reset, change
 * of adapter) reuses them instead of growing GPU memory.
 */
export class BufferPool {
  private free = new Map<string, GPUBuffer[]>();
  private live = new Set<GPUBuffer>();
  /** Bytes currently handed out. */
  liveBytes = 0;
  /** Bytes ever created by this pool (handed out + kept free for reuse). */
  allocatedBytes = 0;
  /** How many createBuffer calls the pool made; a training step must not change it. */
  creations = 0;

  constructor(private readonly device: GPUDevice) {}

  private static key(size: number, usage: number): string {
    return `${usage}:${size}`;
  }

  acquire(byteSize: number, usage: number, label: string): GPUBuffer {
    // Round up to 256 B: bindings at aligned offsets, and neighbouring sizes share a bucket.
    const size = Math.max(256, Math.ceil(byteSize / 256) * 256);
    const bucket = this.free.get(BufferPool.key(size, usage));
    let buf = bucket?.pop();
    if (!buf) {
      buf = this.device.createBuffer({ size, usage, label });
      this.allocatedBytes += size;
      this.creations++;
    }
    this.live.add(buf);
    this.liveBytes += size;
    return buf;
  }

  release(buf: GPUBuffer): void {
    if (!this.live.delete(buf)) return;
    this.liveBytes -= buf.size;
    const key = BufferPool.key(buf.size, buf.usage);
    const bucket = this.free.get(key);
    if (bucket) bucket.push(buf);
    else this.free.set(key, [buf]);
  }

  /** Destroys every buffer, free or live (device teardown). */
  destroyAll(): void {
    for (const b of this.live) b.destroy();
    for (const bucket of this.free.values()) for (const b of bucket) b.destroy();
    this.live.clear();
    this.free.clear();
    this.liveBytes = 0;
    this.allocatedBytes = 0;
  }
}
