/**
 * The interop command: files with known weights in, outputs and gradients out, compared with the
 * float64 references; the attention-output path with a test-local adapter; clear errors and
 * non-zero exit codes for malformed inputs.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import type { Adapter, AdapterModule, AdapterSite } from '../src/adapters/adapter';
import { loraBackwardCpu, loraForwardCpu } from '../src/adapters/lora';
import { adapterKinds, registerAdapter, unregisterAdapter } from '../src/adapters/registry';
import { attentionAtomsBackward, attentionAtomsForward } from '../src/adapters/atoms-reference';
import { num } from '../src/settings/fields';
import { soraBackwardCpu, soraForwardCpu } from '../src/adapters/sora';
import { interopCommand, INTEROP_USAGE } from '../src/cli/interop';
import { ParamRef } from '../src/engine/param-pack';
import { recordMatmul } from '../src/kernels/matmul';
import { parseSafetensors, serializeSafetensors, toFloat32, type TensorInput } from '../src/io/safetensors';
import type { MultiHeadAttention } from '../src/nn/attention';
import { declareParam, type BuildContext } from '../src/nn/module';
import * as ref from '../src/nn/reference';
import { randn64 } from './helpers/finite-diff';
import { maxRelError, testRuntime } from './helpers/gpu';
import { linearForwardCpu } from './helpers/linear-fit';

const dir = mkdtempSync(join(tmpdir(), 'interop-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let stdout: MockInstance;
let stderr: MockInstance;
const text = (m: MockInstance) => m.mock.calls.map((c) => String(c[0])).join('');
beforeEach(() => {
  stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(() => vi.restoreAllMocks());

let fileCount = 0;
function writeInput(tensors: TensorInput[], metadata: Record<string, string>): string {
  const p = join(dir, `in${fileCount++}.safetensors`);
  writeFileSync(p, serializeSafetensors(tensors, metadata));
  return p;
}

function readOutput(p: string) {
  const f = parseSafetensors(new Uint8Array(readFileSync(p)));
  const get = (n: string) => {
    const t = f.tensors.get(n);
    if (!t) throw new Error(`output has no ${n}; has ${[...f.tensors.keys()].join(', ')}`);
    return { shape: t.shape, data: toFloat32(t) };
  };
  return { file: f, get };
}

const f32 = (a: ArrayLike<number>) => Float32Array.from(a);
/** F64 little-endian bytes (serializeSafetensors takes raw bytes for dtypes without a typed array). */
const f64Bytes = (a: ArrayLike<number>) => new Uint8Array(Float64Array.from(a).buffer);

/** dx of the base Linear: dy·W. */
function linearDx(dy: ArrayLike<number>, W: ArrayLike<number>, rows: number, n: number, m: number): Float64Array {
  const dx = new Float64Array(rows * n);
  for (let i = 0; i < rows; i++) for (let k = 0; k < n; k++) {
    let acc = 0;
    for (let j = 0; j < m; j++) acc += dy[i * m + j]! * W[j * n + k]!;
    dx[i * n + k] = acc;
  }
  return dx;
}

// A LoRA problem: base 6 → 5, rank 2, x [2, 3, 6] (leading dims flatten to 6 rows).
const n = 6, m = 5, r = 2, alpha = 3, rows = 6;
const W = f32(randn64(m * n, 1, 0.4));
const bias = f32(randn64(m, 2, 0.1));
const A = f32(randn64(r * n, 3, 0.5));
const B = f32(randn64(m * r, 4, 0.5));
const X = f32(randn64(rows * n, 5));
const DY = f32(randn64(rows * m, 6));
const loraTensors = (): TensorInput[] => [
  { name: 'base.weight', dtype: 'F64', shape: [m, n], data: f64Bytes(W) },
  { name: 'base.bias', shape: [m], data: bias },
  { name: 'layer.lora_A.weight', shape: [r, n], data: A },
  { name: 'layer.lora_B.weight', shape: [m, r], data: B },
  { name: 'x', shape: [2, 3, n], data: X },
  { name: 'grad_y', shape: [2, 3, m], data: DY },
];
const loraMeta = { adapter: 'lora', config: JSON.stringify({ rank: r, alpha }) };

describe('interop: LoRA and SoRA on a Linear', () => {
  it('LoRA: y, grad_x and the adapter gradients match the float64 reference; no base gradient', async () => {
    const rt = await testRuntime();
    const input = writeInput(loraTensors(), loraMeta);
    const out = join(dir, 'lora-out.safetensors');
    expect(await interopCommand([input, out], { rt })).toBe(0);
    expect(text(stderr)).toBe('');
    expect(text(stdout)).toContain(`${out}: y [2,3,5], grad_x [2,3,6], grad.layer.lora_A.weight [2,6], grad.layer.lora_B.weight [5,2]`);
    const o = readOutput(out);
    expect([...o.file.tensors.keys()].sort()).toEqual(['grad.layer.lora_A.weight', 'grad.layer.lora_B.weight', 'grad_x', 'y']);
    expect(o.file.metadata['adapter']).toBe('lora');
    expect(JSON.parse(o.file.metadata['config']!)).toEqual({ rank: r, alpha });
    const cpu = { x: X, A, B, rows, n, m, r, alpha };
    const delta = loraForwardCpu(cpu);
    const y = linearForwardCpu(X, W, bias, rows, n, m).map((v, i) => v + delta[i]!);
    const g = loraBackwardCpu({ ...cpu, dy: DY });
    const dx = linearDx(DY, W, rows, n, m).map((v, i) => v + g.dx[i]!);
    expect(o.get('y').shape).toEqual([2, 3, m]);
    expect(o.get('grad_x').shape).toEqual([2, 3, n]);
    expect(maxRelError(o.get('y').data, y)).toBeLessThan(1e-5);
    expect(maxRelError(o.get('grad_x').data, dx)).toBeLessThan(1e-5);
    expect(maxRelError(o.get('grad.layer.lora_A.weight').data, g.dA)).toBeLessThan(1e-5);
    expect(maxRelError(o.get('grad.layer.lora_B.weight').data, g.dB)).toBeLessThan(1e-5);
  });

  it('SoRA without a bias, on a device the command acquires itself (the CLI path)', async () => {
    const gate = f32([0.8, -0.4]);
    const input = writeInput(
      [
        { name: 'base.weight', shape: [m, n], data: W },
        { name: 'layer.sora_A.weight', shape: [r, n], data: A },
        { name: 'layer.sora_B.weight', shape: [m, r], data: B },
        { name: 'layer.sora_gate', shape: [r], data: gate },
        { name: 'x', shape: [rows, n], data: X },
        { name: 'grad_y', shape: [rows, m], data: DY },
      ],
      { adapter: 'sora', config: JSON.stringify({ rank: r, alpha, lambda: 0.5 }) },
    );
    const out = join(dir, 'sora-out.safetensors');
    expect(await interopCommand([input, out])).toBe(0);
    const o = readOutput(out);
    const cpu = { x: X, A, B, gate, rows, n, m, r, alpha };
    const delta = soraForwardCpu(cpu);
    const g = soraBackwardCpu({ ...cpu, dy: DY });
    expect(maxRelError(o.get('y').data, linearForwardCpu(X, W, null, rows, n, m).map((v, i) => v + delta[i]!))).toBeLessThan(1e-5);
    expect(maxRelError(o.get('grad_x').data, linearDx(DY, W, rows, n, m).map((v, i) => v + g.dx[i]!))).toBeLessThan(1e-5);
    expect(maxRelError(o.get('grad.layer.sora_A.weight').data, g.dA)).toBeLessThan(1e-5);
    expect(maxRelError(o.get('grad.layer.sora_B.weight').data, g.dB)).toBeLessThan(1e-5);
    expect(maxRelError(o.get('grad.layer.sora_gate').data, g.dgate)).toBeLessThan(1e-5);
    expect(o.file.tensors.has('grad.base.weight')).toBe(false);
  });
});

describe('interop: STAN (a k-sparse Linear adapter from the registry)', () => {
  it('matches a float64 top-k reference', async () => {
    const rt = await testRuntime();
    const k = 3, l = 2 * n; // expansion 2
    const E = f32(randn64(l * n, 40, 0.5));
    const D = f32(randn64(m * l, 41, 0.5));
    const input = writeInput(
      [
        { name: 'base.weight', shape: [m, n], data: W },
        { name: 'base.bias', shape: [m], data: bias },
        { name: 'layer.stan_E.weight', shape: [l, n], data: E },
        { name: 'layer.stan_D.weight', shape: [m, l], data: D },
        { name: 'x', shape: [rows, n], data: X },
        { name: 'grad_y', shape: [rows, m], data: DY },
      ],
      { adapter: 'stan', config: JSON.stringify({ expansion: 2, k, topk: 'signed' }) },
    );
    const out = join(dir, 'stan-out.safetensors');
    expect(await interopCommand([input, out], { rt })).toBe(0);
    const o = readOutput(out);
    // z = x·Eᵀ; keep each row's k largest; y = base + (1/k)·code·Dᵀ; gradients through the kept entries only.
    const z = linearForwardCpu(X, E, null, rows, n, l);
    const code = new Float64Array(rows * l);
    for (let i = 0; i < rows; i++) {
      const order = Array.from({ length: l }, (_, j) => j).sort((a, b) => z[i * l + b]! - z[i * l + a]!);
      for (const j of order.slice(0, k)) code[i * l + j] = z[i * l + j]!;
    }
    const dec = linearForwardCpu(code, D, null, rows, l, m);
    const y = linearForwardCpu(X, W, bias, rows, n, m).map((v, i) => v + dec[i]! / k);
    const dcode = linearDx(DY, D, rows, l, m).map((v, i) => (code[i] !== 0 ? v / k : 0));
    const dE = new Float64Array(l * n);
    const dD = new Float64Array(m * l);
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < l; j++) for (let c = 0; c < n; c++) dE[j * n + c]! += dcode[i * l + j]! * X[i * n + c]!;
      for (let o2 = 0; o2 < m; o2++) for (let j = 0; j < l; j++) dD[o2 * l + j]! += (DY[i * m + o2]! * code[i * l + j]!) / k;
    }
    const dxAdapter = linearDx(dcode, E, rows, n, l);
    const dx = linearDx(DY, W, rows, n, m).map((v, i) => v + dxAdapter[i]!);
    expect(maxRelError(o.get('y').data, y)).toBeLessThan(1e-5);
    expect(maxRelError(o.get('grad_x').data, dx)).toBeLessThan(1e-5);
    expect(maxRelError(o.get('grad.layer.stan_E.weight').data, dE)).toBeLessThan(1e-5);
    expect(maxRelError(o.get('grad.layer.stan_D.weight').data, dD)).toBeLessThan(1e-5);
  });
});

/**
 * A test-local attention-output adapter (ΔO = x·Pᵀ, no use of the probabilities), registered
 * as 'fake-attn' for one test: it exercises interop's attention path on its own terms.
 */
const fakeAttentionAdapter: AdapterModule<{ scale: number }> = {
  kind: 'fake-attn',
  label: 'fake',
  title: 'fake attention-output adapter',
  formula: 'ΔO = X·Pᵀ',
  explanation: [],
  unit: 'atom',
  settings: { fields: { scale: num('scale', 0, 10) }, defaults: { scale: 1 } },
  export: { peftType: 'FAKE_ATTN', tensors: ['fake_P.weight'] },
  runLabel: () => '',
  sites: ['attention-output'],
  validate() {},
  attach(ctx: BuildContext, site: AdapterSite): Adapter {
    if (site.kind !== 'attention-output') throw new Error('attention only');
    const { dim: d, batch, seq } = site;
    const rowsA = batch * seq;
    const P: ParamRef = declareParam(ctx, `${site.path}.fake_P.weight`, [d, d], { constant: 0 }, { frozen: false });
    const layer = site.layer as MultiHeadAttention;
    layer.outputAdapter = {
      recordForward: (list, io) => recordMatmul(ctx.rt, list, { a: io.x, b: P.value, c: io.out, M: rowsA, N: d, K: d, transB: true, accumulate: true }),
      recordBackward: (list, io) => {
        recordMatmul(ctx.rt, list, { a: io.dout, b: io.x, c: P.grad, M: d, N: d, K: rowsA, transA: true });
        list.push({ kind: 'clear', label: 'dprobs', buffer: io.dprobs.buffer, offset: io.dprobs.offset, size: io.dprobs.byteLength });
      },
      recordBackwardInput: (list, io) => recordMatmul(ctx.rt, list, { a: io.dout, b: P.value, c: io.dx, M: rowsA, N: d, K: d, accumulate: true }),
    };
    return {
      kind: 'fake-attn',
      path: site.path,
      params: [P],
      latentCount: 1,
      latentLabel: 'atom',
      trainableParameterCount: () => d * d,
      setMask() {},
      destroy: () => (layer.outputAdapter = null),
    };
  },
};

describe('interop: an attention-output adapter', () => {
  it('builds a frozen attention from base.{q,k,v,o}_proj (missing biases = 0) and matches the reference', async () => {
    const rt = await testRuntime();
    registerAdapter(fakeAttentionAdapter);
    try {
      const batch = 2, seq = 3, d = 4, heads = 2, rowsA = batch * seq;
      const params = new Map<string, Float64Array>();
      const tensors: TensorInput[] = [];
      for (const [i, p] of ['q_proj', 'k_proj', 'v_proj', 'o_proj'].entries()) {
        const w = f32(randn64(d * d, 10 + i, 0.5));
        params.set(`layer.${p}.weight`, Float64Array.from(w));
        tensors.push({ name: `base.${p}.weight`, shape: [d, d], data: w });
        const b = i < 2 ? f32(randn64(d, 20 + i, 0.1)) : new Float32Array(d); // v/o biases omitted from the file
        params.set(`layer.${p}.bias`, Float64Array.from(b));
        if (i < 2) tensors.push({ name: `base.${p}.bias`, shape: [d], data: b });
      }
      const P = f32(randn64(d * d, 30, 0.3));
      const x = f32(randn64(rowsA * d, 31));
      const dy = f32(randn64(rowsA * d, 32));
      tensors.push({ name: 'layer.fake_P.weight', shape: [d, d], data: P }, { name: 'x', shape: [batch, seq, d], data: x }, { name: 'grad_y', shape: [batch, seq, d], data: dy });
      const shape = { batch, seq, dim: d, heads, causal: true };

      expect(await interopCommand([writeInput(tensors, { adapter: 'fake-attn', config: '{}' }), join(dir, 'nohead.safetensors')], { rt })).toBe(2);
      expect(text(stderr)).toContain("metadata 'heads' must be a positive integer dividing dim 4, got nothing");

      const out = join(dir, 'attn-out.safetensors');
      expect(await interopCommand([writeInput(tensors, { adapter: 'fake-attn', heads: '2', causal: 'true' }), out], { rt })).toBe(0);
      const o = readOutput(out);
      const x64 = Float64Array.from(x);
      const xp = linearForwardCpu(x64, P, null, rowsA, d, d);
      const yRef = ref.attentionForward(params, 'layer', x64, shape).out.map((v, i) => v + xp[i]!);
      const grads = new Map<string, Float64Array>();
      const dxAttn = ref.attentionBackward(params, grads, 'layer', x64, Float64Array.from(dy), shape);
      const dxP = linearDx(dy, P, rowsA, d, d);
      const dP = new Float64Array(d * d);
      for (let i = 0; i < rowsA; i++) for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) dP[a * d + b]! += dy[i * d + a]! * x[i * d + b]!;
      expect(maxRelError(o.get('y').data, yRef)).toBeLessThan(1e-5);
      expect(maxRelError(o.get('grad_x').data, dxAttn.map((v, i) => v + dxP[i]!))).toBeLessThan(1e-5);
      expect(maxRelError(o.get('grad.layer.fake_P.weight').data, dP)).toBeLessThan(1e-5);
      expect(o.get('y').shape).toEqual([batch, seq, d]);
    } finally {
      unregisterAdapter('fake-attn');
    }
  });

  for (const topk of ['signed', 'abs'] as const) {
    it(`atoms, top-k by ${topk === 'signed' ? 'value' : '|value|'} (paper form, 2 heads, causal): y, grad_x, dW_s and dD match the float64 reference`, async () => {
      const rt = await testRuntime();
      const batch = 2, seq = 5, d = 8, heads = 2, M = 6, k = 2, rowsA = batch * seq;
      const params = new Map<string, Float64Array>();
      const tensors: TensorInput[] = [];
      for (const [i, p] of ['q_proj', 'k_proj', 'v_proj', 'o_proj'].entries()) {
        const w = f32(randn64(d * d, 40 + i, 0.4));
        const b = f32(randn64(d, 50 + i, 0.1));
        params.set(`layer.${p}.weight`, Float64Array.from(w));
        params.set(`layer.${p}.bias`, Float64Array.from(b));
        tensors.push({ name: `base.${p}.weight`, shape: [d, d], data: w }, { name: `base.${p}.bias`, shape: [d], data: b });
      }
      const Ws = f32(randn64(d * M, 60, 0.7));
      const D = f32(randn64(M * d, 61, 0.5));
      const x = f32(randn64(rowsA * d, 62));
      const dy = f32(randn64(rowsA * d, 63));
      tensors.push({ name: 'layer.atoms_Ws.weight', shape: [d, M], data: Ws }, { name: 'layer.atoms_D.weight', shape: [M, d], data: D }, { name: 'x', shape: [batch, seq, d], data: x }, { name: 'grad_y', shape: [batch, seq, d], data: dy });
      const out = join(dir, `atoms-${topk}.safetensors`);
      const config = JSON.stringify({ atoms: M, sigma: 'topk', k, topk, form: 'paper', train: 'both' });
      expect(await interopCommand([writeInput(tensors, { adapter: 'atoms', config, heads: String(heads), causal: 'true' }), out], { rt })).toBe(0);
      const o = readOutput(out);
      const shape = { batch, seq, dim: d, heads, causal: true };
      const ad = { Ws: Float64Array.from(Ws), D: Float64Array.from(D), atoms: M, sigma: 'topk' as const, lambda: 0, k, topk, form: 'paper' as const };
      const x64 = Float64Array.from(x);
      const fwd = attentionAtomsForward(params, 'layer', x64, shape, ad);
      const bwd = attentionAtomsBackward(params, new Map(), 'layer', x64, Float64Array.from(dy), shape, ad);
      expect(maxRelError(o.get('y').data, fwd.out)).toBeLessThan(1e-5);
      expect(maxRelError(o.get('grad_x').data, bwd.dx)).toBeLessThan(1e-4);
      expect(maxRelError(o.get('grad.layer.atoms_Ws.weight').data, bwd.dWs)).toBeLessThan(1e-4);
      expect(maxRelError(o.get('grad.layer.atoms_D.weight').data, bwd.dD)).toBeLessThan(1e-4);
      // The two selection rules pick different atoms somewhere on this input (else the case would not tell them apart).
      const other = attentionAtomsForward(params, 'layer', x64, shape, { ...ad, topk: topk === 'signed' ? 'abs' : 'signed' });
      expect(maxRelError(other.out, fwd.out)).toBeGreaterThan(1e-3);
    });
  }
});

describe('interop: malformed inputs', () => {
  const cases: { name: string; edit: (t: TensorInput[], meta: Record<string, string>) => void; message: string }[] = [
    { name: 'unknown adapter', edit: (_t, meta) => (meta['adapter'] = 'dora'), message: `unknown adapter 'dora' (metadata 'adapter'); registered: ${adapterKinds().join(', ')}` },
    { name: 'no adapter metadata', edit: (_t, meta) => delete meta['adapter'], message: "metadata 'adapter' is missing" },
    { name: 'config not JSON', edit: (_t, meta) => (meta['config'] = '{rank: 2'), message: "metadata 'config' is not valid JSON" },
    { name: 'impossible config', edit: (_t, meta) => (meta['config'] = JSON.stringify({ rank: 9, alpha: 1 })), message: 'lora config: rank: must be an integer in 1..5' },
    { name: 'unknown config field', edit: (_t, meta) => (meta['config'] = JSON.stringify({ rank: 2, alhpa: 1 })), message: 'lora config: alhpa: unknown lora config field' },
    { name: 'missing adapter tensor', edit: (t) => t.splice(t.findIndex((e) => e.name === 'layer.lora_B.weight'), 1), message: "missing tensor 'layer.lora_B.weight'" },
    { name: 'missing base weight', edit: (t) => t.splice(0, 1), message: "missing tensor 'base.weight'" },
    { name: 'missing grad_y', edit: (t) => t.splice(t.findIndex((e) => e.name === 'grad_y'), 1), message: "missing tensor 'grad_y'" },
    { name: 'adapter shape mismatch', edit: (t) => (t[2] = { name: 'layer.lora_A.weight', shape: [n, r], data: A }), message: "tensor 'layer.lora_A.weight' has shape [6, 2], expected [2, 6]" },
    { name: 'x does not fit base.weight', edit: (t) => (t[4] = { name: 'x', shape: [rows * 2, 3], data: X }), message: "tensor 'x' has shape [12, 3], expected [rows, 6]" },
    { name: 'grad_y does not fit y', edit: (t) => (t[5] = { name: 'grad_y', shape: [rows, m], data: DY }), message: "tensor 'grad_y' has shape [6, 5], expected [2, 3, 5]" },
    { name: 'bias of the wrong length', edit: (t) => (t[1] = { name: 'base.bias', shape: [m - 1], data: bias.subarray(0, m - 1) }), message: "tensor 'base.bias' has shape [4], expected [5]" },
    { name: 'integer tensor', edit: (t) => (t[4] = { name: 'x', shape: [2, 3, n], data: new Int32Array(rows * n) }), message: "tensor 'x' is I32; expected a float dtype" },
    { name: 'unexpected tensor', edit: (t) => t.push({ name: 'layer.lora_C.weight', shape: [1], data: f32([1]) }), message: "unexpected tensor 'layer.lora_C.weight'; a lora problem with this config has: base.weight, base.bias, layer.lora_A.weight" },
  ];
  for (const c of cases) {
    it(`${c.name}: exit 2, one clear line, no output file`, async () => {
      const rt = await testRuntime();
      const t = loraTensors();
      const meta: Record<string, string> = { ...loraMeta };
      c.edit(t, meta);
      const input = writeInput(t, meta);
      const out = join(dir, `bad-${fileCount}.safetensors`);
      expect(await interopCommand([input, out], { rt })).toBe(2);
      const err = text(stderr);
      expect(err).toContain(`error: ${input}: ${c.message}`);
      expect(err.trim().split('\n')).toHaveLength(1);
      expect(existsSync(out)).toBe(false);
    });
  }

  it('usage errors, unreadable and malformed files, unwritable output', async () => {
    const rt = await testRuntime();
    expect(await interopCommand([], { rt })).toBe(1);
    expect(text(stderr)).toContain('expected 2 files, got 0');
    expect(text(stderr)).toContain(INTEROP_USAGE);
    expect(await interopCommand(['a.safetensors'], { rt })).toBe(1);
    expect(await interopCommand(['--fast', 'a', 'b'], { rt })).toBe(1);
    expect(text(stderr)).toContain('unknown option "--fast"');
    expect(await interopCommand(['--help'], { rt })).toBe(0);
    expect(text(stdout)).toContain('interop <in.safetensors> <out.safetensors>');
    stderr.mockClear();
    expect(await interopCommand([join(dir, 'missing.safetensors'), join(dir, 'o.safetensors')], { rt })).toBe(1);
    expect(text(stderr)).toContain('missing.safetensors: no such file');
    const garbage = join(dir, 'garbage.safetensors');
    writeFileSync(garbage, new Uint8Array([1, 2, 3]));
    expect(await interopCommand([garbage, join(dir, 'o.safetensors')], { rt })).toBe(2);
    expect(text(stderr)).toMatch(/garbage\.safetensors: .+/);
    stderr.mockClear();
    expect(await interopCommand([writeInput(loraTensors(), loraMeta), dir], { rt })).toBe(1); // a directory
    expect(text(stderr)).toContain(`error: ${dir}: `);
  });
});
