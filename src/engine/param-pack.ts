/**
 * Parameters live in packs: one GPU buffer for values and one for gradients, each parameter a
 * 256-byte-aligned view into them. An optimizer then updates a whole pack in one dispatch, the
 * gradient pack is zeroed with one clearBuffer, and checkpoints are one copy. Frozen parameters
 * go in a pack with no gradient buffer.
 *
 * Two phases: `add` declares (returns a ParamRef whose tensors exist after `finalize`), then
 * `finalize` allocates and uploads.
 */
import type { GpuRuntime } from './runtime';
import { Tensor, numel, type Shape } from './tensor';

export class ParamRef {
  /** @internal */ _value: Tensor | null = null;
  /** @internal */ _grad: Tensor | null = null;
  constructor(
    readonly name: string,
    readonly shape: Shape,
    readonly init: Float32Array,
    /** Decoupled weight decay applies (weights yes; biases, norms, gates no). */
    readonly decay: boolean,
    /** Element offset of this parameter inside the pack. */
    readonly elementOffset: number,
    readonly pack: ParamPack,
  ) {}
  get size(): number {
    return numel(this.shape);
  }
  get value(): Tensor {
    if (!this._value) throw new Error(`parameter ${this.name} used before its pack (${this.pack.name}) was finalized`);
    return this._value;
  }
  get grad(): Tensor {
    if (!this._grad) throw new Error(`parameter ${this.name} has no gradient: pack ${this.pack.name} is frozen or not finalized`);
    return this._grad;
  }
}

export class ParamPack {
  readonly params: ParamRef[] = [];
  private cursor = 0; // elements
  values: GPUBuffer | null = null;
  grads: GPUBuffer | null = null;
  /** Per-element weight-decay mask (1 = decay), same layout as values; null when nothing decays. */
  decayMask: Tensor | null = null;
  /** The whole pack as flat tensors (for the optimizer and checkpoints). */
  flatValues: Tensor | null = null;
  flatGrads: Tensor | null = null;

  constructor(
    private readonly rt: GpuRuntime,
    readonly name: string,
    readonly trainable: boolean,
  ) {}

  /** Total elements including alignment padding. */
  get length(): number {
    return this.cursor;
  }

  add(name: string, shape: Shape, init: Float32Array, opts: { decay?: boolean } = {}): ParamRef {
    if (this.values) throw new Error(`pack ${this.name} is finalized; cannot add ${name}`);
    if (this.params.some((p) => p.name === name)) throw new Error(`duplicate parameter name ${name} in pack ${this.name}`);
    const n = numel(shape);
    if (init.length !== n) throw new Error(`${name}: init has ${init.length} values, shape [${shape}] needs ${n}`);
    const alignElems = this.rt.align / 4;
    const offset = Math.ceil(this.cursor / alignElems) * alignElems;
    const ref = new ParamRef(name, shape, init, opts.decay ?? shape.length >= 2, offset, this);
    this.cursor = offset + n;
    this.params.push(ref);
    return ref;
  }

  finalize(): void {
    if (this.values) return;
    const total = Math.max(1, Math.ceil(this.cursor / 4) * 4); // vec4-friendly length
    this.cursor = total;
    const rt = this.rt;
    this.flatValues = rt.tensor([total], `${this.name}.values`);
    this.values = this.flatValues.buffer;
    const host = new Float32Array(total);
    const mask = new Float32Array(total);
    for (const p of this.params) {
      host.set(p.init, p.elementOffset);
      if (p.decay) mask.fill(1, p.elementOffset, p.elementOffset + p.size);
      p._value = new Tensor(this.values, p.elementOffset * 4, p.shape, p.name);
    }
    rt.write(this.flatValues, host);
    if (this.trainable) {
      this.flatGrads = rt.tensor([total], `${this.name}.grads`);
      this.grads = this.flatGrads.buffer;
      for (const p of this.params) p._grad = new Tensor(this.grads, p.elementOffset * 4, p.shape, `${p.name}.grad`);
      this.decayMask = rt.tensor([total], `${this.name}.decayMask`, mask);
    }
  }

  get(name: string): ParamRef {
    const p = this.params.find((q) => q.name === name);
    if (!p) throw new Error(`no parameter ${name} in pack ${this.name}`);
    return p;
  }

  /** Reads every parameter back (checkpoints, export). */
  async readAll(): Promise<Map<string, Float32Array>> {
    if (!this.flatValues) throw new Error(`pack ${this.name} not finalized`);
    const flat = await this.rt.read(this.flatValues);
    const out = new Map<string, Float32Array>();
    for (const p of this.params) out.set(p.name, flat.slice(p.elementOffset, p.elementOffset + p.size));
    return out;
  }

  /** Writes named parameters (checkpoint restore, import). Shapes must match exactly. */
  writeAll(values: Map<string, Float32Array> | Record<string, Float32Array>, opts: { partial?: boolean } = {}): void {
    const get = (n: string) => (values instanceof Map ? values.get(n) : values[n]);
    for (const p of this.params) {
      const v = get(p.name);
      if (!v) {
        if (opts.partial) continue;
        throw new Error(`missing parameter ${p.name} (shape [${p.shape}])`);
      }
      if (v.length !== p.size) throw new Error(`parameter ${p.name}: expected ${p.size} values (shape [${p.shape}]), got ${v.length}`);
      this.rt.write(p.value, v);
    }
  }

  /** A clearBuffer op zeroing all gradients (put at the start of each step). */
  zeroGradOp(): { kind: 'clear'; label: string; buffer: GPUBuffer; offset: number; size: number } {
    if (!this.grads) throw new Error(`pack ${this.name} has no gradients`);
    return { kind: 'clear', label: `${this.name}.zero_grad`, buffer: this.grads, offset: 0, size: this.cursor * 4 };
  }

  destroy(): void {
    for (const t of [this.flatValues, this.flatGrads, this.decayMask]) if (t) this.rt.release(t);
    this.values = this.grads = null;
    this.flatValues = this.flatGrads = this.decayMask = null;
    for (const p of this.params) p._value = p._grad = null;
  }
}
