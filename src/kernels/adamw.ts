/**
 * AdamW over parameter packs, entirely on the GPU, with global gradient-norm clipping and a
 * NaN/Inf guard. Per step it records 2·packs + 1 dispatches (+1 or 2 folds above 256 norm threads,
 * i.e. above ~64k parameters in total):
 *   norm_partial per pack → [norm_fold] → norm_final (gradNorm, nonFinite) → update per pack.
 * No barriers or workgroup memory anywhere (they are very slow on SwiftShader).
 * When any gradient (or the norm) is NaN/Inf the update leaves parameters and moments untouched,
 * so a bad batch costs one step, not the run; nonFinite = 1 tells the trainer.
 *
 * m and v are interleaved per vec4 in one buffer per pack, so the update kernel needs five
 * storage bindings (stats, grads, values, decay mask, moments), within the default 8.
 */
import type { ParamPack } from '../engine/param-pack';
import type { CommandList, GpuRuntime } from '../engine/runtime';
import type { StepParams } from '../engine/step-params';
import { Tensor } from '../engine/tensor';
import { defineParams, opt } from '../engine/uniform-params';
import { MAX_GRID_DIM } from './grid';
import { FINAL_MAX, foldPasses, stridedThreads } from './reduce';
import { shader } from './shader-sources';

export interface AdamWOptions {
  beta1?: number; // 0.9
  beta2?: number; // 0.999
  eps?: number; // 1e-8
  weightDecay?: number; // 0
  clipNorm?: number; // 0 = off
}

export interface ResolvedAdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  clipNorm: number;
}

export function resolveAdamWOptions(o: AdamWOptions = {}): ResolvedAdamWOptions {
  const r = { beta1: o.beta1 ?? 0.9, beta2: o.beta2 ?? 0.999, eps: o.eps ?? 1e-8, weightDecay: o.weightDecay ?? 0, clipNorm: o.clipNorm ?? 0 };
  if (!(r.beta1 >= 0 && r.beta1 < 1)) throw new Error(`adamw.beta1 = ${r.beta1}: must be in [0, 1)`);
  if (!(r.beta2 >= 0 && r.beta2 < 1)) throw new Error(`adamw.beta2 = ${r.beta2}: must be in [0, 1)`);
  if (!(r.eps > 0)) throw new Error(`adamw.eps = ${r.eps}: must be > 0`);
  if (!(r.weightDecay >= 0)) throw new Error(`adamw.weightDecay = ${r.weightDecay}: must be ≥ 0`);
  if (!(r.clipNorm >= 0)) throw new Error(`adamw.clipNorm = ${r.clipNorm}: must be ≥ 0 (0 = off)`);
  return r;
}

/** Norm threads per pack: one per NORM_PER_THREAD vec4s, at most NORM_MAX_THREADS. */
export const NORM_PER_THREAD = 64;
export const NORM_MAX_THREADS = 1024;

function grid(groups: number): { x: number; y: number } {
  if (groups <= MAX_GRID_DIM) return { x: Math.max(1, groups), y: 1 };
  const y = Math.ceil(groups / MAX_GRID_DIM);
  return { x: Math.ceil(groups / y), y };
}

interface PackState {
  pack: ParamPack;
  len4: number;
  /** norm_partial threads */
  threads: number;
  normParams: GPUBuffer;
  params: GPUBuffer;
  /** m/v interleaved per vec4: [2·pack.length] floats. */
  mv: Tensor;
}

export class AdamW {
  /** Global gradient L2 norm of the last recorded step ([1], before clipping). */
  readonly gradNorm: Tensor;
  /** 1.0 when any gradient or the norm was NaN/Inf in the last step (update skipped), else 0. */
  readonly nonFinite: Tensor;
  readonly options: ResolvedAdamWOptions;
  private readonly stats: Tensor;
  private readonly folds: { params: GPUBuffer; threads: number }[] = [];
  private readonly finalParams: GPUBuffer;
  private readonly states: PackState[];
  private destroyed = false;

  constructor(
    private readonly rt: GpuRuntime,
    packs: ParamPack[],
    opts: AdamWOptions = {},
  ) {
    const o = (this.options = resolveAdamWOptions(opts));
    if (packs.length === 0) throw new Error('AdamW: no parameter packs');
    const alignF = rt.align / 4;
    let totalPartials = 0;
    const plans = packs.map((pack) => {
      if (!pack.trainable || !pack.flatValues || !pack.flatGrads || !pack.decayMask) {
        throw new Error(`AdamW: pack ${pack.name} is ${pack.trainable ? 'not finalized' : 'frozen (no gradients)'}`);
      }
      if (pack.length % 4 !== 0) throw new Error(`AdamW: pack ${pack.name} length ${pack.length} is not a multiple of 4`);
      const len4 = pack.length / 4;
      const threads = stridedThreads(len4, NORM_PER_THREAD, NORM_MAX_THREADS);
      const base = totalPartials;
      totalPartials += threads;
      return { pack, len4, threads, base };
    });
    // stats: [0] gradNorm | [alignF] nonFinite | region A: pairs of all packs | region B: fold output
    const nfIndex = alignF;
    const regionA = 2 * alignF;
    const folds = foldPasses(totalPartials, FINAL_MAX);
    const regionB = regionA + 2 * totalPartials;
    const statsLen = regionB + (folds.length ? 2 * folds[0]!.threads : 0);
    this.stats = rt.tensor([statsLen], 'adamw.stats');
    this.gradNorm = new Tensor(this.stats.buffer, this.stats.offset, [1], 'adamw.grad_norm');
    this.nonFinite = new Tensor(this.stats.buffer, this.stats.offset + nfIndex * 4, [1], 'adamw.non_finite');
    const common = optionFields(o, nfIndex);
    this.states = plans.map(({ pack, len4, threads, base }) => {
      const g = grid(Math.ceil(len4 / 256));
      const gn = grid(Math.ceil(threads / 64));
      return {
        pack,
        len4,
        threads,
        normParams: rt.uniform(ADAM_PARAMS.pack({ ...common, len4, threads, base, row_stride: gn.x, in_off: regionA }), `adamw.${pack.name}.norm`),
        params: rt.uniform(ADAM_PARAMS.pack({ ...common, len4, row_stride: g.x }), `adamw.${pack.name}.params`),
        mv: rt.tensor([2 * pack.length], `adamw.${pack.name}.mv`),
      };
    });
    let inOff = regionA;
    for (const [k, f] of folds.entries()) {
      const outOff = inOff === regionA ? regionB : regionA;
      const gf = grid(Math.ceil(f.threads / 64));
      this.folds.push({
        threads: f.threads,
        params: rt.uniform(ADAM_PARAMS.pack({ ...common, threads: f.threads, row_stride: gf.x, in_off: inOff, out_off: outOff, count: f.n, span: f.span }), `adamw.fold${k}`),
      });
      inOff = outOff;
    }
    const finalCount = folds.length ? folds[folds.length - 1]!.threads : totalPartials;
    this.finalParams = rt.uniform(ADAM_PARAMS.pack({ ...common, in_off: inOff, count: finalCount }), 'adamw.final.params');
  }

  /** Records grad norm → final → updates. Bind groups are created here, once per call. */
  record(list: CommandList, stepParams: StepParams): void {
    const rt = this.rt;
    const pipe = (entry: string) => rt.pipeline(shader('adamw'), entry);
    for (const s of this.states) {
      const g = grid(Math.ceil(s.threads / 64));
      list.push(rt.dispatch(`adamw.norm(${s.pack.name})`, pipe('norm_partial'), [s.normParams, this.stats, s.pack.flatGrads!], [g.x, g.y]));
    }
    this.folds.forEach((f, k) => {
      const g = grid(Math.ceil(f.threads / 64));
      list.push(rt.dispatch(`adamw.norm_fold${k}`, pipe('norm_fold'), [f.params, this.stats], [g.x, g.y]));
    });
    list.push(rt.dispatch('adamw.norm_final', pipe('norm_final'), [this.finalParams, this.stats], [1]));
    for (const s of this.states) {
      const g = grid(Math.ceil(s.len4 / 256));
      list.push(
        rt.dispatch(
          `adamw.update(${s.pack.name})`,
          pipe('update'),
          [s.params, this.stats, s.pack.flatGrads!, s.pack.flatValues!, s.pack.decayMask!, s.mv, stepParams.buffer],
          [g.x, g.y],
        ),
      );
    }
  }

  /** The moments, one (m, v) pair per pack, each pack.length long (alignment padding included). */
  async readState(): Promise<{ m: Float32Array[]; v: Float32Array[] }> {
    const m: Float32Array[] = [];
    const v: Float32Array[] = [];
    for (const s of this.states) {
      const mv = await this.rt.read(s.mv);
      const n = s.pack.length;
      const mm = new Float32Array(n);
      const vv = new Float32Array(n);
      for (let i = 0; i < n; i += 4) {
        const b = 2 * i;
        for (let k = 0; k < 4; k++) {
          mm[i + k] = mv[b + k]!;
          vv[i + k] = mv[b + 4 + k]!;
        }
      }
      m.push(mm);
      v.push(vv);
    }
    return { m, v };
  }

  writeState(state: { m: Float32Array[]; v: Float32Array[] }): void {
    if (state.m.length !== this.states.length || state.v.length !== this.states.length) {
      throw new Error(`AdamW state: expected ${this.states.length} packs, got m: ${state.m.length}, v: ${state.v.length}`);
    }
    this.states.forEach((s, p) => {
      const n = s.pack.length;
      const mm = state.m[p]!;
      const vv = state.v[p]!;
      if (mm.length !== n || vv.length !== n) {
        throw new Error(`AdamW state for pack ${s.pack.name}: expected ${n} values, got m: ${mm.length}, v: ${vv.length}`);
      }
      const mv = new Float32Array(2 * n);
      for (let i = 0; i < n; i += 4) {
        const b = 2 * i;
        for (let k = 0; k < 4; k++) {
          mv[b + k] = mm[i + k]!;
          mv[b + 4 + k] = vv[i + k]!;
        }
      }
      this.rt.write(s.mv, mv);
    });
  }

  /** Zeroes the moments (a fresh optimizer on the same parameters). */
  reset(): void {
    for (const s of this.states) this.rt.write(s.mv, new Float32Array(s.mv.size));
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const s of this.states) {
      this.rt.release(s.mv);
      s.params.destroy();
      s.normParams.destroy();
    }
    for (const f of this.folds) f.params.destroy();
    this.finalParams.destroy();
    this.rt.release(this.stats);
  }
}

const ADAM_PARAMS = defineParams(
  { shaders: ['adamw'], struct: 'AdamParams' },
  {
    len4: opt('u32'), threads: opt('u32'), base: opt('u32'), row_stride: opt('u32'),
    beta1: 'f32', beta2: 'f32', one_minus_beta1: 'f32', one_minus_beta2: 'f32', ln_beta1: 'f32', ln_beta2: 'f32', eps: 'f32', weight_decay: 'f32', clip_norm: 'f32',
    nf_index: 'u32', in_off: opt('u32'), out_off: opt('u32'), count: opt('u32'), span: opt('u32'), _p0: 'u32', _p1: 'u32',
  },
);

/** The options' part of AdamParams (the same in every pass); 1 − β and ln β in float64 here. */
function optionFields(o: ResolvedAdamWOptions, nfIndex: number) {
  return {
    beta1: o.beta1, beta2: o.beta2, one_minus_beta1: 1 - o.beta1, one_minus_beta2: 1 - o.beta2, ln_beta1: Math.log(o.beta1), ln_beta2: Math.log(o.beta2),
    eps: o.eps, weight_decay: o.weightDecay, clip_norm: o.clipNorm, nf_index: nfIndex,
  };
}

// ---------- CPU reference (float64) ----------

const F32_MAX = 3.4028234663852886e38;

export interface AdamWCpuPack {
  p: ArrayLike<number>;
  g: ArrayLike<number>;
  m: ArrayLike<number>;
  v: ArrayLike<number>;
  /** 1 where weight decay applies; absent = decay nowhere. */
  decayMask?: ArrayLike<number>;
}

/**
 * One AdamW step over all packs, exactly as the GPU does it, in float64. `step` is the 0-based
 * StepParams.step (bias correction uses t = step + 1). When any gradient or the norm is not
 * finite, everything is returned unchanged with nonFinite = 1.
 */
export function adamwCpu(
  packs: AdamWCpuPack[],
  opts: AdamWOptions,
  h: { lr: number; lrScale?: number; step: number },
): { packs: { p: Float64Array; m: Float64Array; v: Float64Array }[]; gradNorm: number; nonFinite: number; clipScale: number } {
  const o = resolveAdamWOptions(opts);
  let sumsq = 0;
  let bad = false;
  for (const pk of packs) {
    for (let i = 0; i < pk.g.length; i++) {
      const g = pk.g[i]!;
      if (!Number.isFinite(g)) bad = true;
      sumsq += g * g;
    }
  }
  const gradNorm = Math.sqrt(sumsq);
  // The GPU accumulates Σg² in f32: past its largest finite value the norm is Inf there.
  if (!(sumsq <= F32_MAX)) bad = true;
  const copy = (a: ArrayLike<number>) => Float64Array.from(a as ArrayLike<number>);
  if (bad) return { packs: packs.map((pk) => ({ p: copy(pk.p), m: copy(pk.m), v: copy(pk.v) })), gradNorm, nonFinite: 1, clipScale: 1 };
  const clipScale = o.clipNorm > 0 ? Math.min(1, o.clipNorm / (gradNorm + 1e-6)) : 1;
  const lr = h.lr * (h.lrScale ?? 1);
  const t = h.step + 1;
  const bc1 = 1 - Math.pow(o.beta1, t);
  const bc2 = 1 - Math.pow(o.beta2, t);
  const out = packs.map((pk) => {
    const n = pk.p.length;
    const p = new Float64Array(n);
    const m = new Float64Array(n);
    const v = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const g = pk.g[i]! * clipScale;
      m[i] = o.beta1 * pk.m[i]! + (1 - o.beta1) * g;
      v[i] = o.beta2 * pk.v[i]! + (1 - o.beta2) * g * g;
      let w = pk.p[i]!;
      w -= lr * o.weightDecay * (pk.decayMask ? pk.decayMask[i]! : 0) * w;
      w -= (lr * (m[i]! / bc1)) / (Math.sqrt(v[i]! / bc2) + o.eps);
      p[i] = w;
    }
    return { p, m, v };
  });
  return { packs: out, gradNorm, nonFinite: 0, clipScale };
}
