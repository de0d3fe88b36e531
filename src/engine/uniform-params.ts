/**
 * Kernel uniforms, declared once: `defineParams` takes the WGSL struct's fields in order (WGSL
 * names and types) and packs a typed object into the struct's bytes. test/uniform-params.test.ts
 * parses every uniform struct of every shader and checks it against the descriptor that names it,
 * field by field (names, order, types, offsets, 16-byte size), so TS and WGSL cannot drift apart.
 *
 *   const P = defineParams({ shaders: ['softmax_rows'], struct: 'Params' }, {
 *     rows: 'u32', classes: 'u32', row_stride: 'u32', _p: 'u32',
 *   });
 *   rt.uniform(P.pack({ rows, classes, row_stride: g.x }), label);
 *
 * Field types: 'u32' | 'i32' | 'f32' (required), `opt(type, default)` (optional; default 0), and
 * 'array<vec4<u32>, N>' (a list of at most 4·N numbers, the rest 0). Fields whose name starts
 * with `_` are padding: never given, always 0. The struct must be a multiple of 16 bytes (pad it
 * explicitly, in WGSL and here alike).
 *
 * Packing is strict: an unknown or missing field, a u32/i32 that is not an integer in range
 * (booleans are 1/0 for u32) or a NaN f32 throws an error naming the struct and the field.
 * `pack` allocates the returned ArrayBuffer (record time); a `ParamsWriter` (`writer()`) packs
 * into one preallocated buffer, for uniforms rewritten every step.
 *
 * This lives in the engine (not src/kernels) because the engine's own StepParams uses it.
 */

export type ScalarType = 'u32' | 'i32' | 'f32';
export type ArrayType = `array<vec4<${ScalarType}>, ${number}>`;
export type FieldType = ScalarType | ArrayType;
export interface OptionalField<T extends FieldType = FieldType> {
  readonly type: T;
  readonly default: number;
}
export type FieldSpec = FieldType | OptionalField;

/** An optional field: omitted in `pack`, it takes `dflt` (default 0). */
export function opt<T extends FieldType>(type: T, dflt = 0): OptionalField<T> {
  return { type, default: dflt };
}

type TypeOf<S> = S extends OptionalField<infer T> ? T : S;
type ValueOf<T> = T extends 'u32' ? number | boolean : T extends ScalarType ? number : ArrayLike<number>;
type Padding<K> = K extends `_${string}` ? true : false;
type RequiredKeys<F> = { [K in keyof F]: Padding<K> extends true ? never : F[K] extends OptionalField ? never : K }[keyof F];
type OptionalKeys<F> = { [K in keyof F]: Padding<K> extends true ? never : F[K] extends OptionalField ? K : never }[keyof F];
/** The object `pack` takes: every non-padding field, optional ones optional. */
export type ParamsValues<F> = { [K in RequiredKeys<F>]: ValueOf<TypeOf<F[K]>> } & { [K in OptionalKeys<F>]?: ValueOf<TypeOf<F[K]>> };

export interface ParamsField {
  readonly name: string;
  readonly type: FieldType;
  /** Scalar type of the value(s). */
  readonly scalar: ScalarType;
  /** Values (1 for scalars, 4·N for array<vec4<…>, N>). */
  readonly count: number;
  /** Byte offset in the struct (WGSL uniform layout). */
  readonly offset: number;
  readonly size: number;
  readonly align: number;
  readonly padding: boolean;
  /** undefined: required (never for padding). */
  readonly default: number | undefined;
}

export interface ParamsWhere {
  /** Shader names (keys of src/kernels/shader-sources.ts) whose uniform struct this describes. */
  readonly shaders: readonly string[];
  /** The WGSL struct name. */
  readonly struct: string;
}

const ARRAY_RE = /^array<vec4<(u32|i32|f32)>,\s*(\d+)>$/;

function parseType(name: string, t: string): { scalar: ScalarType; count: number; size: number; align: number } {
  if (t === 'u32' || t === 'i32' || t === 'f32') return { scalar: t, count: 1, size: 4, align: 4 };
  const m = ARRAY_RE.exec(t);
  if (m && Number(m[2]) >= 1) return { scalar: m[1] as ScalarType, count: 4 * Number(m[2]), size: 16 * Number(m[2]), align: 16 };
  throw new Error(`uniform field '${name}': unsupported type '${t}' (u32, i32, f32 or array<vec4<u32|i32|f32>, N>)`);
}

const registry: ParamsLayout<Record<string, FieldSpec>>[] = [];

/** Every descriptor defined so far (modules register theirs when they load). */
export function registeredParams(): readonly ParamsLayout<Record<string, FieldSpec>>[] {
  return registry;
}

export class ParamsLayout<F extends Record<string, FieldSpec>> {
  readonly fields: readonly ParamsField[];
  /** Bytes (a multiple of 16). */
  readonly size: number;
  private readonly byName = new Map<string, ParamsField>();

  constructor(
    readonly where: ParamsWhere,
    spec: F,
  ) {
    if (where.shaders.length === 0) throw new Error(`uniform struct ${where.struct}: name at least one shader`);
    const fields: ParamsField[] = [];
    let offset = 0;
    let structAlign = 4;
    for (const [name, s] of Object.entries(spec)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`${this.what}: field name '${name}' is not a WGSL identifier`);
      const type = typeof s === 'string' ? s : s.type;
      const t = parseType(`${where.struct}.${name}`, type);
      const padding = name.startsWith('_');
      if (padding && typeof s !== 'string') throw new Error(`${this.what}: padding field '${name}' cannot have a default`);
      offset = Math.ceil(offset / t.align) * t.align;
      const f: ParamsField = { name, type, ...t, offset, padding, default: padding ? 0 : typeof s === 'string' ? undefined : s.default };
      fields.push(f);
      this.byName.set(name, f);
      offset += t.size;
      structAlign = Math.max(structAlign, t.align);
    }
    if (fields.length === 0) throw new Error(`${this.what}: no fields`);
    const size = Math.ceil(offset / structAlign) * structAlign;
    if (size % 16 !== 0) throw new Error(`${this.what}: ${size} bytes is not a multiple of 16; add padding fields (_p0: 'u32', …) here and in the WGSL struct`);
    this.fields = fields;
    this.size = size;
    registry.push(this as unknown as ParamsLayout<Record<string, FieldSpec>>);
  }

  private get what(): string {
    return `uniform struct ${this.where.struct} (${this.where.shaders.join(', ')})`;
  }

  /** Packs `values` into a new ArrayBuffer of `size` bytes. */
  pack(values: ParamsValues<F>): ArrayBuffer {
    const buf = new ArrayBuffer(this.size);
    this.packInto(values, new DataView(buf));
    return buf;
  }

  /** A writer owning one preallocated buffer: `set` packs into it without allocating. */
  writer(): ParamsWriter<F> {
    return new ParamsWriter(this);
  }

  /** Packs `values` into `view` at offset 0 (all bytes of the struct are written). */
  packInto(values: ParamsValues<F>, view: DataView): void {
    const v = values as Record<string, unknown>;
    for (const key in v) {
      const f = this.byName.get(key);
      if (!f || f.padding) throw new Error(`${this.what}: unknown field '${key}'${f ? ' (padding is written as 0)' : ''}`);
    }
    for (let i = 0; i < this.fields.length; i++) {
      const f = this.fields[i]!;
      const x = f.padding ? undefined : v[f.name];
      if (f.count === 1) {
        let n: unknown = x;
        if (n === undefined) {
          if (f.default === undefined) throw new Error(`${this.what}: field '${f.name}' is missing`);
          n = f.default;
        }
        this.put(view, f, f.offset, n);
      } else {
        const arr = (x === undefined ? EMPTY : x) as ArrayLike<unknown>;
        if (typeof arr !== 'object' || arr === null || typeof arr.length !== 'number') throw new Error(`${this.what}: field '${f.name}' must be a list of numbers`);
        if (arr.length > f.count) throw new Error(`${this.what}: field '${f.name}' holds ${f.count} values, got ${arr.length}`);
        for (let k = 0; k < f.count; k++) this.put(view, f, f.offset + 4 * k, k < arr.length ? arr[k] : (f.default ?? 0));
      }
    }
  }

  private put(view: DataView, f: ParamsField, at: number, x: unknown): void {
    if (f.scalar === 'f32') {
      if (typeof x !== 'number' || Number.isNaN(x)) throw new Error(`${this.what}: field '${f.name}' (f32) must be a number, got ${String(x)}`);
      view.setFloat32(at, x, true);
      return;
    }
    const n = typeof x === 'boolean' && f.scalar === 'u32' ? (x ? 1 : 0) : x;
    const [lo, hi] = f.scalar === 'u32' ? [0, 0xffffffff] : [-0x80000000, 0x7fffffff];
    if (typeof n !== 'number' || !Number.isInteger(n) || n < lo || n > hi) {
      throw new Error(`${this.what}: field '${f.name}' (${f.scalar}) must be an integer in [${lo}, ${hi}], got ${String(x)}`);
    }
    if (f.scalar === 'u32') view.setUint32(at, n, true);
    else view.setInt32(at, n, true);
  }
}

const EMPTY: readonly number[] = [];

/** One preallocated host buffer for a uniform rewritten every step. */
export class ParamsWriter<F extends Record<string, FieldSpec>> {
  readonly host: ArrayBuffer;
  private readonly view: DataView;

  constructor(readonly layout: ParamsLayout<F>) {
    this.host = new ArrayBuffer(layout.size);
    this.view = new DataView(this.host);
  }

  /** Packs `values` into `host` (no allocation) and returns it. */
  set(values: ParamsValues<F>): ArrayBuffer {
    this.layout.packInto(values, this.view);
    return this.host;
  }
}

/** Declares one WGSL uniform struct (see the file comment). */
export function defineParams<const F extends Record<string, FieldSpec>>(where: ParamsWhere, fields: F): ParamsLayout<F> {
  return new ParamsLayout(where, fields);
}
