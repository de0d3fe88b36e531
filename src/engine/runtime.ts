/**
 * The GPU runtime: one per device. Owns the buffer pool, the pipeline cache and the counters,
 * and turns a recorded CommandList into exactly one command encoder and one submit.
 */
import { BufferPool } from './buffer-pool';
import type { GpuContext } from './gpu';
import { Tensor, numel, type Shape } from './tensor';

/** A WGSL program: its text plus a stable name used for cache keys and labels. */
export interface ShaderSource {
  name: string;
  code: string;
}

export interface Dispatch {
  kind: 'dispatch';
  label: string;
  pipeline: GPUComputePipeline;
  bindGroups: GPUBindGroup[];
  workgroups: readonly [number, number, number];
}
export interface ClearOp {
  kind: 'clear';
  label: string;
  buffer: GPUBuffer;
  offset: number;
  size: number;
}
export interface CopyOp {
  kind: 'copy';
  label: string;
  src: GPUBuffer;
  srcOffset: number;
  dst: GPUBuffer;
  dstOffset: number;
  size: number;
}
export type Op = Dispatch | ClearOp | CopyOp;

/**
 * An ordered list of GPU operations recorded once (when a model is built) and replayed every
 * step. Consecutive dispatches share one compute pass: WebGPU makes storage writes of one
 * dispatch visible to the next within a pass, so no barriers are needed.
 */
export class CommandList {
  readonly ops: Op[] = [];
  constructor(readonly label: string) {}
  push(op: Op): void {
    this.ops.push(op);
  }
  append(other: CommandList): void {
    for (const op of other.ops) this.ops.push(op);
  }
  get dispatchCount(): number {
    let n = 0;
    for (const op of this.ops) if (op.kind === 'dispatch') n++;
    return n;
  }
  clear(): void {
    this.ops.length = 0;
  }
}

export interface Counters {
  dispatches: number;
  submits: number;
  /** Awaited GPU→CPU reads of tensors (tests, inspection). A training step makes none. */
  readbacks: number;
  /** Asynchronous metric-ring maps (never awaited by the step). */
  metricReadbacks: number;
  pipelines: number;
  bindGroups: number;
  buffers: number;
}

export function zeroCounters(): Counters {
  return { dispatches: 0, submits: 0, readbacks: 0, metricReadbacks: 0, pipelines: 0, bindGroups: 0, buffers: 0 };
}

export function diffCounters(after: Counters, before: Counters): Counters {
  const out = zeroCounters();
  for (const k of Object.keys(out) as (keyof Counters)[]) out[k] = after[k] - before[k];
  return out;
}

export const STORAGE = 0x80 | 0x04 | 0x08; // STORAGE | COPY_SRC | COPY_DST (numeric: no DOM globals needed)
export const UNIFORM = 0x40 | 0x08; // UNIFORM | COPY_DST
export const MAP_READ_DST = 0x01 | 0x08; // MAP_READ | COPY_DST

/**
 * Everything a model/adapter/task allocates while it is being built: its tensors (from the pool)
 * and its uniform buffers. `dispose()` gives them back, so switching tasks or adapters in the
 * playground reuses GPU memory instead of growing it.
 */
export class AllocationScope {
  readonly tensors: Tensor[] = [];
  readonly uniforms: GPUBuffer[] = [];
  private disposed = false;
  constructor(
    private readonly rt: GpuRuntime,
    readonly label: string,
  ) {}
  get bytes(): number {
    let n = 0;
    for (const t of this.tensors) n += t.buffer.size;
    for (const u of this.uniforms) n += u.size;
    return n;
  }
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of this.tensors) this.rt.release(t);
    this.rt.destroyUniforms(this.uniforms);
    this.tensors.length = 0;
    this.uniforms.length = 0;
  }
}

export class GpuRuntime {
  readonly device: GPUDevice;
  readonly pool: BufferPool;
  readonly align: number;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly counts = zeroCounters();
  private readonly uniformBuffers = new Set<GPUBuffer>();
  private readonly scopes: AllocationScope[] = [];

  constructor(readonly ctx: GpuContext) {
    this.device = ctx.device;
    this.pool = new BufferPool(ctx.device);
    this.align = ctx.limits.minStorageBufferOffsetAlignment ?? 256;
  }

  get counters(): Counters {
    return { ...this.counts, buffers: this.pool.creations + this.uniformCreations };
  }

  private uniformCreations = 0;

  /**
   * Runs `build` with every tensor and uniform it allocates recorded in a new scope; the scope's
   * dispose() frees them. Scopes nest (allocations go to the innermost).
   */
  scoped<T>(label: string, build: (scope: AllocationScope) => T): { value: T; scope: AllocationScope } {
    const scope = this.openScope(label);
    try {
      return { value: build(scope), scope };
    } catch (e) {
      scope.dispose();
      throw e;
    } finally {
      this.closeScope(scope);
    }
  }

  /** Starts recording allocations into a new scope (pair with closeScope; prefer `scoped`). */
  openScope(label: string): AllocationScope {
    const scope = new AllocationScope(this, label);
    this.scopes.push(scope);
    return scope;
  }

  closeScope(scope: AllocationScope): void {
    const i = this.scopes.indexOf(scope);
    if (i >= 0) this.scopes.splice(i, 1);
  }

  /** @internal (AllocationScope) */
  destroyUniforms(bufs: GPUBuffer[]): void {
    for (const b of bufs) {
      if (this.uniformBuffers.delete(b)) b.destroy();
    }
  }

  get isSwiftShader(): boolean {
    return this.ctx.info.isSwiftShader;
  }

  // ---------- pipelines ----------

  /**
   * A compute pipeline, created once per (shader, entry point, override constants) and cached.
   * Shader compile errors are surfaced with the shader's name, not as a silent invalid pipeline.
   */
  pipeline(shader: ShaderSource, entryPoint = 'main', constants: Record<string, number> = {}): GPUComputePipeline {
    const key = `${shader.name}|${entryPoint}|${JSON.stringify(constants)}`;
    let p = this.pipelines.get(key);
    if (p) return p;
    let module = this.modules.get(shader.name);
    if (!module) {
      module = this.device.createShaderModule({ code: shader.code, label: shader.name });
      this.modules.set(shader.name, module);
    }
    p = this.device.createComputePipeline({
      label: `${shader.name}:${entryPoint}`,
      layout: 'auto',
      compute: { module, entryPoint, constants },
    });
    this.counts.pipelines++;
    this.pipelines.set(key, p);
    return p;
  }

  /** Compile diagnostics for a shader (used by tests to fail with the WGSL error text). */
  async shaderErrors(shader: ShaderSource): Promise<string[]> {
    const module = this.device.createShaderModule({ code: shader.code, label: shader.name });
    const info = await module.getCompilationInfo();
    return info.messages.filter((m) => m.type === 'error').map((m) => `${shader.name}:${m.lineNum}:${m.linePos} ${m.message}`);
  }

  bindGroup(pipeline: GPUComputePipeline, resources: (Tensor | GPUBuffer | GPUBufferBinding)[], group = 0, label?: string): GPUBindGroup {
    this.counts.bindGroups++;
    return this.device.createBindGroup({
      label,
      layout: pipeline.getBindGroupLayout(group),
      entries: resources.map((r, i) => ({
        binding: i,
        resource: r instanceof Tensor ? r.binding() : isGpuBuffer(r) ? { buffer: r } : r,
      })),
    });
  }

  /** Convenience: pipeline + bind group + workgroup count, as one recorded op. */
  dispatch(label: string, pipeline: GPUComputePipeline, resources: (Tensor | GPUBuffer | GPUBufferBinding)[], workgroups: readonly [number, number?, number?]): Dispatch {
    const [x, y = 1, z = 1] = workgroups;
    const lim = this.ctx.limits.maxComputeWorkgroupsPerDimension;
    if (x > lim || y > lim || z > lim) throw new Error(`${label}: ${x}×${y}×${z} workgroups exceeds the device limit ${lim} per dimension`);
    return { kind: 'dispatch', label, pipeline, bindGroups: [this.bindGroup(pipeline, resources, 0, label)], workgroups: [x, y, z] };
  }

  // ---------- memory ----------

  tensor(shape: Shape, name: string, data?: Float32Array | number[]): Tensor {
    const bytes = numel(shape) * 4;
    const buf = this.pool.acquire(bytes, STORAGE, name);
    const t = new Tensor(buf, 0, shape, name);
    this.scopes[this.scopes.length - 1]?.tensors.push(t);
    if (data) this.write(t, data);
    else this.device.queue.writeBuffer(buf, 0, new Float32Array(Math.max(1, numel(shape)))); // zero: pooled buffers may be dirty
    return t;
  }

  private readonly shared = new Map<string, Tensor>();

  /** A runtime-wide tensor cached by key (e.g. a placeholder binding), never owned by a scope. */
  sharedTensor(key: string, shape: Shape): Tensor {
    let t = this.shared.get(key);
    if (!t) {
      const saved = this.scopes.splice(0);
      try {
        t = this.tensor(shape, key);
      } finally {
        this.scopes.push(...saved);
      }
      this.shared.set(key, t);
    }
    return t;
  }

  /** A static uniform buffer (kernel parameters fixed at record time). */
  uniform(data: ArrayBufferView | ArrayBuffer, label: string): GPUBuffer {
    const bytes = data instanceof ArrayBuffer ? data.byteLength : data.byteLength;
    const buf = this.device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 16) * 16), usage: UNIFORM, label });
    this.device.queue.writeBuffer(buf, 0, data instanceof ArrayBuffer ? data : (data.buffer as ArrayBuffer), data instanceof ArrayBuffer ? 0 : data.byteOffset, bytes);
    this.uniformBuffers.add(buf);
    this.uniformCreations++;
    this.scopes[this.scopes.length - 1]?.uniforms.push(buf);
    return buf;
  }

  write(t: Tensor, data: Float32Array | number[]): void {
    const arr = data instanceof Float32Array ? data : Float32Array.from(data);
    if (arr.length !== t.size) throw new Error(`write ${t.name}: got ${arr.length} values for shape [${t.shape}] (${t.size})`);
    this.device.queue.writeBuffer(t.buffer, t.offset, arr.buffer as ArrayBuffer, arr.byteOffset, arr.byteLength);
  }

  private readonly released = new WeakSet<Tensor>();

  /** Returns a tensor made by `tensor()` to the pool. Idempotent per tensor, so an owner and its scope may both release it. */
  release(t: Tensor): void {
    if (t.offset !== 0 || this.released.has(t)) return;
    this.released.add(t);
    this.pool.release(t.buffer);
  }

  /** Awaited read of a tensor. For tests and inspection only; counted as a readback. */
  async read(t: Tensor | { buffer: GPUBuffer; offset: number; byteLength: number }): Promise<Float32Array> {
    const bytes = t.byteLength;
    const staging = this.device.createBuffer({ size: Math.max(4, bytes), usage: MAP_READ_DST, label: 'readback' });
    const enc = this.device.createCommandEncoder({ label: 'readback' });
    enc.copyBufferToBuffer(t.buffer, t.offset, staging, 0, bytes);
    this.device.queue.submit([enc.finish()]);
    this.counts.readbacks++;
    await staging.mapAsync(0x0001 /* GPUMapMode.READ */);
    const out = new Float32Array(staging.getMappedRange().slice(0));
    staging.unmap();
    staging.destroy();
    return out;
  }

  // ---------- execution ----------

  /** Records `list` into `encoder`; consecutive dispatches share one compute pass. */
  encode(encoder: GPUCommandEncoder, list: CommandList): void {
    let pass: GPUComputePassEncoder | null = null;
    for (const op of list.ops) {
      if (op.kind === 'dispatch') {
        if (!pass) pass = encoder.beginComputePass({ label: list.label });
        pass.setPipeline(op.pipeline);
        for (let g = 0; g < op.bindGroups.length; g++) pass.setBindGroup(g, op.bindGroups[g]!);
        pass.dispatchWorkgroups(op.workgroups[0], op.workgroups[1], op.workgroups[2]);
        this.counts.dispatches++;
      } else {
        if (pass) {
          pass.end();
          pass = null;
        }
        if (op.kind === 'clear') encoder.clearBuffer(op.buffer, op.offset, op.size);
        else encoder.copyBufferToBuffer(op.src, op.srcOffset, op.dst, op.dstOffset, op.size);
      }
    }
    if (pass) pass.end();
  }

  /**
   * One encoder, one submit for any number of command lists. `after` may add copies (the
   * metric ring) to the same encoder before it is finished.
   */
  submit(lists: CommandList[], after?: (encoder: GPUCommandEncoder) => void): void {
    const encoder = this.device.createCommandEncoder();
    for (const l of lists) this.encode(encoder, l);
    after?.(encoder);
    this.device.queue.submit([encoder.finish()]);
    this.counts.submits++;
  }

  /** Resolves when the GPU has finished all submitted work (no data transfer). */
  async idle(): Promise<void> {
    await this.device.queue.onSubmittedWorkDone();
  }

  /** Counts an async metric map (the MetricRing calls this). */
  noteMetricReadback(): void {
    this.counts.metricReadbacks++;
  }

  destroy(): void {
    this.pool.destroyAll();
    this.shared.clear();
    for (const b of this.uniformBuffers) b.destroy();
    this.uniformBuffers.clear();
    this.pipelines.clear();
    this.modules.clear();
  }
}

function isGpuBuffer(r: unknown): r is GPUBuffer {
  return typeof r === 'object' && r !== null && 'mapAsync' in r && 'usage' in r;
}
