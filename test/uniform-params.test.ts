/**
 * Every WGSL uniform struct against its TS descriptor (src/engine/uniform-params.ts), field by
 * field: names, order, types, offsets (WGSL uniform layout, computed here independently) and a
 * size that is a multiple of 16 bytes. Plus the packer's strictness.
 */
import { describe, expect, it } from 'vitest';
import { defineParams, opt, registeredParams, type ParamsLayout, type FieldSpec } from '../src/engine/uniform-params';
import '../src/engine/step-params';
import { allShaders } from '../src/kernels/shader-sources';

// Every kernel module registers its descriptors when it loads.
import.meta.glob('../src/kernels/*.ts', { eager: true });
// latent_stats' descriptors live with their users (the held-out accumulator and the training window).
import.meta.glob('../src/analysis/latent-{stats,window}.ts', { eager: true });

/** Uniform structs without a descriptor yet, as 'shader:Struct' (none left). */
const UNMIGRATED = new Set<string>();

interface WgslField {
  name: string;
  type: string;
}

function stripComments(code: string): string {
  return code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, '');
}

/** Splits on commas outside <…>. */
function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '<') depth++;
    if (ch === '>') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((x) => x.trim()).filter((x) => x.length > 0);
}

function parseStruct(code: string, name: string): WgslField[] | null {
  const m = new RegExp(`struct\\s+${name}\\s*\\{([^}]*)\\}`).exec(stripComments(code));
  if (!m) return null;
  return splitTopLevel(m[1]!).map((member) => {
    const mm = /^(@\S+\s+)*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(.+)$/s.exec(member);
    if (!mm) throw new Error(`cannot parse struct member '${member}' of ${name}`);
    if (mm[1]) throw new Error(`struct ${name}: member attributes (${mm[1].trim()}) are not supported by the descriptor check`);
    return { name: mm[2]!, type: mm[3]!.replace(/\s+/g, ' ').replace(/\s*([<>,])\s*/g, '$1').replace(/,/g, ', ') };
  });
}

/** Struct types bound as var<uniform> in a shader. */
function uniformStructs(code: string): string[] {
  const out = new Set<string>();
  for (const m of stripComments(code).matchAll(/var<uniform>\s+[A-Za-z_][A-Za-z0-9_]*\s*:\s*([A-Za-z_][A-Za-z0-9_]*)\s*;/g)) out.add(m[1]!);
  return [...out];
}

/** WGSL uniform address-space layout of the member types the descriptors support. */
function wgslLayout(fields: WgslField[]): { offsets: number[]; size: number } {
  let off = 0;
  let align = 4;
  const offsets: number[] = [];
  for (const f of fields) {
    let size: number;
    let a: number;
    if (/^(u32|i32|f32)$/.test(f.type)) [size, a] = [4, 4];
    else {
      const m = /^array<vec4<(u32|i32|f32)>, (\d+)>$/.exec(f.type);
      if (!m) throw new Error(`unsupported uniform member type '${f.type}' (${f.name})`);
      [size, a] = [16 * Number(m[2]), 16];
    }
    off = Math.ceil(off / a) * a;
    offsets.push(off);
    off += size;
    align = Math.max(align, a);
  }
  return { offsets, size: Math.ceil(off / align) * align };
}

/** Mismatches between one WGSL struct and a descriptor; empty = they agree. */
function compare(code: string, d: ParamsLayout<Record<string, FieldSpec>>): string[] {
  const where = `${d.where.struct}`;
  const w = parseStruct(code, d.where.struct);
  if (!w) return [`${where}: no such struct in the shader`];
  const errs: string[] = [];
  const n = Math.max(w.length, d.fields.length);
  for (let i = 0; i < n; i++) {
    const a = w[i];
    const b = d.fields[i];
    if (!a) errs.push(`${where}[${i}]: TS has '${b!.name}: ${b!.type}', WGSL ends`);
    else if (!b) errs.push(`${where}[${i}]: WGSL has '${a.name}: ${a.type}', TS ends`);
    else if (a.name !== b.name || a.type !== b.type) errs.push(`${where}[${i}]: WGSL '${a.name}: ${a.type}' ≠ TS '${b.name}: ${b.type}'`);
  }
  if (errs.length) return errs;
  const lay = wgslLayout(w);
  lay.offsets.forEach((o, i) => {
    if (o !== d.fields[i]!.offset) errs.push(`${where}.${w[i]!.name}: WGSL offset ${o} ≠ TS ${d.fields[i]!.offset}`);
  });
  if (lay.size !== d.size) errs.push(`${where}: WGSL size ${lay.size} ≠ TS ${d.size}`);
  if (lay.size % 16 !== 0) errs.push(`${where}: ${lay.size} bytes is not a multiple of 16`);
  return errs;
}

describe('WGSL uniform structs match their TS descriptors', () => {
  const shaders = new Map(allShaders().map((s) => [s.name, s.code]));
  const descriptors = registeredParams();

  it('every descriptor names existing shaders, and matches each one field by field', () => {
    expect(descriptors.length).toBeGreaterThan(10);
    const errs: string[] = [];
    for (const d of descriptors) {
      for (const name of d.where.shaders) {
        const code = shaders.get(name);
        if (code === undefined) errs.push(`${d.where.struct}: shader '${name}' does not exist`);
        else if (!uniformStructs(code).includes(d.where.struct)) errs.push(`${name}: struct ${d.where.struct} is not bound as var<uniform>`);
        else errs.push(...compare(code, d).map((e) => `${name}: ${e}`));
      }
    }
    expect(errs).toEqual([]);
  });

  it('every uniform struct of every shader has exactly one descriptor (or is listed as unmigrated)', () => {
    const errs: string[] = [];
    for (const [name, code] of shaders) {
      for (const struct of uniformStructs(code)) {
        const key = `${name}:${struct}`;
        const ds = descriptors.filter((d) => d.where.struct === struct && d.where.shaders.includes(name));
        if (UNMIGRATED.has(key)) {
          if (ds.length) errs.push(`${key} has a descriptor: take it off UNMIGRATED`);
        } else if (ds.length !== 1) errs.push(`${key}: ${ds.length} descriptors`);
      }
    }
    expect(errs).toEqual([]);
  });

  it('the check catches a renamed, retyped, reordered, missing or misaligned field', () => {
    const d = defineParams({ shaders: ['fixture'], struct: 'Fx' }, { n: 'u32', scale: 'f32', idx: opt('array<vec4<u32>, 2>'), _p: 'u32' });
    // Not a real shader: keep the fixture out of the registry-wide checks above.
    (registeredParams() as unknown[]).splice(registeredParams().indexOf(d), 1);
    const ok = 'struct Fx {\n n: u32, // count\n scale: f32,\n idx: array<vec4<u32>, 2>,\n _p: u32,\n}';
    expect(compare(ok, d)).toEqual([]);
    // WGSL pads idx to offset 16 and the struct to 64 bytes (align 16): TS must agree.
    expect(d.fields.map((f) => f.offset)).toEqual([0, 4, 16, 48]);
    expect(d.size).toBe(64);
    expect(compare(ok.replace('scale: f32', 'scale: u32'), d)).toHaveLength(1);
    expect(compare(ok.replace('scale: f32', 'gain: f32'), d)).toHaveLength(1);
    expect(compare(ok.replace(' n: u32, // count\n scale: f32,', ' scale: f32,\n n: u32,'), d)).toHaveLength(2);
    expect(compare(ok.replace(' _p: u32,\n', ''), d)).toHaveLength(1);
    expect(compare(ok.replace('struct Fx', 'struct Fy'), d)).toHaveLength(1);
    expect(compare('struct Fx { n: u32, scale: f32, _q: u32, idx: array<vec4<u32>, 2>, _p: u32 }', d).length).toBeGreaterThan(0);
  });
});

describe('defineParams packing', () => {
  const take = <T>(d: T): T => {
    (registeredParams() as unknown[]).splice(registeredParams().indexOf(d as never), 1);
    return d;
  };
  const P = take(defineParams({ shaders: ['fixture'], struct: 'P' }, { n: 'u32', off: 'i32', alpha: 'f32', beta: opt('f32', 1), flags: opt('u32'), _p0: 'u32', _p1: 'u32', _p2: 'u32' }));

  it('writes the same bytes as packing by position', () => {
    const got = new Uint8Array(P.pack({ n: 7, off: -3, alpha: 0.1, flags: true }));
    const ref = new ArrayBuffer(32);
    new Uint32Array(ref, 0, 1)[0] = 7;
    new Int32Array(ref, 4, 1)[0] = -3;
    new Float32Array(ref, 8, 2).set([0.1, 1]);
    new Uint32Array(ref, 16, 1)[0] = 1;
    expect(got).toEqual(new Uint8Array(ref));
  });

  it('rejects unknown, missing and out-of-range fields with the struct and field named', () => {
    expect(() => P.pack({ n: 1, off: 0, alpha: 0, gamma: 1 } as never)).toThrow(/struct P .*unknown field 'gamma'/);
    expect(() => P.pack({ n: 1, off: 0, alpha: 0, _p0: 1 } as never)).toThrow(/unknown field '_p0'.*padding/);
    expect(() => P.pack({ n: 1, alpha: 0 } as never)).toThrow(/field 'off' is missing/);
    expect(() => P.pack({ n: -1, off: 0, alpha: 0 })).toThrow(/'n' \(u32\)/);
    expect(() => P.pack({ n: 1.5, off: 0, alpha: 0 })).toThrow(/'n' \(u32\)/);
    expect(() => P.pack({ n: 2 ** 32, off: 0, alpha: 0 })).toThrow(/'n' \(u32\)/);
    expect(() => P.pack({ n: 1, off: 2 ** 31, alpha: 0 })).toThrow(/'off' \(i32\)/);
    expect(() => P.pack({ n: 1, off: true as never, alpha: 0 })).toThrow(/'off' \(i32\)/);
    expect(() => P.pack({ n: 1, off: 0, alpha: NaN })).toThrow(/'alpha' \(f32\)/);
    expect(() => P.pack({ n: 1, off: 0, alpha: '1' as never })).toThrow(/'alpha' \(f32\)/);
  });

  it('a writer reuses one buffer and rewrites every byte', () => {
    const w = P.writer();
    const a = w.set({ n: 5, off: 1, alpha: 2, flags: 3 });
    const b = w.set({ n: 6, off: 1, alpha: 2 });
    expect(b).toBe(a);
    expect(Array.from(new Uint32Array(b))).toEqual([6, 1, 0x40000000, 0x3f800000, 0, 0, 0, 0]);
  });

  it('arrays take at most 4·N values, the rest 0', () => {
    const A = take(defineParams({ shaders: ['fixture'], struct: 'A' }, { count: 'u32', _p0: 'u32', _p1: 'u32', _p2: 'u32', field: 'array<vec4<u32>, 2>' }));
    expect(Array.from(new Uint32Array(A.pack({ count: 3, field: [4, 5, 6] })))).toEqual([3, 0, 0, 0, 4, 5, 6, 0, 0, 0, 0, 0]);
    expect(() => A.pack({ count: 1, field: [1, 2, 3, 4, 5, 6, 7, 8, 9] })).toThrow(/'field' holds 8 values, got 9/);
  });

  it('refuses a struct that is not a multiple of 16 bytes, and unsupported types', () => {
    expect(() => defineParams({ shaders: ['fixture'], struct: 'Odd' }, { a: 'u32', b: 'u32', c: 'u32' })).toThrow(/12 bytes is not a multiple of 16/);
    expect(() => defineParams({ shaders: ['fixture'], struct: 'V' }, { a: 'vec2<f32>' as never, b: 'u32' })).toThrow(/unsupported type 'vec2<f32>'/);
  });
});
