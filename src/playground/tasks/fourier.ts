/**
 * The Fourier toy as a playground task (model, data and checkpoints: src/models/fourier.ts). The
 * shipped sparse base (pre-trained on the low band) is fine-tuned on the high band; its atoms D
 * are the model's own, so fine-tuning is the paper's choice of what moves — atoms, coefficients
 * or both (the task setting `train`). The model offers no adapter sites (no adapter is added).
 *
 * Inference overrides act at the read-out: at an unobserved sample the output is linear in the
 * final code, ŷ_t = Σ_m S_tm·d_m(t), so switching atom m off removes exactly its term
 * S_tm·d_m(t), and a k override keeps the k largest |S_tm| per sample (computed on the CPU from
 * the read-back code; the steps before the last are left as they are). Observed samples are the
 * observations. With every atom off only the observations remain — unlike the additive adapters,
 * the atoms here are the whole model, not a change to it.
 */
import type { IdentifiabilityReport } from '../../analysis/identifiability';
import type { LatentStatsSnapshot } from '../../analysis/latent-stats';
import { choice } from '../../settings/fields';
import { ConfigError } from '../../engine/errors';
import { parseSafetensors } from '../../io/safetensors';
import type { GpuRuntime } from '../../engine/runtime';
import type { EncodeRequest, EncodeResult, InferenceOverrides, SignalExample, LatentGroupInfo, LatentInspection, OwnInput, OwnInputResult, TaskDescription, TaskView } from '../types';
import { makeFourierSet, mseOf, signalVariance, type FourierSet } from '../../data/fourier-signals';
import { sparseEncode } from '../../kernels/ista';
import {
  atomProfiles,
  buildFourierModel,
  FOURIER_FULL,
  loadFourierCheckpoint,
  readParams,
  runFourier,
  type FourierConfig,
  type FourierModel,
  type FourierTrain,
} from '../../models/fourier';
import { checkOverrides, parameterCount, snapshotFromCodes, topIndices } from './helpers';
import type { GroupStatsSource, TaskAssets, TaskBuildConfig, TaskBuildOptions, TaskInstance, TaskModule, UnitActivationSet, ViewOutputs } from './task';

const BASE_PATH = 'checkpoints/fourier-sparse.safetensors';
const MAX_BATCH = 64;
const VIEW_SIGNALS = 4;

export interface FourierTaskSettings {
  /** What fine-tuning to the high band moves: the atoms D, the coefficients (W_q, W_k, W_s), or both. */
  train: 'atoms' | 'coefficients' | 'both';
}

const FOURIER_DESCRIPTION: TaskDescription = {
  name: 'Fourier toy',
  title: 'Fourier toy: atoms learn the new frequencies',
  what: 'Signals of 64 samples made of 5 Fourier bases; 16 samples are observed and the model reconstructs the rest. The base was pre-trained on the low band (frequencies 0–24); fine-tuning moves it to the high band (25–32). The model\'s own atoms are what fine-tuning changes here.',
  claim:
    'The atoms paper (§3.3, Fig. 2) pre-trains a small attention model to reconstruct length-64 signals, each a sum of 5 Fourier bases, from 16 observed samples — low frequencies only. ' +
    'Fine-tuning it on high frequencies works by changing the atoms D (the output directions), not the attention coefficients: updating the atoms alone recovers the high band, updating only the coefficients cannot.',
  lookFor: [
    'Train with "fine-tune: atoms" and then with "coefficients": the validation loss of atoms-only drops far below coefficients-only.',
    'In the reconstruction view the base misses the fast oscillations; the adapted curve follows them through the unobserved samples.',
    'Click an atom: its time profile d_m(t) turns into a high-frequency wave after fine-tuning.',
    'Switch atoms off or lower k: the few atoms carrying the new band take the reconstruction with them.',
  ],
  measured: [
    'Shipped bases (seed 1, 500 steps): low-band NMSE dense 0.114, sparse 0.192 (linear floor 0.310, copying the observations 0.751).',
    "Atoms used for 95 % of the reconstruction: dense 61 of 64 (49 per signal), sparse 12 of 64 (10 per signal), every used sparse atom ≥ 94 % in the band's 5 frequencies (REPRODUCTION.md).",
  ],
};

/** The model config the shipped checkpoint was trained with, at the playground's batch and seed. */
function configFromCheckpoint(metadata: Record<string, string>, config: TaskBuildConfig<FourierTaskSettings>, small: boolean): FourierConfig {
  let stored: Partial<FourierConfig> = {};
  try {
    stored = JSON.parse(metadata.config ?? '{}') as Partial<FourierConfig>;
  } catch {
    throw new Error(`${BASE_PATH}: metadata 'config' is not JSON; regenerate it with npm run cli -- repro fourier --write-checkpoints public/checkpoints`);
  }
  const cfg: FourierConfig = { ...FOURIER_FULL, ...stored, batch: config.training.batch, seed: config.training.seed };
  const B = cfg.batch;
  // Held-out sets in whole batches; small (tests) keeps a couple of batches.
  cfg.trainSamples = small ? Math.max(8 * B, 64) : Math.max(cfg.trainSamples, B);
  cfg.valSamples = small ? 2 * B : Math.max(4, Math.ceil(128 / B)) * B;
  return cfg;
}

export const fourierTask: TaskModule<FourierTaskSettings> = {
  id: 'fourier',
  description: FOURIER_DESCRIPTION,
  settings: {
    fields: { train: choice('fine-tune', ['atoms', 'coefficients', 'both'], { optionLabels: { atoms: 'atoms D only', coefficients: 'coefficients only', both: 'atoms and coefficients' }, help: 'What fine-tuning to the high band moves (the paper: atoms only adapts, coefficients only fails).' }) },
    defaults: { train: 'atoms' },
  },
  // The block's atoms are the model's own (what fine-tuning moves): it offers no site for an added adapter.
  sites: [],
  defaultTargets: {},
  baseCheckpoint: BASE_PATH,
  runLabel: (s) => `train ${s.train}`,
  async build(rt: GpuRuntime, config: TaskBuildConfig<FourierTaskSettings>, assets: TaskAssets, opts: TaskBuildOptions = {}): Promise<TaskInstance> {
    const train: FourierTrain = config.settings.train;
    if (config.training.batch > MAX_BATCH) throw new ConfigError('training.batch', `the Fourier task runs at most ${MAX_BATCH} signals per step, got ${config.training.batch}`);
    opts.onProgress?.('loading the Fourier base', 0, 1);
    const bytes = await assets.bytes(BASE_PATH);
    opts.signal?.throwIfAborted();
    const metadata = parseSafetensors(bytes).metadata;
    const cfg = configFromCheckpoint(metadata, config, opts.small ?? false);
    const trainSet = makeFourierSet(cfg, 'high', 'train', cfg.trainSamples);
    const valSet = makeFourierSet(cfg, 'high', 'val', cfg.valSamples);
    let adapted: FourierModel | null = null;
    let base: FourierModel | null = null;
    try {
      adapted = buildFourierModel(rt, cfg, { form: 'sparse', train });
      loadFourierCheckpoint(adapted, bytes);
      base = buildFourierModel(rt, cfg, { form: 'sparse', train: 'both' });
      loadFourierCheckpoint(base, bytes);
    } catch (e) {
      adapted?.destroy();
      base?.destroy();
      throw e;
    }
    // k's range: the most non-zero codes any unobserved sample on show uses in the base (a
    // sparse base: 10–15), so every slider step below its top (= no limit) can change the view.
    let kRange = cfg.atoms;
    try {
      const idx = Array.from({ length: Math.min(VIEW_SIGNALS, valSet.n) }, (_, i) => i);
      const { codes } = await runFourier(rt, base, valSet, idx);
      let most = 1;
      for (let r = 0; r < idx.length * cfg.seq; r++) {
        if (valSet.masks[idx[Math.floor(r / cfg.seq)]! * cfg.seq + (r % cfg.seq)]) continue;
        let nz = 0;
        for (let m = 0; m < cfg.atoms; m++) if (codes[r * cfg.atoms + m] !== 0) nz++;
        most = Math.max(most, nz);
      }
      kRange = Math.min(cfg.atoms, most);
    } catch (e) {
      adapted.destroy();
      base.destroy();
      throw e;
    }
    opts.onProgress?.('loading the Fourier base', 1, 1);
    return new FourierInstance(rt, cfg, adapted, base, trainSet, valSet, metadata, kRange);
  },
};

class FourierInstance implements TaskInstance {
  readonly graph;
  readonly adapters = [];
  readonly groups: LatentGroupInfo[];
  readonly parameters;
  readonly sites = ['fourier'];
  readonly classes = null;
  readonly base;
  /**
   * The training window records the final code S of every step (active = non-zero) in the model's
   * compact layout [batch·(observed + 1), atoms]: one row per observed token and one for the
   * unobserved rest of each signal (which shares one code), so window rows are compact tokens.
   */
  readonly statsSources: GroupStatsSource[];
  readonly ownInputKind = 'observations' as const;
  private baseNmse: number | null = null;
  private copyNmse: number | null = null;
  private baseView: { prediction: Float32Array; codes: Float32Array } | null = null;
  /**
   * The adapted model's outputs and codes on the view signals and the validation set, and the
   * atom profiles, at the current parameters: overrides act at the read-out on the CPU, so a
   * mask or k change reuses them (the slider costs no GPU pass). Dropped at every training step.
   */
  private cache: { view: { prediction: Float32Array; codes: Float32Array }; val: { prediction: Float32Array; codes: Float32Array }; prof: Float64Array } | null = null;

  constructor(
    private readonly rt: GpuRuntime,
    private readonly cfg: FourierConfig,
    private readonly model: FourierModel,
    private readonly baseModel: FourierModel,
    trainSet: FourierSet,
    private readonly valSet: FourierSet,
    metadata: Record<string, string>,
    kRange: number,
  ) {
    const graph = model.graph(trainSet);
    const load = graph.loadBatch.bind(graph);
    graph.loadBatch = (step) => {
      this.cache = null;
      load(step);
    };
    this.graph = graph;
    this.groups = [{ group: 0, path: 'fourier', kind: 'fourier-atoms', label: 'atom', count: cfg.atoms, k: kRange, stats: true, identifiability: false }];
    // The model's code is compact: per signal its observed tokens plus one row for the pooled unobserved rest.
    this.statsSources = [{ group: 0, code: { kind: 'dense', values: model.codes, rows: cfg.batch * model.tc }, mode: 'abs', labels: null, classes: 0 }];
    this.parameters = { trainable: parameterCount(model.trainable.params), base: parameterCount(model.params) };
    this.base = { source: BASE_PATH, metadata };
  }

  /** Signals `idx` of the set through `model`, batch by batch: predictions [n, T] and per-sample codes [n·T, M]. */
  private forwardMany(model: FourierModel, set: FourierSet, idx: readonly number[]): Promise<{ prediction: Float32Array; codes: Float32Array }> {
    return runFourier(this.rt, model, set, idx);
  }

  /** Every signal of the set through `model`. */
  private forwardAll(model: FourierModel, set: FourierSet): Promise<{ prediction: Float32Array; codes: Float32Array }> {
    return this.forwardMany(model, set, Array.from({ length: set.n }, (_, i) => i));
  }

  private async profiles(): Promise<Float64Array> {
    const p = await readParams([this.model.dict, this.model.lift]);
    return atomProfiles(this.cfg, p.get('fourier.D')!, p.get('fourier.lift')!);
  }

  async validate(): Promise<{ loss: number; metrics: Record<string, number> }> {
    const { prediction, codes } = (await this.adaptedOutputs()).val;
    const mse = mseOf(prediction, this.valSet.signals);
    let nonzero = 0;
    for (const c of codes) if (c !== 0) nonzero++;
    return { loss: mse, metrics: { nmse: mse / signalVariance(this.valSet), active_atoms: nonzero / (this.valSet.n * this.cfg.seq) } };
  }

  /**
   * The output with the overrides applied at the read-out (see the file comment) for the
   * validation signals `idx` (codes [idx.length·T, M]): observed samples stay their observations.
   */
  private readout(codes: Float32Array, prof: Float64Array, idx: readonly number[], o: InferenceOverrides, set: FourierSet = this.valSet): Float32Array {
    const { atoms: M, seq: T } = this.cfg;
    const mask = o.masks?.[0] ?? null;
    const k = o.k?.[0] ?? null;
    const rows = idx.length * T;
    const out = new Float32Array(rows);
    const keep = new Uint8Array(M);
    for (let r = 0; r < rows; r++) {
      const t = r % T;
      const at = idx[Math.floor(r / T)]! * T + t;
      if (set.masks[at]) {
        out[r] = set.values[at]!;
        continue;
      }
      keep.fill(1);
      if (mask) for (let m = 0; m < M; m++) if (!mask[m]) keep[m] = 0;
      if (k !== null && k < M) {
        const mags = Array.from({ length: M }, (_, m) => (keep[m] ? Math.abs(codes[r * M + m]!) : -1));
        const top = new Set(topIndices(mags, k));
        for (let m = 0; m < M; m++) if (!top.has(m)) keep[m] = 0;
      }
      let y = 0;
      for (let m = 0; m < M; m++) if (keep[m]) y += codes[r * M + m]! * prof[m * T + t]!;
      out[r] = y;
    }
    return out;
  }

  invalidate(): void {
    this.cache = null;
  }

  private viewIndices(): number[] {
    return Array.from({ length: Math.min(VIEW_SIGNALS, this.valSet.n) }, (_, i) => i);
  }

  private async adaptedOutputs(): Promise<NonNullable<FourierInstance['cache']>> {
    this.cache ??= {
      view: await this.forwardMany(this.model, this.valSet, this.viewIndices()),
      val: await this.forwardAll(this.model, this.valSet),
      prof: await this.profiles(),
    };
    return this.cache;
  }

  async view(o: InferenceOverrides): Promise<TaskView> {
    checkOverrides(this.groups, o);
    const { seq: T, atoms: M } = this.cfg;
    const idx = this.viewIndices();
    const overridden = (o.masks?.[0] ?? null) !== null || (o.k?.[0] ?? null) !== null;
    this.baseView ??= await this.forwardMany(this.baseModel, this.valSet, idx);
    const base = this.baseView;
    const { view: ad, val: full, prof } = await this.adaptedOutputs();
    const rows = idx.length * T;
    const adaptedPred = overridden ? this.readout(ad.codes, prof, idx, o) : ad.prediction;
    const variance = signalVariance(this.valSet);
    const slice = (a: Float32Array, b: number) => a.subarray(b * T, (b + 1) * T);
    // The shipped base draws every signal of a band from the same frequencies: say so once, not under each signal.
    const freqKey = (s: number) => this.valSet.freqs[s]!.join(', ');
    const shared = idx.every((s) => freqKey(s) === freqKey(idx[0]!));
    const signals: SignalExample[] = idx.map((s, b) => {
      const observed: { t: number; v: number }[] = [];
      for (let t = 0; t < T; t++) if (this.valSet.masks[s * T + t]) observed.push({ t, v: this.valSet.values[s * T + t]! });
      const truth = this.valSet.signals.subarray(s * T, (s + 1) * T);
      return {
        title: shared ? `held-out signal ${s + 1}` : `held-out signal ${s + 1} (frequencies ${freqKey(s)})`,
        target: Array.from(truth),
        observed,
        base: Array.from(slice(base.prediction, b)),
        adapted: Array.from(slice(adaptedPred, b)),
        ...(overridden ? { allOn: Array.from(slice(ad.prediction, b)) } : {}),
        score: { base: mseOf(slice(base.prediction, b), truth) / variance, adapted: mseOf(slice(adaptedPred, b), truth) / variance },
      };
    });
    // Each atom's share of what the read-out writes on the shown signals: Σ_t |S_tm·d_m(t)| / Σ_m Σ_t |S_tm·d_m(t)|.
    const mass = new Float64Array(M);
    for (let r = 0; r < rows; r++) for (let m = 0; m < M; m++) mass[m] += Math.abs(ad.codes[r * M + m]! * prof[m * T + (r % T)]!);
    const total = mass.reduce((a, b) => a + b, 0);
    const items = Array.from({ length: M }, (_, m) => ({ group: 0, unit: m, value: total > 0 ? mass[m]! / total : 0, drawable: { kind: 'signal' as const, values: Array.from(prof.subarray(m * T, (m + 1) * T)) } }))
      .sort((a, b) => b.value - a.value);
    if (this.baseNmse === null) {
      const b = await this.forwardAll(this.baseModel, this.valSet);
      this.baseNmse = mseOf(b.prediction, this.valSet.signals) / variance;
    }
    // Copying the observations (zeros elsewhere): the simplest baseline.
    this.copyNmse ??= mseOf(this.valSet.values, this.valSet.signals) / variance;
    const pred = overridden ? this.readout(full.codes, prof, Array.from({ length: this.valSet.n }, (_, i) => i), o) : full.prediction;
    const fullNmse = mseOf(full.prediction, this.valSet.signals) / variance;
    return {
      kind: 'signals',
      xLabel: 'time step t',
      signals,
      note: `${this.valSet.band} band${shared ? `: frequencies ${freqKey(idx[0]!)} in every signal` : ''}; ${this.cfg.observed} of ${T} samples observed (points), the rest reconstructed`,
      score: {
        label: `NMSE on ${this.valSet.n} held-out ${this.valSet.band}-band signals`,
        format: 'number',
        better: 'lower',
        base: this.baseNmse,
        adapted: overridden ? mseOf(pred, this.valSet.signals) / variance : fullNmse,
        ...(overridden ? { allOn: fullNmse } : {}),
        baselines: [{ label: 'copy the observations', value: this.copyNmse }],
      },
      units: {
        title: 'Atoms by share of the output: time profiles d_m(t)',
        measure: "share: the atom's part of everything the read-out writes on the shown signals (Σ_t |S_tm·d_m(t)|, as a share of all atoms')",
        format: 'percent',
        items: items.slice(0, 8),
      },
    };
  }

  async inspect(group: number, unit: number, _o: InferenceOverrides): Promise<LatentInspection> {
    const { seq: T, atoms: M } = this.cfg;
    if (group !== 0) throw new ConfigError('group', `the Fourier task has one group (0), got ${group}`);
    if (!Number.isInteger(unit) || unit < 0 || unit >= M) throw new ConfigError('unit', `atom index must be in 0…${M - 1}, got ${unit}`);
    const { val: { codes }, prof } = await this.adaptedOutputs();
    const n = this.valSet.n;
    const perSignal = new Float64Array(n);
    let active = 0;
    let sum = 0;
    for (let s = 0; s < n; s++) {
      let sSum = 0;
      let sCount = 0;
      for (let t = 0; t < T; t++) {
        const a = Math.abs(codes[(s * T + t) * M + unit]!);
        if (a > 0) {
          sSum += a;
          sCount++;
        }
      }
      active += sCount;
      sum += sSum;
      perSignal[s] = sCount ? sSum / sCount : 0;
    }
    const top = topIndices(perSignal, 6).filter((s) => perSignal[s]! > 0);
    return {
      group,
      unit,
      label: 'atom',
      examples: top.map((s) => ({ activation: perSignal[s]!, label: null, drawable: { kind: 'signal' as const, values: Array.from(this.valSet.signals.subarray(s * T, (s + 1) * T)) } })),
      classBars: null,
      decoder: { kind: 'signal', values: Array.from(prof.subarray(unit * T, (unit + 1) * T)) },
      frequency: active / (n * T),
      meanActivation: active ? sum / active : 0,
    };
  }

  async latentStats(group: number, step: number): Promise<LatentStatsSnapshot | null> {
    if (group !== 0) return null;
    // Over the samples the atoms make: the unobserved samples of the signals on show (observed
    // samples are the observations), so an atom that fires here is one whose toggle changes the
    // view, and a sparse base shows its few atoms.
    const { atoms: M, seq: T } = this.cfg;
    const { codes } = (await this.adaptedOutputs()).view;
    const idx = this.viewIndices();
    const rows: number[] = [];
    idx.forEach((s, b) => {
      for (let t = 0; t < T; t++) if (!this.valSet.masks[s * T + t]) rows.push(b * T + t);
    });
    return snapshotFromCodes(M, rows.length, (r, emit) => {
      const row = rows[r]!;
      for (let m = 0; m < M; m++) emit(m, codes[row * M + m]!);
    }, { step, mode: 'abs' });
  }

  async identifiability(): Promise<IdentifiabilityReport | null> {
    return null;
  }

  // ---------- inspection: dashboard, own input, ISTA encoding (issue 15) ----------

  /** |S| of the final code per row with the overrides applied as the read-out applies them (mask; k largest |S|). */
  private overriddenActs(codes: Float32Array, rows: number, o: InferenceOverrides): Float32Array {
    checkOverrides(this.groups, o);
    const M = this.cfg.atoms;
    const mask = o.masks?.[0] ?? null;
    const k = o.k?.[0] ?? null;
    const out = new Float32Array(rows * M);
    for (let r = 0; r < rows; r++) {
      const mags = Array.from({ length: M }, (_, m) => (mask && !mask[m] ? -1 : Math.abs(codes[r * M + m]!)));
      const keep = k !== null && k < M ? new Set(topIndices(mags, k)) : null;
      for (let m = 0; m < M; m++) if (mags[m]! > 0 && (!keep || keep.has(m))) out[r * M + m] = mags[m]!;
    }
    return out;
  }

  /** The validation signals, per sample (rows are time steps). */
  async unitActivations(group: number, o: InferenceOverrides): Promise<UnitActivationSet> {
    if (group !== 0) throw new ConfigError('group', `the Fourier task has one group (0), got ${group}`);
    const { seq: T, atoms: M } = this.cfg;
    const { codes } = (await this.adaptedOutputs()).val;
    const n = this.valSet.n;
    return {
      set: 'validation signals (high band)',
      examples: n,
      positions: T,
      units: M,
      acts: this.overriddenActs(codes, n * T, o),
      labels: null,
      classes: null,
      layout: { kind: 'samples' },
      drawable: (e) => ({ kind: 'signal', values: Array.from(this.valSet.signals.subarray(e * T, (e + 1) * T)) }),
    };
  }

  /** NMSE over the validation set (as the view reports it); outputs: the view's reconstructions. */
  async viewOutputs(o: InferenceOverrides): Promise<ViewOutputs> {
    checkOverrides(this.groups, o);
    const T = this.cfg.seq;
    const { view, val, prof } = await this.adaptedOutputs();
    const idx = this.viewIndices();
    const pred = this.readout(val.codes, prof, Array.from({ length: this.valSet.n }, (_, i) => i), o);
    const shown = this.readout(view.codes, prof, idx, o);
    return {
      lossName: 'NMSE',
      loss: mseOf(pred, this.valSet.signals) / signalVariance(this.valSet),
      examples: idx.map((s, b) => ({ output: shown.slice(b * T, (b + 1) * T), render: { kind: 'signal' as const }, label: `signal ${s}` })),
    };
  }

  /** Atom m drawn: its time profile d_m(t). */
  async unitDecoder(group: number, unit: number): Promise<import('../types').Drawable> {
    const { seq: T, atoms: M } = this.cfg;
    if (group !== 0 || !Number.isInteger(unit) || unit < 0 || unit >= M) throw new ConfigError('unit', `atom index must be in 0…${M - 1}, got ${unit}`);
    const prof = (await this.adaptedOutputs()).prof;
    return { kind: 'signal', values: Array.from(prof.subarray(unit * T, (unit + 1) * T)) };
  }

  /**
   * Observations placed by the user → a one-signal set (unobserved samples 0), checked. The model
   * runs exactly `cfg.observed` observations per signal (its compact attention weighs the
   * unobserved rest by seq − observed), so `forModel` asks for that many distinct samples.
   */
  private observationSet(points: readonly { t: number; v: number }[], forModel: boolean): { set: FourierSet; ts: number[]; vs: number[] } {
    const T = this.cfg.seq;
    if (!Array.isArray(points) || points.length < 1 || points.length > T) throw new ConfigError('points', `place between 1 and ${T} observations, got ${Array.isArray(points) ? points.length : 'none'}`);
    const byT = new Map<number, number>();
    for (const p of points) {
      if (!Number.isInteger(p.t) || p.t < 0 || p.t >= T) throw new ConfigError('points.t', `sample positions are integers in 0…${T - 1}, got ${p.t}`);
      if (!Number.isFinite(p.v) || Math.abs(p.v) > 100) throw new ConfigError('points.v', `values are finite numbers within ±100, got ${p.v}`);
      byT.set(p.t, p.v); // the last point placed at a sample wins
    }
    const ts = [...byT.keys()].sort((a, b) => a - b);
    const vs = ts.map((t) => byT.get(t)!);
    const O = this.cfg.observed;
    if (forModel && ts.length !== O) throw new ConfigError('points', `the model reconstructs from exactly ${O} observed samples (at distinct positions); ${ts.length} placed — ${ts.length < O ? 'place more' : 'remove some'}`);
    const signals = new Float32Array(T);
    const masks = new Float32Array(T);
    ts.forEach((t, i) => {
      signals[t] = vs[i]!;
      masks[t] = 1;
    });
    const set: FourierSet = { ...this.valSet, n: 1, observed: ts.length, signals, masks, values: signals.slice(), positions: Int32Array.from(ts), freqs: [[]] };
    return { set, ts, vs };
  }

  /** Observations placed with the mouse: base and adapted reconstructions and the atoms that fire (|S| > 0) per sample. */
  async ownInput(input: OwnInput, o: InferenceOverrides): Promise<OwnInputResult> {
    if (input.kind !== 'observations') throw new ConfigError('input.kind', `the Fourier task takes observations, got '${input.kind}'`);
    const { seq: T, atoms: M } = this.cfg;
    const { set } = this.observationSet(input.points, true);
    checkOverrides(this.groups, o);
    const base = await this.forwardMany(this.baseModel, set, [0]);
    const ad = await this.forwardMany(this.model, set, [0]);
    const prof = (await this.adaptedOutputs()).prof;
    const adapted = this.readout(ad.codes, prof, [0], o, set);
    const acts = this.overriddenActs(ad.codes, T, o);
    const units: OwnInputResult['firing'][number]['units'] = [];
    for (let m = 0; m < M; m++) {
      const positions = Array.from({ length: T }, (_, t) => acts[t * M + m]!);
      const max = Math.max(...positions);
      if (max > 0) units.push({ unit: m, activation: max, positions });
    }
    units.sort((a, b) => b.activation - a.activation || a.unit - b.unit);
    const describe = (y: ArrayLike<number>) => {
      let se = 0;
      let n = 0;
      for (let t = 0; t < T; t++) if (set.masks[t]) ((se += (y[t]! - set.signals[t]!) ** 2), n++);
      return `RMS error on the observed samples ${Math.sqrt(se / n).toPrecision(3)}`;
    };
    return {
      input: { kind: 'signal', values: Array.from(set.signals) },
      base: { kind: 'signal', values: Array.from(base.prediction.subarray(0, T)) },
      adapted: { kind: 'signal', values: Array.from(adapted) },
      summary: { base: describe(base.prediction), adapted: describe(adapted) },
      firing: [{ group: 0, units }],
      layout: { kind: 'samples' },
    };
  }

  /**
   * "Encode this signal with the atoms": one code s over the atoms' time profiles d_m(t) (the
   * current dictionary) fitted to the observed samples only, min_s ½Σ_{t observed}(x_t − Σ_m s_m·d_m(t))² + λ‖s‖₁,
   * by FISTA on the GPU (src/kernels/ista.ts); the reconstruction Σ_m s_m·d_m(t) covers every sample.
   */
  async encodeWithAtoms(req: EncodeRequest): Promise<EncodeResult> {
    const { seq: T, atoms: M } = this.cfg;
    const { ts, vs } = this.observationSet(req.points, false);
    const lambda = req.lambda;
    if (typeof lambda !== 'number' || !Number.isFinite(lambda) || lambda < 0) throw new ConfigError('lambda', `λ must be a finite number ≥ 0, got ${String(lambda)}`);
    const iterations = req.iterations ?? 300;
    if (!Number.isInteger(iterations) || iterations < 1 || iterations > 5000) throw new ConfigError('iterations', `must be an integer in 1…5000, got ${iterations}`);
    const prof = (await this.adaptedOutputs()).prof;
    const nObs = ts.length;
    const dict = new Float32Array(M * nObs);
    for (let m = 0; m < M; m++) ts.forEach((t, j) => (dict[m * nObs + j] = prof[m * T + t]!));
    const dictionary = this.rt.tensor([M, nObs], 'encode.dictionary', dict);
    const x = this.rt.tensor([1, nObs], 'encode.x', Float32Array.from(vs));
    try {
      const r = await sparseEncode(this.rt, { dictionary, x, atoms: M, dim: nObs, signals: 1, lambda, iterations, withObjective: true });
      const code = Array.from(r.codes);
      const reconstruction = Array.from({ length: T }, (_, t) => code.reduce((acc, c, m) => acc + c * prof[m * T + t]!, 0));
      let se = 0;
      ts.forEach((t, j) => (se += (reconstruction[t]! - vs[j]!) ** 2));
      return { code, reconstruction, active: code.filter((c) => c !== 0).length, objective: Array.from(r.objective ?? []), rmsObserved: Math.sqrt(se / nObs), lambda, iterations };
    } finally {
      this.rt.release(dictionary);
      this.rt.release(x);
    }
  }

  destroy(): void {
    this.model.destroy();
    this.baseModel.destroy();
  }
}
