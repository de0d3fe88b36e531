/**
 * Session files: the whole training state as one safetensors file. Resume is bit-exact (the step
 * after decode → restore into a freshly built model and trainer has the uninterrupted run's
 * loss), the round trip is exact, and every malformed or mismatched file is a SessionFileError
 * naming what is wrong.
 */
import { describe, expect, it } from 'vitest';
import type { AdapterSpec } from '../src/adapters/attach';
import { defaultConfig } from '../src/config/defaults';
import { checkPlaygroundConfig } from '../src/persistence/session-checkpoint';

const DEFAULT_CONFIG = defaultConfig();
import type { PlaygroundConfig } from '../src/config/schema';
import type { MetricRow } from '../src/engine/metric-ring';
import type { GpuRuntime } from '../src/engine/runtime';
import { parseSafetensors, serializeSafetensors, type TensorInput } from '../src/io/safetensors';
import { checkpointFromSession, decodeSession, encodeSession, SESSION_FORMAT, SessionFileError, sessionFromCheckpoint, type Session } from '../src/io/session-file';
import { Trainer } from '../src/train/trainer';
import { buildAdaptedModel } from './helpers/adapted-model';
import { testRuntime } from './helpers/gpu';

const STAN: AdapterSpec = { kind: 'stan', config: { expansion: 2, k: 4 }, targets: ['blocks.*.attn.{q,v}_proj', 'fc1'] };
const CONFIG: PlaygroundConfig = { ...DEFAULT_CONFIG, task: 'regression', adapter: { ...DEFAULT_CONFIG.adapter, kind: 'stan', stan: { expansion: 2, k: 4, topk: 'signed' } } };

function trainer(rt: GpuRuntime, m: ReturnType<typeof buildAdaptedModel>, rows: MetricRow[]) {
  return new Trainer(rt, m.graph, { lr: 1e-2, adamw: { weightDecay: 0.01, clipNorm: 1 }, metricInterval: 4, onMetrics: (r) => rows.push(...r) });
}

async function sessionAt(rt: GpuRuntime, steps: number) {
  const m = buildAdaptedModel(rt, STAN);
  const rows: MetricRow[] = [];
  const t = trainer(rt, m, rows);
  await t.run(steps);
  const c = await t.checkpoint();
  const session = sessionFromCheckpoint(c, m.graph.packs, { config: CONFIG, base: await m.base(), metrics: { fields: t.fields, rows }, extra: { mask: '1,0,1' } });
  return { m, t, rows, session };
}

function errorOf(f: () => unknown): SessionFileError {
  try {
    f();
  } catch (e) {
    if (e instanceof SessionFileError) return e;
    throw new Error(`expected a SessionFileError, got ${String(e)}`);
  }
  throw new Error('expected a SessionFileError, nothing was thrown');
}

/** Re-writes a valid session file with some metadata/tensors changed. */
function tamper(bytes: Uint8Array, edit: (meta: Record<string, string>, tensors: TensorInput[]) => void): Uint8Array {
  const f = parseSafetensors(bytes);
  const meta = { ...f.metadata };
  const tensors: TensorInput[] = [...f.tensors.values()].map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: t.data.slice() }));
  edit(meta, tensors);
  return serializeSafetensors(tensors, meta);
}

describe('session file', () => {
  it('resume: train 12 steps, encode → decode → restore into a fresh model/trainer → the next 8 losses equal the uninterrupted run bit for bit', async () => {
    const rt = await testRuntime();
    const a = await sessionAt(rt, 12);
    const bytes = encodeSession(a.session, checkPlaygroundConfig);
    await a.t.run(8);
    await a.t.drain();
    const uninterrupted = a.rows.filter((r) => r.step >= 12).map((r) => r.values.loss!);
    expect(uninterrupted).toHaveLength(8);

    const decoded = decodeSession(bytes, checkPlaygroundConfig);
    const b = buildAdaptedModel(rt, STAN);
    expect(decoded.base).toEqual(await b.base()); // same seeded base, same fingerprint
    const rowsB: MetricRow[] = [...decoded.metrics.rows];
    const tb = trainer(rt, b, rowsB);
    tb.restore(checkpointFromSession(decoded, b.graph.packs));
    expect(tb.step).toBe(12);
    await tb.run(8);
    await tb.drain();
    const resumed = rowsB.filter((r) => r.step >= 12).map((r) => r.values.loss!);
    expect(resumed).toEqual(uninterrupted);
    expect(resumed.every(Number.isFinite)).toBe(true);
    // The history carried over: steps 0 … 19 once each.
    expect(rowsB.map((r) => r.step)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    for (const x of [a.t, tb]) x.destroy();
    a.m.destroy();
    b.destroy();
  });

  it('encode → decode is exact (config, base, step, every tensor bit, moments, metrics, extra)', async () => {
    const rt = await testRuntime();
    const a = await sessionAt(rt, 6);
    // A NaN metric value and -0 in a parameter survive bit for bit.
    a.session.metrics.rows[1]!.values.loss = NaN;
    a.session.packs[0]!.params[0]!.data[0] = -0;
    const back = decodeSession(encodeSession(a.session, checkPlaygroundConfig), checkPlaygroundConfig);
    expect(back.config).toEqual(CONFIG);
    expect(back.base).toEqual(a.session.base);
    expect(back.step).toBe(6);
    expect(back.extra).toEqual({ mask: '1,0,1' });
    expect(back.metrics.fields).toEqual(['loss', 'grad_norm', 'non_finite']);
    expect(back.metrics.rows).toEqual(a.session.metrics.rows);
    expect(back.packs.map((p) => p.name)).toEqual(['adapters']);
    const [p0, q0] = [a.session.packs[0]!, back.packs[0]!];
    expect(q0.params.map((t) => [t.name, t.shape])).toEqual(p0.params.map((t) => [t.name, t.shape]));
    const bits = (x: Float32Array) => Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));
    p0.params.forEach((t, i) => expect(bits(q0.params[i]!.data)).toEqual(bits(t.data)));
    expect(bits(q0.m)).toEqual(bits(p0.m));
    expect(bits(q0.v)).toEqual(bits(p0.v));
    expect(Object.is(q0.params[0]!.data[0], -0)).toBe(true);
    // Deterministic bytes: the same session encodes identically.
    expect(encodeSession(back, checkPlaygroundConfig)).toEqual(encodeSession(a.session, checkPlaygroundConfig));
    a.t.destroy();
    a.m.destroy();
  });

  it('a session for another adapter shape or kind is rejected naming the tensor and both shapes', async () => {
    const rt = await testRuntime();
    const a = await sessionAt(rt, 2);
    const wide = buildAdaptedModel(rt, { ...STAN, config: { expansion: 3, k: 4 } });
    const e = errorOf(() => checkpointFromSession(decodeSession(encodeSession(a.session, checkPlaygroundConfig), checkPlaygroundConfig), wide.graph.packs));
    expect(e.code).toBe('mismatch');
    expect(e.message).toMatch(/tensor 'adapters\/blocks\.0\.attn\.q_proj\.stan_E\.weight' has shape \[32,16\], the model needs \[48,16\]/);
    const lora = buildAdaptedModel(rt, { kind: 'lora', config: { rank: 2, alpha: 2 }, targets: ['q_proj'] });
    const e2 = errorOf(() => checkpointFromSession(a.session, lora.graph.packs));
    expect(e2.message).toMatch(/missing tensor 'adapters\/blocks\.0\.attn\.q_proj\.lora_A\.weight'/);
    expect(e2.message).toMatch(/unexpected tensor 'adapters\/blocks\.0\.mlp\.fc1\.stan_D\.weight'/);
    a.t.destroy();
    for (const x of [a.m, wide, lora]) x.destroy();
  });

  it('malformed files: each a typed error naming the problem', async () => {
    const rt = await testRuntime();
    const a = await sessionAt(rt, 3);
    const good = encodeSession(a.session, checkPlaygroundConfig);
    a.t.destroy();
    a.m.destroy();
    const cases: [string, Uint8Array, SessionFileError['code'], RegExp][] = [
      ['truncated', good.subarray(0, good.length - 3), 'safetensors', /not a valid session file.*(run past|trailing|truncated)/],
      ['not a session', serializeSafetensors([], { format: 'pt' }), 'format', /format is "pt", expected "sparse-adapter-playground\/session@1"/],
      ['unknown key', tamper(good, (m) => (m.evil = 'x')), 'metadata', /unknown metadata key "evil"/],
      ['k = 0', tamper(good, (m) => (m.config = m.config!.replace('"k":4', '"k":0'))), 'config', /k \(active latents\) must be ≥ 1/],
      ['__proto__ in config', tamper(good, (m) => (m.config = m.config!.replace('{', '{"__proto__":{"polluted":1},'))), 'config', /"__proto__" is not allowed/],
      ['deep JSON', tamper(good, (m) => (m.layout = '['.repeat(5000) + ']'.repeat(5000))), 'metadata', /nests deeper than 8/],
      ['bad step', tamper(good, (m) => (m.step = '1e3')), 'metadata', /'step' must be a non-negative integer, got "1e3"/],
      ['bad hash', tamper(good, (m) => (m.base = '{"id":"x","hash":"md5:00"}')), 'metadata', /'base' must be/],
      ['missing tensor', tamper(good, (_m, t) => t.splice(t.findIndex((x) => x.name.endsWith('q_proj.stan_D.weight')), 1)), 'layout', /tensor "adapters\/blocks\.0\.attn\.q_proj\.stan_D\.weight" is missing/],
      ['extra tensor', tamper(good, (_m, t) => t.push({ name: 'adapters/evil', shape: [1], data: new Float32Array(1) })), 'layout', /unexpected tensor "adapters\/evil"/],
      ['wrong dtype', tamper(good, (_m, t) => { const i = t.findIndex((x) => x.name === 'adapters/adamw.v'); t[i] = { ...t[i]!, dtype: 'I32', data: new Int32Array((t[i]!.data as Uint8Array).length / 4) }; }), 'layout', /"adapters\/adamw\.v" is I32; a session stores F32/],
      ['moments too short', tamper(good, (_m, t) => { for (const n of ['adapters/adamw.m', 'adapters/adamw.v']) { const i = t.findIndex((x) => x.name === n); t[i] = { name: n, shape: [4], data: new Float32Array(4) }; } }), 'layout', /adamw\.m \[4\] and adamw\.v \[4\]/],
      ['metrics out of order', tamper(good, (_m, t) => { const i = t.findIndex((x) => x.name === 'metrics/step'); t[i] = { name: 'metrics/step', shape: [3], data: Int32Array.of(0, 2, 1) }; }), 'metrics', /steps must increase strictly/],
      ['metrics beyond step', tamper(good, (_m, t) => { const i = t.findIndex((x) => x.name === 'metrics/step'); t[i] = { name: 'metrics/step', shape: [3], data: Int32Array.of(0, 1, 3) }; }), 'metrics', /below the session step 3/],
      ['metric field __proto__', tamper(good, (m) => (m.metric_fields = '["loss","__proto__","x"]')), 'metrics', /"__proto__" is not allowed/],
      ['pack name with a slash', tamper(good, (m) => (m.layout = m.layout!.replace('"name":"adapters"', '"name":"a/b"'))), 'layout', /pack name "a\/b" is not allowed/],
    ];
    for (const [label, bytes, code, re] of cases) {
      const e = errorOf(() => decodeSession(bytes, checkPlaygroundConfig));
      expect([label, e.code]).toEqual([label, code]);
      expect(e.message, label).toMatch(re);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(decodeSession(good, checkPlaygroundConfig).step).toBe(3);
    expect(parseSafetensors(good).metadata.format).toBe(SESSION_FORMAT);
  });

  it('encode refuses what it could not decode (bad config, names, moments)', () => {
    const base: Session = {
      config: CONFIG,
      base: { id: 'x', hash: 'none' },
      step: 0,
      packs: [{ name: 'p', params: [{ name: 'w', shape: [2], data: new Float32Array(2) }], m: new Float32Array(4), v: new Float32Array(4) }],
      metrics: { fields: ['loss'], rows: [] },
      extra: {},
    };
    expect(decodeSession(encodeSession(base, checkPlaygroundConfig), checkPlaygroundConfig).packs[0]!.params[0]!.name).toBe('w');
    expect(errorOf(() => encodeSession({ ...base, config: { ...CONFIG, training: { ...CONFIG.training, lr: -1 } } }, checkPlaygroundConfig)).code).toBe('config');
    expect(errorOf(() => encodeSession({ ...base, packs: [{ ...base.packs[0]!, name: '__proto__' }] }, checkPlaygroundConfig)).code).toBe('layout');
    expect(errorOf(() => encodeSession({ ...base, packs: [{ ...base.packs[0]!, m: new Float32Array(1) }] }, checkPlaygroundConfig)).code).toBe('layout');
    expect(errorOf(() => encodeSession({ ...base, step: -1 }, checkPlaygroundConfig)).code).toBe('metadata');
  });
});
