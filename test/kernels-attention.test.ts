import { describe, expect, it } from 'vitest';
import { CommandList } from '../src/engine/runtime';
import {
  MAX_ATTENTION_SEQ,
  attentionBackwardCpu,
  attentionForwardCpu,
  attentionProbsBackwardCpu,
  recordAttentionBackward,
  recordAttentionForward,
  recordAttentionProbsBackward,
  chooseAttentionPath,
  type AttentionKernelOptions,
  type AttentionShape,
} from '../src/kernels/attention';
import { shader } from '../src/kernels/shader-sources';
import { checkGradient, randn64 } from './helpers/finite-diff';
import { maxRelError, randomArray, testRuntime } from './helpers/gpu';

const TOL = 1e-4;

interface Case extends AttentionShape, AttentionKernelOptions {
  extra?: boolean;
  accumulate?: boolean;
}

const CASES: Case[] = [
  { batch: 1, seq: 1, heads: 1, headDim: 1 },
  { batch: 1, seq: 1, heads: 4, headDim: 3, causal: true, extra: true },
  { batch: 3, seq: 7, heads: 4, headDim: 3, causal: true },
  { batch: 3, seq: 7, heads: 4, headDim: 3, extra: true, accumulate: true },
  { batch: 3, seq: 7, heads: 1, headDim: 32, causal: true, extra: true },
  { batch: 2, seq: 5, heads: 4, headDim: 1, scale: 0.7, accumulate: true },
  { batch: 1, seq: 64, heads: 1, headDim: 32 },
  { batch: 1, seq: 64, heads: 4, headDim: 3, causal: true, extra: true, accumulate: true },
  // headDim % 4 == 0 picks the vec4 kernels by default; also force the scalar ones there.
  { batch: 3, seq: 7, heads: 4, headDim: 4, causal: true, extra: true, accumulate: true },
  { batch: 3, seq: 7, heads: 1, headDim: 32, causal: true, extra: true, vec4: false },
  { batch: 1, seq: 64, heads: 1, headDim: 32, accumulate: true, vec4: false },
  // The matmul path (one head): seq and headDim off its 64 × 32 tile, seq beyond the rows path's 64.
  { batch: 1, seq: 1, heads: 1, headDim: 5, causal: true, extra: true, path: 'matmul' },
  { batch: 2, seq: 33, heads: 1, headDim: 37, causal: true, extra: true, path: 'matmul' },
  { batch: 3, seq: 17, heads: 1, headDim: 64, accumulate: true, path: 'matmul' },
  { batch: 2, seq: 70, heads: 1, headDim: 33, extra: true, accumulate: true, path: 'matmul' },
  { batch: 1, seq: 97, heads: 1, headDim: 16, causal: true },
  // Batched multi-head on the matmul path: heads 2/4/8, head dims off 4, seq 1, off the tile, > 64.
  { batch: 2, seq: 33, heads: 2, headDim: 5, causal: true, extra: true, path: 'matmul' },
  { batch: 1, seq: 70, heads: 8, headDim: 3, extra: true, accumulate: true, path: 'matmul' },
  { batch: 3, seq: 17, heads: 4, headDim: 32, causal: true },
  { batch: 2, seq: 1, heads: 8, headDim: 7, extra: true, path: 'matmul' },
  { batch: 2, seq: 32, heads: 4, headDim: 32, extra: true, accumulate: true },
  { batch: 1, seq: 67, heads: 4, headDim: 9, causal: true },
];

/** Every case without a fixed path also runs on the other path (where that path supports the shape). */
const ALL_CASES: Case[] = CASES.flatMap((c) => {
  if (c.path !== undefined) return [c];
  const other: Case = { ...c, path: chooseAttentionPath(c) === 'rows' ? 'matmul' : 'rows' };
  return other.path === 'rows' && c.seq > MAX_ATTENTION_SEQ ? [c] : [c, other];
});

function name(c: Case): string {
  return `b=${c.batch} seq=${c.seq} heads=${c.heads} hd=${c.headDim}${c.causal ? ' causal' : ''}${c.scale ? ` scale=${c.scale}` : ''}${c.extra ? ' +dprobsExtra' : ''}${c.accumulate ? ' accumulate' : ''}${c.vec4 === false ? ' scalar' : ''} path=${chooseAttentionPath(c)}`;
}

/** Validation errors of everything recorded and run until the returned function is awaited. */
async function captureErrors(rt: Awaited<ReturnType<typeof testRuntime>>): Promise<() => Promise<string[]>> {
  rt.device.pushErrorScope('validation');
  return async () => {
    const e = await rt.device.popErrorScope();
    return e ? [e.message] : [];
  };
}

const plus = (base: Float32Array | undefined, d: Float64Array) => (base ? d.map((v, i) => v + base[i]!) : d);

describe('attention kernels vs float64 CPU reference', () => {
  it('shader compiles', async () => {
    const rt = await testRuntime();
    expect(await rt.shaderErrors(shader('attention'))).toEqual([]);
  });

  for (const c of ALL_CASES) {
    it(name(c), async () => {
      const rt = await testRuntime();
      const errors = await captureErrors(rt);
      const n = c.batch * c.seq * c.heads * c.headDim;
      const np = c.batch * c.heads * c.seq * c.seq;
      const seed = n + np + (c.causal ? 7 : 0);
      // Wide q/k range: peaky softmax rows, not just near-uniform ones.
      const qs = randomArray(n, seed + 1, -2, 2);
      const ks = randomArray(n, seed + 2, -2, 2);
      const vs = randomArray(n, seed + 3);
      const dos = randomArray(n, seed + 4);
      const extras = c.extra ? randomArray(np, seed + 5) : undefined;
      const init = c.accumulate ? [randomArray(n, seed + 6), randomArray(n, seed + 7), randomArray(n, seed + 8)] : undefined;

      const q = rt.tensor([c.batch, c.seq, c.heads * c.headDim], 'q', qs);
      const k = rt.tensor([c.batch, c.seq, c.heads * c.headDim], 'k', ks);
      const v = rt.tensor([c.batch, c.seq, c.heads * c.headDim], 'v', vs);
      const out = rt.tensor([n], 'out');
      const probs = rt.tensor([c.batch, c.heads, c.seq, c.seq], 'probs');
      const dout = rt.tensor([n], 'dout', dos);
      const dq = rt.tensor([n], 'dq', init?.[0]);
      const dk = rt.tensor([n], 'dk', init?.[1]);
      const dv = rt.tensor([n], 'dv', init?.[2]);
      const dscores = rt.tensor([np], 'dscores', randomArray(np, 99)); // dirty: must be overwritten
      const extra = extras ? rt.tensor([np], 'dprobs_extra', extras) : undefined;

      const list = new CommandList('t');
      recordAttentionForward(rt, list, { ...c, q, k, v, out, probs });
      const scratch = recordAttentionBackward(rt, list, { ...c, q, k, v, probs, dout, dq, dk, dv, dscores, accumulate: c.accumulate, dprobsExtra: extra });
      expect(scratch).toEqual([]); // dscores was passed
      rt.submit([list]);

      const f = attentionForwardCpu({ ...c, q: qs, k: ks, v: vs });
      const g = attentionBackwardCpu({ ...c, q: qs, k: ks, v: vs, dout: dos, dprobsExtra: extras });
      const gotProbs = await rt.read(probs);
      expect(maxRelError(await rt.read(out), f.out), 'out').toBeLessThan(TOL);
      expect(maxRelError(gotProbs, f.probs), 'probs').toBeLessThan(TOL);
      expect(maxRelError(await rt.read(dscores), g.dscores), 'dscores').toBeLessThan(TOL);
      expect(maxRelError(await rt.read(dq), plus(init?.[0], g.dq)), 'dq').toBeLessThan(TOL);
      expect(maxRelError(await rt.read(dk), plus(init?.[1], g.dk)), 'dk').toBeLessThan(TOL);
      expect(maxRelError(await rt.read(dv), plus(init?.[2], g.dv)), 'dv').toBeLessThan(TOL);
      if (c.causal) {
        // Masked probabilities are exactly zero, and every row sums to 1.
        for (let r = 0; r < c.batch * c.heads * c.seq; r++) {
          const i = r % c.seq;
          let sum = 0;
          for (let j = 0; j < c.seq; j++) {
            if (j > i) expect(gotProbs[r * c.seq + j]).toBe(0);
            sum += gotProbs[r * c.seq + j]!;
          }
          expect(Math.abs(sum - 1)).toBeLessThan(1e-5);
        }
      }
      for (const t of [q, k, v, out, probs, dout, dq, dk, dv, dscores, ...(extra ? [extra] : [])]) rt.release(t);
      expect(await errors()).toEqual([]);
    });
  }

  for (const [causal, headDim, batch, seq, heads, path] of [
    [false, 5, 2, 9, 2, 'auto'],
    [true, 5, 2, 9, 2, 'auto'],
    [true, 4, 2, 9, 2, 'auto'],
    [false, 4, 1, 1, 1, 'rows'], // probs is a single float: nothing may bind it as vec4
    [false, 4, 1, 1, 1, 'matmul'],
    [true, 5, 2, 9, 1, 'matmul'],
    [false, 36, 2, 19, 1, 'matmul'],
    [true, 5, 2, 9, 4, 'matmul'],
    [false, 3, 1, 40, 8, 'matmul'],
  ] as const) {
    it(`probs-only backward (dprobs → dq, dk), b=${batch} seq=${seq} heads=${heads} hd=${headDim} causal=${causal} path=${path}, accumulate and allocated scratch`, async () => {
      const rt = await testRuntime();
      const errors = await captureErrors(rt);
      const s: AttentionShape & AttentionKernelOptions = { batch, seq, heads, headDim, causal, path };
      const n = batch * seq * heads * headDim;
      const np = batch * heads * seq * seq;
      const qs = randomArray(n, 41, -2, 2);
      const ks = randomArray(n, 42, -2, 2);
      const dps = randomArray(np, 43);
      const dq0 = randomArray(n, 44);
      const q = rt.tensor([n], 'q', qs);
      const k = rt.tensor([n], 'k', ks);
      const v = rt.tensor([n], 'v');
      const out = rt.tensor([n], 'out');
      const probs = rt.tensor([np], 'probs');
      const dprobs = rt.tensor([np], 'dprobs', dps);
      const dq = rt.tensor([n], 'dq', dq0);
      const dk = rt.tensor([n], 'dk', dq0);
      const fwd = new CommandList('f');
      recordAttentionForward(rt, fwd, { ...s, q, k, v, out, probs });
      const bwd = new CommandList('b');
      const scratch = recordAttentionProbsBackward(rt, bwd, { ...s, q, k, probs, dprobs, dq, dk, accumulate: true });
      expect(scratch.length).toBe(1);
      rt.submit([fwd, bwd]);
      const gpuProbs = await rt.read(probs);
      const ref = attentionProbsBackwardCpu({ ...s, q: qs, k: ks, probs: attentionForwardCpu({ ...s, q: qs, k: ks, v: new Float64Array(n) }).probs, dprobs: dps });
      expect(maxRelError(gpuProbs, attentionForwardCpu({ ...s, q: qs, k: ks, v: new Float64Array(n) }).probs)).toBeLessThan(TOL);
      expect(maxRelError(await rt.read(scratch[0]!), ref.dscores)).toBeLessThan(TOL);
      expect(maxRelError(await rt.read(dq), plus(dq0, ref.dq))).toBeLessThan(TOL);
      expect(maxRelError(await rt.read(dk), plus(dq0, ref.dk))).toBeLessThan(TOL);
      for (const t of [q, k, v, out, probs, dprobs, dq, dk, ...scratch]) rt.release(t);
      expect(await errors()).toEqual([]);
    });
  }

  it('dprobsExtra on the full backward equals the probs-only backward plus the dout-only backward', async () => {
    // The adapter contract: its dA enters exactly like a gradient on probs.
    const s: AttentionShape = { batch: 1, seq: 6, heads: 2, headDim: 4, causal: true };
    const n = 6 * 8;
    const np = 2 * 36;
    const q = randn64(n, 1);
    const k = randn64(n, 2);
    const v = randn64(n, 3);
    const dout = randn64(n, 4);
    const extra = randn64(np, 5);
    const both = attentionBackwardCpu({ ...s, q, k, v, dout, dprobsExtra: extra });
    const noExtra = attentionBackwardCpu({ ...s, q, k, v, dout });
    const onlyExtra = attentionProbsBackwardCpu({ ...s, q, k, probs: attentionForwardCpu({ ...s, q, k, v }).probs, dprobs: extra });
    expect(maxRelError(both.dq, noExtra.dq.map((x, i) => x + onlyExtra.dq[i]!))).toBeLessThan(1e-12);
    expect(maxRelError(both.dk, noExtra.dk.map((x, i) => x + onlyExtra.dk[i]!))).toBeLessThan(1e-12);
    expect(maxRelError(both.dv, noExtra.dv)).toBeLessThan(1e-12);
  });

  it('rejects seq above 64 on the rows path, mismatched sizes and vec4 with headDim % 4 != 0', async () => {
    const rt = await testRuntime();
    const t = (n: number) => rt.tensor([n], 't');
    const seq = MAX_ATTENTION_SEQ + 1;
    expect(() => recordAttentionForward(rt, new CommandList('t'), { batch: 1, seq, heads: 1, headDim: 1, path: 'rows', q: t(seq), k: t(seq), v: t(seq), out: t(seq), probs: t(seq * seq) })).toThrow(/seq=65/);
    // Several heads beyond 64 are fine on 'auto' (the batched matmul path).
    expect(() => recordAttentionForward(rt, new CommandList('t'), { batch: 1, seq, heads: 2, headDim: 1, q: t(2 * seq), k: t(2 * seq), v: t(2 * seq), out: t(2 * seq), probs: t(2 * seq * seq) })).not.toThrow();
    expect(() => recordAttentionForward(rt, new CommandList('t'), { batch: 1, seq, heads: 2, headDim: 1, path: 'rows', q: t(2 * seq), k: t(2 * seq), v: t(2 * seq), out: t(2 * seq), probs: t(2 * seq * seq) })).toThrow(/use path 'matmul'/);
    expect(chooseAttentionPath({ seq, heads: 1 })).toBe('matmul');
    expect(chooseAttentionPath({ seq: 64, heads: 4 })).toBe('matmul');
    expect(chooseAttentionPath({ seq: 16, heads: 4 })).toBe('rows');
    expect(() => recordAttentionForward(rt, new CommandList('t'), { batch: 1, seq: 2, heads: 1, headDim: 2, q: t(4), k: t(4), v: t(3), out: t(4), probs: t(4) })).toThrow(/v \(/);
    expect(() => recordAttentionForward(rt, new CommandList('t'), { batch: 1, seq: 2, heads: 1, headDim: 3, vec4: true, q: t(6), k: t(6), v: t(6), out: t(6), probs: t(4) })).toThrow(/vec4/);
  });
});

describe('attention CPU backward vs float64 finite differences', () => {
  const shapes: AttentionShape[] = [
    { batch: 1, seq: 1, heads: 1, headDim: 1 },
    { batch: 2, seq: 4, heads: 2, headDim: 3 },
    { batch: 2, seq: 4, heads: 2, headDim: 3, causal: true, scale: 0.9 },
    { batch: 1, seq: 5, heads: 1, headDim: 2, causal: true },
    { batch: 2, seq: 3, heads: 4, headDim: 3, causal: true },
    { batch: 1, seq: 3, heads: 8, headDim: 1 },
  ];
  for (const s of shapes) {
    it(`${name(s)}, loss = Σ w·out + Σ w'·probs`, () => {
      const n = s.batch * s.seq * s.heads * s.headDim;
      const np = s.batch * s.heads * s.seq * s.seq;
      const q = randn64(n, n + 1);
      const k = randn64(n, n + 2);
      const v = randn64(n, n + 3);
      const w = randn64(n, n + 4, 2);
      const wp = randn64(np, n + 5, 2);
      const loss = (qq: Float64Array, kk: Float64Array, vv: Float64Array) => {
        const { out, probs } = attentionForwardCpu({ ...s, q: qq, k: kk, v: vv });
        let l = 0;
        for (let i = 0; i < n; i++) l += w[i]! * out[i]!;
        for (let i = 0; i < np; i++) l += wp[i]! * probs[i]!;
        return l;
      };
      const g = attentionBackwardCpu({ ...s, q, k, v, dout: w, dprobsExtra: wp });
      expect(checkGradient((x) => loss(x, k, v), q.slice(), g.dq)).toBeLessThan(1e-6);
      expect(checkGradient((x) => loss(q, x, v), k.slice(), g.dk)).toBeLessThan(1e-6);
      expect(checkGradient((x) => loss(q, k, x), v.slice(), g.dv)).toBeLessThan(1e-6);
      // Not vacuous: with seq > 1 the score gradients are clearly non-zero.
      if (s.seq > 1) expect(Math.max(...g.dq.map(Math.abs))).toBeGreaterThan(0.1);
      expect(Math.max(...g.dv.map(Math.abs))).toBeGreaterThan(0.1);
    });
  }
});
