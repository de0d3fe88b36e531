/**
 * Attaching adapters to a frozen TinyTransformer: the sites it offers, target patterns, config
 * and site validation, parameter counts, and a short training run that changes only the adapter
 * parameters while the model's output at step 0 is the base's, bit for bit.
 */
import { describe, expect, it } from 'vitest';
import type { Adapter } from '../src/adapters/adapter';
import {
  adapterMetrics,
  attachAdapters,
  baseParameterCount,
  listSites,
  patternRegExp,
  recordAdaptersAfterOptimizer,
  selectSites,
  trainableParameterCount,
  type AdapterSpec,
} from '../src/adapters/attach';
import { LowRankAdapter } from '../src/adapters/low-rank';
import { ConfigError } from '../src/engine/errors';
import { ParamPack } from '../src/engine/param-pack';
import { Rng } from '../src/engine/rng';
import { CommandList, type GpuRuntime } from '../src/engine/runtime';
import { recordMseLoss } from '../src/kernels/loss';
import { TinyTransformer, type TinyTransformerConfig } from '../src/models/tiny-transformer';
import type { BuildContext } from '../src/nn/module';
import { Trainer, type TrainGraph } from '../src/train/trainer';
import { randomArray, testRuntime } from './helpers/gpu';
import { bits } from './helpers/linear-fit';

const CFG: TinyTransformerConfig = { inDim: 3, outDim: 2, dim: 8, heads: 2, layers: 2, seq: 4, batch: 2, frozen: true };
const ROWS = CFG.batch * CFG.seq;

function build(rt: GpuRuntime, specs: AdapterSpec[] = []) {
  const trainable = new ParamPack(rt, 'adapters', true);
  const frozen = new ParamPack(rt, 'base', false);
  const ctx: BuildContext = { rt, trainable, frozen, rng: new Rng(42) };
  const model = new TinyTransformer(ctx, 'model', CFG);
  const adapters: Adapter[] = specs.flatMap((s) => attachAdapters(ctx, model, s));
  return { ctx, model, adapters, trainable, frozen };
}

/** Catches the ConfigError `f` throws. */
function configError(f: () => unknown): ConfigError {
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('sites and patterns', () => {
  it('lists every projection, MLP layer, attention output and the head of a 2-layer TinyTransformer', async () => {
    const rt = await testRuntime();
    const { value, scope } = rt.scoped('t', () => build(rt));
    const { model } = value;
    const sites = listSites(model);
    const block = (i: number) => [`blocks.${i}.attn.q_proj`, `blocks.${i}.attn.k_proj`, `blocks.${i}.attn.v_proj`, `blocks.${i}.attn.o_proj`, `blocks.${i}.attn`, `blocks.${i}.mlp.fc1`, `blocks.${i}.mlp.fc2`];
    expect(sites.map((s) => s.path)).toEqual([...block(0), ...block(1), 'head']);
    for (const s of sites) {
      if (s.kind === 'linear') {
        expect(s.rows).toBe(ROWS);
        expect(s.layer.name).toBe(`model.${s.path}`);
      } else {
        expect(s.path).toMatch(/^blocks\.\d\.attn$/);
        expect(s.layer).toBe(model.blocks[Number(s.path.split('.')[1])]!.attn);
        expect([s.batch, s.seq, s.heads, s.dim]).toEqual([2, 4, 2, 8]);
      }
    }
    expect(sites.filter((s) => s.kind === 'attention-output')).toHaveLength(2);
    expect(sites.find((s) => s.path === 'head')!.layer).toBe(model.head);
    scope.dispose();
  });

  it('patterns select the right sites', async () => {
    const rt = await testRuntime();
    const { value, scope } = rt.scoped('t', () => build(rt));
    const sites = listSites(value.model);
    const sel = (...t: string[]) => selectSites(sites, t).map((s) => s.path);
    expect(sel('blocks.*.attn.q_proj')).toEqual(['blocks.0.attn.q_proj', 'blocks.1.attn.q_proj']);
    expect(sel('q_proj')).toEqual(['blocks.0.attn.q_proj', 'blocks.1.attn.q_proj']); // PEFT-style suffix
    expect(sel('blocks.*.attn.{q,v}_proj')).toEqual(['blocks.0.attn.q_proj', 'blocks.0.attn.v_proj', 'blocks.1.attn.q_proj', 'blocks.1.attn.v_proj']);
    expect(sel('blocks.1.attn.q_proj', 'blocks.0.mlp.fc2')).toEqual(['blocks.0.mlp.fc2', 'blocks.1.attn.q_proj']); // site order, once each
    expect(sel('q_proj', 'blocks.0.attn.q_proj')).toEqual(['blocks.0.attn.q_proj', 'blocks.1.attn.q_proj']);
    expect(sel('blocks.1.**')).toEqual(sites.filter((s) => s.path.startsWith('blocks.1.')).map((s) => s.path));
    expect(sel('**')).toHaveLength(sites.length);
    expect(sel('blocks.**.fc1')).toEqual(['blocks.0.mlp.fc1', 'blocks.1.mlp.fc1']);
    expect(sel('attn')).toEqual(['blocks.0.attn', 'blocks.1.attn']);
    expect(sel('fc*')).toEqual(['blocks.0.mlp.fc1', 'blocks.0.mlp.fc2', 'blocks.1.mlp.fc1', 'blocks.1.mlp.fc2']);
    expect(sel('head')).toEqual(['head']);
    expect(sel('*_proj')).toHaveLength(8);
    // 'proj' is not a segment of any path, and '*' never crosses a dot.
    expect(configError(() => sel('proj')).message).toMatch(/'proj' matches no site; sites are: blocks\.0\.attn\.q_proj/);
    expect(configError(() => sel('blocks.*')).field).toBe('targets');
    expect(configError(() => sel('embed')).field).toBe('targets'); // not offered
    expect(configError(() => sel()).field).toBe('targets');
    for (const bad of ['a..b', '{q,v_proj', 'q}', 'blocks 0', '']) expect(configError(() => patternRegExp(bad)).field).toBe('targets');
    scope.dispose();
  });
});

describe('attachAdapters', () => {
  it('** selects every site the adapter can take: the Linear ones for LoRA, the attention outputs for atoms', async () => {
    const rt = await testRuntime();
    const { value, scope } = rt.scoped('t', () => build(rt));
    const { ctx, model } = value;
    const lora = attachAdapters(ctx, model, { kind: 'lora', config: { rank: 1 }, targets: ['**'] });
    expect(lora.map((a) => a.path)).toEqual(listSites(model).filter((x) => x.kind === 'linear').map((x) => x.path));
    const atoms = attachAdapters(ctx, model, { kind: 'atoms', config: { atoms: 4, k: 2 }, targets: ['**'] });
    expect(atoms.map((a) => a.path)).toEqual(listSites(model).filter((x) => x.kind === 'attention-output').map((x) => x.path));
    for (const a of [...lora, ...atoms]) a.destroy();
    scope.dispose();
  });

  it('rejects impossible specs, naming the field, before declaring any parameter', async () => {
    const rt = await testRuntime();
    const { value, scope } = rt.scoped('t', () => build(rt));
    const { ctx, model, trainable } = value;
    const attach = (spec: AdapterSpec) => attachAdapters(ctx, model, spec);
    expect(configError(() => attach({ kind: 'nope' as never, config: {}, targets: ['q_proj'] })).field).toBe('kind');
    expect(configError(() => attach({ kind: 'lora', config: { rank: 9, alpha: 1 }, targets: ['q_proj'] })).field).toBe('rank'); // > dim 8
    expect(configError(() => attach({ kind: 'lora', config: { rank: 2, alpha: 0 }, targets: ['q_proj'] })).field).toBe('alpha');
    expect(configError(() => attach({ kind: 'sora', config: { lambda: -1 }, targets: ['q_proj'] })).field).toBe('lambda');
    expect(configError(() => attach({ kind: 'lora', config: { rnak: 2 }, targets: ['q_proj'] })).field).toBe('rnak');
    expect(configError(() => attach({ kind: 'lora', config: 4, targets: ['q_proj'] })).field).toBe('config');
    // head maps 8 → 2: rank 4 fits q_proj but not the head; nothing is attached anywhere.
    expect(configError(() => attach({ kind: 'lora', config: { rank: 4 }, targets: ['q_proj', 'head'] })).message).toMatch(/^rank: .*1\.\.2.*head/);
    const e = configError(() => attach({ kind: 'lora', config: {}, targets: ['blocks.0.attn'] }));
    expect(e.field).toBe('targets');
    expect(e.message).toContain("'blocks.0.attn' matches blocks.0.attn (attention-output), where lora cannot attach: it takes linear sites, e.g. blocks.0.attn.q_proj");
    expect(configError(() => attach({ kind: 'lora', config: {}, targets: ['blocks.0.atn.q_proj'] })).message).toMatch(/matches no site/);
    expect(trainable.params).toHaveLength(0);
    expect(listSites(model).every((s) => (s.kind === 'linear' ? s.layer.adapter === null : s.layer.outputAdapter === null))).toBe(true);
    // One adapter per site.
    expect(attach({ kind: 'lora', config: { rank: 2 }, targets: ['blocks.0.attn.q_proj'] })).toHaveLength(1);
    expect(configError(() => attach({ kind: 'sora', config: { rank: 2 }, targets: ['q_proj'] })).message).toMatch(/blocks\.0\.attn\.q_proj already has an adapter/);
    expect(trainable.params.map((p) => p.name)).toEqual(['blocks.0.attn.q_proj.lora_A.weight', 'blocks.0.attn.q_proj.lora_B.weight']);
    scope.dispose();
  });

  it('counts trainable and base parameters', async () => {
    const rt = await testRuntime();
    const { value, scope } = rt.scoped('t', () => build(rt, [{ kind: 'lora', config: { rank: 2, alpha: 4 }, targets: ['blocks.*.attn.{q,v}_proj'] }, { kind: 'sora', config: { rank: 3 }, targets: ['fc1'] }]));
    const { model, adapters, frozen, trainable } = value;
    const d = CFG.dim, hidden = 4 * d;
    // LoRA on q, v (8 → 8), rank 2: 2·(2·8 + 8·2); SoRA on fc1 (8 → 32), rank 3: 3·8 + 32·3 + 3, per block.
    const expected = 2 * (2 * (2 * d + d * 2) + (3 * d + hidden * 3 + 3));
    expect(trainableParameterCount(adapters)).toBe(expected);
    expect(trainable.params.reduce((s, p) => s + p.size, 0)).toBe(expected);
    const perBlock = 2 * 2 * d + 4 * (d * d + d) + (d * hidden + hidden) + (hidden * d + d);
    const base = CFG.inDim * d + d + CFG.seq * d + CFG.layers * perBlock + 2 * d + d * CFG.outDim + CFG.outDim;
    expect(baseParameterCount(model)).toBe(base);
    expect(frozen.params.reduce((s, p) => s + p.size, 0)).toBe(base);
    expect(adapterMetrics(adapters).map((m) => m.name)).toEqual(['blocks.0.mlp.fc1.nonzero_gates', 'blocks.1.mlp.fc1.nonzero_gates']);
    scope.dispose();
  });

  it('LoRA on every q/v projection (+ SoRA on fc1) of a frozen TinyTransformer: base output at step 0 bit for bit; training changes only adapter parameters', async () => {
    const rt = await testRuntime();
    const x = randomArray(ROWS * CFG.inDim, 1);
    const y = randomArray(ROWS * CFG.outDim, 2);

    // The base alone.
    const base = rt.scoped('base', () => build(rt));
    const fwd0 = new CommandList('base');
    rt.write(base.value.model.input.value, x);
    base.value.trainable.finalize();
    base.value.frozen.finalize();
    base.value.model.recordForward(fwd0);
    rt.submit([fwd0]);
    const yBase = await rt.read(base.value.model.output.value);
    base.scope.dispose();

    const { value, scope } = rt.scoped('adapted', () => {
      const b = build(rt, [
        { kind: 'lora', config: { rank: 2, alpha: 4 }, targets: ['blocks.*.attn.{q,v}_proj'] },
        { kind: 'sora', config: { rank: 2, alpha: 2, lambda: 0.01 }, targets: ['blocks.*.mlp.fc1'] },
      ]);
      b.trainable.finalize();
      b.frozen.finalize();
      const target = rt.tensor([ROWS, CFG.outDim], 'target', y);
      const lossValue = rt.tensor([1], 'loss');
      const graph: TrainGraph = {
        packs: [b.trainable],
        forward: new CommandList('forward'),
        loss: new CommandList('loss'),
        backward: new CommandList('backward'),
        lossValue,
        extraMetrics: adapterMetrics(b.adapters),
        recordAfterOptimizer: (list, sp) => recordAdaptersAfterOptimizer(b.adapters, list, sp),
        loadBatch: () => {},
      };
      b.model.recordForward(graph.forward);
      recordMseLoss(rt, graph.loss, { pred: b.model.output.value, target, grad: b.model.output.grad!, loss: lossValue, n: ROWS * CFG.outDim });
      b.model.recordBackward(graph.backward);
      return { ...b, graph };
    });
    const { model, adapters, trainable, frozen, graph } = value;
    const trainer = new Trainer(rt, graph, { lr: 0.01, metricInterval: 5 });
    try {
      expect(adapters.map((a) => `${a.kind}:${a.path}`)).toEqual([
        'lora:blocks.0.attn.q_proj',
        'lora:blocks.0.attn.v_proj',
        'lora:blocks.1.attn.q_proj',
        'lora:blocks.1.attn.v_proj',
        'sora:blocks.0.mlp.fc1',
        'sora:blocks.1.mlp.fc1',
      ]);
      expect(trainable.params.every((p) => /\.(lora|sora)_(A\.weight|B\.weight|gate)$/.test(p.name))).toBe(true);
      rt.write(model.input.value, x);
      rt.submit([graph.forward]);
      expect(bits(await rt.read(model.output.value))).toEqual(bits(yBase));

      const frozenBefore = await rt.read(frozen.flatValues!);
      const trainBefore = await trainable.readAll();
      await trainer.run(5);
      await trainer.drain();
      expect(bits(await rt.read(frozen.flatValues!))).toEqual(bits(frozenBefore));
      const trainAfter = await trainable.readAll();
      for (const [name, before] of trainBefore) {
        const after = trainAfter.get(name)!;
        expect(after.every(Number.isFinite), name).toBe(true);
        expect(after.some((v, i) => v !== before[i]), `${name} changed`).toBe(true);
      }
      rt.submit([graph.forward]);
      const yAfter = await rt.read(model.output.value);
      expect(yAfter.some((v, i) => v !== yBase[i])).toBe(true);
      // Masking every rank of every adapter gives back the base exactly.
      for (const a of adapters) a.setMask(new Float32Array(a.latentCount));
      rt.submit([graph.forward]);
      expect(bits(await rt.read(model.output.value))).toEqual(bits(yBase));
      expect(adapters.every((a) => a instanceof LowRankAdapter)).toBe(true);
    } finally {
      trainer.destroy();
      for (const a of adapters) a.destroy();
      scope.dispose();
    }
  });
});
