/**
 * What the adapters that add a delta onto a frozen Linear's output through its adapter hook share
 * (LoRA, SoRA via low-rank.ts; VeRA): the site checks, the per-unit mask, the activation buffers
 * allocated once at attach time and released on destroy, the mask and unit-index checks, and the
 * install/detach on the layer. Each adapter module keeps its own math (parameters, forward,
 * backward, unitDirection) and its own config checks.
 */
import { ConfigError } from '../engine/errors';
import type { ParamRef } from '../engine/param-pack';
import type { CommandList, GpuRuntime } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import type { Linear } from '../nn/linear';
import type { BuildContext } from '../nn/module';
import type { Adapter, AdapterKind, AdapterSite, UnitLabel } from './adapter';

export type LinearSite = Extract<AdapterSite, { kind: 'linear' }>;

/** Checks that the site is a Linear without a fused activation and that the config is an object. */
export function validateLinearSite(kind: AdapterKind, config: unknown, site: AdapterSite): asserts site is LinearSite {
  if (site.kind !== 'linear') {
    throw new ConfigError('site', `${kind} attaches to Linear layers; ${site.path} is an ${site.kind} site`);
  }
  const { activation } = site.layer.opts;
  if (activation && activation !== 'none') {
    throw new ConfigError('site', `${site.path} fuses a ${activation} activation into its matmul; ${kind} adds its delta before any activation, so it cannot attach there`);
  }
  if (config === null || typeof config !== 'object') throw new ConfigError('config', `${kind} config must be an object, got ${String(config)}`);
}

/**
 * Base of an adapter on a Linear site with `units` maskable units (rank dimensions). Subclasses
 * declare their parameters and buffers (`this.buffer`) in their constructor and call
 * `this.install()` last.
 */
export abstract class LinearSiteAdapter implements Adapter {
  abstract readonly kind: AdapterKind;
  /** The trainable parameters (a BuildContext.freeze predicate may freeze some). */
  abstract readonly params: ParamRef[];
  readonly path: string;
  readonly latentCount: number;
  readonly latentLabel: UnitLabel = 'rank';
  readonly rows: number;
  readonly inDim: number;
  readonly outDim: number;
  /** Unit mask [units] (1 keeps, 0 switches a unit off). */
  readonly mask: Tensor;
  protected readonly rt: GpuRuntime;
  protected readonly layer: Linear;
  /** Buffer names: `${path}.${bufferPrefix}.${name}`. */
  private readonly bufferPrefix: string;
  private readonly owned: Tensor[] = [];
  private destroyed = false;

  constructor(ctx: BuildContext, site: LinearSite, units: number, bufferPrefix: string) {
    const { path, layer, rows } = site;
    if (layer.adapter) throw new ConfigError('site', `${path} already has an adapter; a Linear takes one`);
    this.path = path;
    this.rt = ctx.rt;
    this.layer = layer;
    this.rows = rows;
    this.inDim = layer.opts.inDim;
    this.outDim = layer.opts.outDim;
    this.latentCount = units;
    this.bufferPrefix = bufferPrefix;
    this.mask = this.buffer([units], 'mask', new Float32Array(units).fill(1));
  }

  /** Allocates a buffer this adapter owns (released by destroy), named `${path}.${bufferPrefix}.${name}`. */
  protected buffer(shape: number[], name: string, data?: Float32Array): Tensor {
    const t = this.rt.tensor(shape, `${this.path}.${this.bufferPrefix}.${name}`, data);
    this.owned.push(t);
    return t;
  }

  /** Installs this adapter as the layer's hook (last step of a subclass constructor). */
  protected install(): void {
    this.layer.adapter = this;
  }

  trainableParameterCount(): number {
    return this.params.reduce((s, p) => s + p.size, 0);
  }

  setMask(mask: Float32Array | null): void {
    const r = this.latentCount;
    if (mask === null) {
      this.rt.write(this.mask, new Float32Array(r).fill(1));
      return;
    }
    if (mask.length !== r) throw new ConfigError('mask', `${this.path}: needs ${r} values (one per rank dimension), got ${mask.length}`);
    for (let j = 0; j < r; j++) {
      if (!Number.isFinite(mask[j]!)) throw new ConfigError('mask', `${this.path}: value ${j} is ${mask[j]}; masks must be finite (1 keeps, 0 switches off)`);
    }
    this.rt.write(this.mask, mask);
  }

  /** Throws ConfigError unless `unit` indexes a unit. */
  protected checkUnit(unit: number): void {
    const r = this.latentCount;
    if (!Number.isInteger(unit) || unit < 0 || unit >= r) throw new ConfigError('unit', `must be in 0…${r - 1}, got ${unit}`);
  }

  abstract recordForward(list: CommandList, x: Tensor, y: Tensor): void;
  abstract recordBackward(list: CommandList, x: Tensor, dy: Tensor, dx: Tensor | null): void;

  /** Detaches from the layer and releases the buffers (recorded lists must not run afterwards). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.layer.adapter === this) this.layer.adapter = null;
    for (const t of this.owned.splice(0)) this.rt.release(t);
  }
}
