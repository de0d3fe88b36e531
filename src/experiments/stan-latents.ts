/**
 * STAN paper App. F (Fig. 3) beside Fig. 4 on digits, on Table 9's runs: STAN (expansion 1, k = 8)
 * and LoRA (r = 64 and r = 8) after the first task (rot90), taken at the first evaluation at or
 * above the shared first-task target (so the adapters are compared at matched accuracy). Per unit
 * — a STAN latent, or a LoRA rank direction h_j = (A·x)_j — and per adapter site, eqs. 18–21:
 * activation frequency (a > 0), mean activation when active, label entropy of the activation mass
 * (nats, max ln 10). Two sets of rows, each row a (digit, token) labelled with its digit:
 *   - training: accumulated on the GPU over every training batch of the first task up to that
 *     point (recorded into the training step, no readback per step);
 *   - test: the adapter at that point over the test split (whole batches).
 * A LoRA direction's sign is arbitrary and h is dense, so "active" (h > 0) holds on about half
 * the rows by construction; entropy is the comparable number.
 * For STAN (seed 1) also App. A's identifiability check per site and the lowest-entropy latents'
 * class shares and top-activating test digits.
 */
import { deflateSync } from 'node:zlib';
import { labelEntropy, meanActivation, meanFrequency, type LatentStatsSnapshot } from '../analysis/latent-stats';
import { smallMultiples, type Series } from '../analysis/svg-plot';
import { round, type Experiment, type ExperimentIo, type ExperimentValues } from './experiment';
import type { Adapter } from '../adapters/adapter';
import type { StanAdapter } from '../adapters/stan';
import { digitRgb, imageGridSvg } from '../analysis/digit-figures';
import { identifiabilityReport, readStanMatrices } from '../analysis/identifiability';
import { MNIST_PIXELS } from '../data/mnist';
import { topActivating, viewImage, type DigitsTask } from '../tasks/digits';
import { pts, STAN_COMMON_OPTIONS, STAN_COMMON_USAGE, stanSetup, writeOutputs, type StanCommon } from './stan-common';
import { table9Runs, table9Settings } from './stan-forgetting';
import { buildTask, methodId, methodLabel, readSnapshot, TASK_A, testIndices, unitCode, type MethodSpec } from './stan-runs';
import { pairedDifference, signVerdict, tInterval, type Check } from './stats';
import { firstReaching } from './training-protocol';

const LOW_ENTROPY = 1; // nats

export interface UnitSummary {
  units: number;
  active: number;
  dense: number;
  medianEntropy: number;
  lowEntropyShare: number;
}

/** Pooled over sites: units, active (freq > 0), dense (freq > 0.5), median label entropy of active units, share of active units below 1 nat. */
export function summarizeUnits(perSite: LatentStatsSnapshot[]): UnitSummary & { points: { freq: number; mean: number; entropy: number }[] } {
  const points: { freq: number; mean: number; entropy: number }[] = [];
  let units = 0;
  for (const s of perSite) {
    const f = meanFrequency(s);
    const m = meanActivation(s);
    const h = labelEntropy(s);
    units += s.l;
    for (let i = 0; i < s.l; i++) if (f[i]! > 0 && Number.isFinite(h[i]!)) points.push({ freq: f[i]!, mean: m[i]!, entropy: h[i]! });
  }
  const hs = points.map((p) => p.entropy).sort((a, b) => a - b);
  const median = hs.length ? (hs.length % 2 ? hs[(hs.length - 1) / 2]! : 0.5 * (hs[hs.length / 2 - 1]! + hs[hs.length / 2]!)) : NaN;
  return { units, active: points.length, dense: points.filter((p) => p.freq > 0.5).length, medianEntropy: median, lowEntropyShare: points.length ? points.filter((p) => p.entropy < LOW_ENTROPY).length / points.length : NaN, points };
}

/**
 * For STAN (seed 1): App. A's identifiability check per site, and the four lowest-entropy latents
 * (active on ≥ 1 % of test rows) of the site with the most class-specific latents: their per-class
 * share of activation mass (eq. 20) and top-activating test digits.
 */
async function stanShowcase(c: StanCommon, task: DigitsTask, test: { adapter: Adapter; stats: LatentStatsSnapshot }[]) {
  const { env } = c;
  const identifiability = [];
  for (const a of task.adapters) {
    const st = a as StanAdapter;
    const { E, D } = await readStanMatrices(env.rt, st);
    const n = st.E.shape[1]!;
    const m = st.D.shape[0]!;
    const r = identifiabilityReport(E, D, { l: st.l, n, m });
    identifiability.push({ path: a.path, l: st.l, n, positiveMargins: r.summary.positiveMargins, distinctCarriers: r.summary.distinctCarriers, maxBlockIdentityError: r.summary.maxBlockError === null ? null : round(r.summary.maxBlockError), rowOrthonormalityError: round(r.orthoError), assumptions: [r.summary.assumption1, r.summary.assumption2, r.summary.assumption3] });
  }
  const low = (s: LatentStatsSnapshot) => {
    const f = meanFrequency(s);
    const h = labelEntropy(s);
    return Array.from(h, (e, i) => ({ e, i })).filter(({ e, i }) => Number.isFinite(e) && f[i]! >= 0.01 && e < LOW_ENTROPY).length;
  };
  const site = test.reduce((a, b) => (low(b.stats) > low(a.stats) ? b : a));
  const f = meanFrequency(site.stats);
  const h = labelEntropy(site.stats);
  const shown = Array.from(h, (e, i) => ({ e, i }))
    .filter(({ e, i }) => Number.isFinite(e) && f[i]! >= 0.01)
    .sort((a, b) => a.e - b.e)
    .slice(0, 4)
    .map((x) => x.i);
  const acts = await task.imageActivations(TASK_A, testIndices(env, task));
  const siteActs = acts.perAdapter.find((p) => p.adapter === site.adapter)!;
  const latents = shown.map((i) => {
    const row = Array.from(site.stats.classSums.subarray(i * 10, (i + 1) * 10));
    const tot = row.reduce((a, b) => a + b, 0) || 1;
    return {
      latent: i,
      freq: round(f[i]!),
      entropy: round(h[i]!),
      classShare: row.map((v) => round(v / tot, 3)),
      top: topActivating(siteActs.acts, siteActs.l, i, 8).map((t) => ({ image: acts.images[t.image]!, label: env.mnist.labels[acts.images[t.image]!]!, activation: round(t.activation) })),
    };
  });
  return { identifiability, site: site.adapter.path, latents };
}

async function run(values: ExperimentValues, io: ExperimentIo): Promise<number> {
  const c = await stanSetup('stan-latents', values, io);
  const { env } = c;
  const t9 = await table9Runs(c, table9Settings(c, values));
  const d = t9.directions.find((x) => x.first === TASK_A)!;
  type Row = { method: MethodSpec; seed: number; step: number; valAcc: number; train: ReturnType<typeof summarizeUnits>; test: ReturnType<typeof summarizeUnits> };
  const rows: Row[] = [];
  let showcase: Awaited<ReturnType<typeof stanShowcase>> | null = null;
  for (const m of t9.methods) {
    for (const seed of c.seeds) {
      const runA = d.runsA.find((r) => methodId(r.method) === methodId(m) && r.seed === seed)!;
      const cross = firstReaching(runA.curve, d.target)!;
      const snap = readSnapshot(env, runA.id, cross.step);
      const task = buildTask(env, TASK_A, m, seed);
      task.graph.packs.forEach((p, i) => p.writeAll(snap.ckpt.params[i]!));
      const units = task.adapters.map((a) => ({ adapter: a, ...unitCode(env.rt, a) }));
      const test = await task.latentStats(TASK_A, testIndices(env, task), units);
      const trainSnaps = task.adapters.map((a) => {
        const s = snap.stats.get(a.path);
        if (!s) throw new Error(`run ${runA.id} has no training statistics for ${a.path}`);
        return s;
      });
      if (m.kind === 'stan' && seed === c.seeds[0]) showcase = await stanShowcase(c, task, test);
      for (const u of units) u.release();
      task.destroy();
      rows.push({ method: m, seed, step: cross.step, valAcc: cross.value, train: summarizeUnits(trainSnaps), test: summarizeUnits(test.map((t) => t.stats)) });
      io.log(`${methodLabel(m)} seed ${seed} at step ${cross.step} (val ${pts(cross.value)} %): median entropy train ${rows[rows.length - 1]!.train.medianEntropy.toFixed(2)}, test ${rows[rows.length - 1]!.test.medianEntropy.toFixed(2)} nats`);
    }
  }
  const seconds = (performance.now() - c.started) / 1000;
  const of = (m: MethodSpec) => rows.filter((r) => methodId(r.method) === methodId(m));
  const stan = t9.budgets[0]!.stan;
  const checks: Check[] = [];
  for (const b of t9.budgets) {
    for (const split of ['test', 'train'] as const) {
      const s = of(stan).map((r) => r[split].medianEntropy);
      const l = of(b.lora).map((r) => r[split].medianEntropy);
      const dd = pairedDifference(l, s);
      checks.push({
        id: `appF-entropy-${b.id}-${split}`,
        claim: `STAN's units are more class-specific than LoRA's directions (Fig. 3 vs Fig. 4), ${split === 'test' ? 'test set' : 'training batches'}`,
        measured: round(dd.mean),
        goal: `the 95 % interval of median label entropy (nats) LoRA − STAN (${methodLabel(b.lora)}) lies above 0`,
        pass: signVerdict(dd, 'positive'),
        ci95: [round(dd.lo), round(dd.hi)],
        seeds: c.seeds,
      });
    }
  }
  const summ = (xs: number[]) => {
    const t = tInterval(xs);
    return { mean: round(t.mean), ci95: [round(t.lo), round(t.hi)] };
  };
  const results = {
    experiment: 'stan-latents',
    paper: 'STAN (The Chosen Few) App. F eqs. 18–21 (Fig. 3) and Fig. 4 (LoRA\'s directions under the same analysis)',
    quick: c.quick,
    device: c.device,
    seconds: round(seconds),
    setup: {
      runs: `Table 9's first-task runs on ${TASK_A}, at the first evaluation at or above the shared target ${pts(d.target, 2)} % (validation)`,
      rows: 'one row per (digit, token), labelled with its digit; training rows = every training batch up to that step; test rows = the test split in whole batches',
      active: 'a > 0 (STAN: the signed top-k value; LoRA: h_j = (A·x)_j, whose sign is arbitrary)',
      lowEntropy: `< ${LOW_ENTROPY} nat`,
      seeds: c.seeds,
    },
    checks,
    stanShowcase: showcase,
    methods: t9.methods.map((m) => ({
      method: methodLabel(m),
      id: methodId(m),
      train: { medianEntropy: summ(of(m).map((r) => r.train.medianEntropy)), lowEntropyShare: summ(of(m).map((r) => r.train.lowEntropyShare)), active: of(m).map((r) => r.train.active), dense: of(m).map((r) => r.train.dense) },
      test: { medianEntropy: summ(of(m).map((r) => r.test.medianEntropy)), lowEntropyShare: summ(of(m).map((r) => r.test.lowEntropyShare)), active: of(m).map((r) => r.test.active), dense: of(m).map((r) => r.test.dense) },
      units: of(m)[0]!.train.units,
      seeds: of(m).map((r) => ({ seed: r.seed, step: r.step, valAcc: round(r.valAcc), train: { ...r.train, points: undefined, medianEntropy: round(r.train.medianEntropy), lowEntropyShare: round(r.train.lowEntropyShare) }, test: { ...r.test, points: undefined, medianEntropy: round(r.test.medianEntropy), lowEntropyShare: round(r.test.lowEntropyShare) } })),
    })),
  };
  const md = [
    `# App. F latent statistics, STAN vs LoRA's directions (Fig. 3 vs Fig. 4 analogue) — ${c.quick ? 'quick' : 'full'} run`,
    '',
    `Device: ${c.device}. ${seconds.toFixed(0)} s in this invocation. ${results.setup.runs}. Median label entropy of active units (nats; max ln 10 = 2.30) and share of active units below ${LOW_ENTROPY} nat, mean ± 95 % t-interval over seeds ${c.seeds.join(', ')}.`,
    '',
    '| method | units | rows | median entropy | share < 1 nat | active | dense (> 50 %) |',
    '|---|---|---|---|---|---|---|',
    ...results.methods.flatMap((m) =>
      (['train', 'test'] as const).map((s) => `| ${m.method} | ${m.units} | ${s === 'train' ? 'training batches' : 'test set'} | ${m[s].medianEntropy.mean.toFixed(2)} [${m[s].medianEntropy.ci95.map((x) => Number(x).toFixed(2)).join(', ')}] | ${(100 * m[s].lowEntropyShare.mean).toFixed(1)} % | ${m[s].active.join(' / ')} | ${m[s].dense.join(' / ')} |`),
    ),
    '',
    'Checks:',
    '',
    ...checks.map((x) => `- ${x.id}: ${x.claim} — measured ${x.measured} nats [${x.ci95![0]}, ${x.ci95![1]}] → ${x.pass === null ? 'undecided' : x.pass ? 'pass' : 'fail'}`),
    '',
    ...(showcase
      ? [
          `STAN (seed 1), App. A identifiability at the same point:`,
          '',
          '| site | l | positive singleton margins | distinct carriers | max block-identity error | ‖EEᵀ − I‖_F | assumptions 1 / 2 / 3 hold |',
          '|---|---|---|---|---|---|---|',
          ...showcase.identifiability.map((x) => `| ${x.path} | ${x.l} | ${x.positiveMargins} / ${x.n} | ${x.distinctCarriers} | ${x.maxBlockIdentityError} | ${x.rowOrthonormalityError} | ${x.assumptions.map((a) => (a === null ? 'n/a' : a ? 'yes' : 'no')).join(' / ')} |`),
          '',
          `Lowest-entropy STAN latents (test set, ${showcase.site}, active on ≥ 1 % of rows):`,
          '',
          '| latent | freq | entropy (nats) | dominant digits (share of activation mass) | top-activating digits |',
          '|---|---|---|---|---|',
          ...showcase.latents.map((x) => `| ${x.latent} | ${x.freq} | ${x.entropy} | ${x.classShare.map((v, dgt) => ({ v, dgt })).sort((a, b) => b.v - a.v).slice(0, 3).map(({ v, dgt }) => `${dgt} (${(100 * v).toFixed(0)} %)`).join(', ')} | ${x.top.map((t) => t.label).join(' ')} |`),
          '',
        ]
      : []),
  ].join('\n');
  const bins = [0, 0.5, 1, 1.5, 2, Math.log(10) + 1e-9];
  const colors = ['#440154', '#3b528b', '#21918c', '#5ec962', '#fde725'];
  const scatter = (pts0: { freq: number; mean: number; entropy: number }[]): Series[] =>
    bins.slice(0, -1).map((lo, i) => {
      const hi = bins[i + 1]!;
      const p = pts0.filter((x) => x.entropy >= lo && x.entropy < hi && x.mean > 0);
      return { name: `entropy ${lo}–${i === bins.length - 2 ? 'ln 10' : hi} nats`, x: p.map((x) => Math.log10(x.freq)), y: p.map((x) => Math.log10(x.mean)), mode: 'markers', color: colors[i]! };
    });
  const seed1 = (m: MethodSpec) => of(m)[0]!;
  const figs: Record<string, string> = {
    'latents-scatter.svg': smallMultiples(
      t9.methods.flatMap((m) => (['train', 'test'] as const).map((s) => ({ title: `${methodLabel(m)}, ${s === 'train' ? 'training batches' : 'test set'} (seed 1)`, series: scatter(seed1(m)[s].points) }))),
      { title: `App. F: log10 frequency (x) vs log10 mean activation (y), colour = label entropy; all 4 sites pooled, at the matched first-task accuracy`, columns: 2, shareY: false, panelWidth: 380, panelHeight: 240 },
    ),
    'latents-entropy-hist.svg': smallMultiples(
      t9.methods.map((m) => {
        const h = new Array<number>(12).fill(0);
        for (const p of seed1(m).test.points) h[Math.min(11, Math.floor((p.entropy / Math.log(10)) * 12))]!++;
        const tot = h.reduce((a, b) => a + b, 0) || 1;
        return { title: `${methodLabel(m)} (test, seed 1)`, series: [{ name: 'share of active units', x: h.map((_, i) => ((i + 0.5) / 12) * Math.log(10)), y: h.map((v) => v / tot), mode: 'both' as const }] };
      }),
      { title: 'Label entropy of active units (x: nats, 0 … ln 10)', columns: 3, legend: false },
    ),
  };
  if (showcase) {
    const img = new Float32Array(MNIST_PIXELS);
    figs['latents-top-digits.svg'] = imageGridSvg(
      showcase.latents.map((x) => ({
        label: `latent ${x.latent}\nH ${x.entropy} nats`,
        panels: x.top.map((t) => {
          viewImage(env.mnist.pixels.subarray(t.image * MNIST_PIXELS, (t.image + 1) * MNIST_PIXELS), TASK_A, img);
          return { title: `${t.label} (${t.activation.toFixed(2)})`, rgb: digitRgb(img) };
        }),
      })),
      { title: `STAN: top-activating ${TASK_A} test digits of the lowest-entropy latents (${showcase.site}); caption: label (activation)`, deflate: (raw) => deflateSync(raw) },
    );
  }
  writeOutputs(c, results, md, figs);
  c.destroy();
  return 0;
}

export const stanLatentsExperiment: Experiment = {
  summary: 'STAN paper App. F on digits, on Table 9\'s runs at matched first-task accuracy: per-unit frequency × mean activation coloured by label entropy, over the training batches and the test set, STAN\'s latents beside LoRA\'s directions (Fig. 4)',
  usage: `${STAN_COMMON_USAGE} [--steps-b N] [--eval-b N] [--first-target fraction]`,
  options: { ...STAN_COMMON_OPTIONS, 'steps-b': { type: 'string' }, 'eval-b': { type: 'string' }, 'first-target': { type: 'string' } },
  run,
};
