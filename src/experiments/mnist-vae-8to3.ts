/**
 * `npm run repro -- mnist-vae-8to3 [--quick]`: the atoms paper's MNIST transformer-VAE "8 → 3"
 * experiment (§3.3, App. B, Fig. 1) on the bottleneck (CLS) 5–9 base, judged by two independent
 * classifiers (the MLP and the CNN). The fine-tune and the analysis live in ./mnist-vae-atoms.ts;
 * this file runs the protocol and writes results.json (with `checks`), results.md, SVG figures
 * and decoded.safetensors (every decoded image, so anyone can judge them with a classifier of
 * their own).
 *
 * Protocol (full run):
 *  1. The frozen base alone: denoised test digits 5–9 (noise σ of the base's pre-training, fixed
 *     per-image noise) judged as their own digit; held-out noisy 3s (the test split's, z = μ)
 *     decoded and judged; `prior` samples z ~ N(0, I) decoded and judged (the paper's "the
 *     decoder generates").
 *  2. For k in {10, 3} and fine-tuning seeds {1, 2, 3}: atoms (M = 100 per decoder layer, top-k)
 *     fine-tuned on 85 % of the training 3s; the other 15 % are the validation split — every 50
 *     steps up to 400 both judges score the validation decodes and the best check's adapter is
 *     kept (early stopping; the test split is never looked at). Then the same held-out and prior
 *     latents are decoded with the atoms and judged: "3" before/after, the conditional rates over
 *     the base's "8"s and "5"s, active atoms per layer and per image.
 *  3. The fixed latent (a held-out 3 both judges call "8" in the base decode and "3" in every
 *     k = 10 run's, the most confident) gets the red/blue maps per atom and per layer, per k.
 * Rates carry a Wilson 95 % interval per run (test-set noise) and a t-interval over seeds.
 * --quick (CI): k = 10, one seed, 60 steps at lr 3e-3, 64 held-out 3s, 256 prior samples, no validation.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { digitRgb, imageGridSvg, maxAbs, signedRgb, type ImagePanel } from '../analysis/digit-figures';
import { barPlot, linePlot } from '../analysis/svg-plot';
import { loadMnistNode } from '../data/mnist-node';
import { splitMnist, type MnistSet } from '../data/mnist';
import { acquireNodeGpu } from '../engine/node-gpu';
import { GpuRuntime } from '../engine/runtime';
import { baseCheckpointMetadata } from '../io/base-checkpoint';
import { serializeSafetensors, type TensorInput } from '../io/safetensors';
import { DigitJudge } from '../models/digit-judge';
import { loadVaeCheckpoint, vaeConfigFromMetadata } from '../models/vae';
import { buildMnistVaeTask, MNIST_VAE_DEFAULTS, sampleLatents, type MnistVaeTask } from '../tasks/mnist-vae';
import { numberOption, round, stringOption, type Experiment, type ExperimentIo, type ExperimentValues } from './experiment';
import {
  ACTIVE_USAGE_COVERAGE,
  analyseContributions,
  atomUsage,
  baseNoise,
  EVAL_NOISE_SEED,
  JUDGE_NAMES,
  judgeBoth,
  VaeAtomsFinetune,
  VAE_8TO3_FULL,
  VAE_8TO3_QUICK,
  type ContributionAnalysis,
  type JudgeName,
  type Judges,
  type LayerUsage,
  type Vae8to3Config,
  type Verdicts,
} from './mnist-vae-atoms';
import { tInterval, wilsonInterval, type Check } from './stats';

export const VAE_8TO3_BASE_FILE = 'public/checkpoints/mnist-vae-5to9-cls.safetensors';
export const MLP_JUDGE_FILE = 'public/checkpoints/digit-classifier.safetensors';
export const CNN_JUDGE_FILE = 'public/checkpoints/digit-cnn.safetensors';
/** Seed of the prior samples z ~ N(0, I) (sampleLatents). */
export const PRIOR_SEED = 1;

const USAGE = '[--quick] [--out dir] [--k 10,3] [--seeds 1,2,3] [--steps N] [--eval-every N] [--validation f] [--lr X] [--batch B] [--sigma topk|soft] [--lambda λ] [--l1 c] [--atoms M] [--eval N] [--prior N] [--noise σ] [--vae file] [--mlp file] [--cnn file]';

const deflate = (raw: Uint8Array) => new Uint8Array(deflateSync(raw, { level: 9 }));
const PIX = 784;
const DIGIT = 3;

/** A rate with its Wilson 95 % interval (one run: test-set sampling noise). */
interface Rate {
  k: number;
  n: number;
  rate: number;
  ci95: [number, number];
}

function rate(k: number, n: number): Rate {
  if (n === 0) return { k, n, rate: NaN, ci95: [NaN, NaN] };
  const w = wilsonInterval(k, n);
  return { k, n, rate: round(w.p), ci95: [round(w.lo), round(w.hi)] };
}

/** Of the images `from` judged digit `a`, how many `to` judges digit `b` (same images, same judge). */
function conditional(from: Verdicts, to: Verdicts, a: number, b: number): Rate {
  let n = 0;
  let k = 0;
  for (let i = 0; i < from.pred.length; i++) {
    if (from.pred[i] !== a) continue;
    n++;
    if (to.pred[i] === b) k++;
  }
  return rate(k, n);
}

const pick = (a: Float32Array, idx: readonly number[], w = PIX) => {
  const out = new Float32Array(idx.length * w);
  idx.forEach((i, j) => out.set(a.subarray(i * w, (i + 1) * w), j * w));
  return out;
};
const u8 = (a: Float32Array) => Uint8Array.from(a, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
const img = (a: Float32Array, i: number) => a.subarray(i * PIX, (i + 1) * PIX);
const pct = (v: number) => (Number.isFinite(v) ? `${(100 * v).toFixed(1)} %` : '–');
const counts = (c: number[]) => c.map((n, d) => (n ? `${d}:${n}` : '')).filter(Boolean).join(' ');

interface RunResult {
  k: number;
  seed: number;
  chosenStep: number;
  validation: VaeAtomsFinetune['validationLog'];
  trainSeconds: number;
  lastLoss: number;
  held: { images: Float32Array; verdicts: Record<JudgeName, Verdicts> };
  prior: { images: Float32Array; verdicts: Record<JudgeName, Verdicts> };
  usage: LayerUsage[];
  /** Per image: atoms with a non-zero code on any of its tokens, per layer (mean over images). */
  nonZeroPerImage: number[];
  rec: number;
  maps: ContributionAnalysis | null;
  lossCurve: { step: number; loss: number }[];
}

function parseList(v: string | boolean | undefined, name: string, fallback: number[], min: number): number[] {
  if (v === undefined) return fallback;
  const items = String(v).split(',').map((s) => numberOption(s.trim(), name, { int: true, min })!);
  if (items.length === 0) throw new Error(`--${name} needs at least one value`);
  return items;
}

async function run(values: ExperimentValues, io: ExperimentIo): Promise<number> {
  const quick = values.quick === true;
  const cfg: Vae8to3Config = { ...(quick ? VAE_8TO3_QUICK : VAE_8TO3_FULL) };
  const int = (v: string | boolean | undefined, name: string, min: number) => numberOption(v, name, { int: true, min });
  cfg.steps = int(values.steps, 'steps', 0) ?? cfg.steps;
  cfg.evalEvery = int(values['eval-every'], 'eval-every', 0) ?? cfg.evalEvery;
  cfg.validation = numberOption(values.validation, 'validation', { min: 0 }) ?? cfg.validation;
  if (cfg.validation >= 1) throw new Error(`--validation must be a share in [0, 1), got '${String(values.validation)}'`);
  cfg.batch = int(values.batch, 'batch', 1) ?? cfg.batch;
  cfg.evalImages = int(values.eval, 'eval', 0) ?? cfg.evalImages;
  cfg.atoms = int(values.atoms, 'atoms', 1) ?? cfg.atoms;
  cfg.lr = numberOption(values.lr, 'lr', { min: 0, exclusiveMin: true }) ?? cfg.lr;
  cfg.noise = numberOption(values.noise, 'noise', { min: 0 }) ?? cfg.noise;
  const sigma = stringOption(values.sigma) ?? cfg.sigma;
  if (sigma !== 'topk' && sigma !== 'soft') throw new Error(`--sigma must be 'topk' or 'soft', got '${sigma}'`);
  cfg.sigma = sigma;
  cfg.lambda = numberOption(values.lambda, 'lambda', { min: 0 }) ?? cfg.lambda;
  cfg.l1 = numberOption(values.l1, 'l1', { min: 0 }) ?? cfg.l1;
  const ks = parseList(values.k, 'k', quick ? [10] : [10, 3], 1);
  for (const k of ks) if (k > cfg.atoms) throw new Error(`--k must list integers in 1..${cfg.atoms} (atoms), got ${k}`);
  const seeds = parseList(values.seeds, 'seeds', quick ? [1] : [1, 2, 3], 0);
  const nPrior = int(values.prior, 'prior', 1) ?? (quick ? 256 : 2048);
  const vaeFile = stringOption(values.vae) ?? VAE_8TO3_BASE_FILE;
  const files: Record<JudgeName, string> = { mlp: stringOption(values.mlp) ?? MLP_JUDGE_FILE, cnn: stringOption(values.cnn) ?? CNN_JUDGE_FILE };
  const out = stringOption(values.out) ?? join('repro-results', 'mnist-vae-8to3');
  mkdirSync(out, { recursive: true });

  const ctx = await acquireNodeGpu();
  const rt = new GpuRuntime(ctx);
  const device = `${ctx.info.vendor} ${ctx.info.architecture} ${ctx.info.description}`.trim();
  const tAll = performance.now();
  const mnist = loadMnistNode();
  const vaeBytes = new Uint8Array(readFileSync(vaeFile));
  const vaeMeta = baseCheckpointMetadata(vaeBytes);
  const noise = cfg.noise ?? baseNoise(vaeMeta);
  const judges: Judges = { mlp: new DigitJudge(rt, new Uint8Array(readFileSync(files.mlp))), cnn: new DigitJudge(rt, new Uint8Array(readFileSync(files.cnn))) };
  const judgeInfo = Object.fromEntries(JUDGE_NAMES.map((j) => [j, { file: files[j], kind: judges[j].kind, recordedTestAccuracy: judges[j].recordedAccuracy() }]));

  // ---------- 1. the frozen base ----------
  const base = buildBase(rt, mnist, vaeBytes, noise);
  const test59 = quick ? base.testIndices.slice(0, 128) : base.testIndices;
  const rec59 = (await base.reconstruct(test59)).recon;
  const own = {} as Record<JudgeName, Rate>;
  for (const j of JUDGE_NAMES) {
    const v = await judges[j].classify(rec59);
    own[j] = rate(test59.filter((i, n) => v.pred[n] === mnist.labels[i]).length, test59.length);
  }
  const all3 = splitMnist(mnist).test.filter((i) => mnist.labels[i] === DIGIT);
  const heldIdx = cfg.evalImages > 0 ? all3.slice(0, cfg.evalImages) : all3;
  const heldInputs = await base.reconstruct(heldIdx);
  const heldLatents = (await base.encode(heldIdx)).mu;
  const heldBase = heldInputs.recon;
  const heldBaseV = await judgeBoth(judges, heldBase, DIGIT);
  const priorLatents = sampleLatents(nPrior, base.vae.cfg.latent, PRIOR_SEED);
  const priorBase = await base.decode(priorLatents);
  const priorBaseV = await judgeBoth(judges, priorBase, DIGIT);
  base.destroy();
  io.log(`base: 5–9 judged own digit ${JUDGE_NAMES.map((j) => `${j} ${pct(own[j].rate)}`).join(', ')}; held-out 3s judged "3" ${JUDGE_NAMES.map((j) => `${j} ${pct(heldBaseV[j].target)}`).join(', ')}; prior "8"s ${JUDGE_NAMES.map((j) => `${j} ${priorBaseV[j].counts[8]}/${nPrior}`).join(', ')}`);

  // ---------- 2. fine-tuning runs ----------
  const runs: RunResult[] = [];
  let fixedAt = -1;
  for (const k of ks) {
    for (const seed of seeds) {
      const rcfg: Vae8to3Config = { ...cfg, k, seed };
      const ft = new VaeAtomsFinetune(rt, mnist, vaeBytes, rcfg);
      io.log(`k = ${k}, seed ${seed}: ${ft.task.trainIndices.length} training / ${ft.task.validationIndices.length} validation / ${heldIdx.length} held-out 3s, noise σ ${noise}, up to ${cfg.steps} steps × ${cfg.batch}, Adam lr ${cfg.lr}`);
      const bar = io.progress(cfg.steps, `fine-tune k=${k} seed ${seed}`);
      await ft.trainSelected(judges, { onStep: (s, last) => bar.update(s, last ? `loss ${last.values.loss!.toFixed(1)}` : '') });
      bar.done(`kept step ${ft.chosenStep}`);
      ft.setAtoms('all');
      const held = (await ft.decode(heldLatents)).images;
      const prior = (await ft.decode(priorLatents)).images;
      const heldV = await judgeBoth(judges, held, DIGIT);
      const priorV = await judgeBoth(judges, prior, DIGIT);
      const usage = await atomUsage(ft, heldLatents);
      const nonZeroPerImage = await nonZeroAtomsPerImage(ft, heldLatents);
      const evalAdapted = await ft.task.evaluate();
      if (fixedAt < 0) fixedAt = pickFixed(heldBaseV, heldV);
      const maps = seed === seeds[0] ? await analyseContributions(ft, heldLatents.slice(fixedAt * 32, (fixedAt + 1) * 32), { maxAtoms: 16 }) : null;
      const last = ft.rows.slice(-5);
      runs.push({
        k,
        seed,
        chosenStep: ft.chosenStep,
        validation: ft.validationLog,
        trainSeconds: ft.trainSeconds,
        lastLoss: last.reduce((s, r) => s + r.values.loss!, 0) / Math.max(1, last.length),
        held: { images: held, verdicts: heldV },
        prior: { images: prior, verdicts: priorV },
        usage,
        nonZeroPerImage,
        rec: evalAdapted.rec,
        maps,
        lossCurve: ft.rows.map((r) => ({ step: r.step + 1, loss: r.values.loss! })),
      });
      io.log(`  held-out "3": ${JUDGE_NAMES.map((j) => `${j} ${pct(heldV[j].target)}`).join(', ')}; active atoms per image ${usage.map((u) => round(u.activePerImage, 3)).join(' + ')}`);
      ft.destroy();
    }
  }
  // The fixed latent must be a base "8" that k = 10 turns into "3" in every run if one exists.
  fixedAt = pickFixed(heldBaseV, ...runs.filter((r) => r.k === ks[0]).map((r) => r.held.verdicts));

  // ---------- 3. aggregate ----------
  const seconds = (performance.now() - tAll) / 1000;
  const perRun = runs.map((r) => {
    const j = {} as Record<JudgeName, object>;
    for (const n of JUDGE_NAMES) {
      const hb = heldBaseV[n];
      const ha = r.held.verdicts[n];
      j[n] = {
        heldOut3: rate(ha.counts[DIGIT]!, ha.images),
        heldOutCounts: ha.counts,
        from8: conditional(hb, ha, 8, DIGIT),
        from5: conditional(hb, ha, 5, DIGIT),
        brokenCorrect: conditional(hb, ha, DIGIT, -1).n - conditional(hb, ha, DIGIT, DIGIT).k,
        prior3: rate(r.prior.verdicts[n].counts[DIGIT]!, nPrior),
        priorFrom8: conditional(priorBaseV[n], r.prior.verdicts[n], 8, DIGIT),
        priorFrom5: conditional(priorBaseV[n], r.prior.verdicts[n], 5, DIGIT),
        priorCounts: r.prior.verdicts[n].counts,
      };
    }
    return {
      k: r.k,
      seed: r.seed,
      chosenStep: r.chosenStep,
      trainSeconds: round(r.trainSeconds),
      lastLoss: round(r.lastLoss),
      heldOutRec: round(r.rec),
      validation: r.validation.map((v) => ({ step: v.step, mlp: round(v.judged.mlp), cnn: round(v.judged.cnn) })),
      judges: j,
      atoms: r.usage.map((u, l) => ({ layer: u.path, active: u.active.length, activePerImage: round(u.activePerImage), nonZeroPerImage: round(r.nonZeroPerImage[l]!), perToken: round(u.perToken), everUsed: u.everUsed, above1pct: u.above1pct })),
      activePerImage: round(r.usage.reduce((s, u) => s + u.activePerImage, 0)),
    };
  });
  type JudgeStats = { heldOut3: Rate; from8: Rate; from5: Rate; prior3: Rate; priorFrom8: Rate };
  const stat = (k: number, get: (r: (typeof perRun)[number]) => number) => {
    const xs = perRun.filter((r) => r.k === k).map(get).filter(Number.isFinite);
    if (xs.length === 0) return { mean: NaN, ci95: null as [number, number] | null, values: xs, n: 0 };
    const iv = tInterval(xs);
    return { mean: round(iv.mean), ci95: xs.length > 1 ? ([round(iv.lo), round(iv.hi)] as [number, number]) : null, values: xs.map((x) => round(x)), n: xs.length };
  };
  const js = (r: (typeof perRun)[number], n: JudgeName) => r.judges[n] as JudgeStats;
  const summary = Object.fromEntries(
    ks.map((k) => [
      `k${k}`,
      {
        ...Object.fromEntries(
          JUDGE_NAMES.map((n) => [
            n,
            {
              heldOut3: stat(k, (r) => js(r, n).heldOut3.rate),
              from8: stat(k, (r) => js(r, n).from8.rate),
              from5: stat(k, (r) => js(r, n).from5.rate),
              prior3: stat(k, (r) => js(r, n).prior3.rate),
              priorFrom8: stat(k, (r) => js(r, n).priorFrom8.rate),
            },
          ]),
        ),
        activePerImage: stat(k, (r) => r.activePerImage),
        activePerImageByLayer: [0, 1].map((l) => stat(k, (r) => r.atoms[l]!.activePerImage)),
        nonZeroPerImageByLayer: [0, 1].map((l) => stat(k, (r) => r.atoms[l]!.nonZeroPerImage)),
        activeByLayer: [0, 1].map((l) => stat(k, (r) => r.atoms[l]!.active)),
      },
    ]),
  ) as Record<string, Record<JudgeName, Record<keyof JudgeStats, ReturnType<typeof stat>>> & { activePerImage: ReturnType<typeof stat>; activePerImageByLayer: ReturnType<typeof stat>[]; nonZeroPerImageByLayer: ReturnType<typeof stat>[]; activeByLayer: ReturnType<typeof stat>[] }>;

  const baseStats = Object.fromEntries(
    JUDGE_NAMES.map((n) => {
      const v = heldBaseV[n];
      const failures = v.images - v.counts[DIGIT]!;
      return [
        n,
        {
          ownDigit59: own[n],
          heldOut3: rate(v.counts[DIGIT]!, v.images),
          heldOutCounts: v.counts,
          failures58: rate(v.counts[5]! + v.counts[8]!, failures),
          prior: { counts: priorBaseV[n].counts, eights: priorBaseV[n].counts[8], threes: rate(priorBaseV[n].counts[DIGIT]!, nPrior) },
        },
      ];
    }),
  ) as Record<JudgeName, { ownDigit59: Rate; heldOut3: Rate; heldOutCounts: number[]; failures58: Rate; prior: { counts: number[]; eights: number; threes: Rate } }>;

  // ---------- checks ----------
  const checks: Check[] = [];
  const differ = (a: number, b: number) => Math.abs(a - b) > 0.05;
  const both = (id: string, claim: string, goal: string, ok: (v: number) => boolean, get: (n: JudgeName) => { mean: number; ci95: [number, number] | null }, checkSeeds: number[], note = '') => {
    const m = JUDGE_NAMES.map((n) => get(n));
    const disagree = differ(m[0]!.mean, m[1]!.mean);
    JUDGE_NAMES.forEach((n, i) => {
      const v = m[i]!;
      const notes = [note, `point estimate ${ok(v.mean) ? 'meets' : 'misses'} the goal`, disagree ? `the two judges differ by ${(100 * Math.abs(m[0]!.mean - m[1]!.mean)).toFixed(1)} points` : ''].filter(Boolean).join('; ');
      checks.push({ id: `${id}:${n}`, claim, measured: v.mean, goal, pass: verdictOf(v, ok), ci95: v.ci95, seeds: checkSeeds, note: notes });
    });
  };
  const baseRate = (r: Rate) => ({ mean: r.rate, ci95: r.ci95 });
  both('base-own-digit', 'the base denoises digits 5–9 (judged as their own digit)', '≥ 0.90', (v) => v >= 0.9, (n) => baseRate(baseStats[n].ownDigit59), [], 'base only (no fine-tuning seed); interval: Wilson, test images');
  both('base-3-not-3', 'without the atoms, noisy 3s do not decode to a 3', '≤ 0.35', (v) => v <= 0.35, (n) => baseRate(baseStats[n].heldOut3), [], 'Wilson interval over the held-out 3s');
  both('base-failures-5-or-8', 'the base draws a 5 or an 8 instead ("outputs an 8")', '≥ 0.60 of the failures', (v) => v >= 0.6, (n) => baseRate(baseStats[n].failures58), [], 'Wilson interval over the failures');
  const s10 = summary.k10;
  if (s10) {
    both('k10-held-out-3', 'with the atoms the same latents decode to a 3 (k = 10)', '≥ 0.80', (v) => v >= 0.8, (n) => s10[n].heldOut3, seeds, 't-interval over seeds');
    both('k10-8-to-3', 'the base\'s "8"s become "3" (k = 10)', '≥ 0.70', (v) => v >= 0.7, (n) => s10[n].from8, seeds, 't-interval over seeds; conditional on the same judge\'s base verdict');
    both('k10-prior-8-to-3', 'prior samples the base decodes as "8" decode as "3" with the atoms (k = 10)', '≥ 0.30 (of ≥ 256 base "8"s)', (v) => v >= 0.3, (n) => s10[n].priorFrom8, seeds, `${JUDGE_NAMES.map((n) => `${n}: ${baseStats[n].prior.eights} base "8"s of ${nPrior}`).join(', ')}`);
  }
  const s3 = summary.k3;
  if (s3) {
    checks.push({ id: 'k3-active-per-image', claim: 'a few atoms carry the change: 8 + 4 = 12 (k = 3)', measured: s3.activePerImage.mean, goal: '≤ 16 active atoms per image', pass: verdictOf(s3.activePerImage, (v) => v <= 16), ci95: s3.activePerImage.ci95, seeds, note: `layer split ${s3.activePerImageByLayer.map((x) => x.mean).join(' + ')} (paper: 8 + 4); atoms covering ${ACTIVE_USAGE_COVERAGE * 100} % of an image's usage` });
    both('k3-held-out-3', 'with the atoms the same latents decode to a 3 (k = 3)', '≥ 0.75', (v) => v >= 0.75, (n) => s3[n].heldOut3, seeds, 't-interval over seeds');
  }

  // ---------- decoded images ----------
  const priorKeep = [...Array(nPrior).keys()].filter((i) => i < 256 || JUDGE_NAMES.some((n) => priorBaseV[n].pred[i] === 8));
  const tensors: TensorInput[] = [
    { name: 'held_out.indices', shape: [heldIdx.length], data: Int32Array.from(heldIdx) },
    { name: 'held_out.noisy', shape: [heldIdx.length, PIX], data: u8(heldInputs.noisy) },
    { name: 'held_out.clean', shape: [heldIdx.length, PIX], data: u8(heldInputs.clean) },
    { name: 'held_out.latents', shape: [heldIdx.length, 32], data: heldLatents },
    { name: 'held_out.base', shape: [heldIdx.length, PIX], data: u8(heldBase) },
    { name: 'prior.indices', shape: [priorKeep.length], data: Int32Array.from(priorKeep) },
    { name: 'prior.latents', shape: [priorKeep.length, 32], data: pick(priorLatents, priorKeep, 32) },
    { name: 'prior.base', shape: [priorKeep.length, PIX], data: u8(pick(priorBase, priorKeep)) },
  ];
  for (const r of runs) {
    tensors.push({ name: `held_out.k${r.k}.seed${r.seed}`, shape: [heldIdx.length, PIX], data: u8(r.held.images) });
    tensors.push({ name: `prior.k${r.k}.seed${r.seed}`, shape: [priorKeep.length, PIX], data: u8(pick(r.prior.images, priorKeep)) });
  }
  writeFileSync(
    join(out, 'decoded.safetensors'),
    serializeSafetensors(tensors, {
      about: 'Decoded digits of the mnist-vae-8to3 run. Images are U8, pixel = value / 255 (σ of the decoder logits, rounded). held_out.*: the test split\'s 3s (data-set indices in held_out.indices) with their fixed noise (seed ' + EVAL_NOISE_SEED + '), latents z = μ; prior.*: z ~ N(0, I) from sampleLatents(n, 32, ' + PRIOR_SEED + '), the rows listed in prior.indices (the first 256 and every one either judge calls "8" in the base decode); base = atoms off; k{K}.seed{S} = the adapted decoder of that run.',
      base: vaeFile,
      prior_samples: String(nPrior),
    }),
  );

  const fixed = {
    heldOutIndex: fixedAt,
    datasetIndex: heldIdx[fixedAt],
    base: Object.fromEntries(JUDGE_NAMES.map((n) => [n, { pred: heldBaseV[n].pred[fixedAt], p8: round(heldBaseV[n].probs[fixedAt * 10 + 8]!) }])),
    adapted: runs.map((r) => ({ k: r.k, seed: r.seed, ...Object.fromEntries(JUDGE_NAMES.map((n) => [n, { pred: r.held.verdicts[n].pred[fixedAt], p3: round(r.held.verdicts[n].probs[fixedAt * 10 + DIGIT]!) }])) })),
  };
  const results = {
    experiment: 'mnist-vae-8to3',
    paper: 'Chen et al., Sparse Fine-Tuning of Transformers for Generative Tasks, §3.3 "Identifying the importance of feature atoms", App. B, Fig. 1',
    quick,
    device,
    seconds: round(seconds),
    config: { ...cfg, noise, ks, seeds, priorSamples: nPrior, priorSeed: PRIOR_SEED, evalNoiseSeed: EVAL_NOISE_SEED },
    files: { vae: vaeFile, judges: judgeInfo, decoded: 'decoded.safetensors' },
    base: { config: vaeConfigFromMetadata(vaeMeta), test59Images: test59.length, heldOutImages: heldIdx.length, judges: baseStats },
    definitions: {
      heldOut: 'the test split\'s 3s with fixed per-image noise, encoded by the frozen encoder to z = μ; base = the adapted decoder with every atom masked (bit-identical to the base decoder)',
      conditional: 'from8 = of the held-out 3s a judge calls "8" in the base decode, the share the same judge calls "3" with the atoms',
      usage: "u_m = mean over tokens of |S_tm|·‖D_m‖ (atom m's share of ΔO)",
      activePerImage: `per image and layer, the fewest atoms covering ${ACTIVE_USAGE_COVERAGE * 100} % of that image's usage (mean over held-out images); nonZeroPerImage: atoms with a non-zero code on any token of the image`,
      contributionMap: 'decode(all atoms on) − decode(all on but atom m of layer ℓ), pixel intensities; red = the atom raises the pixel',
      layerTotal: "decode(all on) − decode(layer ℓ's atoms off)",
      intervals: 'per run: Wilson 95 % over images; summary: Student-t 95 % over fine-tuning seeds',
    },
    summary,
    runs: perRun,
    fixedLatent: fixed,
    checks,
  };
  writeFileSync(join(out, 'results.json'), JSON.stringify(results, null, 2) + '\n');

  // ---------- figures ----------
  const figs = writeFigures(out, { heldIdx, heldInputs, heldBase, heldBaseV, priorBase, priorBaseV, runs, fixedAt, ks, seeds });
  const md = markdown({ quick, device, seconds, cfg, noise, vaeFile, files, judgeInfo, baseStats, summary, perRun, ks, seeds, nPrior, fixed, checks, figs, heldN: heldIdx.length, test59: test59.length });
  writeFileSync(join(out, 'results.md'), md);
  io.print(md);
  io.log(`wrote ${join(out, 'results.json')}, results.md, decoded.safetensors and ${figs.length} figures`);
  for (const j of JUDGE_NAMES) judges[j].destroy();
  rt.destroy();
  return 0;
}

/**
 * The project's verdict rule (stats.ts `Check.pass`): true when the whole 95 % interval meets the
 * goal, false when none of it does, null when it straddles the goal; without an interval (one
 * seed) the point estimate decides.
 */
function verdictOf(v: { mean: number; ci95: [number, number] | null }, ok: (x: number) => boolean): boolean | null {
  if (!Number.isFinite(v.mean)) return null;
  if (!v.ci95) return ok(v.mean);
  const lo = ok(v.ci95[0]);
  const hi = ok(v.ci95[1]);
  return lo && hi ? true : !lo && !hi ? false : null;
}

/** The frozen base as a plain VAE task (digits 5–9, its own pre-training noise, the fixed evaluation noise). */
function buildBase(rt: GpuRuntime, mnist: MnistSet, bytes: Uint8Array, noise: number): MnistVaeTask {
  const model = vaeConfigFromMetadata(baseCheckpointMetadata(bytes));
  const task = buildMnistVaeTask(rt, mnist, { ...MNIST_VAE_DEFAULTS, noise: { kind: 'gaussian', sigma: noise }, seed: EVAL_NOISE_SEED, evalSeed: EVAL_NOISE_SEED, model: { ...model, batch: 32, frozen: true } }, { initOutputBias: false });
  loadVaeCheckpoint(bytes, task.vae);
  return task;
}

/** Per layer, the mean over images of the atoms with a non-zero code on any of the image's tokens. */
async function nonZeroAtomsPerImage(ft: VaeAtomsFinetune, latents: Float32Array): Promise<number[]> {
  ft.setAtoms('all');
  const { codes } = await ft.decode(latents, { codes: true });
  const T = ft.task.vae.tokens;
  const M = ft.M;
  const n = latents.length / ft.task.vae.cfg.latent;
  return codes.map((c) => {
    let total = 0;
    const seen = new Uint8Array(M);
    for (let i = 0; i < n; i++) {
      seen.fill(0);
      for (let t = 0; t < T; t++) for (let m = 0; m < M; m++) if (c[(i * T + t) * M + m] !== 0) seen[m] = 1;
      total += seen.reduce((s, v) => s + v, 0);
    }
    return total / n;
  });
}

/**
 * The held-out image for the maps: both judges call the base decode "8" and every given adapted
 * decode "3" — the most confident p(8) among those; failing that, relax to the base "8" alone,
 * then to the most confident base "8" by the MLP.
 */
function pickFixed(base: Record<JudgeName, Verdicts>, ...adapted: Record<JudgeName, Verdicts>[]): number {
  const n = base.mlp.pred.length;
  const p8 = (i: number) => JUDGE_NAMES.reduce((s, j) => s + base[j].probs[i * 10 + 8]!, 0);
  const tiers = [
    (i: number) => JUDGE_NAMES.every((j) => base[j].pred[i] === 8 && adapted.every((a) => a[j].pred[i] === DIGIT)),
    (i: number) => JUDGE_NAMES.every((j) => base[j].pred[i] === 8) && adapted.every((a) => a.mlp.pred[i] === DIGIT),
    (i: number) => JUDGE_NAMES.every((j) => base[j].pred[i] === 8),
    () => true,
  ];
  for (const ok of tiers) {
    let best = -1;
    for (let i = 0; i < n; i++) if (ok(i) && (best < 0 || p8(i) > p8(best))) best = i;
    if (best >= 0) return best;
  }
  return 0;
}

interface FigureData {
  heldIdx: number[];
  heldInputs: { noisy: Float32Array };
  heldBase: Float32Array;
  heldBaseV: Record<JudgeName, Verdicts>;
  priorBase: Float32Array;
  priorBaseV: Record<JudgeName, Verdicts>;
  runs: RunResult[];
  fixedAt: number;
  ks: number[];
  seeds: number[];
}

function writeFigures(out: string, d: FigureData): string[] {
  const figs: string[] = [];
  const fig = (name: string, svg: string) => {
    writeFileSync(join(out, name), svg);
    figs.push(name);
  };
  const first = d.ks.map((k) => d.runs.find((r) => r.k === k && r.seed === d.seeds[0])!).filter(Boolean);
  const verdict = (v: Record<JudgeName, Verdicts>, i: number) => JUDGE_NAMES.map((j) => v[j].pred[i]).join('/');
  // Held-out 3s: the base's "8"s first, then other failures, then the rest; 16 columns.
  const score = (i: number) => (d.heldBaseV.mlp.pred[i] === 8 ? 0 : d.heldBaseV.mlp.pred[i] !== DIGIT ? 1 : 2);
  const order = [...d.heldIdx.keys()].sort((a, b) => score(a) - score(b) || a - b).slice(0, 16);
  fig(
    'digits-before-after.svg',
    imageGridSvg(
      [
        { label: 'noisy input', panels: order.map((i) => ({ title: `#${d.heldIdx[i]}`, rgb: digitRgb(img(d.heldInputs.noisy, i)) })) },
        { label: 'base\n(atoms off)', panels: order.map((i) => ({ title: verdict(d.heldBaseV, i), rgb: digitRgb(img(d.heldBase, i)) })) },
        ...first.map((r) => ({ label: `atoms k = ${r.k}\n(seed ${r.seed})`, panels: order.map((i) => ({ title: verdict(r.held.verdicts, i), rgb: digitRgb(img(r.held.images, i)) })) })),
      ],
      { title: `Held-out noisy ${DIGIT}s, the same latent z = μ decoded without and with the atoms (verdicts: MLP/CNN judge)`, deflate, pixel: 2 },
    ),
  );
  // Prior samples the base decodes as "8" (both judges).
  const eights = [...Array(d.priorBaseV.mlp.pred.length).keys()].filter((i) => JUDGE_NAMES.every((j) => d.priorBaseV[j].pred[i] === 8)).slice(0, 16);
  if (eights.length) {
    fig(
      'prior-8-to-3.svg',
      imageGridSvg(
        [
          { label: 'base\n(atoms off)', panels: eights.map((i) => ({ title: `z${i}: ${verdict(d.priorBaseV, i)}`, rgb: digitRgb(img(d.priorBase, i)) })) },
          ...first.map((r) => ({ label: `atoms k = ${r.k}\n(seed ${r.seed})`, panels: eights.map((i) => ({ title: verdict(r.prior.verdicts, i), rgb: digitRgb(img(r.prior.images, i)) })) })),
        ],
        { title: 'Prior samples z ~ N(0, I) the base decodes as "8", decoded with the atoms (verdicts: MLP/CNN)', deflate, pixel: 2 },
      ),
    );
  }
  for (const r of first) {
    const a = r.maps;
    if (!a) continue;
    const effScale = maxAbs(a.overall, ...a.layers.map((l) => l.total)) || 1;
    fig(
      `fixed-latent-k${r.k}.svg`,
      imageGridSvg(
        [
          {
            panels: [
              { title: `base: ${verdict(d.heldBaseV, d.fixedAt)}`, rgb: digitRgb(a.base) },
              { title: `atoms: ${verdict(r.held.verdicts, d.fixedAt)}`, rgb: digitRgb(a.adapted) },
              { title: 'adapted − base\n(all atoms)', rgb: signedRgb(a.overall, effScale) },
              ...a.layers.map((l, i) => ({ title: `ΔO(${i + 1}) total\n(all on − layer off)`, rgb: signedRgb(l.total, effScale) })),
            ],
          },
        ],
        { title: `Held-out 3 #${d.heldIdx[d.fixedAt]}: the same latent without / with the atoms (k = ${r.k}, seed ${r.seed}); verdicts MLP/CNN`, deflate, pixel: 4, note: `red = the atoms raise the pixel, blue = lower it; colour scale ±${round(effScale, 2)}` },
      ),
    );
    for (const [li, l] of a.layers.entries()) {
      const scale = maxAbs(...l.atoms.map((x) => x.map)) || 1;
      const totalUse = l.usage.reduce((s, v) => s + v, 0) || 1;
      const panels: ImagePanel[] = [{ title: `layer total\n(±${round(maxAbs(l.total), 2)})`, rgb: signedRgb(l.total, maxAbs(l.total) || 1) }, ...l.atoms.map((x) => ({ title: `atom ${x.atom}\n${Math.round((100 * x.usage[0]!) / totalUse)} % of use`, rgb: signedRgb(x.map, scale) }))];
      const rows: { panels: ImagePanel[] }[] = [];
      for (let s = 0; s < panels.length; s += 9) rows.push({ panels: panels.slice(s, s + 9) });
      fig(`atom-contributions-k${r.k}-layer${li}.svg`, imageGridSvg(rows, { title: `k = ${r.k}, decoder layer ${li}: each active atom's contribution for held-out 3 #${d.heldIdx[d.fixedAt]}`, deflate, pixel: 3, note: `red = increase, blue = decrease; atom maps share the scale ±${round(scale, 2)}; the layer total has its own` }));
    }
    for (const [li, u] of r.usage.entries()) {
      const tot = u.usage.reduce((s, v) => s + v, 0) || 1;
      const sorted = Array.from(u.usage).map((v) => v / tot).sort((x, y) => y - x).slice(0, 40);
      fig(`active-atoms-k${r.k}-layer${li}.svg`, barPlot(sorted, { title: `k = ${r.k}, decoder layer ${li}: atom usage over held-out 3s, sorted (${u.active.length} atoms cover ${ACTIVE_USAGE_COVERAGE * 100} %)`, xLabel: 'atom rank', yLabel: 'share of usage', width: 560, height: 240 }));
    }
  }
  const withVal = d.runs.filter((r) => r.validation.length);
  if (withVal.length) {
    fig(
      'validation.svg',
      linePlot(
        withVal.flatMap((r) => JUDGE_NAMES.map((j) => ({ name: `k=${r.k} s${r.seed} ${j}`, x: r.validation.map((v) => v.step), y: r.validation.map((v) => v.judged[j]) }))),
        { title: 'Validation 3s judged "3" during fine-tuning (the best check is kept)', xLabel: 'step', yLabel: 'share judged "3"', width: 640, height: 320 },
      ),
    );
  }
  if (d.runs.some((r) => r.lossCurve.length)) {
    fig('finetune-loss.svg', linePlot(d.runs.map((r) => ({ name: `k=${r.k} seed ${r.seed}`, x: r.lossCurve.map((p) => p.step), y: r.lossCurve.map((p) => p.loss) })), { title: 'Fine-tuning loss (training batches of noisy 3s)', xLabel: 'step', yLabel: 'rec + KL (nats / image)', width: 640, height: 300 }));
  }
  return figs;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function markdown(m: any): string {
  const J = JUDGE_NAMES;
  const iv = (s: { mean: number; ci95: [number, number] | null }) => `${pct(s.mean)}${s.ci95 ? ` [${pct(s.ci95[0])}, ${pct(s.ci95[1])}]` : ''}`;
  const lines: string[] = [
    `# MNIST transformer-VAE "8 → 3" (atoms paper §3.3, Fig. 1) — ${m.quick ? 'quick' : 'full'} run`,
    '',
    `Device: ${m.device}. Total ${Math.round(m.seconds)} s. Base \`${m.vaeFile}\` (frozen; denoising noise σ ${m.noise}); ${m.cfg.atoms} atoms per decoder layer, σ = ${m.cfg.sigma}${m.cfg.sigma === 'topk' ? ` (k ∈ {${m.ks.join(', ')}})` : ` (λ ${m.cfg.lambda}, l1 ${m.cfg.l1})`}, form ${m.cfg.form}; up to ${m.cfg.steps} steps × ${m.cfg.batch}, Adam lr ${m.cfg.lr}${m.cfg.evalEvery > 0 ? `, early stopping every ${m.cfg.evalEvery} steps on ${Math.round(100 * m.cfg.validation)} % of the training 3s` : ''}; seeds ${m.seeds.join(', ')}. Judges: ${J.map((j: JudgeName) => `${j} \`${m.files[j]}\` (test accuracy ${pct(m.judgeInfo[j].recordedTestAccuracy)})`).join(', ')}.`,
    '',
    '## The base (atoms off)',
    '',
    `| judge | 5–9 test digits judged as their own (${m.test59}) | held-out noisy 3s judged "3" (${m.heldN}) | failures judged 5 or 8 | verdicts on held-out 3s | prior samples (${m.nPrior}): verdicts |`,
    '|---|---|---|---|---|---|',
    ...J.map((j: JudgeName) => {
      const b = m.baseStats[j];
      return `| ${j} | ${pct(b.ownDigit59.rate)} [${pct(b.ownDigit59.ci95[0])}, ${pct(b.ownDigit59.ci95[1])}] | ${pct(b.heldOut3.rate)} [${pct(b.heldOut3.ci95[0])}, ${pct(b.heldOut3.ci95[1])}] | ${pct(b.failures58.rate)} | ${counts(b.heldOutCounts)} | ${counts(b.prior.counts)} |`;
    }),
    '',
    '## With the atoms (mean over seeds [95 % t-interval])',
    '',
    '| k | judge | held-out 3s judged "3" | base "8" → "3" | base "5" → "3" | prior: base "8" → "3" | prior judged "3" |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const k of m.ks) {
    const s = m.summary[`k${k}`];
    for (const j of J) lines.push(`| ${k} | ${j} | ${iv(s[j].heldOut3)} | ${iv(s[j].from8)} | ${iv(s[j].from5)} | ${iv(s[j].priorFrom8)} | ${iv(s[j].prior3)} |`);
  }
  lines.push('', '| k | active atoms per image (95 % of usage) | by layer | non-zero atoms per image, by layer | active atoms over all held-out 3s, by layer |', '|---|---|---|---|---|');
  for (const k of m.ks) {
    const s = m.summary[`k${k}`];
    lines.push(`| ${k} | ${round(s.activePerImage.mean, 3)} | ${s.activePerImageByLayer.map((x: { mean: number }) => round(x.mean, 3)).join(' + ')} | ${s.nonZeroPerImageByLayer.map((x: { mean: number }) => round(x.mean, 3)).join(' + ')} | ${s.activeByLayer.map((x: { mean: number }) => round(x.mean, 3)).join(' + ')} |`);
  }
  lines.push('', '### Runs', '', '| k | seed | kept step | held-out "3" mlp / cnn | "8"→"3" mlp / cnn | prior "8"→"3" mlp / cnn | active per image |', '|---|---|---|---|---|---|---|');
  for (const r of m.perRun) {
    const g = (j: JudgeName, f: string) => r.judges[j][f];
    lines.push(`| ${r.k} | ${r.seed} | ${r.chosenStep} | ${pct(g('mlp', 'heldOut3').rate)} / ${pct(g('cnn', 'heldOut3').rate)} | ${pct(g('mlp', 'from8').rate)} (${g('mlp', 'from8').n}) / ${pct(g('cnn', 'from8').rate)} (${g('cnn', 'from8').n}) | ${pct(g('mlp', 'priorFrom8').rate)} (${g('mlp', 'priorFrom8').n}) / ${pct(g('cnn', 'priorFrom8').rate)} (${g('cnn', 'priorFrom8').n}) | ${r.activePerImage} |`);
  }
  lines.push('', `Fixed latent: held-out 3 #${m.fixed.datasetIndex} (base: ${J.map((j: JudgeName) => `${j} ${m.fixed.base[j].pred}`).join(', ')}).`, '', '## Checks', '', '| id | claim | measured | goal | pass | 95 % interval | note |', '|---|---|---|---|---|---|---|');
  for (const c of m.checks as Check[]) lines.push(`| ${c.id} | ${c.claim} | ${typeof c.measured === 'number' ? round(c.measured, 3) : c.measured} | ${c.goal} | ${c.pass === null ? '–' : c.pass ? 'yes' : 'no'} | ${c.ci95 ? `[${round(c.ci95[0], 3)}, ${round(c.ci95[1], 3)}]` : ''} | ${c.note ?? ''} |`);
  lines.push('', `Figures: ${m.figs.join(', ')}. Decoded images: decoded.safetensors.`, '');
  return lines.join('\n');
}

export const mnistVae8to3Experiment: Experiment = {
  summary: 'atoms paper §3.3/App. B/Fig. 1 MNIST transformer-VAE: atoms on the frozen bottleneck 5–9 decoder fine-tuned on noisy 3s; held-out 3s and prior samples judged by two classifiers before/after, active atoms per layer and image, per-atom red/blue maps',
  usage: USAGE,
  options: {
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    k: { type: 'string' },
    seeds: { type: 'string' },
    steps: { type: 'string' },
    'eval-every': { type: 'string' },
    validation: { type: 'string' },
    lr: { type: 'string' },
    batch: { type: 'string' },
    sigma: { type: 'string' },
    lambda: { type: 'string' },
    l1: { type: 'string' },
    atoms: { type: 'string' },
    eval: { type: 'string' },
    prior: { type: 'string' },
    noise: { type: 'string' },
    vae: { type: 'string' },
    mlp: { type: 'string' },
    cnn: { type: 'string' },
  },
  run,
};
