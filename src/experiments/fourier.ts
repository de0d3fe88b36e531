/**
 * The atoms paper's Fourier toy (§3.3, Fig. 2, App. C.1): dense vs sparse atoms pre-trained on the
 * low band, then atoms-only / coefficients-only / both fine-tuning to the high band, with the copy,
 * linear-floor and FISTA baselines beside every number. `npm run repro -- fourier [--quick]`.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { barPlot, linePlot, smallMultiples, type Series } from '../analysis/svg-plot';
import { acquireNodeGpu } from '../engine/node-gpu';
import { GpuRuntime } from '../engine/runtime';
import {
  atomProfiles,
  bandFrequencies,
  bandRange,
  fistaReferenceNmse,
  buildFourierModel,
  copyBaselineMse,
  evaluateFourier,
  fitLinearFloor,
  FOURIER_FULL,
  FOURIER_QUICK,
  fourierCheckpointBytes,
  loadFourierCheckpoint,
  makeFourierSet,
  mseOf,
  pretrainFourier,
  readParams,
  reconstructFourier,
  signalVariance,
  trainFourier,
  type FourierBand,
  type FourierConfig,
  type FourierEval,
  type FourierForm,
  type FourierModel,
  type FourierSet,
  type FourierTrain,
  type FourierTrainResult,
} from '../models/fourier';

import { numberOption, round, stringOption, type Experiment, type ExperimentIo, type ExperimentValues } from './experiment';

// ---------- fourier ----------


interface EvalSummary {
  mse: number;
  nmse: number;
  usedAtoms: number;
  usedAtomsPerSignal: number;
  atomsAbove1pct: number;
  activePerToken: number;
}

const summary = (e: FourierEval): EvalSummary => ({ mse: round(e.mse), nmse: round(e.nmse), usedAtoms: e.usedAtoms, usedAtomsPerSignal: round(e.usedAtomsPerSignal, 3), atomsAbove1pct: e.atomsAbove1pct, activePerToken: round(e.activePerToken, 3) });

interface BandBaselines {
  frequencies: number[] | null;
  variance: number;
  copy: number;
  copyNmse: number;
  linearFloor: number;
  linearFloorNmse: number;
  linearFloorTrainNmse: number;
  /** FISTA over the band's whole Fourier dictionary (knows the band, not the frequencies), best of λ ∈ {0.005, 0.02, 0.05}·max|Φ_O·x|. */
  fistaReferenceNmse: number;
}

export function bandBaselines(cfg: FourierConfig, band: FourierBand, val: FourierSet): BandBaselines {
  const floorSet = makeFourierSet(cfg, band, 'floor', cfg.floorSamples);
  const floor = fitLinearFloor(floorSet);
  const variance = signalVariance(val);
  const copy = copyBaselineMse(val);
  const lin = mseOf(floor.predict(val), val.signals);
  return {
    frequencies: bandFrequencies(cfg, band),
    variance: round(variance),
    copy: round(copy),
    copyNmse: round(copy / variance),
    linearFloor: round(lin),
    linearFloorNmse: round(lin / variance),
    linearFloorTrainNmse: round(floor.trainMse / signalVariance(floorSet)),
    fistaReferenceNmse: round(Math.min(...[0.005, 0.02, 0.05].map((l) => fistaReferenceNmse(val, bandRange(cfg, band), { lambdaRel: l })))),
  };
}

function lossSeries(name: string, r: FourierTrainResult, color?: string): Series {
  return { name, x: r.losses.map((l) => l.step + 1), y: r.losses.map((l) => l.loss), ...(color ? { color } : {}) };
}

async function run(values: ExperimentValues, io: ExperimentIo): Promise<number> {
  const quick = values.quick === true;
  const cfg: FourierConfig = { ...(quick ? FOURIER_QUICK : FOURIER_FULL) };
  const loadBases = stringOption(values['load-bases']);
  const writeCheckpoints = stringOption(values['write-checkpoints']);
  const basis = stringOption(values.basis);
  if (basis !== undefined) {
    if (basis !== 'fixed' && basis !== 'random') throw new Error(`--basis must be 'fixed' or 'random', got '${basis}'`);
    cfg.basisSet = basis;
  }
  cfg.seed = numberOption(values.seed, 'seed', { int: true, min: 0 }) ?? cfg.seed;
  cfg.pretrainSteps = numberOption(values['pretrain-steps'], 'pretrain-steps', { int: true, min: 1 }) ?? cfg.pretrainSteps;
  cfg.finetuneSteps = numberOption(values['finetune-steps'], 'finetune-steps', { int: true, min: 1 }) ?? cfg.finetuneSteps;
  cfg.l1 = numberOption(values.l1, 'l1', { min: 0 }) ?? cfg.l1;
  cfg.lambda = numberOption(values.lambda, 'lambda', { min: 0 }) ?? cfg.lambda;
  cfg.finetuneLr = numberOption(values['finetune-lr'], 'finetune-lr', { min: 0, exclusiveMin: true }) ?? cfg.finetuneLr;
  const out = stringOption(values.out) ?? join('repro-results', 'fourier');
  mkdirSync(out, { recursive: true });

  const ctx = await acquireNodeGpu();
  const rt = new GpuRuntime(ctx);
  const device = `${ctx.info.vendor} ${ctx.info.architecture} ${ctx.info.description}`.trim();
  io.log(`adapter: ${device}`);
  const tAll = performance.now();

  // Data and baselines.
  const data = {
    lowTrain: makeFourierSet(cfg, 'low', 'train', cfg.trainSamples),
    lowVal: makeFourierSet(cfg, 'low', 'val', cfg.valSamples),
    highTrain: makeFourierSet(cfg, 'high', 'train', cfg.trainSamples),
    highVal: makeFourierSet(cfg, 'high', 'val', cfg.valSamples),
  };
  const baselines = { low: bandBaselines(cfg, 'low', data.lowVal), high: bandBaselines(cfg, 'high', data.highVal) };
  io.log(`low band: copy ${baselines.low.copyNmse}, linear floor ${baselines.low.linearFloorNmse} (MSE / variance ${baselines.low.variance}); high band: copy ${baselines.high.copyNmse}, linear floor ${baselines.high.linearFloorNmse}`);

  // (i) pre-training on the low band: dense and sparse.
  const bases: Record<FourierForm, { model: FourierModel; train: FourierTrainResult | null; val: FourierEval; highBefore: FourierEval; loadedFrom?: string }> = {} as never;
  for (const form of ['dense', 'sparse'] as const) {
    let model: FourierModel;
    let train: FourierTrainResult | null = null;
    let loadedFrom: string | undefined;
    if (loadBases) {
      model = buildFourierModel(rt, cfg, { form, train: 'all' });
      loadedFrom = join(loadBases, `fourier-${form}.safetensors`);
      loadFourierCheckpoint(model, new Uint8Array(readFileSync(loadedFrom)));
      io.log(`${form}: loaded ${loadedFrom}`);
    } else {
      const bar = io.progress(cfg.pretrainSteps, `pretrain ${form}`);
      const r = await pretrainFourier(rt, cfg, form, data.lowTrain, { onStep: (s, l) => bar.update(s, l === null ? '' : `loss ${l.toFixed(4)}`) });
      bar.done(`loss ${r.losses.at(-1)?.loss.toFixed(4)}`);
      model = r.model;
      train = r;
    }
    const val = await evaluateFourier(rt, model, data.lowVal);
    const highBefore = await evaluateFourier(rt, model, data.highVal);
    io.log(`${form}: low-band NMSE ${val.nmse.toFixed(4)}, atoms used ${val.usedAtoms} (per signal ${val.usedAtomsPerSignal.toFixed(1)}) (≥1 % of max: ${val.atomsAbove1pct}), active per token ${val.activePerToken.toFixed(2)}; high band before fine-tuning ${highBefore.nmse.toFixed(4)}`);
    bases[form] = { model, train, val, highBefore, ...(loadedFrom ? { loadedFrom } : {}) };
    if (writeCheckpoints && train) {
      mkdirSync(writeCheckpoints, { recursive: true });
      const file = join(writeCheckpoints, `fourier-${form}.safetensors`);
      writeFileSync(
        file,
        await fourierCheckpointBytes(model, {
          steps: String(cfg.pretrainSteps),
          seconds: String(round(train.seconds, 3)),
          low_band_nmse: String(round(val.nmse)),
          used_atoms: String(val.usedAtoms),
          device,
        }),
      );
      io.log(`wrote ${file}`);
    }
  }

  // (ii) fine-tuning the sparse base to the high band: atoms only, coefficients only, both.
  const baseBytes = await fourierCheckpointBytes(bases.sparse.model, {});
  const finetune: Partial<Record<FourierTrain, { model: FourierModel; train: FourierTrainResult; after: FourierEval; trainable: number }>> = {};
  for (const mode of ['atoms', 'coefficients', 'both'] as const) {
    const model = buildFourierModel(rt, cfg, { form: 'sparse', train: mode });
    loadFourierCheckpoint(model, baseBytes);
    const bar = io.progress(cfg.finetuneSteps, `fine-tune ${mode}`);
    const train = await trainFourier(rt, model, data.highTrain, { steps: cfg.finetuneSteps, lr: cfg.finetuneLr, onStep: (s, l) => bar.update(s, l === null ? '' : `loss ${l.toFixed(4)}`) });
    bar.done(`loss ${train.losses.at(-1)?.loss.toFixed(4)}`);
    const after = await evaluateFourier(rt, model, data.highVal);
    const trainable = model.trainable.params.reduce((s, p) => s + p.size, 0);
    io.log(`fine-tune ${mode}: high-band NMSE ${bases.sparse.highBefore.nmse.toFixed(4)} → ${after.nmse.toFixed(4)} (${trainable} trainable parameters)`);
    finetune[mode] = { model, train, after, trainable };
  }
  const seconds = (performance.now() - tAll) / 1000;

  // ---------- results ----------
  const results = {
    experiment: 'fourier',
    paper: 'Chen et al., Sparse Fine-Tuning of Transformers for Generative Tasks, §3.3 Fig. 2, App. C.1 Fig. 9',
    quick,
    device,
    seconds: round(seconds, 4),
    config: cfg,
    usageDefinition: 'u_m = mean over validation tokens of |S^K_tm · d_m(t)| (atom m\'s mean absolute contribution to the reconstruction, d_m(t) = <D_m, E_t>); usedAtoms = fewest atoms covering 95 % of sum_m u_m; usedAtomsPerSignal = the same count per signal, averaged; atomsAbove1pct = atoms with u_m >= 1 % of max u_m',
    baselines,
    pretrain: Object.fromEntries(
      (['dense', 'sparse'] as const).map((f) => [
        f,
        {
          steps: bases[f].train?.steps ?? 0,
          seconds: bases[f].train ? round(bases[f].train!.seconds, 4) : null,
          loadedFrom: bases[f].loadedFrom ?? null,
          lowBand: summary(bases[f].val),
          beatsCopy: bases[f].val.mse < baselines.low.copy,
          beatsLinearFloor: bases[f].val.mse < baselines.low.linearFloor,
          highBandBeforeFinetune: summary(bases[f].highBefore),
        },
      ]),
    ),
    finetune: Object.fromEntries(
      (['atoms', 'coefficients', 'both'] as const).map((m) => {
        const r = finetune[m]!;
        return [
          m,
          {
            trainableParameters: r.trainable,
            steps: r.train.steps,
            seconds: round(r.train.seconds, 4),
            before: summary(bases.sparse.highBefore),
            after: summary(r.after),
            beatsCopy: r.after.mse < baselines.high.copy,
            beatsLinearFloor: r.after.mse < baselines.high.linearFloor,
          },
        ];
      }),
    ),
  };
  writeFileSync(join(out, 'results.json'), JSON.stringify(results, null, 2) + '\n');

  // ---------- figures ----------
  const figs: string[] = [];
  const fig = (name: string, svg: string) => {
    writeFileSync(join(out, name), svg);
    figs.push(name);
  };
  const trainedBases = (['dense', 'sparse'] as const).filter((f) => bases[f].train);
  if (trainedBases.length) {
    fig(
      'pretrain-loss.svg',
      linePlot(
        trainedBases.map((f) => lossSeries(`${f} form`, bases[f].train!)),
        {
          title: 'Pre-training on the low band (training MSE)',
          xLabel: 'step',
          yLabel: 'MSE',
          logY: true,
          hlines: [
            { y: baselines.low.copy, label: 'copy observations', color: '#999' },
            { y: baselines.low.linearFloor, label: 'linear floor', color: '#444' },
          ],
        },
      ),
    );
  }
  fig(
    'finetune-loss.svg',
    linePlot(
      (['atoms', 'coefficients', 'both'] as const).map((m) => lossSeries(`${m} only`.replace('both only', 'atoms + coefficients'), finetune[m]!.train)),
      {
        title: 'Fine-tuning the sparse base on the high band (training MSE)',
        xLabel: 'step',
        yLabel: 'MSE',
        logY: true,
        hlines: [
          { y: baselines.high.copy, label: 'copy observations', color: '#999' },
          { y: baselines.high.linearFloor, label: 'linear floor', color: '#444' },
        ],
      },
    ),
  );
  // Atoms: time profiles d_m(t) of the most used atoms.
  const atomPanels = async (model: FourierModel, usage: Float64Array, n: number, label: string) => {
    const p = await readParams([model.dict, model.lift]);
    const prof = atomProfiles(cfg, p.get('fourier.D')!, p.get('fourier.lift')!);
    const order = Array.from(usage, (u, m) => ({ u, m })).sort((a, b) => b.u - a.u).slice(0, n);
    const total = usage.reduce((a, b) => a + b, 0);
    return order.map(({ u, m }) => ({ title: `${label}atom ${m} (${((100 * u) / total).toFixed(1)} %)`, series: [{ name: 'd_m(t)', y: prof.subarray(m * cfg.seq, (m + 1) * cfg.seq) }] as Series[] }));
  };
  for (const f of ['dense', 'sparse'] as const) {
    fig(`atoms-${f}.svg`, smallMultiples(await atomPanels(bases[f].model, bases[f].val.usage, 16, ''), { title: `${f} form: time profiles of the 16 most used atoms (share of usage)`, columns: 4, shareY: false, legend: false }));
  }
  const sortedUsage = (u: Float64Array) => {
    const tot = u.reduce((a, b) => a + b, 0);
    return Array.from(u).map((v) => v / tot).sort((a, b) => b - a);
  };
  fig(
    'atom-usage.svg',
    linePlot(
      [
        { name: `dense (${bases.dense.val.usedAtoms} atoms for 95 %)`, y: sortedUsage(bases.dense.val.usage), x: Array.from({ length: cfg.atoms }, (_, i) => i + 1), mode: 'both' },
        { name: `sparse (${bases.sparse.val.usedAtoms} atoms for 95 %)`, y: sortedUsage(bases.sparse.val.usage), x: Array.from({ length: cfg.atoms }, (_, i) => i + 1), mode: 'both' },
      ],
      { title: 'Atom usage on the low band, sorted (share of total)', xLabel: 'atom rank', yLabel: 'share of usage', logY: true },
    ),
  );
  fig('atom-usage-sparse-bars.svg', barPlot(sortedUsage(bases.sparse.val.usage), { title: 'Sparse form: atom usage shares, sorted', xLabel: 'atom rank', yLabel: 'share' }));
  // Atoms before/after atoms-only fine-tuning (paper Fig. 2c).
  const ftAtoms = finetune.atoms!;
  {
    const pb = await readParams([bases.sparse.model.dict, bases.sparse.model.lift]);
    const pa = await readParams([ftAtoms.model.dict]);
    const before = atomProfiles(cfg, pb.get('fourier.D')!, pb.get('fourier.lift')!);
    const after = atomProfiles(cfg, pa.get('fourier.D')!, pb.get('fourier.lift')!);
    const order = Array.from(ftAtoms.after.usage, (u, m) => ({ u, m })).sort((a, b) => b.u - a.u).slice(0, 12);
    fig(
      'atoms-finetuned.svg',
      smallMultiples(
        order.map(({ m }) => ({
          title: `atom ${m}`,
          series: [
            { name: 'pre-trained (low band)', y: before.subarray(m * cfg.seq, (m + 1) * cfg.seq), color: '#1f77b4' },
            { name: 'after atoms-only fine-tuning (high band)', y: after.subarray(m * cfg.seq, (m + 1) * cfg.seq), color: '#d62728' },
          ],
        })),
        { title: 'Atoms (time profiles) before and after atoms-only fine-tuning, most used after', columns: 4, shareY: false },
      ),
    );
  }
  // Reconstructions.
  const recPanels = async (set: FourierSet, models: { name: string; model: FourierModel; color: string }[], idx: number[]) => {
    const views = await Promise.all(models.map((m) => reconstructFourier(rt, m.model, null, set, idx)));
    return idx.map((s, i) => {
      const v0 = views[0]!.signals[i]!;
      const series: Series[] = [
        { name: 'truth', y: v0.truth, color: '#000', width: 1 },
        ...models.map((m, j) => ({ name: m.name, y: views[j]!.signals[i]!.base, color: m.color })),
        { name: 'observed', x: v0.observed.map((o) => o.t), y: v0.observed.map((o) => o.v), mode: 'markers' as const, color: '#000' },
      ];
      return { title: `signal ${s}: f = ${v0.freqs.join(', ')}`, series };
    });
  };
  const idx = [0, 1, 2, 3, 4, 5];
  fig(
    'reconstructions-low.svg',
    smallMultiples(
      await recPanels(data.lowVal, [
        { name: 'dense', model: bases.dense.model, color: '#2ca02c' },
        { name: 'sparse', model: bases.sparse.model, color: '#1f77b4' },
      ], idx),
      { title: 'Low band (validation): pre-trained reconstructions from 16 observations', columns: 3, panelWidth: 300, panelHeight: 150 },
    ),
  );
  fig(
    'reconstructions-high.svg',
    smallMultiples(
      await recPanels(data.highVal, [
        { name: 'base (no tuning)', model: bases.sparse.model, color: '#7f7f7f' },
        { name: 'coefficients only', model: finetune.coefficients!.model, color: '#ff7f0e' },
        { name: 'atoms only', model: finetune.atoms!.model, color: '#d62728' },
      ], idx),
      { title: 'High band (validation): the sparse base and its fine-tuned versions', columns: 3, panelWidth: 300, panelHeight: 150 },
    ),
  );

  // ---------- markdown ----------
  const b = baselines;
  const pct = (v: number) => v.toFixed(3);
  const pre = results.pretrain as unknown as Record<FourierForm, { lowBand: EvalSummary; seconds: number | null; beatsCopy: boolean; beatsLinearFloor: boolean }>;
  const ft = results.finetune as unknown as Record<'atoms' | 'coefficients' | 'both', { before: EvalSummary; after: EvalSummary; seconds: number; trainableParameters: number }>;
  const md = [
    `# Fourier toy (atoms paper §3.3, App. C.1) — ${quick ? 'quick' : 'full'} run`,
    '',
    `Device: ${device}. Total time ${seconds.toFixed(0)} s. Reading: ${cfg.basisSet} bases${cfg.basisSet === 'fixed' ? ` (low band f = ${b.low.frequencies!.join(', ')}; high band f = ${b.high.frequencies!.join(', ')})` : ''}. Model: C = ${cfg.dim}, M = ${cfg.atoms} atoms, ${cfg.iterations} block iterations, batch ${cfg.batch}.`,
    '',
    'NMSE = MSE / signal variance of the validation set (1 = predicting the mean).',
    '',
    '| band | variance | copy observations (NMSE) | linear floor (NMSE) | FISTA over the band\'s Fourier dictionary (NMSE) |',
    '|---|---|---|---|---|',
    `| low (${cfg.lowBand.join('–')}) | ${b.low.variance} | ${pct(b.low.copyNmse)} | ${pct(b.low.linearFloorNmse)} | ${pct(b.low.fistaReferenceNmse)} |`,
    `| high (${cfg.highBand.join('–')}) | ${b.high.variance} | ${pct(b.high.copyNmse)} | ${pct(b.high.linearFloorNmse)} | ${pct(b.high.fistaReferenceNmse)} |`,
    '',
    '## (i) Pre-training on the low band',
    '',
    '| form | steps | time (s) | low-band NMSE | beats copy | beats linear floor | atoms for 95 % usage (all signals) | per signal (mean) | atoms ≥ 1 % of max | non-zero codes per token |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...(['dense', 'sparse'] as const).map((f) => `| ${f} | ${cfg.pretrainSteps} | ${pre[f].seconds ?? 'loaded'} | ${pct(pre[f].lowBand.nmse)} | ${pre[f].beatsCopy ? 'yes' : 'no'} | ${pre[f].beatsLinearFloor ? 'yes' : 'no'} | ${pre[f].lowBand.usedAtoms} / ${cfg.atoms} | ${pre[f].lowBand.usedAtomsPerSignal} | ${pre[f].lowBand.atomsAbove1pct} | ${pre[f].lowBand.activePerToken} |`),
    '',
    '## (ii) Fine-tuning the sparse base to the high band',
    '',
    '| tuned | trainable parameters | steps | time (s) | high-band NMSE before | after | beats linear floor |',
    '|---|---|---|---|---|---|---|',
    ...(['atoms', 'coefficients', 'both'] as const).map((m) => `| ${m === 'both' ? 'atoms + coefficients' : `${m} only`} | ${ft[m].trainableParameters} | ${cfg.finetuneSteps} | ${ft[m].seconds} | ${pct(ft[m].before.nmse)} | ${pct(ft[m].after.nmse)} | ${ft[m].after.mse < b.high.linearFloor ? 'yes' : 'no'} |`),
    '',
    `Figures: ${figs.join(', ')}.`,
    '',
  ].join('\n');
  writeFileSync(join(out, 'results.md'), md);
  io.print(md);
  io.log(`wrote ${join(out, 'results.json')}, results.md and ${figs.length} figures`);

  for (const f of ['dense', 'sparse'] as const) bases[f].model.destroy();
  for (const m of Object.values(finetune)) m.model.destroy();
  rt.destroy();
  return 0;
}

export const fourierExperiment: Experiment = {
  summary: 'atoms paper §3.3/App. C.1 Fourier toy: dense vs sparse atoms on the low band, then atoms-only vs coefficients-only fine-tuning to the high band',
  usage: '[--quick] [--out dir] [--basis fixed|random] [--seed S] [--pretrain-steps N] [--finetune-steps N] [--finetune-lr X] [--l1 X] [--lambda X] [--load-bases dir] [--write-checkpoints dir]',
  options: {
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    basis: { type: 'string' },
    seed: { type: 'string' },
    'pretrain-steps': { type: 'string' },
    'finetune-steps': { type: 'string' },
    'finetune-lr': { type: 'string' },
    l1: { type: 'string' },
    lambda: { type: 'string' },
    'load-bases': { type: 'string' },
    'write-checkpoints': { type: 'string' },
  },
  run,
};
