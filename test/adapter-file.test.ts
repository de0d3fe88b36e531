/**
 * Adapter export/import (PEFT-like adapter_config.json + adapter_model.safetensors): importing
 * into a freshly built model reproduces the trained model's outputs exactly, for every
 * registered adapter (with its default settings); the pair and the single self-contained .safetensors both import; a file for
 * another base, shape or kind is refused with an error naming the base / tensor / shapes.
 */
import { describe, expect, it } from 'vitest';
import type { AdapterSpec } from '../src/adapters/attach';
import { adapterFileFormats, adapterModules } from '../src/adapters/registry';
import type { SiteKind } from '../src/nn/site';
import type { GpuRuntime } from '../src/engine/runtime';
import {
  ADAPTER_FORMAT,
  AdapterFileError,
  adapterParams,
  applyAdapter,
  decodeAdapter,
  exportAdapter,
  PEFT_PREFIX,
  type AdapterDescription,
} from '../src/io/adapter-file';
import { parseSafetensors, serializeSafetensors } from '../src/io/safetensors';
import { Trainer } from '../src/train/trainer';
import { buildAdaptedModel, type AdaptedModel } from './helpers/adapted-model';
import { testRuntime } from './helpers/gpu';

async function describeLive(m: AdaptedModel, spec: AdapterSpec): Promise<AdapterDescription> {
  return { kind: spec.kind, config: spec.config as AdapterDescription['config'], targets: m.adapters.map((a) => a.path), base: await m.base() };
}

async function trained(rt: GpuRuntime, spec: AdapterSpec, steps = 6) {
  const m = buildAdaptedModel(rt, spec);
  const t = new Trainer(rt, m.graph, { lr: 2e-2, metricInterval: 3 });
  await t.run(steps);
  await t.drain();
  t.destroy();
  return m;
}

function errorOf(f: () => unknown): AdapterFileError {
  try {
    f();
  } catch (e) {
    if (e instanceof AdapterFileError) return e;
    throw new Error(`expected an AdapterFileError, got ${String(e)}`);
  }
  throw new Error('expected an AdapterFileError, nothing was thrown');
}

const bits = (x: Float32Array) => Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));

const F = adapterFileFormats();

/** Targets per site kind on the test model, and the first site each selects (where every tensor of the adapter must appear). */
const TARGETS: Record<SiteKind, { targets: string[]; first: string }> = {
  linear: { targets: ['blocks.*.attn.{q,v}_proj', 'fc1'], first: 'blocks.0.attn.q_proj' },
  'attention-output': { targets: ['attn'], first: 'blocks.0.attn' },
};

/** Every registered adapter with its default settings, on the sites of its kinds. */
const SPECS: [string, AdapterSpec, string[]][] = adapterModules().map((m) => {
  const kind = m.sites[0]!;
  return [m.kind, { kind: m.kind, config: { ...m.settings.defaults }, targets: TARGETS[kind].targets }, m.export.tensors.map((t) => `${TARGETS[kind].first}.${t}`)];
});

const STAN_SPEC: AdapterSpec = { kind: 'stan', config: { expansion: 2, k: 4 }, targets: ['blocks.*.attn.{q,v}_proj', 'fc1'] };
const LORA_SPEC: AdapterSpec = { kind: 'lora', config: { rank: 2, alpha: 4 }, targets: ['q_proj', 'head'] };

describe('adapter export → import', () => {
  for (const [label, spec, names] of SPECS) {
    it(`${label}: a fresh model with the imported adapter gives the trained model's outputs bit for bit`, async () => {
      const rt = await testRuntime();
      const a = await trained(rt, spec);
      const desc = await describeLive(a, spec);
      const files = await exportAdapter(desc, a.adapters, [a.trainable, a.frozen], F);
      const want = await a.probe();
      const module = adapterModules().find((m) => m.kind === label)!;

      // PEFT-like keys and config.
      const st = parseSafetensors(files.model);
      for (const n of names) expect(st.tensors.has(PEFT_PREFIX + n), n).toBe(true);
      expect([...st.tensors.keys()].every((k) => k.startsWith('base_model.model.'))).toBe(true);
      expect(st.tensors.size).toBe(adapterParams(a.adapters, [a.trainable, a.frozen]).length);
      const cfg = JSON.parse(files.config) as Record<string, unknown>;
      expect(cfg.peft_type).toBe(module.export.peftType);
      expect(cfg.format).toBe(ADAPTER_FORMAT);
      expect(cfg.target_modules).toEqual(desc.targets);
      expect(cfg.base_model_hash).toBe(desc.base.hash);
      for (const [peftKey, ours] of Object.entries(module.export.mirrors ?? {})) expect(cfg[peftKey], peftKey).toEqual((spec.config as Record<string, unknown>)[ours]);

      for (const [how, decoded] of [
        ['pair', decodeAdapter(files.model, files.config, F)],
        ['single file', decodeAdapter(files.model, undefined, F)],
      ] as const) {
        expect(decoded.description).toEqual(desc);
        const b = buildAdaptedModel(rt, { kind: decoded.description.kind, config: decoded.description.config, targets: decoded.description.targets });
        const before = await b.probe();
        expect(bits(before), `${how}: a fresh adapter differs from the trained one`).not.toEqual(bits(want));
        applyAdapter(decoded, { description: await describeLive(b, spec), adapters: b.adapters, packs: [b.trainable, b.frozen] }, F);
        expect(bits(await b.probe()), how).toEqual(bits(want));
        b.destroy();
      }
      a.destroy();
    });
  }

  it('a different base, shape, kind or target set is refused, naming the base / tensor / shapes', async () => {
    const rt = await testRuntime();
    const spec = STAN_SPEC;
    const a = await trained(rt, spec, 2);
    const files = await exportAdapter(await describeLive(a, spec), a.adapters, [a.trainable], F);
    const decoded = decodeAdapter(files.model, files.config, F);

    const otherBase = buildAdaptedModel(rt, spec, { baseSeed: 8 });
    const e1 = errorOf(() => applyAdapter(decoded, { description: { ...decoded.description, base: { id: 'seed:8', hash: `sha256:${'0'.repeat(64)}` } }, adapters: otherBase.adapters, packs: [otherBase.trainable] }, F));
    expect(e1.code).toBe('base');
    expect(e1.message).toMatch(/trained on base 'seed:7' \(sha256:.*this model's base is 'seed:8'/);
    // Bases built in the page have no file hash: the id (task + seed) must match.
    const builtIn = { ...decoded, description: { ...decoded.description, base: { id: 'regression:built-in(seed 1)', hash: 'none' } } };
    const e1b = errorOf(() => applyAdapter(builtIn, { description: { ...decoded.description, base: { id: 'regression:built-in(seed 2)', hash: 'none' } }, adapters: a.adapters, packs: [a.trainable] }, F));
    expect(e1b.code).toBe('base');
    expect(e1b.message).toMatch(/trained on base 'regression:built-in\(seed 1\)', this model's base is 'regression:built-in\(seed 2\)'/);
    // The real fingerprints differ too.
    expect((await otherBase.base()).hash).not.toBe(decoded.description.base.hash);

    const wideSpec: AdapterSpec = { ...spec, config: { expansion: 3, k: 4 } };
    const wide = buildAdaptedModel(rt, wideSpec);
    const wideDesc = await describeLive(wide, wideSpec);
    const e2 = errorOf(() => applyAdapter(decoded, { description: wideDesc, adapters: wide.adapters, packs: [wide.trainable] }, F));
    expect(e2.code).toBe('shape');
    expect(e2.message).toMatch(/adapter_config\.expansion is 2 in the file, 3 in this model/);
    expect(e2.message).toMatch(/tensor 'base_model\.model\.blocks\.0\.attn\.q_proj\.stan_E\.weight' has shape \[32,16\], this model needs \[48,16\]/);

    const loraSpec = LORA_SPEC;
    const lora = buildAdaptedModel(rt, loraSpec);
    const e3 = errorOf(() => applyAdapter(decoded, { description: { ...(decoded.description), kind: 'lora' }, adapters: lora.adapters, packs: [lora.trainable] }, F));
    expect(e3.code).toBe('kind');
    expect(e3.message).toMatch(/holds a STAN adapter; this model has LORA adapters/);

    const fewer = buildAdaptedModel(rt, { ...spec, targets: ['q_proj'] });
    const fewerDesc = await describeLive(fewer, { ...spec, targets: ['q_proj'] });
    const e4 = errorOf(() => applyAdapter(decoded, { description: fewerDesc, adapters: fewer.adapters, packs: [fewer.trainable] }, F));
    expect(e4.code).toBe('targets');
    expect(e4.message).toMatch(/the file adapts \[blocks\.0\.attn\.q_proj, blocks\.0\.attn\.v_proj, blocks\.0\.mlp\.fc1\], this model \[blocks\.0\.attn\.q_proj\]/);
    for (const m of [a, otherBase, wide, lora, fewer]) m.destroy();
  });

  it('malformed adapter files are typed errors', async () => {
    const rt = await testRuntime();
    const spec = LORA_SPEC;
    const a = await trained(rt, spec, 1);
    const files = await exportAdapter(await describeLive(a, spec), a.adapters, [a.trainable], F);
    a.destroy();
    const st = parseSafetensors(files.model);
    const rewrite = (edit: (cfg: Record<string, unknown>) => void, tensors = [...st.tensors.values()].map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: t.data.slice() }))) => {
      const cfg = JSON.parse(files.config) as Record<string, unknown>;
      edit(cfg);
      return serializeSafetensors(tensors, { format: 'pt', adapter_format: ADAPTER_FORMAT, adapter_config: JSON.stringify(cfg) });
    };
    const cases: [string, () => unknown, AdapterFileError['code'], RegExp][] = [
      ['truncated', () => decodeAdapter(files.model.subarray(0, 20), undefined, F), 'safetensors', /adapter_model\.safetensors: /],
      ['no config', () => decodeAdapter(serializeSafetensors([], {}), undefined, F), 'config', /no embedded adapter_config: import it together with its adapter_config\.json/],
      ['pair disagrees', () => decodeAdapter(files.model, files.config.replace('"alpha": 4', '"alpha": 5').replace('"lora_alpha": 4', '"lora_alpha": 5'), F), 'config', /differ: they are not from the same export/],
      ['unknown peft_type', () => decodeAdapter(rewrite((c) => (c.peft_type = 'IA3')), undefined, F), 'config', /'peft_type' must be one of STAN, ATOMS, LORA, SORA/],
      ['__proto__ peft_type', () => decodeAdapter(rewrite((c) => (c.peft_type = '__proto__')), undefined, F), 'config', /'peft_type' must be one of/],
      ['__proto__ key', () => decodeAdapter(files.model, files.config.replace('{', '{"__proto__": {"polluted": true},'), F), 'config', /"__proto__" is not allowed/],
      ['r mismatch', () => decodeAdapter(rewrite((c) => (c.r = 3)), undefined, F), 'config', /'r' \(3\) differs from adapter_config\.rank \(2\)/],
      ['unknown key', () => decodeAdapter(rewrite((c) => (c.task_type = 'CAUSAL_LM')), undefined, F), 'config', /unknown key "task_type"/],
      ['bad target', () => decodeAdapter(rewrite((c) => (c.target_modules = ['blocks..0'])), undefined, F), 'config', /is not a module path/],
      ['deep config', () => decodeAdapter(files.model, '['.repeat(100) + ']'.repeat(100), F), 'config', /nests deeper than 4/],
      ['key outside targets', () => decodeAdapter(rewrite(() => {}, [{ name: 'base_model.model.blocks.0.mlp.fc1.lora_A.weight', dtype: 'F32', shape: [1], data: new Uint8Array(4) }]), undefined, F), 'tensor', /is not a LORA parameter of any target module/],
      ['key without prefix', () => decodeAdapter(rewrite(() => {}, [{ name: 'head.lora_A.weight', dtype: 'F32', shape: [1], data: new Uint8Array(4) }]), undefined, F), 'tensor', /adapter keys start with "base_model\.model\."/],
      ['integer weights', () => decodeAdapter(rewrite(() => {}, [{ name: 'base_model.model.head.lora_A.weight', dtype: 'I32', shape: [1], data: new Uint8Array(4) }]), undefined, F), 'tensor', /is I32; adapter weights must be F32, F16 or BF16/],
    ];
    for (const [label, f, code, re] of cases) {
      const e = errorOf(f);
      expect([label, e.code]).toEqual([label, code]);
      expect(e.message, label).toMatch(re);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
