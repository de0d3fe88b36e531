/**
 * STAN paper reproductions on the labelled digits task (src/tasks/digits.ts), each registered in
 * REPRO_EXPERIMENTS (repro.ts) and writing results.json, results.md and SVG figures:
 *
 *  - stan-k-expansion (§4.3, Table 8): STAN on the frozen base's q/v projections, fine-tuned on
 *    task A (rot90) for every k ∈ {1, 4, 8, 16, 32, 64, l} × expansion ∈ {1, 1.5, 2}: test
 *    accuracy and loss, trainable parameters.
 *  - stan-forgetting (§4.4, Table 9): one adapter fine-tuned on A, then on B, accuracy on A after
 *    each epoch of B; STAN vs LoRA with the same trainable parameters (LoRA rank r = STAN's l, so
 *    r·(n + m) = l·(n + m) per site); both directions (A → B, B → A).
 *  - stan-latents (App. F, App. A): STAN fine-tuned on A; per latent log10 activation frequency ×
 *    log10 mean activation coloured by label entropy, per-class activation bars and top-activating
 *    digits of a few latents, dead/dense counts, the identifiability check.
 *
 * Every run starts from the shipped base (public/checkpoints/digit-transformer.safetensors, or
 * --base). --quick runs a reduced grid with few steps and few evaluation images (CI).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import type { AdapterSpec } from '../adapters/attach';
import type { StanAdapter } from '../adapters/stan';
import { identifiabilityReport, readStanMatrices } from '../analysis/identifiability';
import { labelEntropy, meanActivation, meanFrequency, type LatentStatsSnapshot } from '../analysis/latent-stats';
import { digitRgb, imageGridSvg } from '../analysis/digit-figures';
import { barPlot, linePlot, PALETTE, smallMultiples, type Series } from '../analysis/svg-plot';
import { acquireNodeGpu } from '../engine/node-gpu';
import { GpuRuntime } from '../engine/runtime';
import { buildDigitsTask, probeIndices, DIGITS_CHECKPOINT_FILE, DIGITS_DEFAULTS, digitsConfigFromMetadata, topActivating, viewImage, type DigitView, type DigitsEval, type DigitsTask, type DigitsTaskConfig } from '../tasks/digits';
import { MNIST_PIXELS, type MnistSet } from '../data/mnist';
import { loadMnistNode } from '../data/mnist-node';
import { baseCheckpointMetadata } from '../io/base-checkpoint';
import { Trainer } from '../train/trainer';
import { numberOption, round, stringOption, type Experiment, type ExperimentIo, type ExperimentOption, type ExperimentValues } from './experiment';

/** Where STAN and LoRA attach in every experiment: the q and v projections of both blocks (PEFT's usual LoRA targets). */
export const STAN_TARGETS = ['blocks.*.attn.{q,v}_proj'];
export const TASK_A: DigitView = 'rot90';
export const TASK_B: DigitView = 'flip';


interface Common {
  io: ExperimentIo;
  quick: boolean;
  out: string;
  base: Uint8Array;
  baseFile: string;
  baseMeta: Record<string, string>;
  cfg: DigitsTaskConfig;
  lr: number;
  seed: number;
  evalImages: number;
  rt: GpuRuntime;
  mnist: MnistSet;
  device: string;
}

const COMMON_OPTIONS: Record<string, ExperimentOption> = {
  quick: { type: 'boolean', default: false },
  out: { type: 'string' },
  base: { type: 'string' },
  steps: { type: 'string' },
  lr: { type: 'string' },
  seed: { type: 'string' },
  'eval-images': { type: 'string' },
  batch: { type: 'string' },
};

const num = (v: string | boolean | undefined, name: string, opts: { int?: boolean; min: number }) => numberOption(v, name, opts);

async function setup(name: string, values: ExperimentValues, io: ExperimentIo): Promise<Common> {
  const quick = values.quick === true;
  const baseFile = stringOption(values.base) ?? join('public', 'checkpoints', DIGITS_CHECKPOINT_FILE);
  let base: Uint8Array;
  try {
    base = new Uint8Array(readFileSync(baseFile));
  } catch (e) {
    throw new Error(`cannot read the base checkpoint '${baseFile}' (${(e as Error).message}); create it with \`npm run cli -- pretrain digits\` or pass --base file`);
  }
  const baseMeta = baseCheckpointMetadata(base);
  const model = { ...digitsConfigFromMetadata(baseMeta), frozen: true };
  model.batch = num(values.batch, 'batch', { int: true, min: 1 }) ?? (quick ? 16 : DIGITS_DEFAULTS.model.batch);
  const seed = num(values.seed, 'seed', { int: true, min: 0 }) ?? 1;
  const out = stringOption(values.out) ?? join('repro-results', name);
  mkdirSync(out, { recursive: true });
  const ctx = await acquireNodeGpu();
  const rt = new GpuRuntime(ctx);
  const device = `${ctx.info.vendor} ${ctx.info.architecture} ${ctx.info.description}`.trim();
  io.log(`adapter: ${device}`);
  return {
    io,
    quick,
    out,
    base,
    baseFile,
    baseMeta,
    cfg: { ...DIGITS_DEFAULTS, model, seed },
    lr: num(values.lr, 'lr', { min: 1e-9 }) ?? 3e-3,
    seed,
    evalImages: num(values['eval-images'], 'eval-images', { int: true, min: 1 }) ?? (quick ? 64 : 1000),
    rt,
    mnist: loadMnistNode(),
    device,
  };
}

const evalIdx = (c: Common, task: DigitsTask) => probeIndices(task.testIndices, c.evalImages);
const evalSummary = (e: DigitsEval) => ({ accuracy: round(e.accuracy), loss: round(e.loss) });

/** Trains the task's adapters for `steps` steps (constant lr after a short warmup); returns seconds and the loss curve. */
async function fineTune(c: Common, task: DigitsTask, steps: number, label: string, onEpoch?: (epoch: number) => Promise<void>, epochSteps?: number): Promise<{ seconds: number; losses: { step: number; loss: number; accuracy: number }[] }> {
  const losses: { step: number; loss: number; accuracy: number }[] = [];
  const trainer = new Trainer(c.rt, task.graph, {
    lr: c.lr,
    schedule: { kind: 'constant', warmupSteps: Math.min(10, Math.floor(steps / 5)), totalSteps: steps },
    metricInterval: 10,
    onMetrics: (rows) => losses.push(...rows.map((r) => ({ step: r.step, loss: r.values.loss!, accuracy: r.values.accuracy! }))),
  });
  const bar = c.io.progress(steps, label);
  let seconds = 0; // training only; evaluations between epochs excluded
  const chunk = epochSteps ?? steps;
  for (let done = 0; done < steps; ) {
    const n = Math.min(chunk, steps - done);
    const t0 = performance.now();
    await trainer.run(n, { onStep: (s) => bar.update(s, losses.length ? `loss ${losses[losses.length - 1]!.loss.toFixed(3)}` : '') });
    done += n;
    await trainer.drain();
    await c.rt.idle();
    seconds += (performance.now() - t0) / 1000;
    if (onEpoch) await onEpoch(Math.round(done / chunk));
  }
  bar.done(losses.length ? `loss ${losses[losses.length - 1]!.loss.toFixed(3)}` : '');
  trainer.destroy();
  return { seconds, losses };
}

function writeOut(c: Common, results: object, md: string, figs: Record<string, string>): void {
  writeFileSync(join(c.out, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  for (const [f, svg] of Object.entries(figs)) writeFileSync(join(c.out, f), svg);
  writeFileSync(join(c.out, 'results.md'), md);
  c.io.print(md);
  c.io.log(`wrote ${join(c.out, 'results.json')}, results.md and ${Object.keys(figs).length} figures`);
}

const baseInfo = (c: Common) => ({ file: c.baseFile, steps: Number(c.baseMeta.steps), test: JSON.parse(c.baseMeta.test ?? '{}') as unknown });

// ---------- stan-k-expansion ----------

async function stanKExpansionRepro(values: ExperimentValues, io: ExperimentIo): Promise<number> {
  const c = await setup('stan-k-expansion', values, io);
  const steps = num(values.steps, 'steps', { int: true, min: 1 }) ?? (c.quick ? 4 : 100);
  const ks: (number | 'l')[] = c.quick ? [1, 4, 'l'] : [1, 4, 8, 16, 32, 64, 'l'];
  const expansions = c.quick ? [1, 2] : [1, 1.5, 2];
  const tAll = performance.now();
  const baseTask = buildDigitsTask(c.rt, c.mnist, { ...c.cfg, view: TASK_A }, { base: c.base });
  const baseEval = await baseTask.evaluate(TASK_A, evalIdx(c, baseTask));
  baseTask.destroy();
  io.log(`frozen base on ${TASK_A}: accuracy ${baseEval.accuracy.toFixed(4)} (${baseEval.images} test images)`);
  const n = c.cfg.model.dim;
  const cells: { k: number | 'l'; expansion: number; l: number; kUsed: number; trainable: number; accuracy: number; loss: number; trainLoss: number; seconds: number; sameAs?: string }[] = [];
  const curves: Series[] = [];
  for (const expansion of expansions) {
    const l = Math.round(expansion * n);
    for (const k of ks) {
      const kUsed = k === 'l' ? l : k;
      const dup = cells.find((x) => x.expansion === expansion && x.kUsed === kUsed);
      if (dup) {
        cells.push({ ...dup, k, sameAs: `k = ${dup.k}` });
        continue;
      }
      if (kUsed > l) continue;
      const spec: AdapterSpec = { kind: 'stan', config: { expansion, k: kUsed }, targets: STAN_TARGETS };
      const task = buildDigitsTask(c.rt, c.mnist, { ...c.cfg, view: TASK_A }, { adapters: [spec], base: c.base });
      const ft = await fineTune(c, task, steps, `k=${k === 'l' ? `l(${l})` : k} e=${expansion}`);
      const ev = await task.evaluate(TASK_A, evalIdx(c, task));
      const tail = ft.losses.slice(-3);
      cells.push({ k, expansion, l, kUsed, trainable: task.trainableParameters, accuracy: ev.accuracy, loss: ev.loss, trainLoss: tail.reduce((a, r) => a + r.loss, 0) / Math.max(1, tail.length), seconds: ft.seconds });
      io.log(`  k=${kUsed} expansion=${expansion}: accuracy ${ev.accuracy.toFixed(4)}, loss ${ev.loss.toFixed(4)} (${task.trainableParameters} trainable, ${ft.seconds.toFixed(0)} s)`);
      if (k === 8 || k === 'l' || k === 1) curves.push({ name: `e=${expansion}, k=${k === 'l' ? `l=${l}` : k}`, x: ft.losses.map((r) => r.step + 1), y: ft.losses.map((r) => r.loss) });
      task.destroy();
    }
  }
  const seconds = (performance.now() - tAll) / 1000;
  const kLabel = (k: number | 'l') => (k === 'l' ? 'n-latents (k = l)' : String(k));
  const best = Math.max(...cells.map((x) => x.accuracy));
  const results = {
    experiment: 'stan-k-expansion',
    paper: 'STAN (The Chosen Few) §4.3, Table 8: accuracy on an MNLI subset for TopK × expansion factor',
    quick: c.quick,
    device: c.device,
    seconds: round(seconds),
    setup: { task: `${TASK_A} digits (the base was pre-trained upright)`, targets: STAN_TARGETS, n, steps, batch: c.cfg.model.batch, lr: c.lr, schedule: 'constant after a 10-step warmup', optimizer: 'AdamW (no weight decay)', evalImages: baseEval.images, base: baseInfo(c) },
    frozenBase: evalSummary(baseEval),
    cells: cells.map((x) => ({ ...x, accuracy: round(x.accuracy), loss: round(x.loss), trainLoss: round(x.trainLoss), seconds: round(x.seconds, 3) })),
  };
  const header = `| TopK | ${expansions.map((e) => `expansion ${e} (l = ${Math.round(e * n)})`).join(' | ')} |`;
  const rows = ks.map((k) => `| ${kLabel(k)} | ${expansions.map((e) => {
    const cell = cells.find((x) => x.k === k && x.expansion === e);
    if (!cell) return '—';
    const acc = cell.accuracy.toFixed(4);
    return `${cell.accuracy === best ? `**${acc}**` : acc} (loss ${cell.loss.toFixed(3)})${cell.sameAs ? ` = ${cell.sameAs}` : ''}`;
  }).join(' | ')} |`);
  const paramRow = `| trainable parameters | ${expansions.map((e) => String(cells.find((x) => x.expansion === e)?.trainable ?? '—')).join(' | ')} |`;
  const md = [
    `# STAN k × expansion (STAN paper §4.3, Table 8 analogue) — ${c.quick ? 'quick' : 'full'} run`,
    '',
    `Device: ${c.device}. Total ${seconds.toFixed(0)} s. Frozen digit transformer (pre-trained upright; ${c.baseFile}), STAN on ${STAN_TARGETS.join(', ')} (n = m = ${n}, 4 sites), fine-tuned on ${TASK_A} digits for ${steps} steps of batch ${c.cfg.model.batch} (AdamW, lr ${c.lr}). Test accuracy (and mean cross-entropy) on ${baseEval.images} ${TASK_A} test digits (a fixed seeded subset of the test split). Frozen base: accuracy ${baseEval.accuracy.toFixed(4)}, loss ${baseEval.loss.toFixed(3)}. Best in bold.`,
    '',
    header,
    `|---|${expansions.map(() => '---').join('|')}|`,
    ...rows,
    paramRow,
    '',
    'Figures: k-expansion-accuracy.svg, k-expansion-loss-curves.svg.',
    '',
  ].join('\n');
  const xs = ks.map((_, i) => i);
  const figs = {
    'k-expansion-accuracy.svg': linePlot(
      expansions.map((e, i) => ({
        name: `expansion ${e}`,
        x: xs,
        y: ks.map((k) => cells.find((x) => x.k === k && x.expansion === e)?.accuracy ?? NaN),
        mode: 'both' as const,
        color: PALETTE[i]!,
      })),
      { title: `Test accuracy on ${TASK_A} digits vs TopK (x: ${ks.map(kLabel).join(', ').replace('n-latents (k = l)', 'l')})`, xLabel: 'TopK index', yLabel: 'accuracy', hlines: [{ y: baseEval.accuracy, label: 'frozen base', color: '#999' }] },
    ),
    'k-expansion-loss-curves.svg': linePlot(curves, { title: 'Training loss (cross-entropy)', xLabel: 'step', yLabel: 'loss', logY: true }),
  };
  writeOut(c, results, md, figs);
  c.rt.destroy();
  return 0;
}

// ---------- stan-forgetting ----------

async function stanForgettingRepro(values: ExperimentValues, io: ExperimentIo): Promise<number> {
  const c = await setup('stan-forgetting', values, io);
  const trainImages = num(values['train-images'], 'train-images', { int: true, min: 1 }) ?? (c.quick ? 64 : 1600);
  const epochsA = num(values['epochs-a'], 'epochs-a', { int: true, min: 1 }) ?? (c.quick ? 1 : 2);
  const epochsB = num(values['epochs-b'], 'epochs-b', { int: true, min: 1 }) ?? (c.quick ? 2 : 5);
  const n = c.cfg.model.dim;
  const stanExpansion = 0.5;
  const stanK = c.quick ? 4 : 8;
  const l = Math.round(stanExpansion * n);
  const methods: { name: string; spec: AdapterSpec }[] = [
    { name: `STAN (l = ${l}, k = ${stanK})`, spec: { kind: 'stan', config: { expansion: stanExpansion, k: stanK }, targets: STAN_TARGETS } },
    { name: `LoRA (r = ${l}, α = ${l})`, spec: { kind: 'lora', config: { rank: l, alpha: l }, targets: STAN_TARGETS } },
  ];
  const directions: [DigitView, DigitView][] = c.quick ? [[TASK_A, TASK_B]] : [[TASK_A, TASK_B], [TASK_B, TASK_A]];
  const tAll = performance.now();
  const runs: { method: string; first: DigitView; second: DigitView; trainable: number; baseFirst: number; baseSecond: number; afterFirst: { first: number; second: number }; perEpochOfSecond: { epoch: number; first: number; second: number }[]; secondsFirst: number; secondsSecond: number }[] = [];
  for (const [first, second] of directions) {
    for (const m of methods) {
      const task = buildDigitsTask(c.rt, c.mnist, { ...c.cfg, view: first, trainLimit: trainImages }, { adapters: [m.spec], base: c.base });
      const idx = evalIdx(c, task);
      const acc = async (v: DigitView) => (await task.evaluate(v, idx)).accuracy;
      const baseFirst = await acc(first);
      const baseSecond = await acc(second);
      const epoch = task.batchesPerEpoch;
      const ftA = await fineTune(c, task, epochsA * epoch, `${m.spec.kind} ${first}`);
      const afterFirst = { first: await acc(first), second: await acc(second) };
      task.setTrainView(second);
      const perEpoch: { epoch: number; first: number; second: number }[] = [];
      const ftB = await fineTune(c, task, epochsB * epoch, `${m.spec.kind} ${first}→${second}`, async (e) => {
        perEpoch.push({ epoch: e, first: await acc(first), second: await acc(second) });
      }, epoch);
      io.log(`${m.name} ${first}→${second}: ${first} accuracy ${afterFirst.first.toFixed(4)} → ${perEpoch.map((p) => p.first.toFixed(4)).join(', ')}; ${second}: ${perEpoch.map((p) => p.second.toFixed(4)).join(', ')}`);
      runs.push({ method: m.name, first, second, trainable: task.trainableParameters, baseFirst, baseSecond, afterFirst, perEpochOfSecond: perEpoch, secondsFirst: ftA.seconds, secondsSecond: ftB.seconds });
      task.destroy();
    }
  }
  const seconds = (performance.now() - tAll) / 1000;
  const results = {
    experiment: 'stan-forgetting',
    paper: 'STAN (The Chosen Few) §4.4, Table 9: accuracy on the first task after each epoch of sequential fine-tuning on the second; LoRA drops more',
    quick: c.quick,
    device: c.device,
    seconds: round(seconds),
    setup: {
      tasks: { A: `${TASK_A} digits`, B: `${TASK_B} digits` },
      sharedHead: 'one adapter, the base\'s own 10-way head (both tasks share the label space)',
      targets: STAN_TARGETS,
      budget: `LoRA rank r = STAN's l, so both train r·(n + m) = l·(n + m) = ${l * 2 * n} parameters per site`,
      trainImagesPerTask: trainImages,
      stepsPerEpoch: Math.floor(trainImages / c.cfg.model.batch),
      epochsFirst: epochsA,
      epochsSecond: epochsB,
      batch: c.cfg.model.batch,
      lr: c.lr,
      optimizer: 'AdamW (no weight decay); a fresh optimizer for the second task',
      evalImages: c.evalImages,
      base: baseInfo(c),
    },
    runs: runs.map((r) => ({
      ...r,
      baseFirst: round(r.baseFirst),
      baseSecond: round(r.baseSecond),
      afterFirst: { first: round(r.afterFirst.first), second: round(r.afterFirst.second) },
      perEpochOfSecond: r.perEpochOfSecond.map((p) => ({ epoch: p.epoch, first: round(p.first), second: round(p.second) })),
      dropOnFirst: round(r.afterFirst.first - r.perEpochOfSecond[r.perEpochOfSecond.length - 1]!.first),
      secondsFirst: round(r.secondsFirst, 3),
      secondsSecond: round(r.secondsSecond, 3),
    })),
  };
  const pts = (v: number) => (100 * v).toFixed(1);
  const md = [
    `# Sequential fine-tuning and forgetting (STAN paper §4.4, Table 9 analogue) — ${c.quick ? 'quick' : 'full'} run`,
    '',
    `Device: ${c.device}. Total ${seconds.toFixed(0)} s. Frozen digit transformer (pre-trained upright). Task A = ${TASK_A} digits, task B = ${TASK_B} digits (same labels, shared head). One adapter on ${STAN_TARGETS.join(', ')} is fine-tuned for ${epochsA} epochs on the first task, then ${epochsB} epochs on the second (an epoch = ${trainImages} training images = ${Math.floor(trainImages / c.cfg.model.batch)} steps of batch ${c.cfg.model.batch}; AdamW lr ${c.lr}). Accuracy (%) on ${c.evalImages} test digits of each task. Budget: ${results.setup.budget}.`,
    '',
    `| method | direction | trainable | base on first | after first | first after epoch ${Array.from({ length: epochsB }, (_, i) => i + 1).join(' / ')} of second | drop (points) | second after its last epoch |`,
    '|---|---|---|---|---|---|---|---|',
    ...results.runs.map((r) => `| ${r.method} | ${r.first} → ${r.second} | ${r.trainable} | ${pts(r.baseFirst)} | ${pts(r.afterFirst.first)} | ${r.perEpochOfSecond.map((p) => pts(p.first)).join(' / ')} | ${(100 * r.dropOnFirst).toFixed(1)} | ${pts(r.perEpochOfSecond[r.perEpochOfSecond.length - 1]!.second)} |`),
    '',
    'Figures: forgetting-*.svg.',
    '',
  ].join('\n');
  const figs: Record<string, string> = {};
  for (const [first, second] of directions) {
    const rs = runs.filter((r) => r.first === first);
    figs[`forgetting-${first}-then-${second}.svg`] = linePlot(
      rs.flatMap((r, i) => [
        { name: `${r.method}: ${first} (first task)`, x: [0, ...r.perEpochOfSecond.map((p) => p.epoch)], y: [r.afterFirst.first, ...r.perEpochOfSecond.map((p) => p.first)], mode: 'both' as const, color: PALETTE[i]! },
        { name: `${r.method}: ${second} (second task)`, x: [0, ...r.perEpochOfSecond.map((p) => p.epoch)], y: [r.afterFirst.second, ...r.perEpochOfSecond.map((p) => p.second)], mode: 'both' as const, color: PALETTE[i]!, dash: '5,4' },
      ]),
      { title: `Accuracy while fine-tuning on ${second} after ${first}`, xLabel: `epochs of ${second}`, yLabel: 'test accuracy', yRange: [0, 1] },
    );
  }
  writeOut(c, results, md, figs);
  c.rt.destroy();
  return 0;
}

// ---------- stan-latents ----------

async function stanLatentsRepro(values: ExperimentValues, io: ExperimentIo): Promise<number> {
  const c = await setup('stan-latents', values, io);
  const steps = num(values.steps, 'steps', { int: true, min: 1 }) ?? (c.quick ? 6 : 200);
  const expansion = num(values.expansion, 'expansion', { min: 1e-6 }) ?? 2;
  const k = num(values.k, 'k', { int: true, min: 1 }) ?? 8;
  const tAll = performance.now();
  const spec: AdapterSpec = { kind: 'stan', config: { expansion, k }, targets: STAN_TARGETS };
  const task = buildDigitsTask(c.rt, c.mnist, { ...c.cfg, view: TASK_A }, { adapters: [spec], base: c.base });
  const idx = c.quick ? probeIndices(task.testIndices, 2 * c.cfg.model.batch) : task.testIndices;
  const before = await task.evaluate(TASK_A, evalIdx(c, task));
  const ft = await fineTune(c, task, steps, `stan ${TASK_A}`);
  const after = await task.evaluate(TASK_A, evalIdx(c, task));
  io.log(`${TASK_A}: accuracy ${before.accuracy.toFixed(4)} → ${after.accuracy.toFixed(4)}`);
  const stats = await task.latentStats(TASK_A, idx);
  const acts = await task.imageActivations(TASK_A, idx);
  const C = 10;
  const maxEntropy = Math.log(C);
  interface SiteStats {
    adapter: StanAdapter;
    s: LatentStatsSnapshot;
    freq: Float64Array;
    mean: Float64Array;
    ent: Float64Array;
    active: number;
    dead: number;
    dense: number;
    ident: ReturnType<typeof identifiabilityReport>;
    n: number;
    m: number;
  }
  const perSite: SiteStats[] = [];
  for (const { adapter, stats: s } of stats) {
    const st = adapter as StanAdapter;
    const freq = meanFrequency(s);
    const mean = meanActivation(s);
    const ent = labelEntropy(s);
    const active = Array.from(freq).filter((f) => f > 0).length;
    const dead = s.l - active;
    const dense = Array.from(freq).filter((f) => f > 0.5).length;
    const { E, D } = await readStanMatrices(c.rt, st);
    const n = st.E.shape[1]!;
    const m = st.D.shape[0]!;
    const ident = identifiabilityReport(E, D, { l: st.l, n, m });
    perSite.push({ adapter: st, s, freq, mean, ent, active, dead, dense, ident, n, m });
  }
  const seconds = (performance.now() - tAll) / 1000;
  const entropyStats = (ent: Float64Array) => {
    const v = Array.from(ent).filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
    return { latents: v.length, min: round(v[0] ?? NaN), median: round(v[Math.floor(v.length / 2)] ?? NaN), max: round(v[v.length - 1] ?? NaN), below1nat: v.filter((x) => x < 1).length };
  };
  // The showcased latents: of the site with the most class-specific latents, the 4 lowest-entropy latents active on ≥ 1 % of the rows.
  const showSite = perSite.reduce((a, b) => (entropyStats(b.ent).below1nat > entropyStats(a.ent).below1nat ? b : a));
  const candidates = Array.from(showSite.ent, (h, i) => ({ h, i })).filter(({ h, i }) => Number.isFinite(h) && showSite.freq[i]! >= 0.01).sort((a, b) => a.h - b.h);
  const shown = candidates.slice(0, 4).map((x) => x.i);
  const classShare = (s: LatentStatsSnapshot, i: number) => {
    const row = Array.from(s.classSums.subarray(i * C, (i + 1) * C));
    const tot = row.reduce((a, b) => a + b, 0);
    return row.map((v) => (tot > 0 ? v / tot : 0));
  };
  const siteActs = acts.perAdapter.find((p) => p.adapter === showSite.adapter)!;
  const tops = shown.map((i) => topActivating(siteActs.acts, siteActs.l, i, 8).map((t) => ({ image: acts.images[t.image]!, activation: t.activation })));
  const results = {
    experiment: 'stan-latents',
    paper: 'STAN (The Chosen Few) App. F (Fig. 3): per-latent activation frequency, mean activation and label entropy; App. A identifiability conditions',
    quick: c.quick,
    device: c.device,
    seconds: round(seconds),
    setup: { task: `${TASK_A} digits`, targets: STAN_TARGETS, expansion, k, steps, batch: c.cfg.model.batch, lr: c.lr, rows: 'one row per (image, token): 16 tokens per digit, each labelled with its digit', statsImages: idx.length - (idx.length % c.cfg.model.batch), active: 'a > 0 (signed top-k: a selected latent with a non-positive value is not active)', dense: 'MeanFreq > 0.5', dead: 'never active on the statistics images', base: baseInfo(c) },
    accuracy: { before: evalSummary(before), after: evalSummary(after), evalImages: before.images, trainSeconds: round(ft.seconds, 3) },
    sites: perSite.map((p) => ({
      path: p.adapter.path,
      l: p.s.l,
      rows: p.s.samples,
      active: p.active,
      dead: p.dead,
      dense: p.dense,
      entropy: entropyStats(p.ent),
      maxEntropy: round(maxEntropy),
      n: p.n,
      identifiability: { minMargin: round(p.ident.summary.minMargin), positiveMargins: p.ident.summary.positiveMargins, distinctCarriers: p.ident.summary.distinctCarriers, maxBlockIdentityError: p.ident.summary.maxBlockError === null ? null : round(p.ident.summary.maxBlockError), rowOrthonormalityError: round(p.ident.orthoError), assumptions: [p.ident.summary.assumption1, p.ident.summary.assumption2, p.ident.summary.assumption3] },
      latents: Array.from({ length: p.s.l }, (_, i) => ({ i, freq: round(p.freq[i]!), meanAct: round(p.mean[i]!), entropy: round(p.ent[i]!) })),
    })),
    showcase: { site: showSite.adapter.path, latents: shown.map((i, j) => ({ latent: i, freq: round(showSite.freq[i]!), meanAct: round(showSite.mean[i]!), entropy: round(showSite.ent[i]!), classShare: classShare(showSite.s, i).map((v) => round(v, 3)), top: tops[j]!.map((t) => ({ image: t.image, label: c.mnist.labels[t.image]!, activation: round(t.activation) })) })) },
  };
  // figures
  const bins = [0, 0.5, 1, 1.5, 2, maxEntropy + 1e-9];
  const binColors = ['#440154', '#3b528b', '#21918c', '#5ec962', '#fde725'];
  const scatterFor = (p: SiteStats) =>
    bins.slice(0, -1).map((lo, b) => {
      const hi = bins[b + 1]!;
      const pick = Array.from(p.ent, (h, i) => ({ h, i })).filter(({ h, i }) => h >= lo && h < hi && p.freq[i]! > 0);
      return { name: `entropy ${lo}–${b === bins.length - 2 ? 'ln 10' : hi} nats (${pick.length})`, x: pick.map(({ i }) => Math.log10(p.freq[i]!)), y: pick.map(({ i }) => Math.log10(p.mean[i]!)), mode: 'markers' as const, color: binColors[b]! };
    });
  const figs: Record<string, string> = {};
  figs['latents-scatter.svg'] = smallMultiples(
    perSite.map((p) => ({ title: `${p.adapter.path} (l = ${p.s.l}; ${p.dead} dead, ${p.dense} dense)`, series: scatterFor(p) })),
    { title: `App. F: log10 activation frequency (x) vs log10 mean activation (y), colour = label entropy; STAN k = ${k}, expansion ${expansion} on ${TASK_A}`, columns: 2, shareY: false, panelWidth: 380, panelHeight: 260 },
  );
  figs['latents-classes.svg'] = smallMultiples(
    shown.map((i) => ({ title: `${showSite.adapter.path} latent ${i}: H = ${showSite.ent[i]!.toFixed(2)} nats, freq ${(100 * showSite.freq[i]!).toFixed(1)} %`, series: [{ name: 'share of activation mass', x: Array.from({ length: C }, (_, c2) => c2), y: classShare(showSite.s, i), mode: 'both' as const }] })),
    { title: 'Per-class share of activation mass (eq. 20) of the lowest-entropy latents (digit on x)', columns: 2, legend: false },
  );
  figs['latents-entropy-hist.svg'] = barPlot(
    (() => {
      const h = new Array<number>(12).fill(0);
      for (const p of perSite) for (const e of p.ent) if (Number.isFinite(e)) h[Math.min(11, Math.floor((e / maxEntropy) * 12))]!++;
      return h;
    })(),
    { title: `Label entropy of active latents, all sites (12 bins over 0 … ln 10 = ${maxEntropy.toFixed(2)} nats)`, xLabel: 'entropy bin', yLabel: 'latents' },
  );
  const img = new Float32Array(MNIST_PIXELS);
  figs['latents-top-digits.svg'] = imageGridSvg(
    tops.map((row, j) => ({
      label: `latent ${shown[j]}\nH ${showSite.ent[shown[j]!]!.toFixed(2)} nats`,
      panels: row.map((t) => {
        viewImage(c.mnist.pixels.subarray(t.image * MNIST_PIXELS, (t.image + 1) * MNIST_PIXELS), TASK_A, img);
        return { title: `${c.mnist.labels[t.image]} (${t.activation.toFixed(2)})`, rgb: digitRgb(img) };
      }),
    })),
    { title: `Top-activating ${TASK_A} test digits (max over tokens), ${showSite.adapter.path}; caption: label (activation)`, deflate: (raw) => deflateSync(raw) },
  );
  const md = [
    `# STAN latent statistics (STAN paper App. F, App. A) — ${c.quick ? 'quick' : 'full'} run`,
    '',
    `Device: ${c.device}. Total ${seconds.toFixed(0)} s. STAN (expansion ${expansion}, k = ${k}) on ${STAN_TARGETS.join(', ')} of the frozen digit transformer, fine-tuned on ${TASK_A} digits for ${steps} steps of batch ${c.cfg.model.batch}: test accuracy ${before.accuracy.toFixed(4)} → ${after.accuracy.toFixed(4)} (${before.images} images). Statistics over ${results.setup.statsImages} ${TASK_A} test digits × 16 tokens (rows), each row labelled with its digit. Label entropy in nats (max ln 10 = ${maxEntropy.toFixed(3)}).`,
    '',
    '| site | l | active | dead | dense (> 50 %) | entropy min / median / max | latents < 1 nat | App. A: positive singleton margins | distinct carriers | max block-identity error | ‖EEᵀ − I‖_F | assumptions 1 / 2 / 3 hold |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...results.sites.map((s) => `| ${s.path} | ${s.l} | ${s.active} | ${s.dead} | ${s.dense} | ${s.entropy.min} / ${s.entropy.median} / ${s.entropy.max} | ${s.entropy.below1nat} | ${s.identifiability.positiveMargins} / ${s.n} | ${s.identifiability.distinctCarriers} | ${s.identifiability.maxBlockIdentityError} | ${s.identifiability.rowOrthonormalityError} | ${s.identifiability.assumptions.map((a) => (a === null ? 'n/a' : a ? 'yes' : 'no')).join(' / ')} |`),
    '',
    `Showcased latents (${showSite.adapter.path}, lowest entropy among latents active on ≥ 1 % of rows):`,
    '',
    '| latent | freq | mean act | entropy | dominant digits (share) | top-activating digits |',
    '|---|---|---|---|---|---|',
    ...results.showcase.latents.map((x) => `| ${x.latent} | ${x.freq} | ${x.meanAct} | ${x.entropy} | ${x.classShare.map((v, d) => ({ v, d })).sort((a, b) => b.v - a.v).slice(0, 3).map(({ v, d }) => `${d} (${(100 * v).toFixed(0)} %)`).join(', ')} | ${x.top.map((t) => t.label).join(' ')} |`),
    '',
    `Figures: ${Object.keys(figs).join(', ')}.`,
    '',
  ].join('\n');
  writeOut(c, results, md, figs);
  task.destroy();
  c.rt.destroy();
  return 0;
}

export const stanKExpansionExperiment: Experiment = {
  summary: 'STAN paper §4.3 Table 8 on digits: STAN on the frozen digit transformer fine-tuned on rotated digits, k ∈ {1,4,8,16,32,64,l} × expansion ∈ {1,1.5,2}',
  usage: '[--quick] [--out dir] [--base file] [--steps N] [--lr X] [--batch B] [--eval-images N] [--seed S]',
  options: COMMON_OPTIONS,
  run: stanKExpansionRepro,
};

export const stanForgettingExperiment: Experiment = {
  summary: 'STAN paper §4.4 Table 9 on digits: sequential fine-tuning rot90 → flip (and back), accuracy on the first task per epoch of the second, STAN vs LoRA at equal parameters',
  usage: '[--quick] [--out dir] [--base file] [--train-images N] [--epochs-a N] [--epochs-b N] [--lr X] [--batch B] [--eval-images N] [--seed S]',
  options: { ...COMMON_OPTIONS, 'train-images': { type: 'string' }, 'epochs-a': { type: 'string' }, 'epochs-b': { type: 'string' } },
  run: stanForgettingRepro,
};

export const stanLatentsExperiment: Experiment = {
  summary: 'STAN paper App. F / App. A on digits: per-latent frequency × mean activation coloured by label entropy, per-class bars, top-activating digits, dead/dense counts, identifiability check',
  usage: '[--quick] [--out dir] [--base file] [--steps N] [--k K] [--expansion E] [--lr X] [--batch B] [--eval-images N] [--seed S]',
  options: { ...COMMON_OPTIONS, k: { type: 'string' }, expansion: { type: 'string' } },
  run: stanLatentsRepro,
};
