/**
 * STAN (sparse top-k adaptation, "The Chosen Few", §3) on a Linear:
 *     h = W0·x + b + (1/k)·D·topk(E·x),   E ∈ R^{l×n}, D ∈ R^{m×l}, l = round(expansion·n).
 * Parameters (PEFT-style names): `${path}.stan_E.weight` [l, n], `${path}.stan_D.weight` [m, l].
 *
 * Forward (3–4 dispatches): [Dt = Dᵀ when m % 4 == 0, for the vec4 kernels] → z = x·Eᵀ
 * (matmul, [rows, l]) → top-k per row (src/kernels/topk.ts) → y += (1/k')·D·code (sparse decode
 * reading only the k selected columns of D).
 * Backward (7–8 dispatches, src/kernels/stan-sparse.ts): gradients flow only through the
 * selected latents; dE and dD are gathered per latent in a fixed order (no float atomics).
 * The encoder is not fused with the top-k: E·x is a dense [rows, n]×[n, l] product either way,
 * and on SwiftShader the register-blocked matmul is the largest part of the step (stan-linear
 * bench, 2 busy cores: encoder ~190 ms of a ~470 ms step, top-k ~30–60 ms), while a fused kernel
 * would lose the matmul's register blocking to keep a per-row selection; the round trip through
 * z [rows, l] costs little.
 *
 * Top-k: on the signed pre-activations by default (SAELens / EleutherAI TopK-SAE style; with
 * fewer than k positive pre-activations, negative ones are selected too and keep their value),
 * or on |E·x| (`topk: 'abs'`, App. A's definition; selected values keep their sign). k = l is
 * the dense "n-latents" ablation: with topkVariant 'auto' it runs a dense path, no selection —
 * code = mask ⊙ E·x, y += (1/l)·code·Dᵀ, and the backward as four matmuls (dcode = (1/l)·dy·D ⊙
 * mask, dE = dcodeᵀ·x, dD = (1/l)·dyᵀ·code, dx += dcode·E); `code` then has indices 0…l−1 in
 * every row. It computes what the top-k path computes at k = l (tested against it: an explicit
 * topkVariant keeps the top-k kernels), and an inference-time k' < l is refused there (it would
 * need the selection the dense path skips).
 *
 * Initialisation:
 *  - E: rows are independent random unit vectors (Gaussian-ish entries from the seeded Rng,
 *    normalised per row), so every latent starts with the same scale, ⟨e_i, x⟩.
 *  - D = 0 (default `initD: 'zero'`): the adapted layer equals the base layer exactly at step 0.
 *    Consequence: at step 0 dE = 0 (dz = (1/k)·Dᵀdy = 0) while dD ≠ 0; after the first update D
 *    is non-zero and E receives gradient from step 1 on. With Adam this costs one step (Adam's
 *    first D update is ≈ lr per selected entry regardless of the gradient's scale).
 *    `initD: 'uniform'` (U(±1/√l)) trains E from step 0 but changes the output at step 0.
 *  - Weight decay (decoupled, when the optimizer uses it) applies to E and D by default, like
 *    LoRA's A and B; `weightDecay: false` exempts both.
 *
 * Inference-time controls (written with queue.writeBuffer; the recorded lists read them, so
 * outputs change on the next submit without re-recording):
 *  - setMask(mask): latent i with mask[i] == 0 contributes exactly 0: it is still selected (it
 *    keeps its slot), then its value is zeroed — it is never replaced by the next-best latent.
 *  - setK(k'): 1 ≤ k' ≤ k; slots ≥ k' get value 0 and the scale becomes 1/k'.
 * `code` exposes the last forward's sparse code (indices u32 and values, [rows, k]).
 *
 * AuxK (`auxK` > 0; EleutherAI sparsify's dead-latent revival, "Scaling and evaluating sparse
 * autoencoders" §A.2): a latent that has not fired for `auxDeadSteps` training steps is dead; each
 * step an auxiliary top-`auxK` over the dead latents' pre-activations is decoded as if it were
 * part of the code and trained with the main path's upstream gradient, scaled by `auxScale`
 * (sparsify's auxk_alpha = 1/32). The forward is unchanged (the auxiliary path writes nothing
 * into the output), so inference and ΔO do not see it. In an SAE the auxiliary reconstruction
 * fits the residual error e = x − x̂ (gradient ∝ −e); an adapter has no target for its output, so
 * the residual's analogue is the descent direction at the site, −∂L/∂h: the dead latents get the
 * gradient they would get if they had been selected — their decoder columns move toward what the
 * loss still wants and their encoder rows toward the inputs where that helps, which is what pulls
 * them back into the top-k. Bookkeeping on the GPU (src/kernels/stan-aux.ts): steps since each
 * latent last fired, the dead mask, the masked pre-activations; no readback.
 */
import { ConfigError } from '../engine/errors';
import type { ParamRef } from '../engine/param-pack';
import type { CommandList } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { recordMatmul } from '../kernels/matmul';
import { recordMaskColumns, recordSparseBackward, recordSparseDecode, recordTranspose } from '../kernels/stan-sparse';
import { recordAxpby } from '../kernels/elementwise';
import { AUX_SIGNED_FILLER, recordAuxFill, recordAuxMark, recordAuxReset } from '../kernels/stan-aux';
import { createTopKOverride, recordTopK, writeTopKOverride, type TopKMode, type TopKVariant } from '../kernels/topk';
import { choice, flag, int, num, type SettingsSpec } from '../settings/fields';
import type { Adapter, AdapterModule, AdapterSite, SparseCode } from './adapter';

export interface StanConfig {
  /** l = round(expansion × n), n = the Linear's input width. > 0. */
  expansion: number;
  /** Latents kept per row, 1 ≤ k ≤ l (k = l: no sparsification). */
  k: number;
  /** Top-k on signed pre-activations, or on their magnitude (values keep their sign). */
  topk: 'signed' | 'abs';
  /** D's initialisation: 'zero' (default; the adapted model equals the base at step 0) or 'uniform'. */
  initD?: 'zero' | 'uniform';
  /** Decoupled weight decay on E and D (default true). */
  weightDecay?: boolean;
  /** Top-k kernel variant (default 'auto': by adapter). */
  topkVariant?: TopKVariant;
  /** AuxK: dead latents trained per step through an auxiliary top-k (0 = off, the default). */
  auxK?: number;
  /** AuxK: scale of the auxiliary gradient (sparsify's auxk_alpha, default 1/32). */
  auxScale?: number;
  /** AuxK: training steps without firing after which a latent counts as dead (default 20). */
  auxDeadSteps?: number;
}

/** Upper bound on l (keeps the pre-activation buffer and the bucket counts bounded). */
export const STAN_MAX_LATENTS = 16384;

export function stanLatents(config: Pick<StanConfig, 'expansion'>, n: number): number {
  return Math.round(config.expansion * n);
}

/** The STAN adapter object: the Adapter interface plus its tensors for inspection. */
export interface StanAdapter extends Adapter {
  readonly E: ParamRef;
  readonly D: ParamRef;
  readonly l: number;
  readonly k: number;
  readonly mode: TopKMode;
  readonly code: SparseCode;
  /** Pre-activations E·x of the last forward, [rows, l]. */
  readonly preActivations: Tensor;
  /** The active mask [l] (1 on, 0 off) and the k override (u32 k'). */
  readonly mask: Tensor;
  readonly kOverride: Tensor;
  /** The k' in force. */
  readonly activeK: number;
  setK(k: number): void;
}

function validate(config: StanConfig, site: AdapterSite): void {
  if (site.kind !== 'linear') throw new ConfigError('site', `STAN attaches to linear sites, got '${site.kind}'`);
  const n = site.layer.opts.inDim;
  const e = config.expansion;
  if (typeof e !== 'number' || !Number.isFinite(e) || e <= 0) throw new ConfigError('expansion', `must be a finite number > 0, got ${String(e)}`);
  const l = stanLatents(config, n);
  if (l < 1) throw new ConfigError('expansion', `gives l = round(${e} × ${n}) = ${l} latents; needs expansion ≥ ${(0.5 / n).toPrecision(3)} for n = ${n}`);
  if (l > STAN_MAX_LATENTS) throw new ConfigError('expansion', `gives l = round(${e} × ${n}) = ${l} latents; at most ${STAN_MAX_LATENTS} are supported`);
  const k = config.k;
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > l) {
    throw new ConfigError('k', `must be an integer in [1, ${l}] (l = round(expansion × n) = round(${e} × ${n})), got ${String(k)}`);
  }
  if (config.topk !== 'signed' && config.topk !== 'abs') throw new ConfigError('topk', `must be 'signed' or 'abs', got '${String(config.topk)}'`);
  if (config.initD !== undefined && config.initD !== 'zero' && config.initD !== 'uniform') throw new ConfigError('initD', `must be 'zero' or 'uniform', got '${String(config.initD)}'`);
  if (config.weightDecay !== undefined && typeof config.weightDecay !== 'boolean') throw new ConfigError('weightDecay', `must be true or false, got ${String(config.weightDecay)}`);
  const v = config.topkVariant;
  if (v !== undefined && v !== 'auto' && v !== 'thread' && v !== 'workgroup') throw new ConfigError('topkVariant', `must be 'auto', 'thread' or 'workgroup', got '${String(v)}'`);
  if (v === 'workgroup' && k > 1024) throw new ConfigError('topkVariant', `'workgroup' supports k ≤ 1024, got k = ${k}; use 'auto' or 'thread'`);
  const auxK = config.auxK ?? 0;
  if (!Number.isInteger(auxK) || auxK < 0 || auxK > l) throw new ConfigError('auxK', `must be an integer in [0, ${l}] (0 = off; l = ${l}), got ${String(config.auxK)}`);
  if (auxK > 0 && k === l) throw new ConfigError('auxK', `k = l = ${l} selects every latent, so none is ever dead: AuxK needs k < l (set auxK to 0)`);
  if (v === 'workgroup' && auxK > 1024) throw new ConfigError('auxK', `'workgroup' top-k supports at most 1024, got auxK = ${auxK}`);
  const sc = config.auxScale ?? 1 / 32;
  if (typeof sc !== 'number' || !Number.isFinite(sc) || sc <= 0) throw new ConfigError('auxScale', `must be a finite number > 0, got ${String(config.auxScale)}`);
  const ds = config.auxDeadSteps ?? 20;
  if (!Number.isInteger(ds) || ds < 1) throw new ConfigError('auxDeadSteps', `must be an integer ≥ 1, got ${String(config.auxDeadSteps)}`);
}

const STAN_SETTINGS: SettingsSpec<StanConfig> = {
  fields: {
    expansion: num('expansion l/n', 0, 64, { exclusiveMin: true, help: 'l = round(expansion × n) latents for a Linear with n inputs.' }),
    k: int('k (active latents)', 1, STAN_MAX_LATENTS, { help: 'Latents kept per row; k = l keeps all (the dense "n-latents" ablation).' }),
    topk: choice('top-k by', ['signed', 'abs'], { help: 'signed: the k largest pre-activations (SAELens TopK); abs: the k largest |E·x| (App. A), keeping their sign.' }),
    initD: choice('D initialised', ['zero', 'uniform'], { advanced: true, help: 'zero: the adapted model equals the base at step 0.' }),
    weightDecay: flag('weight decay on E, D', { advanced: true }),
    topkVariant: choice('top-k kernel', ['auto', 'thread', 'workgroup'], { advanced: true, help: 'auto picks by GPU: one thread per row on CPU adapters, a workgroup per row on real GPUs.' }),
    auxK: int('AuxK: dead latents trained per row', 0, STAN_MAX_LATENTS, { advanced: true, help: 'sparsify-style dead-latent revival: the auxK largest pre-activations among dead latents get the gradient they would get if selected (0 = off).' }),
    auxScale: num('AuxK scale', 0, 1e3, { exclusiveMin: true, advanced: true, help: "Weight of the auxiliary gradient (sparsify's auxk_alpha = 1/32)." }),
    auxDeadSteps: int('AuxK: dead after steps', 1, 1e6, { advanced: true, help: 'A latent that has not fired for this many training steps counts as dead.' }),
  },
  defaults: { expansion: 2, k: 16, topk: 'signed', initD: 'zero', weightDecay: true, topkVariant: 'auto', auxK: 0, auxScale: 1 / 32, auxDeadSteps: 20 },
};

export const stanAdapter: AdapterModule<StanConfig> = {
  kind: 'stan',
  label: 'STAN',
  title: 'STAN (sparse top-k adapter)',
  formula: 'h = W₀·x + (1/k)·D·topk(E·x)',
  explanation: [
    'An encoder E maps the layer input to l = expansion × n latents; only the k largest survive (the others are exactly 0), and a decoder D writes their sum back onto the frozen output.',
    'Each latent is one direction the fine-tune added. Because only k fire per token, each one tends to mean one thing — open it in the latent view to see which examples it fires on.',
    "The scatter is the paper's App. F: dead latents never fire (left edge), dense ones fire on almost everything (right edge); good latents sit in between with low label entropy.",
  ],
  sites: ['linear'],
  unit: 'latent',
  settings: STAN_SETTINGS,
  export: { peftType: 'STAN', tensors: ['stan_E.weight', 'stan_D.weight'] },
  runLabel: (c) => `k=${c.k} ×${c.expansion}${c.topk === 'abs' ? ' |·|' : ''}`,
  validate,
  attach(ctx, site, config): StanAdapter {
    validate(config, site);
    if (site.kind !== 'linear') throw new ConfigError('site', 'STAN attaches to linear sites');
    const { rt } = ctx;
    const layer = site.layer;
    const n = layer.opts.inDim;
    const m = layer.opts.outDim;
    const rows = site.rows;
    const l = stanLatents(config, n);
    const k = config.k;
    const mode: TopKMode = config.topk;
    const decay = config.weightDecay ?? true;
    const path = site.path;

    // E: random unit-norm rows.
    const rng = ctx.rng.fork(`${path}.stan_E`);
    const e0 = new Float32Array(l * n);
    for (let i = 0; i < l; i++) {
      let ss = 0;
      const row = new Float64Array(n);
      for (let c = 0; c < n; c++) {
        row[c] = rng.normal();
        ss += row[c]! * row[c]!;
      }
      const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
      for (let c = 0; c < n; c++) e0[i * n + c] = row[c]! * inv;
    }
    const d0 = new Float32Array(m * l);
    if (config.initD === 'uniform') {
      const r2 = ctx.rng.fork(`${path}.stan_D`);
      const bound = 1 / Math.sqrt(l);
      for (let i = 0; i < d0.length; i++) d0[i] = r2.uniform(-bound, bound);
    }
    const E = ctx.trainable.add(`${path}.stan_E.weight`, [l, n], e0, { decay });
    const D = ctx.trainable.add(`${path}.stan_D.weight`, [m, l], d0, { decay });

    const owned: Tensor[] = [];
    const own = (t: Tensor) => (owned.push(t), t);
    const z = own(rt.tensor([rows, l], `${path}.stan.z`));
    const indices = own(rt.tensor([rows, k], `${path}.stan.indices`));
    const values = own(rt.tensor([rows, k], `${path}.stan.values`));
    const maskHost = new Float32Array(l).fill(1);
    const mask = own(rt.tensor([l], `${path}.stan.mask`, maskHost));
    const kOverride = own(createTopKOverride(rt, k, `${path}.stan.k`));
    // Dᵀ [l, m], refreshed at the start of every forward, for the vec4 decode/dz kernels.
    const Dt = m % 4 === 0 ? own(rt.tensor([l, m], `${path}.stan.Dt`)) : undefined;
    let activeK = k;
    const variant = config.topkVariant ?? 'auto';
    const dense = k === l && variant === 'auto';
    if (dense) {
      // The code's slots are the latents themselves: indices 0…l−1 in every row, written once.
      const idx = new Uint32Array(rows * l);
      for (let r = 0; r < rows; r++) for (let j = 0; j < l; j++) idx[r * l + j] = j;
      rt.write(indices, new Float32Array(idx.buffer));
    }
    const dcodeRaw = dense ? own(rt.tensor([rows, l], `${path}.stan.dcode.raw`)) : null;
    const dcode = dense ? own(rt.tensor([rows, l], `${path}.stan.dcode`)) : null;
    // AuxK state (src/kernels/stan-aux.ts): steps since each latent fired, the dead mask, the auxiliary code and gradients.
    const auxK = config.auxK ?? 0;
    const aux = auxK > 0
      ? {
          since: own(rt.tensor([l], `${path}.stan.aux.since`)),
          dead: own(rt.tensor([l], `${path}.stan.aux.dead`)),
          zaux: own(rt.tensor([rows, l], `${path}.stan.aux.z`)),
          indices: own(rt.tensor([rows, auxK], `${path}.stan.aux.indices`)),
          values: own(rt.tensor([rows, auxK], `${path}.stan.aux.values`)),
          kbuf: own(createTopKOverride(rt, auxK, `${path}.stan.aux.k`)),
          dE: own(rt.tensor([l, n], `${path}.stan.aux.dE`)),
          dD: own(rt.tensor([m, l], `${path}.stan.aux.dD`)),
          scale: config.auxScale ?? 1 / 32,
          threshold: config.auxDeadSteps ?? 20,
        }
      : null;
    /** The site output the forward adds onto (captured at record time, for recordDelta). */
    let siteOut: Tensor | null = null;
    let deltaScratch: Tensor | null = null;

    layer.adapter = dense ? {
      recordForward(list: CommandList, x: Tensor, y: Tensor): void {
        siteOut = y;
        recordMatmul(rt, list, { a: x, b: E.value, c: z, M: rows, N: l, K: n, transB: true, label: `${path}.stan.encode` });
        recordMaskColumns(rt, list, { x: z, mask, out: values, rows, l, label: `${path}.stan.code` });
        recordMatmul(rt, list, { a: values, b: D.value, c: y, M: rows, N: m, K: l, transB: true, alpha: 1 / l, accumulate: true, label: `${path}.stan.decode` });
      },
      recordBackward(list: CommandList, x: Tensor, dy: Tensor, dx: Tensor | null): void {
        recordMatmul(rt, list, { a: dy, b: D.value, c: dcodeRaw!, M: rows, N: l, K: m, alpha: 1 / l, label: `${path}.stan.dcode` });
        recordMaskColumns(rt, list, { x: dcodeRaw!, mask, out: dcode!, rows, l, label: `${path}.stan.dcode` });
        recordMatmul(rt, list, { a: dcode!, b: x, c: E.grad, M: l, N: n, K: rows, transA: true, label: `${path}.stan.dE` });
        recordMatmul(rt, list, { a: dy, b: values, c: D.grad, M: m, N: l, K: rows, transA: true, alpha: 1 / l, label: `${path}.stan.dD` });
        if (dx) recordMatmul(rt, list, { a: dcode!, b: E.value, c: dx, M: rows, N: n, K: l, accumulate: true, label: `${path}.stan.dx` });
      },
    } : {
      recordForward(list: CommandList, x: Tensor, y: Tensor): void {
        siteOut = y;
        if (Dt) recordTranspose(rt, list, { src: D.value, dst: Dt, rows: m, cols: l, label: `${path}.stan_D` });
        recordMatmul(rt, list, { a: x, b: E.value, c: z, M: rows, N: l, K: n, transB: true, label: `${path}.stan.encode` });
        recordTopK(rt, list, { x: z, rows, l, k, indices, values, mode, mask, kOverride, variant, label: `${path}.stan.topk` });
        recordSparseDecode(rt, list, { indices, values, rows, l, k, m, D: D.value, ...(Dt ? { Dt } : {}), y, kOverride, label: `${path}.stan.decode` });
      },
      recordBackward(list: CommandList, x: Tensor, dy: Tensor, dx: Tensor | null): void {
        recordSparseBackward(rt, list, {
          x,
          dy,
          E: E.value,
          D: D.value,
          ...(Dt ? { Dt } : {}),
          indices,
          values,
          rows,
          n,
          m,
          l,
          k,
          mask,
          kOverride,
          dx,
          dE: E.grad,
          dD: D.grad,
          label: `${path}.stan`,
        });
        if (aux) {
          recordAuxReset(rt, list, { indices, values, kOverride, since: aux.since, rows, k, l, label: `${path}.stan.aux` });
          recordAuxMark(rt, list, { since: aux.since, mask, dead: aux.dead, l, threshold: aux.threshold, label: `${path}.stan.aux` });
          recordAuxFill(rt, list, { z, dead: aux.dead, out: aux.zaux, rows, l, filler: mode === 'abs' ? 0 : AUX_SIGNED_FILLER, label: `${path}.stan.aux` });
          recordTopK(rt, list, { x: aux.zaux, rows, l, k: auxK, indices: aux.indices, values: aux.values, mode, mask: aux.dead, kOverride: aux.kbuf, variant, label: `${path}.stan.aux.topk` });
          recordSparseBackward(rt, list, {
            x,
            dy,
            E: E.value,
            D: D.value,
            ...(Dt ? { Dt } : {}),
            indices: aux.indices,
            values: aux.values,
            rows,
            n,
            m,
            l,
            k: auxK,
            mask: aux.dead,
            kOverride: aux.kbuf,
            dx: null,
            dE: aux.dE,
            dD: aux.dD,
            label: `${path}.stan.aux`,
          });
          recordAxpby(rt, list, aux.dE, E.grad, aux.scale, 1);
          recordAxpby(rt, list, aux.dD, D.grad, aux.scale, 1);
        }
      },
    };

    const adapter: StanAdapter = {
      kind: 'stan',
      path,
      params: [E, D],
      latentCount: l,
      latentLabel: 'latent',
      E,
      D,
      l,
      k,
      mode,
      code: { indices, values, rows, k },
      preActivations: z,
      mask,
      kOverride,
      get activeK() {
        return activeK;
      },
      trainableParameterCount: () => l * n + m * l,
      async unitDirection(unit: number): Promise<Float32Array> {
        if (!Number.isInteger(unit) || unit < 0 || unit >= l) throw new ConfigError('unit', `must be in 0…${l - 1}, got ${unit}`);
        const d = await rt.read(D.value);
        return Float32Array.from({ length: m }, (_, r) => d[r * l + unit]!);
      },
      async unitNorms(): Promise<Float32Array> {
        const d = await rt.read(D.value);
        const out = new Float32Array(l);
        for (let i = 0; i < l; i++) {
          let ss = 0;
          for (let r = 0; r < m; r++) ss += d[r * l + i]! * d[r * l + i]!;
          out[i] = Math.sqrt(ss) / activeK;
        }
        return out;
      },
      recordDelta(list: CommandList): { delta: Tensor; out: Tensor; width: number } {
        if (!siteOut) throw new Error(`${path}: recordDelta needs the forward recorded first`);
        deltaScratch ??= own(rt.tensor([rows, m], `${path}.stan.delta`));
        const dst = deltaScratch;
        if (dense) {
          recordMatmul(rt, list, { a: values, b: D.value, c: dst, M: rows, N: m, K: l, transB: true, alpha: 1 / l, label: `${path}.stan.delta` });
          return { delta: dst, out: siteOut, width: m };
        }
        list.push({ kind: 'clear', label: `${path}.stan.delta.clear`, buffer: dst.buffer, offset: dst.offset, size: dst.byteLength });
        recordSparseDecode(rt, list, { indices, values, rows, l, k, m, D: D.value, ...(Dt ? { Dt } : {}), y: dst, kOverride, label: `${path}.stan.delta` });
        return { delta: dst, out: siteOut, width: m };
      },
      setMask(next: Float32Array | null): void {
        if (next === null) maskHost.fill(1);
        else {
          if (next.length !== l) throw new ConfigError('mask', `must have one entry per latent (${l}), got ${next.length}`);
          for (let i = 0; i < l; i++) maskHost[i] = next[i] === 0 ? 0 : 1;
        }
        rt.write(mask, maskHost);
      },
      setK(kNext: number): void {
        if (!Number.isInteger(kNext) || kNext < 1 || kNext > k) throw new ConfigError('k', `override must be an integer in [1, ${k}] (the configured k), got ${kNext}`);
        if (dense && kNext !== l) throw new ConfigError('k', `k = l = ${l} (n-latents) runs the dense path without selection, so an override k' = ${kNext} < l is not available; build with topkVariant 'thread' or 'workgroup' to keep the top-k kernels`);
        activeK = kNext;
        writeTopKOverride(rt, kOverride, kNext);
      },
      destroy(): void {
        if (layer.adapter && owned.length) layer.adapter = null;
        for (const t of owned.splice(0)) rt.release(t);
      },
    };
    return adapter;
  },
};
