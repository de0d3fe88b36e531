/**
 * A tensor is a typed view into a GPU storage buffer: shape + byte offset. Many tensors can share
 * one buffer (parameter packs), which is what lets AdamW update every parameter in one dispatch.
 */
export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export class Tensor {
  readonly size: number;
  constructor(
    readonly buffer: GPUBuffer,
    /** Byte offset into `buffer`; a multiple of the device's minStorageBufferOffsetAlignment. */
    readonly offset: number,
    readonly shape: Shape,
    readonly name: string,
  ) {
    this.size = numel(shape);
  }
  get byteLength(): number {
    return this.size * 4;
  }
  /** The binding resource for a bind group entry. */
  binding(): GPUBufferBinding {
    return { buffer: this.buffer, offset: this.offset, size: Math.max(4, this.byteLength) };
  }
  /** Same storage, another shape with the same element count. */
  view(shape: Shape, name = this.name): Tensor {
    if (numel(shape) !== this.size) throw new Error(`view ${name}: [${shape}] has ${numel(shape)} elements, tensor has ${this.size}`);
    return new Tensor(this.buffer, this.offset, shape, name);
  }
}

export function shapeStr(shape: Shape): string {
  return `[${shape.join('×')}]`;
}
