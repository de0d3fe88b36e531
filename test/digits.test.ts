/**
 * The digits task for STAN (src/tasks/digits.ts, src/models/digit-transformer.ts):
 *  - the patch transformer's loss and every parameter gradient on the GPU vs float64 finite
 *    differences of a CPU reference (tiny shapes);
 *  - host patchify = the VAE's patch layout; the views (rot90, flip) move pixels as documented;
 *  - the shipped base reproduces its recorded check accuracy; loading it into a model of another
 *    shape fails with an error naming the config field and the tensors;
 *  - STAN fine-tuning on the rotated digits raises accuracy over the frozen base, and the App. F
 *    statistics count every (image, token) row with its label;
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ParamPack } from '../src/engine/param-pack';
import { Rng } from '../src/engine/rng';
import { CommandList } from '../src/engine/runtime';
import { recordSoftmaxCrossEntropy, softmaxCrossEntropyCpu } from '../src/kernels/loss';
import { permutePatchesCpu } from '../src/kernels/vae';
import { DigitTransformer, patchifyImages, type DigitTransformerConfig } from '../src/models/digit-transformer';
import { blockForward, layerNormForward, linearForward, type Params64 } from '../src/nn/reference';
import { buildDigitsTask, probeIndices, DIGITS_CHECK_IMAGES, digitsConfigFromMetadata, DIGITS_DEFAULTS, viewImage } from '../src/tasks/digits';
import { loadMnistNode } from '../src/data/mnist-node';
import { baseCheckpointMetadata, CheckpointMismatchError } from '../src/io/base-checkpoint';
import { Trainer } from '../src/train/trainer';
import { defaultConfig } from '../src/config/defaults';

const DEFAULT_CONFIG = defaultConfig();
import { nodeAssets } from '../src/playground/node-assets';
import { PlaygroundSession } from '../src/playground/session';
import { checkGradient } from './helpers/finite-diff';
import { randomArray, testRuntime } from './helpers/gpu';

const SHIPPED = 'public/checkpoints/digit-transformer.safetensors';
const TINY: DigitTransformerConfig = { batch: 2, side: 4, patch: 2, dim: 8, heads: 2, layers: 2, mlpRatio: 2, classes: 3 };

/** Float64 reference: patches [B·T, P] → class logits [B, C]. */
function logitsCpu(p: Params64, cfg: DigitTransformerConfig, x: Float64Array): Float64Array {
  const T = (cfg.side / cfg.patch) ** 2;
  const P = cfg.patch * cfg.patch;
  const rows = cfg.batch * T;
  let h = linearForward(p, 'dt.embed', x, rows, P, cfg.dim);
  const pos = p.get('dt.pos')!;
  h = h.map((v, i) => v + pos[i % (T * cfg.dim)]!);
  for (let i = 0; i < cfg.layers; i++) h = blockForward(p, `dt.blocks.${i}`, h, { batch: cfg.batch, seq: T, dim: cfg.dim, heads: cfg.heads, hidden: cfg.dim * cfg.mlpRatio });
  const ln = layerNormForward(p, 'dt.ln_f', h, rows, cfg.dim);
  const tok = linearForward(p, 'dt.head', ln, rows, cfg.dim, cfg.classes);
  const out = new Float64Array(cfg.batch * cfg.classes);
  for (let b = 0; b < cfg.batch; b++) for (let t = 0; t < T; t++) for (let c = 0; c < cfg.classes; c++) out[b * cfg.classes + c]! += tok[(b * T + t) * cfg.classes + c]! / T;
  return out;
}

describe('digit transformer (tiny shapes)', () => {
  it('loss and every parameter gradient match float64 finite differences of the CPU reference', async () => {
    const rt = await testRuntime();
    const trainable = new ParamPack(rt, 'dt', true);
    const frozen = new ParamPack(rt, 'dt.frozen', false);
    const model = new DigitTransformer({ rt, trainable, frozen, rng: new Rng(3) }, 'dt', TINY);
    trainable.finalize();
    frozen.finalize();
    const T = model.tokens;
    const x = randomArray(TINY.batch * T * model.patchPixels, 5, 0, 1);
    const labels = Float32Array.from([2, 0]);
    rt.write(model.input.value, x);
    const lab = rt.tensor([TINY.batch], 'labels', labels);
    const loss = rt.tensor([1], 'loss');
    const list = new CommandList('step');
    list.push(trainable.zeroGradOp());
    model.recordForward(list);
    recordSoftmaxCrossEntropy(rt, list, { logits: model.logits.value, labels: lab, grad: model.logits.grad!, loss, rows: TINY.batch, classes: TINY.classes });
    model.recordBackward(list);
    rt.submit([list]);
    const p: Params64 = new Map([...(await trainable.readAll())].map(([k, v]) => [k, Float64Array.from(v)]));
    const x64 = Float64Array.from(x);
    const L = () => softmaxCrossEntropyCpu(logitsCpu(p, TINY, x64), labels, TINY.batch, TINY.classes).loss;
    expect(Math.abs((await rt.read(loss))[0]! - L())).toBeLessThan(1e-5);
    expect(model.parameters().length).toBe(trainable.params.length);
    for (const ref of model.parameters()) {
      // Up to 16 coordinates per tensor (seeded), so the float64 reference runs a few thousand times, not 20,000.
      const n = ref.size;
      const pick = n <= 16 ? undefined : Array.from({ length: 16 }, (_, i) => Math.floor(((i + 0.5) * n) / 16));
      const err = checkGradient(L, p.get(ref.name)!, await rt.read(ref.grad), 1e-6, pick);
      expect(err, ref.name).toBeLessThan(1e-3);
    }
  });

  it('host patchify uses the VAE patch layout; views move pixels as documented', () => {
    const s = { batch: 2, side: 28, patch: 7 };
    const imgs = randomArray(2 * 784, 8);
    const out = new Float32Array(2 * 784);
    patchifyImages(imgs, 2, 28, 7, out);
    expect(Array.from(out)).toEqual(Array.from(permutePatchesCpu(imgs, s, false), Math.fround));
    const src = new Float32Array(784);
    src[3 * 28 + 5] = 1; // (y 3, x 5)
    const v = new Float32Array(784);
    viewImage(src, 'flip', v);
    expect(v[3 * 28 + 22]).toBe(1);
    viewImage(src, 'rot90', v);
    expect(v[5 * 28 + 24]).toBe(1); // clockwise: (y, x) → (x, 27 − y)
    expect(v.reduce((a, b) => a + b, 0)).toBe(1);
  });
});

describe('shipped digit-transformer base', () => {
  it('reproduces its recorded check accuracy and rejects a model of another shape by name', async () => {
    const rt = await testRuntime();
    const bytes = new Uint8Array(readFileSync(SHIPPED));
    const meta = baseCheckpointMetadata(bytes);
    const model = { ...digitsConfigFromMetadata(meta), batch: 64 };
    const task = buildDigitsTask(rt, loadMnistNode(), { ...DIGITS_DEFAULTS, model }, { base: bytes });
    const check = JSON.parse(meta.check!) as { accuracy: number; images: number };
    expect(check.images).toBe(DIGITS_CHECK_IMAGES);
    const ev = await task.evaluate('upright', task.testIndices.slice(0, DIGITS_CHECK_IMAGES)); // the subset the shipped metadata records
    expect(Math.abs(ev.accuracy - check.accuracy)).toBeLessThanOrEqual(2 / DIGITS_CHECK_IMAGES);
    task.destroy();
    const wrong = { ...DIGITS_DEFAULTS, model: { ...model, dim: 32, heads: 2, batch: 4 } };
    let err: unknown;
    try {
      buildDigitsTask(rt, loadMnistNode(), wrong, { base: bytes }).destroy();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CheckpointMismatchError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/config dim: the checkpoint has 64, the model 32/);
    expect(msg).toMatch(/tensor 'digits\.embed\.weight' has shape \[64,49\], the model needs \[32,49\]/);
  });

  it('STAN fine-tuning on rotated digits raises accuracy over the frozen base; App. F stats count every labelled row', async () => {
    const rt = await testRuntime();
    const bytes = new Uint8Array(readFileSync(SHIPPED));
    const model = { ...digitsConfigFromMetadata(baseCheckpointMetadata(bytes)), batch: 16 };
    const task = buildDigitsTask(rt, loadMnistNode(), { ...DIGITS_DEFAULTS, model, view: 'rot90' }, { adapters: [{ kind: 'stan', config: { expansion: 1, k: 8 }, targets: ['blocks.*.attn.{q,v}_proj'] }], base: bytes });
    const idx = probeIndices(task.testIndices, 128);
    const before = await task.evaluate('rot90', idx);
    const trainer = new Trainer(rt, task.graph, { lr: 3e-3, metricInterval: 10 });
    await trainer.run(40);
    await trainer.drain();
    const after = await task.evaluate('rot90', idx);
    expect(after.accuracy).toBeGreaterThan(before.accuracy + 0.1);
    const stats = await task.latentStats('rot90', idx.slice(0, 32));
    expect(stats.length).toBe(4);
    for (const { stats: s } of stats) {
      expect(s.samples).toBe(32 * 16);
      let total = 0;
      let labelled = 0;
      for (let i = 0; i < s.l; i++) total += s.sum[i]!;
      for (const v of s.classSums) labelled += v;
      expect(total).toBeGreaterThan(0);
      expect(Math.abs(labelled - total)).toBeLessThan(1e-3 * total);
    }
    trainer.destroy();
    task.destroy();
  });
});

describe('digits playground task (src/tasks/digits-task.ts) through a session', () => {
  it('builds STAN on the shipped base, trains, views with overrides, stats with labels, inspects a latent, App. A', async () => {
    const rt = await testRuntime();
    const c = structuredClone(DEFAULT_CONFIG);
    c.task = 'digits';
    c.adapter.kind = 'stan';
    c.adapter.targets = [];
    c.adapter.stan = { expansion: 1, k: 8, topk: 'signed' };
    c.training = { ...c.training, batch: 8, warmup: 0, steps: 10 };
    const s = await PlaygroundSession.create(rt, c, { assets: nodeAssets(), small: true, stream: { metricEvery: 2, validateEvery: 0, statsEvery: 0 }, onEvent: () => {} });
    const info = s.info();
    expect(info.classes?.length).toBe(10);
    expect(info.groups.map((g) => g.path)).toEqual(['blocks.0.attn.q_proj', 'blocks.0.attn.v_proj', 'blocks.1.attn.q_proj', 'blocks.1.attn.v_proj']);
    expect(info.parameters.trainable).toBe(4 * 64 * 128);
    const rows = await s.stepN(4);
    expect(rows.every((r) => Number.isFinite(r.loss))).toBe(true);
    const v = await s.view();
    if (v.kind !== 'classification') throw new Error(`view kind ${v.kind}`);
    expect(v.examples.length).toBeGreaterThan(0);
    expect(v.score.format).toBe('percent');
    // Every latent off: the adapted model is the base.
    const off = await s.view({ masks: Object.fromEntries(info.groups.map((g) => [g.group, new Array<number>(g.count).fill(0)])) });
    if (off.kind !== 'classification') throw new Error('view kind');
    expect(off.score.adapted).toBe(off.score.base);
    expect(off.score.allOn).toBe(v.score.adapted);
    await s.view({}); // the session keeps the last overrides; inspect below runs with every latent on
    const stats = await s.stats({ source: 'held-out' });
    expect(stats.length).toBe(4);
    expect(stats[0]!.samples).toBe(64 * 16);
    expect(stats[0]!.entropy.some((e) => e !== null)).toBe(true);
    const ins = await s.inspect(0, stats[0]!.log10Freq.findIndex((f) => f !== null));
    expect(ins.classBars?.length).toBe(10);
    expect(ins.examples.length).toBeGreaterThan(0);
    const rep = await s.identifiability(0);
    expect(rep.l).toBe(64);
    s.destroy();
  });
});

describe('digits playground task: the other adapter kinds', () => {
  for (const kind of ['none', 'lora', 'sora'] as const) {
    it(`${kind}: builds on the shipped base, trains 2 finite steps, views`, async () => {
      const rt = await testRuntime();
      const c = structuredClone(DEFAULT_CONFIG);
      c.task = 'digits';
      c.adapter.kind = kind;
      c.adapter.targets = [];
      c.training = { ...c.training, batch: 4, warmup: 0, steps: 10 };
      const s = await PlaygroundSession.create(rt, c, { assets: nodeAssets(), small: true, stream: { metricEvery: 2, validateEvery: 0, statsEvery: 0 }, onEvent: () => {} });
      const rows = await s.stepN(2);
      expect(rows.every((r) => Number.isFinite(r.loss))).toBe(true);
      const v = await s.view();
      expect(v.kind).toBe('classification');
      const p = s.info().parameters;
      if (kind === 'none') expect(p.trainable).toBe(p.base);
      else if (kind === 'lora') expect(p.trainable).toBe(4 * 8 * (64 + 64)); // rank 8 on 4 sites of 64 → 64
      else expect(p.trainable).toBeGreaterThanOrEqual(4 * 8 * (64 + 64)); // SoRA: LoRA's A, B plus its gate
      s.destroy();
    });
  }
});
