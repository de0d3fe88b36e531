/**
 * The dictionary-atoms adapter on a multi-head attention block:
 *  - config validation (ConfigError naming the field);
 *  - float64 reference backward vs central finite differences (≤ 1e-6), and the GPU's backward
 *    (dW_s, dD, dx, and dprobs through the attention layer's own backward into W_q/W_k/dx) vs
 *    finite differences of the float64 forward at the GPU's parameters (≤ 1e-3), for every σ and
 *    both forms, one and two heads, with masks and the norm-weighted L1 penalty — away from
 *    thresholds and top-k ties (asserted, so a bad draw fails instead of passing vacuously);
 *  - zero-delta initialisation, masks, per-atom contributions, setK / setLambda, metrics.
 */
import { describe, expect, it } from 'vitest';
import { attentionAtomsBackward, attentionAtomsForward, atomsForwardCpu, type AtomsAdapterCpu } from '../src/adapters/atoms-reference';
import { ATOMS_DEFAULTS, AtomsAdapter, atomsAdapter, type AtomsConfig } from '../src/adapters/atoms';
import { adapterModule } from '../src/adapters/registry';
import { ConfigError } from '../src/engine/errors';
import { ParamPack } from '../src/engine/param-pack';
import { Rng } from '../src/engine/rng';
import { CommandList, type GpuRuntime } from '../src/engine/runtime';
import { MultiHeadAttention } from '../src/nn/attention';
import type { Activation, BuildContext } from '../src/nn/module';
import type { Params64 } from '../src/nn/reference';
import { topkKey } from '../src/kernels/topk';
import { checkGradient, dot, randn64, sample } from './helpers/finite-diff';
import { maxRelError, randomArray, testRuntime } from './helpers/gpu';

const PATH = 'attn';

interface Shape {
  B: number;
  T: number;
  C: number;
  H: number;
  causal?: boolean;
}

async function build(rt: GpuRuntime, s: Shape, cfg: AtomsConfig, opts: { attnFrozen: boolean; inputGrad: boolean; seed: number }) {
  const trainable = new ParamPack(rt, 'atoms.t', true);
  const frozen = new ParamPack(rt, 'atoms.f', false);
  const ctx: BuildContext = { rt, trainable, frozen, rng: new Rng(opts.seed) };
  const rows = s.B * s.T;
  const input: Activation = { value: rt.tensor([rows, s.C], 'x'), grad: opts.inputGrad ? rt.tensor([rows, s.C], 'dx') : null };
  const attn = new MultiHeadAttention(ctx, PATH, { dim: s.C, heads: s.H, batch: s.B, seq: s.T, frozen: opts.attnFrozen, ...(s.causal ? { causal: true } : {}) }, input);
  const site = { kind: 'attention-output' as const, path: PATH, layer: attn, batch: s.B, seq: s.T, heads: s.H, dim: s.C };
  atomsAdapter.validate(cfg, site);
  const adapter = atomsAdapter.attach(ctx, site, cfg) as AtomsAdapter;
  trainable.finalize();
  frozen.finalize();
  // The frozen block's output, recorded without the hook, for comparisons.
  const base = new CommandList('base');
  attn.outputAdapter = null;
  attn.recordForward(base);
  attn.outputAdapter = adapter;
  const fwd = new CommandList('fwd');
  const bwd = new CommandList('bwd');
  attn.recordForward(fwd);
  attn.recordBackward(bwd);
  return { trainable, frozen, input, attn, adapter, fwd, bwd, base, rows };
}

async function params64(...packs: ParamPack[]): Promise<Params64> {
  const out: Params64 = new Map();
  for (const p of packs) for (const [k, v] of await p.readAll()) out.set(k, Float64Array.from(v));
  return out;
}

function adapterArgs(p: Params64, cfg: AtomsConfig, lambda: number, mask?: Float32Array): AtomsAdapterCpu {
  return {
    Ws: p.get(`${PATH}.atoms_Ws.weight`)!,
    D: p.get(`${PATH}.atoms_D.weight`)!,
    atoms: cfg.atoms,
    sigma: cfg.sigma,
    lambda,
    k: cfg.k,
    form: cfg.form,
    l1: cfg.l1 ?? 0,
    ...(mask ? { mask } : {}),
  };
}

/** A λ in the widest gap between sorted |pre| (soft) / pre (relu) values near the middle, and its margin. */
function midGapLambda(pre: Float64Array, sigma: 'soft' | 'relu'): { lambda: number; margin: number } {
  const v = Array.from(pre, (x) => (sigma === 'soft' ? Math.abs(x) : x)).filter((x) => x > 0).sort((a, b) => a - b);
  let best = { lambda: 0, margin: 0 };
  for (let i = Math.floor(v.length * 0.3); i < Math.floor(v.length * 0.7); i++) {
    const gap = v[i + 1]! - v[i]!;
    if (gap / 2 > best.margin) best = { lambda: (v[i]! + v[i + 1]!) / 2, margin: gap / 2 };
  }
  return best;
}

/** Smallest distance of any |pre| (soft), pre (relu) to λ; for top-k the smallest gap between the k-th and (k+1)-th key of a row. */
function decisionMargin(pre: Float64Array, cfg: AtomsConfig, lambda: number, rows: number): number {
  let m = Infinity;
  if (cfg.sigma === 'topk') {
    for (let r = 0; r < rows; r++) {
      const keys = Array.from(pre.subarray(r * cfg.atoms, (r + 1) * cfg.atoms), (x) => Math.abs(x)).sort((a, b) => b - a);
      if (cfg.k < cfg.atoms) m = Math.min(m, keys[cfg.k - 1]! - keys[cfg.k]!);
      // f32 keys must order like the float64 values
      const f = Array.from(pre.subarray(r * cfg.atoms, (r + 1) * cfg.atoms), (x) => topkKey(x, 'abs'));
      if (new Set(f).size !== f.length) m = 0;
    }
    return m;
  }
  for (const x of pre) m = Math.min(m, Math.abs((cfg.sigma === 'soft' ? Math.abs(x) : x) - lambda));
  return m;
}

interface Case {
  sigma: AtomsConfig['sigma'];
  form: AtomsConfig['form'];
  H: number;
  l1: number;
  mask: boolean;
  causal?: boolean;
}

const CASES: Case[] = [
  { sigma: 'soft', form: 'paper', H: 1, l1: 0.3, mask: false },
  { sigma: 'soft', form: 'simplified', H: 2, l1: 0, mask: true },
  { sigma: 'relu', form: 'paper', H: 2, l1: 0, mask: true, causal: true },
  { sigma: 'relu', form: 'simplified', H: 1, l1: 0.2, mask: false },
  { sigma: 'topk', form: 'paper', H: 1, l1: 0, mask: false },
  { sigma: 'topk', form: 'simplified', H: 2, l1: 0.25, mask: true },
];

const SHAPE = { B: 2, T: 5, C: 8 };
const M = 6;
const K = 3;

/** Builds a case with random D and a well-separated λ; returns everything the checks need. */
async function prepare(rt: GpuRuntime, c: Case, seed: number) {
  const cfg: AtomsConfig = { ...ATOMS_DEFAULTS, atoms: M, k: K, sigma: c.sigma, form: c.form, lambda: 0.1, l1: c.l1, train: 'both' };
  const s: Shape = { ...SHAPE, H: c.H, ...(c.causal ? { causal: true } : {}) };
  const b = await build(rt, s, cfg, { attnFrozen: false, inputGrad: true, seed });
  // Non-zero atoms (D starts at 0) and a larger W_s so codes are O(1).
  const prng = new Rng(seed + 5);
  rt.write(b.adapter.dict.value, Float32Array.from({ length: M * s.C }, () => prng.uniform(-0.6, 0.6)));
  rt.write(b.adapter.ws.value, Float32Array.from({ length: s.C * M }, () => prng.uniform(-1, 1)));
  const mask = c.mask ? Float32Array.from({ length: M }, (_, m) => (m === 1 ? 0 : 1)) : undefined;
  if (mask) b.adapter.setMask(mask);
  const x32 = Float32Array.from(randn64(b.rows * s.C, seed + 11));
  rt.write(b.input.value, x32);
  const p = await params64(b.trainable, b.frozen);
  const x = Float64Array.from(x32);
  const block = { batch: s.B, seq: s.T, dim: s.C, heads: s.H, causal: s.causal ?? false };
  let lambda = cfg.lambda;
  const pre = attentionAtomsForward(p, PATH, x, block, adapterArgs(p, cfg, lambda, mask)).adapter.pre;
  if (c.sigma !== 'topk') {
    lambda = midGapLambda(pre, c.sigma).lambda;
    b.adapter.setLambda(lambda);
  }
  const ad = adapterArgs(p, cfg, lambda, mask);
  return { b, cfg, s, p, x, x32, block, ad, lambda, mask, margin: decisionMargin(pre, cfg, lambda, b.rows) };
}

describe('atoms adapter: config validation', () => {
  it('is registered and rejects impossible settings with ConfigError naming the field', async () => {
    const rt = await testRuntime();
    expect(adapterModule('atoms')).toBe(atomsAdapter);
    const b = await build(rt, { B: 1, T: 3, C: 4, H: 1 }, { ...ATOMS_DEFAULTS, atoms: 4, k: 2 }, { attnFrozen: true, inputGrad: false, seed: 1 });
    const other = new MultiHeadAttention(
      { rt, trainable: new ParamPack(rt, 'v.t', true), frozen: new ParamPack(rt, 'v.f', false), rng: new Rng(1) },
      'other',
      { dim: 4, heads: 1, batch: 1, seq: 3, frozen: true },
      { value: rt.tensor([3, 4], 'x'), grad: null },
    );
    const site = { kind: 'attention-output' as const, path: 'other', layer: other, batch: 1, seq: 3, heads: 1, dim: 4 };
    const ok: AtomsConfig = { ...ATOMS_DEFAULTS, atoms: 4, k: 2 };
    const bad: [Record<string, unknown>, string][] = [
      [{ atoms: 0 }, 'atoms'],
      [{ atoms: 2.5 }, 'atoms'],
      [{ lambda: -0.1 }, 'lambda'],
      [{ lambda: Number.NaN }, 'lambda'],
      [{ k: 5 }, 'k'],
      [{ k: 0 }, 'k'],
      [{ sigma: 'gelu' }, 'sigma'],
      [{ form: 'other' }, 'form'],
      [{ train: 'all' }, 'train'],
      [{ l1: -1 }, 'l1'],
    ];
    for (const [patch, field] of bad) {
      let err: unknown = null;
      try {
        atomsAdapter.validate({ ...ok, ...patch } as AtomsConfig, site);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(patch)).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).field).toBe(field);
    }
    // k beyond M is fine when σ is not top-k (k unused).
    expect(() => atomsAdapter.validate({ ...ok, sigma: 'soft', k: 99 }, site)).not.toThrow();
    // Linear sites and occupied blocks are refused.
    expect(() => atomsAdapter.validate(ok, { kind: 'linear', path: 'other.q_proj', layer: other.q, rows: 3 })).toThrow(ConfigError);
    expect(() => atomsAdapter.validate(ok, { kind: 'attention-output', path: PATH, layer: b.attn, batch: 1, seq: 3, heads: 1, dim: 4 })).toThrow(/already has/);
    // Runtime controls validate too.
    expect(() => b.adapter.setK!(3)).toThrow(ConfigError);
    expect(() => b.adapter.setMask(new Float32Array(3))).toThrow(ConfigError);
    expect(() => b.adapter.setMask(new Float32Array([1, 0.5, 1, 1]))).toThrow(ConfigError);
    expect(() => b.adapter.setLambda(0.1)).toThrow(ConfigError); // top-k has no λ
    // PEFT-like names and shapes.
    expect(b.adapter.ws.name).toBe(`${PATH}.atoms_Ws.weight`);
    expect(b.adapter.ws.shape).toEqual([4, 4]);
    expect(b.adapter.dict.name).toBe(`${PATH}.atoms_D.weight`);
    expect(b.adapter.trainableParameterCount()).toBe(32);
    expect(b.adapter.latentLabel).toBe('atom');
    b.adapter.destroy();
    expect(b.attn.outputAdapter).toBeNull();
  });
});

describe('atoms adapter: float64 reference backward vs finite differences (≤ 1e-6)', () => {
  for (const c of CASES) {
    it(`σ=${c.sigma}, ${c.form}, H=${c.H}${c.l1 ? `, l1=${c.l1}` : ''}${c.mask ? ', mask' : ''}${c.causal ? ', causal' : ''}`, async () => {
      const rt = await testRuntime();
      const { b, p, x, block, ad, margin } = await prepare(rt, c, 3);
      expect(margin, 'decision margin (thresholds / top-k ties)').toBeGreaterThan(1e-4);
      const dy = randn64(b.rows * SHAPE.C, 21);
      const g = new Map<string, Float64Array>();
      const r = attentionAtomsBackward(p, g, PATH, x, dy, block, ad);
      g.set(`${PATH}.atoms_Ws.weight`, r.dWs);
      g.set(`${PATH}.atoms_D.weight`, r.dD);
      const loss = () => {
        const f = attentionAtomsForward(p, PATH, x, block, ad);
        return dot(f.out, dy) + f.penalty;
      };
      expect(checkGradient(loss, x, r.dx, 1e-6, sample(x.length, 40, 1)), 'dx').toBeLessThan(1e-6);
      for (const [name, grad] of g) {
        const v = p.get(name)!;
        // ad holds the same arrays as p, so perturbing p perturbs the adapter too.
        expect(checkGradient(loss, v, grad, 1e-6, sample(v.length, 30, name.length)), name).toBeLessThan(1e-6);
      }
      expect(g.size).toBe(10); // q/k/v/o weights and biases + W_s + D
    });
  }
});

describe('atoms adapter: GPU forward vs float64, backward vs finite differences (≤ 1e-3)', () => {
  for (const c of CASES) {
    it(`σ=${c.sigma}, ${c.form}, H=${c.H}${c.l1 ? `, l1=${c.l1}` : ''}${c.mask ? ', mask' : ''}${c.causal ? ', causal' : ''}`, async () => {
      const rt = await testRuntime();
      const { b, p, x, block, ad, margin } = await prepare(rt, c, 7);
      expect(margin, 'decision margin (thresholds / top-k ties)').toBeGreaterThan(1e-4);
      const dy32 = Float32Array.from(randn64(b.rows * SHAPE.C, 22));
      const list = new CommandList('fwd');
      list.push(b.trainable.zeroGradOp());
      list.append(b.fwd);
      rt.submit([list]);
      rt.write(b.attn.out.grad!, dy32);
      rt.submit([b.bwd]);
      expect(b.adapter.writesDprobs).toBe(true);

      const ref = attentionAtomsForward(p, PATH, x, block, ad);
      expect(maxRelError(await rt.read(b.attn.out.value), ref.out)).toBeLessThan(1e-4);
      expect(maxRelError(await rt.read(b.adapter.codes), ref.adapter.S)).toBeLessThan(1e-4);
      expect((await rt.read(b.adapter.activeAtoms))[0]).toBeCloseTo(ref.adapter.active, 5);
      if (c.l1) expect(Math.abs((await rt.read(b.adapter.penalty))[0]! - ref.penalty) / ref.penalty).toBeLessThan(1e-4);

      const dy = Float64Array.from(dy32);
      const loss = () => {
        const f = attentionAtomsForward(p, PATH, x, block, ad);
        return dot(f.out, dy) + f.penalty;
      };
      const dx = await rt.read(b.input.grad!);
      expect(checkGradient(loss, x, dx, 1e-6, sample(x.length, 24, 1)), 'dx').toBeLessThan(1e-3);
      for (const prm of b.trainable.params) {
        const v = p.get(prm.name)!;
        expect(checkGradient(loss, v, await rt.read(prm.grad), 1e-6, sample(v.length, 24, prm.name.length)), prm.name).toBeLessThan(1e-3);
      }
    });
  }
});

describe('atoms adapter: inference controls and inspection', () => {
  for (const [sigma, form] of [
    ['topk', 'paper'],
    ['soft', 'simplified'],
    ['relu', 'paper'],
  ] as const) {
    it(`zero delta at init, masks, per-atom contributions (σ=${sigma}, ${form})`, async () => {
      const rt = await testRuntime();
      const s = { B: 2, T: 6, C: 12, H: 2 };
      const cfg: AtomsConfig = { ...ATOMS_DEFAULTS, atoms: 10, k: 4, sigma, form, lambda: 0.05 };
      const b = await build(rt, s, cfg, { attnFrozen: true, inputGrad: false, seed: 4 });
      rt.write(b.input.value, randomArray(b.rows * s.C, 5, -1, 1));
      rt.submit([b.base]);
      const base = await rt.read(b.attn.out.value);
      // D = 0: the adapted block reproduces the frozen one bit for bit.
      rt.submit([b.fwd]);
      expect(Array.from(await rt.read(b.attn.out.value))).toEqual(Array.from(base));
      expect((await rt.read(b.adapter.activeAtoms))[0]).toBeGreaterThan(0); // codes exist; only D is zero

      rt.write(b.adapter.dict.value, randomArray(10 * s.C, 6, -1, 1));
      rt.submit([b.fwd]);
      const full = await rt.read(b.attn.out.value);
      const codes = await rt.read(b.adapter.codes);
      const delta = full.map((v, i) => v - base[i]!);
      expect(Math.max(...delta.map(Math.abs))).toBeGreaterThan(1e-3);
      // Contributions of all atoms sum to ΔO.
      const contribs = await b.adapter.atomContributions(Array.from({ length: 10 }, (_, m) => m));
      const sum = new Float64Array(delta.length);
      for (const c of contribs) for (let i = 0; i < sum.length; i++) sum[i] += c[i]!;
      expect(maxRelError(sum, delta)).toBeLessThan(1e-4);

      // Mask one atom: its codes become exactly 0, the others are unchanged, ΔO loses exactly its contribution.
      const m = Array.from({ length: 10 }, (_, j) => j).find((j) => codes.some((v, i) => i % 10 === j && v !== 0))!;
      const mask = new Float32Array(10).fill(1);
      mask[m] = 0;
      b.adapter.setMask(mask);
      rt.submit([b.fwd]);
      const codesM = await rt.read(b.adapter.codes);
      for (let i = 0; i < codes.length; i++) expect(codesM[i]).toBe(i % 10 === m ? 0 : codes[i]);
      const outM = await rt.read(b.attn.out.value);
      expect(maxRelError(outM.map((v, i) => v - base[i]!), delta.map((v, i) => v - contribs[m]![i]!))).toBeLessThan(1e-4);
      // Mask every atom: the frozen output again, bit for bit.
      b.adapter.setMask(new Float32Array(10));
      rt.submit([b.fwd]);
      expect(Array.from(await rt.read(b.attn.out.value))).toEqual(Array.from(base));
      expect((await rt.read(b.adapter.activeAtoms))[0]).toBe(0);
      b.adapter.setMask(null);
      rt.submit([b.fwd]);
      expect(Array.from(await rt.read(b.attn.out.value))).toEqual(Array.from(full));
    });
  }

  it('setK (top-k) and setLambda (soft) change the next forward without re-recording; the code and metrics follow', async () => {
    const rt = await testRuntime();
    const s = { B: 2, T: 4, C: 8, H: 1 };
    for (const sigma of ['topk', 'soft'] as const) {
      const cfg: AtomsConfig = { ...ATOMS_DEFAULTS, atoms: 12, k: 5, sigma, lambda: 0.02 };
      const b = await build(rt, s, cfg, { attnFrozen: true, inputGrad: false, seed: 8 });
      rt.write(b.adapter.dict.value, randomArray(12 * 8, 9, -1, 1));
      const x = randomArray(b.rows * 8, 10, -1, 1);
      rt.write(b.input.value, x);
      const p = await params64(b.trainable, b.frozen);
      const probs = async () => Float64Array.from(await rt.read(b.attn.probs));
      const run = async () => {
        rt.submit([b.fwd]);
        return { out: await rt.read(b.attn.out.value), active: (await rt.read(b.adapter.activeAtoms))[0]! };
      };
      const first = await run();
      const cpu = (over: Partial<AtomsCpuOverride>) =>
        atomsForwardCpu({ x, probs: [], Ws: p.get(`${PATH}.atoms_Ws.weight`)!, D: p.get(`${PATH}.atoms_D.weight`)!, batch: 2, seq: 4, heads: 1, dim: 8, atoms: 12, sigma, lambda: 0.02, k: 5, form: 'paper', ...over });
      const pr = await probs();
      if (sigma === 'topk') {
        expect(first.active).toBe(5);
        b.adapter.setK!(2);
        const second = await run();
        expect(second.active).toBe(2);
        const want = cpu({ probs: pr, kOverride: 2 });
        expect(maxRelError(await rt.read(b.adapter.codes), want.S)).toBeLessThan(1e-4);
        const idx = new Uint32Array((await rt.read(b.adapter.code!.indices)).buffer);
        const vals = await rt.read(b.adapter.code!.values);
        for (let r = 0; r < b.rows; r++) {
          for (let j = 0; j < 5; j++) {
            // Slots ≥ k' hold 0; the live ones name the atom whose dense code they carry.
            if (j >= 2) expect(vals[r * 5 + j]).toBe(0);
            else expect(vals[r * 5 + j]).toBeCloseTo(want.S[r * 12 + idx[r * 5 + j]!]!, 5);
          }
        }
      } else {
        b.adapter.setLambda(0.5);
        const second = await run();
        expect(second.active).toBeLessThan(first.active);
        const want = cpu({ probs: pr, lambda: 0.5 });
        expect(second.active).toBeCloseTo(want.active, 5);
        expect(maxRelError(await rt.read(b.adapter.codes), want.S)).toBeLessThan(1e-4);
      }
      b.adapter.destroy();
    }
  });
});

type AtomsCpuOverride = Parameters<typeof atomsForwardCpu>[0];
