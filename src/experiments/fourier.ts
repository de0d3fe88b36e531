/**
 * The atoms paper's Fourier toy (§3.3, Fig. 2, Fig. 9, App. C.1), `npm run repro -- fourier [--quick]`:
 *  (i)  dense and sparse bases pre-trained on the low band: reconstruction error beside copy, the
 *       linear floor, FISTA and the K-step Landweber oracle; atoms used (95 % of usage, over the
 *       set and per signal); each used sparse atom's share of energy in the band's frequencies;
 *  (ii) the sparse base fine-tuned to the high band for finetuneSteps in three modes — atoms
 *       only, coefficients only, both — for the tied form (default) and the untied form;
 * over several seeds (model, lift, initialisation and batch order; the data is fixed by the data
 * seed), with 95 % t-intervals, a `checks` list in results.json, results.md and figures.
 * Hyperparameters (λ, initial step, learning rates, steps) were chosen on validation sets; every
 * number reported here is on held-out test signals (split 'test').
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { barPlot, linePlot, smallMultiples, type Series } from '../analysis/svg-plot';
import { acquireNodeGpu } from '../engine/node-gpu';
import { parseSafetensors } from '../io/safetensors';
import { GpuRuntime } from '../engine/runtime';
import { bandFrequencies, bandRange, makeFourierSet, nmseOf, signalVariance, type FourierBand, type FourierSet } from '../data/fourier-signals';
import {
  bandEnergyShares,
  buildFourierModel,
  evaluateFourier,
  FOURIER_FULL,
  FOURIER_QUICK,
  fourierCheckpointBytes,
  loadFourierCheckpoint,
  runFourier,
  trainFourier,
  type FourierConfig,
  type FourierEval,
  type FourierForm,
  type FourierModel,
  type FourierTie,
  type FourierTrain,
  type FourierTrainResult,
} from '../models/fourier';
import { copyBaselineMse, fistaReferenceNmse, fitLinearFloor, landweberOracleNmse } from './fourier-baselines';
import { numberOption, round, stringOption, type Experiment, type ExperimentIo, type ExperimentValues } from './experiment';
import { pairedDifference, tInterval, type Check, type Interval } from './stats';

// ---------- recipe ----------

/** Pre-trains a base of `form` (all parameters but the frozen lift) on `set` for cfg.pretrainSteps. */
export async function pretrainFourier(
  rt: GpuRuntime,
  cfg: FourierConfig,
  form: FourierForm,
  set: FourierSet,
  o: { onStep?: (done: number, lastLoss: number | null) => void } = {},
): Promise<FourierTrainResult & { model: FourierModel }> {
  const model = buildFourierModel(rt, cfg, { form, train: 'all' });
  try {
    const r = await trainFourier(rt, model, set, { steps: cfg.pretrainSteps, lr: cfg.pretrainLr, ...(o.onStep ? { onStep: o.onStep } : {}) });
    return { ...r, model };
  } catch (e) {
    model.destroy();
    throw e;
  }
}

/** Fine-tunes a copy of `baseBytes` (a base of `cfg.tie`) on `set` in `mode`. */
export async function finetuneFourier(
  rt: GpuRuntime,
  cfg: FourierConfig,
  baseBytes: Uint8Array,
  mode: Exclude<FourierTrain, 'all'>,
  set: FourierSet,
  o: { onStep?: (done: number, lastLoss: number | null) => void } = {},
): Promise<FourierTrainResult & { model: FourierModel; trainable: number }> {
  const model = buildFourierModel(rt, cfg, { form: 'sparse', train: mode });
  try {
    loadFourierCheckpoint(model, baseBytes);
    const r = await trainFourier(rt, model, set, { steps: cfg.finetuneSteps, lr: cfg.finetuneLr, ...(o.onStep ? { onStep: o.onStep } : {}) });
    return { ...r, model, trainable: model.trainable.params.reduce((s, p) => s + p.size, 0) };
  } catch (e) {
    model.destroy();
    throw e;
  }
}

// ---------- baselines ----------

export interface BandBaselines {
  frequencies: number[] | null;
  variance: number;
  copyNmse: number;
  linearFloorNmse: number;
  /** FISTA over the band's whole Fourier dictionary (knows the band, not the frequencies), best of λ ∈ {0.005, 0.02, 0.05}·max|Φ_O·x|. */
  fistaNmse: number;
  /** K-step Landweber with the projector onto the band's fixed frequencies (best step): the ceiling of the block with uniform attention. */
  landweberNmse: number | null;
  landweberStep: number | null;
}

export function bandBaselines(cfg: FourierConfig, band: FourierBand, test: FourierSet): BandBaselines {
  const floor = fitLinearFloor(makeFourierSet(cfg, band, 'floor', cfg.floorSamples));
  const variance = signalVariance(test);
  const freqs = bandFrequencies(cfg, band);
  const lw = freqs ? landweberOracleNmse(test, freqs, cfg.iterations) : null;
  return {
    frequencies: freqs,
    variance: round(variance),
    copyNmse: round(copyBaselineMse(test) / variance),
    linearFloorNmse: round(nmseOf(floor.predict(test), test)),
    fistaNmse: round(Math.min(...[0.005, 0.02, 0.05].map((l) => fistaReferenceNmse(test, bandRange(cfg, band), { lambdaRel: l })))),
    landweberNmse: lw ? round(lw.nmse) : null,
    landweberStep: lw ? lw.step : null,
  };
}

// ---------- one seed ----------

interface EvalSummary {
  nmse: number;
  usedAtoms: number;
  usedAtomsPerSignal: number;
  usedAtomsPerSignalMax: number;
  atomsAbove1pct: number;
  activePerToken: number;
}

const summary = (e: FourierEval): EvalSummary => ({
  nmse: round(e.nmse),
  usedAtoms: e.usedAtoms,
  usedAtomsPerSignal: round(e.usedAtomsPerSignal, 3),
  usedAtomsPerSignalMax: e.usedAtomsPerSignalMax,
  atomsAbove1pct: e.atomsAbove1pct,
  activePerToken: round(e.activePerToken, 3),
});

/** The atoms that make up 95 % of usage, most used first, with their share of usage and of energy in `freqs`. */
function usedAtomTable(e: FourierEval, cfg: FourierConfig, freqs: readonly number[] | null): { atom: number; usageShare: number; bandEnergy: number | null }[] {
  const total = e.usage.reduce((a, b) => a + b, 0);
  const band = freqs ? bandEnergyShares(e.profiles, cfg.atoms, cfg.seq, freqs) : null;
  return Array.from(e.usage, (u, m) => ({ u, m }))
    .sort((a, b) => b.u - a.u)
    .slice(0, e.usedAtoms)
    .map(({ u, m }) => ({ atom: m, usageShare: round(u / total, 3), bandEnergy: band ? round(band[m]!, 4) : null }));
}

interface BaseResult {
  form: FourierForm;
  tie: FourierTie;
  steps: number;
  seconds: number | null;
  loadedFrom: string | null;
  low: EvalSummary;
  highBefore: EvalSummary;
  usedAtoms: { atom: number; usageShare: number; bandEnergy: number | null }[];
  /** Smallest band-energy share among the used atoms. */
  minBandEnergy: number | null;
}

interface FinetuneResult {
  mode: Exclude<FourierTrain, 'all'>;
  tie: FourierTie;
  trainableParameters: number;
  steps: number;
  seconds: number;
  high: EvalSummary;
  /** Band-energy shares (high band's frequencies) of the atoms used after fine-tuning. */
  usedAtoms: { atom: number; usageShare: number; bandEnergy: number | null }[];
}

interface SeedRun {
  seed: number;
  bases: Record<string, BaseResult>;
  finetune: Record<string, FinetuneResult>;
  seconds: number;
}

/** What one seed leaves for the figures (seed 0 of the run only). */
interface FigureData {
  models: Record<string, FourierModel>;
  evals: Record<string, FourierEval>;
  losses: Record<string, FourierTrainResult>;
}

interface RunOptions {
  /** yes: the untied form beside the tied one; only: the untied form's base and fine-tuning only (the tied bases are still evaluated). */
  untied: 'yes' | 'no' | 'only';
  modes: Exclude<FourierTrain, 'all'>[];
  loadBases: string | null;
  writeCheckpoints: string | null;
  device: string;
}

async function runSeed(rt: GpuRuntime, cfg: FourierConfig, data: Record<'lowTrain' | 'lowTest' | 'highTrain' | 'highTest', FourierSet>, opts: RunOptions, io: ExperimentIo, keep: FigureData | null): Promise<SeedRun> {
  const t0 = performance.now();
  const lowF = bandFrequencies(cfg, 'low');
  const highF = bandFrequencies(cfg, 'high');
  const bases: Record<string, BaseResult> = {};
  const finetune: Record<string, FinetuneResult> = {};
  const variants: { key: string; form: FourierForm; tie: FourierTie }[] = [
    { key: 'dense', form: 'dense', tie: 'tied' },
    { key: 'sparse', form: 'sparse', tie: 'tied' },
    ...(opts.untied !== 'no' ? [{ key: 'sparse-untied', form: 'sparse' as const, tie: 'untied' as const }] : []),
  ];
  const baseBytes: Record<string, Uint8Array> = {};
  for (const v of variants) {
    const vcfg: FourierConfig = { ...cfg, tie: v.tie };
    let model: FourierModel;
    let train: FourierTrainResult | null = null;
    let loadedFrom: string | null = null;
    const file = `fourier-${v.key}.safetensors`;
    // --load-bases: a base whose file is in the folder is loaded, the others are pre-trained.
    if (opts.loadBases && existsSync(join(opts.loadBases, file))) {
      model = buildFourierModel(rt, vcfg, { form: v.form, train: 'all' });
      loadedFrom = join(opts.loadBases, file);
      loadFourierCheckpoint(model, new Uint8Array(readFileSync(loadedFrom)));
    } else {
      const bar = io.progress(cfg.pretrainSteps, `seed ${cfg.seed}: pre-train ${v.key}`);
      const r = await pretrainFourier(rt, vcfg, v.form, data.lowTrain, { onStep: (s, l) => bar.update(s, l === null ? '' : `loss ${l.toFixed(4)}`) });
      bar.done(`loss ${r.losses.at(-1)?.loss.toFixed(4)}`);
      model = r.model;
      train = r;
    }
    const low = await evaluateFourier(rt, model, data.lowTest);
    const highBefore = await evaluateFourier(rt, model, data.highTest);
    const used = usedAtomTable(low, vcfg, lowF);
    const bandVals = used.map((u) => u.bandEnergy).filter((b): b is number => b !== null);
    bases[v.key] = {
      form: v.form,
      tie: v.tie,
      steps: train?.steps ?? 0,
      seconds: train ? round(train.seconds, 4) : null,
      loadedFrom,
      low: summary(low),
      highBefore: summary(highBefore),
      usedAtoms: used,
      minBandEnergy: bandVals.length ? Math.min(...bandVals) : null,
    };
    io.log(`seed ${cfg.seed} ${v.key}: low-band NMSE ${low.nmse.toFixed(4)}, atoms used ${low.usedAtoms}/${cfg.atoms} (per signal ${low.usedAtomsPerSignal.toFixed(1)}, max ${low.usedAtomsPerSignalMax}), min band energy of used atoms ${bases[v.key]!.minBandEnergy ?? '–'}; high band before ${highBefore.nmse.toFixed(4)}`);
    baseBytes[v.key] = await fourierCheckpointBytes(model, {
      steps: String(train?.steps ?? 0),
      low_band_nmse: String(round(low.nmse)),
      used_atoms: String(low.usedAtoms),
      device: opts.device,
    });
    if (opts.writeCheckpoints && train) {
      mkdirSync(opts.writeCheckpoints, { recursive: true });
      writeFileSync(join(opts.writeCheckpoints, file), baseBytes[v.key]!);
      io.log(`wrote ${join(opts.writeCheckpoints, file)}`);
    }
    if (keep) {
      keep.models[v.key] = model;
      keep.evals[`${v.key}.low`] = low;
      keep.evals[`${v.key}.high`] = highBefore;
      if (train) keep.losses[v.key] = train;
    } else model.destroy();
  }

  const tuned = variants.filter((v) => v.form === 'sparse' && (opts.untied !== 'only' || v.tie === 'untied'));
  for (const v of tuned) {
    const vcfg: FourierConfig = { ...cfg, tie: v.tie };
    for (const mode of opts.modes) {
      const key = `${v.tie}.${mode}`;
      const bar = io.progress(cfg.finetuneSteps, `seed ${cfg.seed}: fine-tune ${v.tie} ${mode}`);
      const r = await finetuneFourier(rt, vcfg, baseBytes[v.key]!, mode, data.highTrain, { onStep: (s, l) => bar.update(s, l === null ? '' : `loss ${l.toFixed(4)}`) });
      bar.done(`loss ${r.losses.at(-1)?.loss.toFixed(4)}`);
      const high = await evaluateFourier(rt, r.model, data.highTest);
      finetune[key] = { mode, tie: v.tie, trainableParameters: r.trainable, steps: r.steps, seconds: round(r.seconds, 4), high: summary(high), usedAtoms: usedAtomTable(high, vcfg, highF) };
      io.log(`seed ${cfg.seed} fine-tune ${v.tie} ${mode}: high-band NMSE ${bases[v.key]!.highBefore.nmse} → ${high.nmse.toFixed(4)} (${r.trainable} trainable parameters)`);
      if (keep) {
        keep.models[`ft.${key}`] = r.model;
        keep.evals[`ft.${key}`] = high;
        keep.losses[`ft.${key}`] = r;
      } else r.model.destroy();
    }
  }
  return { seed: cfg.seed, bases, finetune, seconds: round((performance.now() - t0) / 1000, 4) };
}

// ---------- aggregation and checks ----------

interface Stat {
  values: number[];
  mean: number;
  ci95: [number, number] | null;
}

function stat(values: number[]): Stat {
  const iv: Interval = tInterval(values);
  return { values: values.map((v) => round(v)), mean: round(iv.mean), ci95: Number.isFinite(iv.halfWidth) ? [round(iv.lo), round(iv.hi)] : null };
}

/** pass: the interval lies on the goal's side of the bound; false: wholly on the other side; null: straddles (or one seed and the value is on the bound). */
function boundVerdict(s: Stat, bound: number, side: 'below' | 'above'): boolean | null {
  const [lo, hi] = s.ci95 ?? [s.mean, s.mean];
  if (side === 'below') return hi <= bound ? true : lo > bound ? false : null;
  return lo >= bound ? true : hi < bound ? false : null;
}

function checksOf(runs: SeedRun[], base: Record<'low' | 'high', BandBaselines>, cfg: FourierConfig, opts: Pick<RunOptions, 'modes'>): Check[] {
  const seeds = runs.map((r) => r.seed);
  const of = (f: (r: SeedRun) => number | null | undefined) => runs.map(f).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  const checks: Check[] = [];
  const bound = (id: string, claim: string, values: number[], b: number, side: 'below' | 'above', goal: string, note?: string) => {
    if (!values.length) return;
    const s = stat(values);
    checks.push({ id, claim, measured: s.mean, goal, pass: boundVerdict(s, b, side), ci95: s.ci95, seeds, ...(note ? { note } : {}) });
  };
  const floor = base.low.linearFloorNmse;
  const hasBase = (k: string) => runs.every((r) => r.bases[k]);
  for (const form of ['dense', 'sparse'] as const) {
    if (!hasBase(form)) continue;
    bound(`low-${form}-nmse`, `the ${form} base reconstructs the low band from 16 of 64 samples (better than the best linear interpolator)`, of((r) => r.bases[form]!.low.nmse), 0.12, 'below', `NMSE ≤ 0.12 (linear floor ${floor}, copy ${base.low.copyNmse}, ${cfg.iterations}-step Landweber oracle ${base.low.landweberNmse})`);
  }
  if (hasBase('dense')) bound('dense-atoms-used', 'dense attention needs many atoms (paper: 100)', of((r) => r.bases.dense!.low.usedAtoms), 50, 'above', `≥ 50 of ${cfg.atoms} atoms for 95 % of usage`);
  if (hasBase('sparse')) {
    bound('sparse-atoms-used', 'sparse coefficients need few atoms (paper: 9)', of((r) => r.bases.sparse!.low.usedAtoms), 18, 'below', `≤ 18 of ${cfg.atoms} atoms for 95 % of usage over the test set`);
    bound('sparse-atoms-per-signal', 'few atoms per signal', of((r) => r.bases.sparse!.low.usedAtomsPerSignal), 16, 'below', '≤ 16 atoms for 95 % of a signal\'s usage (mean over signals)');
    bound('sparse-atoms-fourier', 'the sparse atoms resemble the Fourier bases of the data', of((r) => r.bases.sparse!.minBandEnergy), 0.9, 'above', 'every used atom has ≥ 90 % of its energy in the band\'s 5 frequencies (smallest share among used atoms)');
  }
  if (hasBase('dense') && hasBase('sparse')) {
    const d = pairedDifference(of((r) => r.bases.sparse!.low.usedAtoms), of((r) => r.bases.dense!.low.usedAtoms));
    checks.push({ id: 'sparse-fewer-atoms', claim: 'the sparse form uses fewer atoms than the dense form', measured: round(d.mean), goal: 'paired difference (sparse − dense atoms used) < 0', pass: d.n < 2 ? (d.mean < 0 ? null : false) : d.hi < 0 ? true : d.lo > 0 ? false : null, ci95: Number.isFinite(d.halfWidth) ? [round(d.lo), round(d.hi)] : null, seeds });
  }
  const hb = base.high;
  const ft = (key: string) => runs.every((r) => r.finetune[key]);
  const goals: Record<string, [number, 'below' | 'above', string]> = {
    atoms: [0.15, 'below', 'high-band NMSE ≤ 0.15'],
    coefficients: [0.75, 'above', 'high-band NMSE ≥ 0.75 (no better than copying)'],
    both: [0.1, 'below', 'high-band NMSE ≤ 0.10'],
  };
  for (const mode of opts.modes) {
    const key = `tied.${mode}`;
    if (!ft(key)) continue;
    const [b, side, goal] = goals[mode]!;
    const claim = mode === 'atoms' ? 'tuning only the atoms adapts the base to the high band' : mode === 'coefficients' ? 'tuning only the coefficients fails to adapt' : 'tuning atoms and coefficients adapts';
    bound(`ft-tied-${mode}`, claim, of((r) => r.finetune[key]!.high.nmse), b, side, `${goal} after ${cfg.finetuneSteps} steps (copy ${hb.copyNmse}, linear floor ${hb.linearFloorNmse}, FISTA ${hb.fistaNmse})`);
  }
  if (ft('tied.atoms') && ft('tied.coefficients')) {
    const d = pairedDifference(of((r) => r.finetune['tied.atoms']!.high.nmse), of((r) => r.finetune['tied.coefficients']!.high.nmse));
    checks.push({ id: 'ft-atoms-beat-coefficients', claim: 'atoms are key to fine-tuning: atoms only beats coefficients only', measured: round(d.mean), goal: 'paired difference (atoms − coefficients high-band NMSE) < 0', pass: d.n < 2 ? (d.mean < 0 ? null : false) : d.hi < 0 ? true : d.lo > 0 ? false : null, ci95: Number.isFinite(d.halfWidth) ? [round(d.lo), round(d.hi)] : null, seeds });
  }
  for (const mode of opts.modes) {
    const key = `untied.${mode}`;
    const withKey = runs.filter((r) => r.finetune[key]);
    if (!withKey.length) continue;
    const s = stat(withKey.map((r) => r.finetune[key]!.high.nmse));
    checks.push({ id: `ft-untied-${mode}`, claim: `untied W_s (the other reading): ${mode} only`, measured: s.mean, goal: 'reported, no goal', pass: null, ci95: s.ci95, seeds: withKey.map((r) => r.seed), note: 'the untied form freezes W_s with the coefficients; see REPRODUCTION.md' });
  }
  return checks;
}

// ---------- figures ----------

function dft(y: ArrayLike<number>): number[] {
  const T = y.length;
  const out: number[] = [];
  for (let f = 0; f <= T / 2; f++) {
    let re = 0;
    let im = 0;
    for (let t = 0; t < T; t++) {
      re += y[t]! * Math.cos((2 * Math.PI * f * t) / T);
      im -= y[t]! * Math.sin((2 * Math.PI * f * t) / T);
    }
    out.push((re * re + im * im) * (f === 0 || 2 * f === T ? 1 : 2));
  }
  return out;
}

async function writeFigures(rt: GpuRuntime, out: string, cfg: FourierConfig, data: Record<string, FourierSet>, base: Record<'low' | 'high', BandBaselines>, fd: FigureData, modes: string[]): Promise<string[]> {
  const figs: string[] = [];
  const fig = (name: string, svg: string) => {
    writeFileSync(join(out, name), svg);
    figs.push(name);
  };
  const T = cfg.seq;
  const lowF = bandFrequencies(cfg, 'low') ?? [];
  const highF = bandFrequencies(cfg, 'high') ?? [];
  const lossSeries = (name: string, r: FourierTrainResult, color?: string): Series => ({ name, x: r.losses.map((l) => l.step + 1), y: r.losses.map((l) => l.loss), ...(color ? { color } : {}) });
  const pre = ['dense', 'sparse', 'sparse-untied'].filter((k) => fd.losses[k]);
  if (pre.length) {
    fig('pretrain-loss.svg', linePlot(pre.map((k) => lossSeries(k, fd.losses[k]!)), {
      title: 'Pre-training on the low band (training MSE)', xLabel: 'step', yLabel: 'MSE', logY: true,
      hlines: [
        { y: base.low.copyNmse * base.low.variance, label: 'copy', color: '#999' },
        { y: base.low.linearFloorNmse * base.low.variance, label: 'linear floor', color: '#444' },
      ],
    }));
  }
  const ftKeys = Object.keys(fd.losses).filter((k) => k.startsWith('ft.'));
  if (ftKeys.length) {
    fig('finetune-loss.svg', linePlot(ftKeys.map((k) => lossSeries(k.slice(3), fd.losses[k]!)), {
      title: 'Fine-tuning the sparse base on the high band (training MSE)', xLabel: 'step', yLabel: 'MSE', logY: true,
      hlines: [
        { y: base.high.copyNmse * base.high.variance, label: 'copy', color: '#999' },
        { y: base.high.linearFloorNmse * base.high.variance, label: 'linear floor', color: '#444' },
      ],
    }));
  }
  // Reconstructions of six test signals.
  const idx = [0, 1, 2, 3, 4, 5];
  const recon = async (set: FourierSet, models: { name: string; key: string; color: string }[], title: string, name: string) => {
    const preds = await Promise.all(models.filter((m) => fd.models[m.key]).map(async (m) => ({ ...m, y: (await runFourier(rt, fd.models[m.key]!, set, idx)).prediction })));
    fig(name, smallMultiples(idx.map((s, i) => {
      const obsT: number[] = [];
      const obsV: number[] = [];
      for (let t = 0; t < T; t++) if (set.masks[s * T + t]) { obsT.push(t); obsV.push(set.values[s * T + t]!); }
      return {
        title: `test signal ${s}`,
        series: [
          { name: 'truth', y: set.signals.subarray(s * T, (s + 1) * T), color: '#000', width: 1 },
          ...preds.map((p) => ({ name: p.name, y: p.y.subarray(i * T, (i + 1) * T), color: p.color })),
          { name: 'observed', x: obsT, y: obsV, mode: 'markers' as const, color: '#000' },
        ],
      };
    }), { title, columns: 3, panelWidth: 300, panelHeight: 150 }));
  };
  await recon(data.lowTest!, [{ name: 'dense base', key: 'dense', color: '#2ca02c' }, { name: 'sparse base', key: 'sparse', color: '#1f77b4' }], 'Low band (test): reconstructions from 16 observations', 'reconstructions-low.svg');
  await recon(data.highTest!, [
    { name: 'sparse base (not tuned)', key: 'sparse', color: '#7f7f7f' },
    ...modes.map((m, i) => ({ name: `${m} only`.replace('both only', 'atoms + coefficients'), key: `ft.tied.${m}`, color: ['#d62728', '#ff7f0e', '#9467bd'][i]! })),
  ], 'High band (test): the sparse base and its fine-tuned versions (tied form)', 'reconstructions-high.svg');
  // Atoms as signals and their spectra (most used first).
  const atomFigs = (key: string, e: FourierEval, freqs: number[], n: number, label: string, file: string) => {
    const total = e.usage.reduce((a, b) => a + b, 0);
    const order = Array.from(e.usage, (u, m) => ({ u, m })).sort((a, b) => b.u - a.u).slice(0, n);
    const shares = bandEnergyShares(e.profiles, cfg.atoms, T, freqs);
    fig(`${file}.svg`, smallMultiples(order.map(({ u, m }) => ({
      title: `atom ${m}: ${((100 * u) / total).toFixed(1)} % of use`,
      series: [{ name: 'd_m(t)', y: e.profiles.subarray(m * T, (m + 1) * T) }],
    })), { title: `${label}: time profiles of the ${n} most used atoms`, columns: 4, shareY: false, legend: false }));
    fig(`${file}-spectra.svg`, smallMultiples(order.map(({ m }) => ({
      title: `atom ${m}: ${(100 * shares[m]!).toFixed(1)} % in band`,
      series: [
        { name: 'energy per frequency', y: dft(e.profiles.subarray(m * T, (m + 1) * T)), mode: 'both' as const },
        { name: 'band frequencies', x: freqs, y: freqs.map(() => 0), mode: 'markers' as const, color: '#d62728' },
      ],
    })), { title: `${label}: spectra (|DFT|², frequency 0…${T / 2}; red marks: the band's frequencies)`, columns: 4, shareY: false }));
    void key;
  };
  if (fd.evals['sparse.low']) {
    const e = fd.evals['sparse.low']!;
    atomFigs('sparse', e, lowF, Math.min(e.usedAtoms, 16), 'Sparse base (low band)', 'atoms-sparse');
  }
  if (fd.evals['dense.low']) atomFigs('dense', fd.evals['dense.low']!, lowF, 16, 'Dense base (low band)', 'atoms-dense');
  // Usage, sorted.
  const sorted = (u: Float64Array) => {
    const tot = u.reduce((a, b) => a + b, 0);
    return Array.from(u).map((v) => v / tot).sort((a, b) => b - a);
  };
  const usageSeries = ['dense', 'sparse'].filter((k) => fd.evals[`${k}.low`]).map((k) => ({
    name: `${k} (${fd.evals[`${k}.low`]!.usedAtoms} atoms for 95 %)`, y: sorted(fd.evals[`${k}.low`]!.usage), x: Array.from({ length: cfg.atoms }, (_, i) => i + 1), mode: 'both' as const,
  }));
  if (usageSeries.length) fig('atom-usage.svg', linePlot(usageSeries, { title: 'Atom usage on the low band (test), sorted share of the total', xLabel: 'atom rank', yLabel: 'share of usage', logY: true }));
  if (fd.evals['sparse.low']) fig('atom-usage-sparse-bars.svg', barPlot(sorted(fd.evals['sparse.low']!.usage).slice(0, 24), { title: 'Sparse base: the 24 largest usage shares', xLabel: 'atom rank', yLabel: 'share' }));
  // Fig. 2c analogue: where the used atoms' energy sits before and after atoms-only fine-tuning.
  const before = fd.evals['sparse.low'];
  const after = fd.evals['ft.tied.atoms'];
  if (before && after) {
    const spectrumOfUsed = (e: FourierEval) => {
      const total = e.usage.reduce((a, b) => a + b, 0);
      const acc = new Array<number>(T / 2 + 1).fill(0);
      for (let m = 0; m < cfg.atoms; m++) {
        const w = e.usage[m]! / total;
        if (w <= 0) continue;
        dft(e.profiles.subarray(m * T, (m + 1) * T)).forEach((v, f) => (acc[f]! += w * v));
      }
      const s = acc.reduce((a, b) => a + b, 0);
      return acc.map((v) => v / s);
    };
    fig('atoms-finetuned.svg', linePlot([
      { name: 'sparse base, low band (usage-weighted)', y: spectrumOfUsed(before), mode: 'both', color: '#1f77b4' },
      { name: 'after atoms-only fine-tuning, high band', y: spectrumOfUsed(after), mode: 'both', color: '#d62728' },
    ], { title: `Fig. 2c analogue: the atoms' energy per frequency moves from the low band (${lowF.join(', ')}) to the high band (${highF.join(', ')})`, xLabel: 'frequency (cycles per 64 samples)', yLabel: 'share of atom energy' }));
    const order = Array.from(after.usage, (u, m) => ({ u, m })).sort((a, b) => b.u - a.u).slice(0, Math.min(12, after.usedAtoms));
    fig('atoms-finetuned-profiles.svg', smallMultiples(order.map(({ m }) => ({
      title: `atom ${m}`,
      series: [
        { name: 'pre-trained (low band)', y: before.profiles.subarray(m * T, (m + 1) * T), color: '#1f77b4' },
        { name: 'after atoms-only fine-tuning (high band)', y: after.profiles.subarray(m * T, (m + 1) * T), color: '#d62728' },
      ],
    })), { title: 'Atoms (time profiles) before and after atoms-only fine-tuning, most used after', columns: 4, shareY: false }));
  }
  return figs;
}

// ---------- the experiment ----------

function configFrom(values: ExperimentValues): FourierConfig {
  const quick = values.quick === true;
  const cfg: FourierConfig = { ...(quick ? FOURIER_QUICK : FOURIER_FULL) };
  const int = (k: string, min: number) => numberOption(values[k], k, { int: true, min });
  const num = (k: string, min: number, exclusiveMin = false) => numberOption(values[k], k, { min, exclusiveMin });
  cfg.pretrainSteps = int('pretrain-steps', 1) ?? cfg.pretrainSteps;
  cfg.finetuneSteps = int('finetune-steps', 1) ?? cfg.finetuneSteps;
  cfg.iterations = int('iterations', 1) ?? cfg.iterations;
  cfg.atoms = int('atoms', 1) ?? cfg.atoms;
  cfg.batch = int('batch', 1) ?? cfg.batch;
  cfg.lambda = num('lambda', 0) ?? cfg.lambda;
  cfg.pretrainLr = num('pretrain-lr', 0, true) ?? cfg.pretrainLr;
  cfg.finetuneLr = num('finetune-lr', 0, true) ?? cfg.finetuneLr;
  cfg.dataSeed = int('data-seed', 0) ?? cfg.dataSeed;
  return cfg;
}

function seedsFrom(values: ExperimentValues, quick: boolean): number[] {
  const raw = stringOption(values.seeds);
  if (raw === undefined) return quick ? [1] : [1, 2, 3];
  const seeds = raw.split(',').map((s) => s.trim());
  if (!seeds.length || seeds.some((s) => !/^\d+$/.test(s))) throw new Error(`--seeds must be a comma-separated list of non-negative integers, e.g. 1,2,3; got '${raw}'`);
  return seeds.map(Number);
}

interface ReportInput {
  quick: boolean;
  device: string;
  seconds: number;
  seeds: number[];
  cfg0: FourierConfig;
  modes: string[];
  untied: RunOptions['untied'];
  runs: SeedRun[];
  baselines: Record<'low' | 'high', BandBaselines>;
  figs: string[];
  opts: Pick<RunOptions, 'modes'>;
  /** Extra fields for results.json (a merged report says where its runs came from). */
  extra?: Record<string, unknown>;
}

/** results.json (checks, summary over seeds, every run) and results.md in `out`. */
function writeReport(io: ExperimentIo, out: string, r: ReportInput): void {
  const { quick, device, seconds, seeds, cfg0, modes, untied, runs, baselines, figs, opts } = r;
  const extra = r.extra ?? {};
  const checks = checksOf(runs, baselines, cfg0, opts);

  // Over the seeds that have the number (a merged report may hold the untied form for fewer seeds: see `values`).
  const agg = (f: (r: SeedRun) => number | undefined) => {
    const v = runs.map(f).filter((x): x is number => typeof x === 'number');
    return v.length ? stat(v) : null;
  };
  const keysOf = (f: (r: SeedRun) => Record<string, unknown>) => [...new Set(runs.flatMap((r) => Object.keys(f(r))))];
  const summaryTable = {
    bases: Object.fromEntries(keysOf((r) => r.bases).map((k) => [k, {
      lowNmse: agg((r) => r.bases[k]?.low.nmse),
      usedAtoms: agg((r) => r.bases[k]?.low.usedAtoms),
      usedAtomsPerSignal: agg((r) => r.bases[k]?.low.usedAtomsPerSignal),
      minBandEnergy: agg((r) => r.bases[k]?.minBandEnergy ?? undefined),
      highBefore: agg((r) => r.bases[k]?.highBefore.nmse),
    }])),
    finetune: Object.fromEntries(keysOf((r) => r.finetune).map((k) => [k, {
      highNmse: agg((r) => r.finetune[k]?.high.nmse),
      usedAtoms: agg((r) => r.finetune[k]?.high.usedAtoms),
      trainableParameters: runs.find((r) => r.finetune[k])!.finetune[k]!.trainableParameters,
      seeds: runs.filter((r) => r.finetune[k]).map((r) => r.seed),
    }])),
  };
  const results = {
    experiment: 'fourier',
    paper: 'Chen et al., Sparse Fine-Tuning of Transformers for Generative Tasks, §3.3 Fig. 2, App. C.1 Fig. 9',
    quick,
    device,
    seconds: round(seconds, 4),
    seeds,
    config: cfg0,
    modes,
    untied,
    ...extra,
    evaluatedOn: `test split: ${cfg0.valSamples} signals per band (hyperparameters were chosen on validation signals)`,
    usageDefinition: 'u_m = mean over test samples of |S^K_tm · d_m(t)| (atom m\'s mean absolute contribution to the reconstruction, d_m its unit-norm time profile); usedAtoms = fewest atoms covering 95 % of sum_m u_m; usedAtomsPerSignal = the same count per signal, averaged (and its max); band energy = share of an atom profile\'s |DFT|² at the band\'s frequencies',
    baselines,
    checks,
    summary: summaryTable,
    runs,
  };
  writeFileSync(join(out, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  const md = markdown(results, figs);
  writeFileSync(join(out, 'results.md'), md);
  io.print(md);
  io.log(`wrote ${join(out, 'results.json')}, results.md and ${figs.length} figures in ${seconds.toFixed(0)} s`);
}

/**
 * `--merge dir1,dir2,…`: one report from runs made separately (one seed per process, so a long
 * run resumes per seed, or the untied form added later with `--untied only --load-bases`). The
 * runs must share the data, the baselines and the config up to the seed; a run whose bases were
 * loaded from files is checked against the config recorded in those files. Runs of the same seed
 * are joined (a result present twice is an error). Figures are not redrawn: the report lists the
 * .svg files already in --out.
 */
function mergeReports(sources: string[], out: string, io: ExperimentIo): number {
  type Loaded = { path: string; r: { experiment: string; quick: boolean; device: string; seconds: number; seeds: number[]; config: FourierConfig; modes: string[]; baselines: Record<'low' | 'high', BandBaselines>; runs: SeedRun[] } };
  const loaded: Loaded[] = sources.map((src) => {
    const path = src.endsWith('.json') ? src : join(src, 'results.json');
    if (!existsSync(path)) throw new Error(`--merge: ${path} does not exist (give folders holding a fourier results.json, comma-separated)`);
    const r = JSON.parse(readFileSync(path, 'utf8')) as Loaded['r'];
    if (r.experiment !== 'fourier' || !Array.isArray(r.runs)) throw new Error(`--merge: ${path} is not a results.json of the fourier experiment`);
    return { path, r };
  });
  const differing = (a: FourierConfig, b: FourierConfig) => [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => k !== 'seed' && JSON.stringify((a as unknown as Record<string, unknown>)[k]) !== JSON.stringify((b as unknown as Record<string, unknown>)[k]));
  const allLoaded = (r: Loaded['r']) => r.runs.every((run) => Object.values(run.bases).every((b) => b.loadedFrom !== null));
  // The reference config: a source that pre-trained its bases (else the first).
  const ref = loaded.find((l) => !allLoaded(l.r)) ?? loaded[0]!;
  const cfg0 = ref.r.config;
  const provenance: Record<string, unknown>[] = [];
  for (const l of loaded) {
    if (l.r.quick !== ref.r.quick) throw new Error(`--merge: ${l.path} is a ${l.r.quick ? 'quick' : 'full'} run, ${ref.path} is not`);
    if (JSON.stringify(l.r.baselines) !== JSON.stringify(ref.r.baselines)) throw new Error(`--merge: ${l.path} has other baselines than ${ref.path} (different data or sizes)`);
    const diff = differing(l.r.config, cfg0);
    const bases: Record<string, unknown>[] = [];
    if (diff.length) {
      // Only the pre-training settings may differ, and only where the bases were loaded: check them against the files.
      const pre = new Set(['pretrainSteps', 'pretrainLr']);
      if (!allLoaded(l.r) || diff.some((k) => !pre.has(k))) throw new Error(`--merge: ${l.path}'s config differs from ${ref.path}'s in ${diff.join(', ')}`);
    }
    for (const run of l.r.runs) {
      for (const [k, b] of Object.entries(run.bases)) {
        if (!b.loadedFrom) continue;
        if (!existsSync(b.loadedFrom)) {
          // A base made by another run of this merge (its own source checks its config) and not kept in the repository.
          io.log(`--merge: ${l.path} loaded its ${k} base from ${b.loadedFrom}, which is not here: its config is not checked`);
          bases.push({ base: k, file: b.loadedFrom, checked: false });
          continue;
        }
        const meta = parseSafetensors(new Uint8Array(readFileSync(b.loadedFrom))).metadata;
        const fileCfg = JSON.parse(meta.config ?? '{}') as FourierConfig;
        // A loaded base may come from another pre-training recipe (steps, batch, lr): recorded and shown in the report; nothing else may differ.
        const d = differing(fileCfg, { ...cfg0, tie: b.tie });
        const recipe = new Set(['pretrainSteps', 'pretrainLr', 'batch']);
        if (d.some((x) => !recipe.has(x)) || fileCfg.seed !== run.seed) throw new Error(`--merge: the ${k} base ${b.loadedFrom} (seed ${fileCfg.seed}) was made with another config than ${ref.path}'s (${d.filter((x) => !recipe.has(x)).join(', ') || 'seed'})`);
        const madeWith = d.length ? { madeWith: { batch: fileCfg.batch, pretrainSteps: fileCfg.pretrainSteps, pretrainLr: fileCfg.pretrainLr } } : {};
        bases.push({ base: k, file: b.loadedFrom, checked: true, steps: Number(meta.steps), device: meta.device, seed: run.seed, ...madeWith });
      }
    }
    provenance.push({ path: l.path, seeds: l.r.seeds, seconds: l.r.seconds, device: l.r.device, ...(bases.length ? { loadedBases: bases } : {}) });
  }
  const bySeed = new Map<number, SeedRun>();
  for (const l of loaded) {
    for (const run of l.r.runs) {
      const have = bySeed.get(run.seed);
      if (!have) {
        bySeed.set(run.seed, { ...run, bases: { ...run.bases }, finetune: { ...run.finetune } });
        continue;
      }
      for (const [k, b] of Object.entries(run.bases)) {
        const prev = have.bases[k];
        // The same base evaluated twice (loaded in a later run) must give the same numbers.
        if (prev && (Math.abs(prev.low.nmse - b.low.nmse) > 1e-3 || prev.low.usedAtoms !== b.low.usedAtoms)) throw new Error(`--merge: seed ${run.seed}'s ${k} base differs between the sources (low-band NMSE ${prev.low.nmse} vs ${b.low.nmse}, atoms used ${prev.low.usedAtoms} vs ${b.low.usedAtoms})`);
        if (!prev || (prev.loadedFrom && !b.loadedFrom)) have.bases[k] = b;
      }
      for (const [k, f] of Object.entries(run.finetune)) {
        if (have.finetune[k]) throw new Error(`--merge: seed ${run.seed}'s fine-tuning ${k} is in two sources`);
        have.finetune[k] = f;
      }
      have.seconds = round(have.seconds + run.seconds, 4);
    }
  }
  const runs = [...bySeed.values()].sort((a, b) => a.seed - b.seed);
  const modes = [...new Set(loaded.flatMap((l) => l.r.modes))];
  const untied = runs.some((r) => r.bases['sparse-untied']) ? 'yes' : 'no';
  mkdirSync(out, { recursive: true });
  const figs = readdirSync(out).filter((f) => f.endsWith('.svg')).sort();
  writeReport(io, out, {
    quick: ref.r.quick,
    device: [...new Set(loaded.map((l) => l.r.device))].join('; '),
    seconds: loaded.reduce((a, l) => a + l.r.seconds, 0),
    seeds: runs.map((r) => r.seed),
    cfg0: { ...cfg0, seed: runs[0]!.seed },
    modes,
    untied,
    runs,
    baselines: ref.r.baselines,
    figs,
    opts: { modes: modes as RunOptions['modes'] },
    extra: { mergedFrom: provenance },
  });
  return 0;
}

async function run(values: ExperimentValues, io: ExperimentIo): Promise<number> {
  const mergeRaw = stringOption(values.merge);
  if (mergeRaw !== undefined) return mergeReports(mergeRaw.split(',').map((x) => x.trim()).filter(Boolean), stringOption(values.out) ?? join('repro-results', 'fourier'), io);
  const quick = values.quick === true;
  const cfg0 = configFrom(values);
  const seeds = seedsFrom(values, quick);
  const modesRaw = stringOption(values.modes) ?? 'atoms,coefficients,both';
  // none: the bases only (no fine-tuning).
  const modes = modesRaw.trim() === 'none' ? [] : modesRaw.split(',').map((m) => m.trim());
  for (const m of modes) if (m !== 'atoms' && m !== 'coefficients' && m !== 'both') throw new Error(`--modes takes atoms, coefficients, both (comma-separated) or none, got '${m}'`);
  const untiedRaw = stringOption(values.untied) ?? (quick ? 'no' : 'yes');
  if (untiedRaw !== 'yes' && untiedRaw !== 'no' && untiedRaw !== 'only') throw new Error(`--untied must be yes, no or only, got '${untiedRaw}'`);
  const loadBases = stringOption(values['load-bases']) ?? null;
  const writeCheckpoints = stringOption(values['write-checkpoints']) ?? null;
  if (writeCheckpoints && seeds.length !== 1) throw new Error('--write-checkpoints writes one base per form: give one seed (--seeds 1)');
  const out = stringOption(values.out) ?? join('repro-results', 'fourier');
  mkdirSync(out, { recursive: true });

  const ctx = await acquireNodeGpu();
  const rt = new GpuRuntime(ctx);
  const device = `${ctx.info.vendor} ${ctx.info.architecture} ${ctx.info.description}`.trim();
  io.log(`adapter: ${device}`);
  const tAll = performance.now();
  const opts: RunOptions = { untied: untiedRaw, modes: modes as RunOptions['modes'], loadBases, writeCheckpoints, device };

  // Data (fixed by the data seed) and baselines, on held-out test signals.
  const data = {
    lowTrain: makeFourierSet(cfg0, 'low', 'train', cfg0.trainSamples),
    lowTest: makeFourierSet(cfg0, 'low', 'test', cfg0.valSamples),
    highTrain: makeFourierSet(cfg0, 'high', 'train', cfg0.trainSamples),
    highTest: makeFourierSet(cfg0, 'high', 'test', cfg0.valSamples),
  };
  const baselines = { low: bandBaselines(cfg0, 'low', data.lowTest), high: bandBaselines(cfg0, 'high', data.highTest) };
  io.log(`low band (f = ${baselines.low.frequencies?.join(', ')}): copy ${baselines.low.copyNmse}, linear floor ${baselines.low.linearFloorNmse}, FISTA ${baselines.low.fistaNmse}, ${cfg0.iterations}-step Landweber oracle ${baselines.low.landweberNmse}; high band (f = ${baselines.high.frequencies?.join(', ')}): copy ${baselines.high.copyNmse}, linear floor ${baselines.high.linearFloorNmse}, FISTA ${baselines.high.fistaNmse}, oracle ${baselines.high.landweberNmse}`);

  const runs: SeedRun[] = [];
  const figData: FigureData = { models: {}, evals: {}, losses: {} };
  for (const [i, seed] of seeds.entries()) {
    const cfg = { ...cfg0, seed };
    runs.push(await runSeed(rt, cfg, data, opts, io, i === 0 ? figData : null));
  }
  const figs = await writeFigures(rt, out, { ...cfg0, seed: seeds[0]! }, data, baselines, figData, modes);
  const seconds = (performance.now() - tAll) / 1000;
  writeReport(io, out, { quick, device, seconds, seeds, cfg0, modes, untied: opts.untied, runs, baselines, figs, opts });
  for (const m of Object.values(figData.models)) m.destroy();
  rt.destroy();
  return 0;
}

/** A merged report's bases that were loaded from files made with another pre-training recipe (one line, or none). */
function otherRecipes(r: object): string[] {
  const from = (r as { mergedFrom?: { loadedBases?: { base: string; seed: number; madeWith?: { batch: number; pretrainSteps: number; pretrainLr: number } }[] }[] }).mergedFrom ?? [];
  const other = from.flatMap((m) => m.loadedBases ?? []).filter((b) => b.madeWith);
  if (!other.length) return [];
  return ['', `Bases pre-trained with another recipe (loaded from files): ${other.map((b) => `seed ${b.seed} ${b.base} (batch ${b.madeWith!.batch}, ${b.madeWith!.pretrainSteps} steps, lr ${b.madeWith!.pretrainLr})`).join('; ')}.`];
}

function markdown(r: { quick: boolean; device: string; seconds: number; seeds: number[]; config: FourierConfig; baselines: Record<'low' | 'high', BandBaselines>; checks: Check[]; summary: { bases: Record<string, Record<string, Stat | null>>; finetune: Record<string, Record<string, Stat | number | number[] | null>> } }, figs: string[]): string {
  const c = r.config;
  const b = r.baselines;
  // A statistic: mean [95 % interval] (the seeds' values), so an outlier seed shows.
  const f = (s: Stat | number | number[] | null | undefined, d = 3) => Array.isArray(s) ? s.join(', ') : (s === null || s === undefined ? '–' : typeof s === 'number' ? String(s) : s.ci95 ? `${s.mean.toFixed(d)} [${s.ci95[0].toFixed(d)}, ${s.ci95[1].toFixed(d)}] (${s.values.map((v) => v.toFixed(d)).join(', ')})` : s.mean.toFixed(d));
  const lines = [
    `# Fourier toy (atoms paper §3.3, App. C.1) — ${r.quick ? 'quick' : 'full'} run`,
    '',
    `Device: ${r.device}. Total ${r.seconds.toFixed(0)} s. Seeds ${r.seeds.join(', ')} (mean [95 % t-interval] (each seed's value)). Data seed ${c.dataSeed}: low band f = ${b.low.frequencies?.join(', ')}, high band f = ${b.high.frequencies?.join(', ')}. Model: C = ${c.dim}, M = ${c.atoms} atoms, K = ${c.iterations} steps, λ = ${c.lambda}, batch ${c.batch}, ${c.pretrainSteps} pre-training and ${c.finetuneSteps} fine-tuning steps. NMSE = MSE / test-signal variance.`,
    ...otherRecipes(r),
    '',
    '| band | copy | linear floor | FISTA (knows the band) | K-step Landweber oracle (knows the frequencies) |',
    '|---|---|---|---|---|',
    ...(['low', 'high'] as const).map((k) => `| ${k} | ${b[k].copyNmse} | ${b[k].linearFloorNmse} | ${b[k].fistaNmse} | ${b[k].landweberNmse ?? '–'} (step ${b[k].landweberStep ?? '–'}) |`),
    '',
    '## Bases (pre-trained on the low band)',
    '',
    '| base | low-band NMSE | atoms for 95 % of usage | per signal | smallest band-energy share of a used atom | high band before tuning |',
    '|---|---|---|---|---|---|',
    ...Object.entries(r.summary.bases).map(([k, s]) => `| ${k} | ${f(s.lowNmse)} | ${f(s.usedAtoms, 1)} | ${f(s.usedAtomsPerSignal, 1)} | ${f(s.minBandEnergy)} | ${f(s.highBefore)} |`),
    '',
    '## Fine-tuning the sparse base to the high band',
    '',
    '| form · tuned | trainable parameters | high-band NMSE after | atoms for 95 % of usage | seeds |',
    '|---|---|---|---|---|',
    ...Object.entries(r.summary.finetune).map(([k, s]) => `| ${k} | ${s.trainableParameters} | ${f(s.highNmse as Stat)} | ${f(s.usedAtoms as Stat, 1)} | ${f(s.seeds as number[])} |`),
    '',
    '## Checks',
    '',
    '| id | claim | measured | 95 % CI | goal | pass |',
    '|---|---|---|---|---|---|',
    ...r.checks.map((k) => `| ${k.id} | ${k.claim} | ${k.measured} | ${k.ci95 ? `[${k.ci95[0]}, ${k.ci95[1]}]` : '–'} | ${k.goal} | ${k.pass === null ? 'undecided' : k.pass ? 'yes' : 'no'} |`),
    '',
    `Figures: ${figs.join(', ')}.`,
    '',
  ];
  return lines.join('\n');
}

export const fourierExperiment: Experiment = {
  summary: 'atoms paper §3.3/App. C.1 Fourier toy: dense vs sparse atoms on the low band, then atoms-only / coefficients-only / both fine-tuning to the high band (tied and untied W_s), seeds with 95 % intervals',
  usage: '[--quick] [--out dir] [--seeds 1,2,3] [--data-seed S] [--modes atoms,coefficients,both|none] [--untied yes|no|only] [--pretrain-steps N] [--finetune-steps N] [--pretrain-lr X] [--finetune-lr X] [--lambda X] [--iterations K] [--atoms M] [--batch B] [--load-bases dir] [--write-checkpoints dir] [--merge dir1,dir2,… (one report from separate runs)]',
  options: {
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    seeds: { type: 'string' },
    'data-seed': { type: 'string' },
    modes: { type: 'string' },
    untied: { type: 'string' },
    'pretrain-steps': { type: 'string' },
    'finetune-steps': { type: 'string' },
    'pretrain-lr': { type: 'string' },
    'finetune-lr': { type: 'string' },
    lambda: { type: 'string' },
    iterations: { type: 'string' },
    atoms: { type: 'string' },
    batch: { type: 'string' },
    'load-bases': { type: 'string' },
    'write-checkpoints': { type: 'string' },
    merge: { type: 'string' },
  },
  run,
};
