/**
 * `npm run repro -- mnist-vae-8to3 [--quick]`: the atoms paper's MNIST transformer-VAE "8 → 3"
 * experiment (§3.3, App. B, Fig. 1) on the shipped 5–9 base and digit classifier. The fine-tune
 * and the analysis live in src/tasks/mnist-vae-finetune.ts (shared with the page); this file
 * loads the files, runs them with a progress bar and writes results.json, results.md and SVG
 * figures (digits and red/blue maps as embedded PNGs).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { digitRgb, imageGridSvg, maxAbs, signedRgb, type ImagePanel } from '../analysis/digit-figures';
import { barPlot, linePlot } from '../analysis/svg-plot';
import { acquireNodeGpu } from '../engine/node-gpu';
import { GpuRuntime } from '../engine/runtime';
import { loadMnistNode } from '../data/mnist-node';
import { DigitJudge } from '../models/digit-judge';
import {
  ACTIVE_USAGE_COVERAGE,
  analyseContributions,
  atomUsage,
  judgeHeldOut,
  pickFixedLatent,
  VaeAtomsFinetune,
  VAE_8TO3_FULL,
  VAE_8TO3_QUICK,
  verdicts,
  type Vae8to3Config,
} from './mnist-vae-atoms';
import { numberOption, round, stringOption, type Experiment, type ExperimentIo, type ExperimentValues } from './experiment';

const USAGE = '[--quick] [--out dir] [--steps N] [--lr X] [--batch B] [--seed S] [--noise σ] [--k K] [--atoms M] [--eval N] [--vae file] [--classifier file]';

const deflate = (raw: Uint8Array) => new Uint8Array(deflateSync(raw, { level: 9 }));
const PIX = 784;

async function run(values: ExperimentValues, io: ExperimentIo): Promise<number> {
  const cfg: Vae8to3Config = { ...(values.quick ? VAE_8TO3_QUICK : VAE_8TO3_FULL) };
  const int = (v: string | boolean | undefined, name: string, min: number) => numberOption(v, name, { int: true, min });
  cfg.steps = int(values.steps, 'steps', 0) ?? cfg.steps;
  cfg.batch = int(values.batch, 'batch', 1) ?? cfg.batch;
  cfg.seed = int(values.seed, 'seed', 0) ?? cfg.seed;
  cfg.evalImages = int(values.eval, 'eval', 0) ?? cfg.evalImages;
  cfg.atoms = int(values.atoms, 'atoms', 1) ?? cfg.atoms;
  cfg.k = int(values.k, 'k', 1) ?? cfg.k;
  if (cfg.k > cfg.atoms) throw new Error(`--k must be an integer in 1..${cfg.atoms} (atoms), got '${String(values.k)}'`);
  cfg.lr = numberOption(values.lr, 'lr', { min: 0, exclusiveMin: true }) ?? cfg.lr;
  cfg.noise = numberOption(values.noise, 'noise', { min: 0 }) ?? cfg.noise;
  const vaeFile = stringOption(values.vae) ?? 'public/checkpoints/mnist-vae-5to9.safetensors';
  const clfFile = stringOption(values.classifier) ?? 'public/checkpoints/digit-classifier.safetensors';
  const out = stringOption(values.out) ?? join('repro-results', 'mnist-vae-8to3');
  mkdirSync(out, { recursive: true });

  const ctx = await acquireNodeGpu();
  const rt = new GpuRuntime(ctx);
  const device = `${ctx.info.vendor} ${ctx.info.architecture} ${ctx.info.description}`.trim();
  const tAll = performance.now();
  const mnist = loadMnistNode();
  const ft = new VaeAtomsFinetune(rt, mnist, new Uint8Array(readFileSync(vaeFile)), cfg);
  const judge = new DigitJudge(rt, new Uint8Array(readFileSync(clfFile)));
  const judgeAccuracy = judge.recordedAccuracy();
  io.log(`fine-tuning ${cfg.atoms} atoms (top-${cfg.k}) per decoder layer on digit ${cfg.digit}: ${ft.task.trainIndices.length} training / ${ft.task.testIndices.length} held-out images, noise σ ${cfg.noise}, batch ${cfg.batch}, ${cfg.steps} steps, Adam lr ${cfg.lr}; judge: ${clfFile} (recorded test accuracy ${judgeAccuracy})`);

  const bar = io.progress(cfg.steps, 'fine-tune atoms');
  await ft.train(cfg.steps, { onStep: (s, last) => bar.update(s, last ? `loss ${last.values.loss!.toFixed(1)} rec ${last.values.rec!.toFixed(1)}` : '') });
  bar.done();

  const held = await judgeHeldOut(ft, judge, cfg.evalImages, cfg.digit);
  const usage = await atomUsage(ft, held.latents);
  // Only each layer's active atoms on: does the small set carry the shift?
  ft.setAtoms({ masks: usage.map((u) => Float32Array.from({ length: cfg.atoms }, (_, m) => (u.active.includes(m) ? 1 : 0))) });
  const prunedImgs = (await ft.decode(held.latents)).images;
  const pj = await judge.classify(prunedImgs);
  const pruned = verdicts(pj.pred, pj.probs, cfg.digit);
  ft.setAtoms('all');
  const fixedAt = pickFixedLatent(held, 8, cfg.digit);
  const latentDim = ft.task.vae.cfg.latent;
  const fixedLatent = held.latents.slice(fixedAt * latentDim, (fixedAt + 1) * latentDim);
  const analysis = await analyseContributions(ft, fixedLatent, { maxAtoms: 16 });
  const fj = await judge.classify(new Float32Array([...analysis.base, ...analysis.adapted]));
  const evalTest = await ft.task.evaluate();
  ft.setAtoms('none');
  const evalTestBase = await ft.task.evaluate();
  ft.setAtoms('all');
  const seconds = (performance.now() - tAll) / 1000;

  const bv = held.base.verdicts;
  const av = held.adapted.verdicts;
  let fixedByAdapter = 0;
  let baseFailures = 0;
  let broken = 0;
  for (let i = 0; i < bv.pred.length; i++) {
    if (bv.pred[i] !== cfg.digit) {
      baseFailures++;
      if (av.pred[i] === cfg.digit) fixedByAdapter++;
    } else if (av.pred[i] !== cfg.digit) broken++;
  }
  const meanP = (v: typeof bv) => v.probs.reduce((s, _, j) => (j % 10 === cfg.digit ? s + v.probs[j]! : s), 0) / v.images;
  const lastRows = ft.rows.slice(-5);
  const lastMean = (k: string) => lastRows.reduce((s, r) => s + (r.values[k] ?? 0), 0) / Math.max(1, lastRows.length);

  const results = {
    experiment: 'mnist-vae-8to3',
    paper: 'Chen et al., Sparse Fine-Tuning of Transformers for Generative Tasks, §3.3 "Identifying the importance of feature atoms", App. B, Fig. 1',
    quick: values.quick,
    device,
    seconds: round(seconds, 4),
    trainSeconds: round(ft.trainSeconds, 4),
    config: cfg,
    files: { vae: vaeFile, classifier: clfFile },
    judge: { recordedTestAccuracy: judgeAccuracy },
    data: { trainImages: ft.task.trainIndices.length, heldOutImages: held.indices.length },
    definitions: {
      usage: 'u_m = mean over tokens of |S_tm|·‖D_m‖ (atom m\'s share of ΔO), over the held-out latents',
      activeAtoms: `fewest atoms covering ${ACTIVE_USAGE_COVERAGE * 100} % of Σ_m u_m`,
      contributionMap: 'decode(all atoms on) − decode(all on but atom m of layer ℓ), pixel intensities σ(logits); red = increase',
      layerTotal: "decode(all on) − decode(layer ℓ's atoms off)",
    },
    train: { steps: ft.step, lastLoss: round(lastMean('loss')), lastRec: round(lastMean('rec')), activeAtomsPerToken: ft.adapters.map((a) => round(lastMean(`${a.path}.active_atoms`))) },
    heldOut: {
      base: { judgedTarget: round(bv.target), counts: bv.counts, meanPTarget: round(meanP(bv)) },
      adapted: { judgedTarget: round(av.target), counts: av.counts, meanPTarget: round(meanP(av)) },
      activeOnly: { judgedTarget: round(pruned.target), counts: pruned.counts },
      baseFailures,
      fixedByAdapter,
      brokenByAdapter: broken,
      denoising: { base: { rec: round(evalTestBase.rec), mse: round(evalTestBase.mse) }, adapted: { rec: round(evalTest.rec), mse: round(evalTest.mse) }, images: evalTest.images },
    },
    atoms: usage.map((u) => ({ layer: u.path, active: u.active.length, activeAtoms: u.active, above1pct: u.above1pct, everUsed: u.everUsed, perToken: round(u.perToken), activePerImage: round(u.activePerImage) })),
    fixedLatent: {
      heldOutIndex: fixedAt,
      datasetIndex: held.indices[fixedAt],
      base: { pred: fj.pred[0], p8: round(fj.probs[8]!), pTarget: round(fj.probs[cfg.digit]!) },
      adapted: { pred: fj.pred[1], p8: round(fj.probs[18]!), pTarget: round(fj.probs[10 + cfg.digit]!) },
      layers: analysis.layers.map((l) => ({ layer: l.path, mappedAtoms: l.atoms.map((a) => a.atom), usage: l.atoms.map((a) => round(a.usage[0]!)), totalMaxAbs: round(maxAbs(l.total)) })),
    },
  };
  writeFileSync(join(out, 'results.json'), JSON.stringify(results, null, 2) + '\n');

  // ---------- figures ----------
  const figs: string[] = [];
  const fig = (name: string, svg: string) => {
    writeFileSync(join(out, name), svg);
    figs.push(name);
  };
  const img = (a: Float32Array, i: number) => a.subarray(i * PIX, (i + 1) * PIX);
  // Before/after grid: the base's failures first, then the rest, 16 columns.
  const order = [...bv.pred.keys()].sort((a, b) => Number(bv.pred[a] === cfg.digit) - Number(bv.pred[b] === cfg.digit) || a - b).slice(0, 16);
  const noisy = (await ft.task.reconstruct(order.map((i) => held.indices[i]!))).noisy;
  const p = (v: typeof bv, i: number) => `${v.pred[i]} (${Math.round(100 * v.probs[i * 10 + v.pred[i]!]!)} %)`;
  fig(
    'digits-before-after.svg',
    imageGridSvg(
      [
        { label: 'noisy input', panels: order.map((i, j) => ({ title: `#${held.indices[i]}`, rgb: digitRgb(img(noisy, j)) })) },
        { label: 'base decode\n(atoms off)', panels: order.map((i) => ({ title: p(bv, i), rgb: digitRgb(img(held.base.images, i)) })) },
        { label: 'adapted decode\n(atoms on)', panels: order.map((i) => ({ title: p(av, i), rgb: digitRgb(img(held.adapted.images, i)) })) },
      ],
      { title: `Held-out noisy ${cfg.digit}s, same latent z = μ: judged digit (confidence); base failures first`, deflate, pixel: 2 },
    ),
  );
  // The fixed latent: base, adapted, overall and per-layer ΔO effects.
  const effScale = maxAbs(analysis.overall, ...analysis.layers.map((l) => l.total));
  fig(
    'fixed-latent.svg',
    imageGridSvg(
      [
        {
          panels: [
            { title: `base: ${fj.pred[0]}\np(8) ${round(fj.probs[8]!, 2)}`, rgb: digitRgb(analysis.base) },
            { title: `adapted: ${fj.pred[1]}\np(${cfg.digit}) ${round(fj.probs[10 + cfg.digit]!, 2)}`, rgb: digitRgb(analysis.adapted) },
            { title: 'adapted − base\n(all atoms)', rgb: signedRgb(analysis.overall, effScale) },
            ...analysis.layers.map((l, i) => ({ title: `layer ${i} total effect\n(all on − its atoms off)`, rgb: signedRgb(l.total, effScale) })),
          ],
        },
      ],
      { title: `One noisy held-out ${cfg.digit} (#${held.indices[fixedAt]}): the same latent decoded without / with the atoms`, deflate, pixel: 4, note: `red = the atoms raise the pixel, blue = lower it; colour scale ±${round(effScale, 2)}` },
    ),
  );
  for (const [li, l] of analysis.layers.entries()) {
    const scale = maxAbs(...l.atoms.map((a) => a.map)) || 1;
    const totalUse = l.usage.reduce((s, v) => s + v, 0) || 1;
    const panels: ImagePanel[] = [{ title: `layer total\n(±${round(maxAbs(l.total), 2)})`, rgb: signedRgb(l.total, maxAbs(l.total)) }, ...l.atoms.map((a) => ({ title: `atom ${a.atom}\n${Math.round((100 * a.usage[0]!) / totalUse)} % of use`, rgb: signedRgb(a.map, scale) }))];
    const rows: { panels: ImagePanel[] }[] = [];
    for (let s = 0; s < panels.length; s += 9) rows.push({ panels: panels.slice(s, s + 9) });
    fig(
      `atom-contributions-layer${li}.svg`,
      imageGridSvg(rows, { title: `Decoder layer ${li}: each active atom's contribution (decode with − without it) for latent #${held.indices[fixedAt]}`, deflate, pixel: 3, note: `red = increase, blue = decrease; atom maps share the scale ±${round(scale, 2)}; the layer total has its own` }),
    );
  }
  // Atom usage per layer (sorted shares) and training loss.
  for (const [li, u] of usage.entries()) {
    const tot = u.usage.reduce((s, v) => s + v, 0) || 1;
    const sorted = Array.from(u.usage).map((v) => v / tot).sort((a, b) => b - a).slice(0, 40);
    fig(`active-atoms-layer${li}.svg`, barPlot(sorted, { title: `Decoder layer ${li}: atom usage shares over held-out ${cfg.digit}s, sorted (${u.active.length} atoms cover ${ACTIVE_USAGE_COVERAGE * 100} %)`, xLabel: 'atom rank', yLabel: 'share of usage', width: 560, height: 240 }));
  }
  if (ft.rows.length) {
    fig(
      'finetune-loss.svg',
      linePlot(
        [
          { name: 'loss (rec + KL)', x: ft.rows.map((r) => r.step + 1), y: ft.rows.map((r) => r.values.loss!) },
          { name: 'rec (BCE)', x: ft.rows.map((r) => r.step + 1), y: ft.rows.map((r) => r.values.rec!) },
        ],
        { title: `Fine-tuning the atoms on noisy ${cfg.digit}s (training batches)`, xLabel: 'step', yLabel: 'nats / image', width: 560, height: 280 },
      ),
    );
  }

  // ---------- markdown ----------
  const pct = (v: number) => `${(100 * v).toFixed(1)} %`;
  const counts = (c: number[]) => c.map((n, d) => (n ? `${d}:${n}` : '')).filter(Boolean).join(' ');
  const md = [
    `# MNIST transformer-VAE "8 → 3" (atoms paper §3.3, Fig. 1) — ${values.quick ? 'quick' : 'full'} run`,
    '',
    `Device: ${device}. Total ${seconds.toFixed(0)} s (fine-tuning ${ft.trainSeconds.toFixed(0)} s). Base ${vaeFile} (frozen), ${cfg.atoms} atoms per decoder layer (top-${cfg.k}, form ${cfg.form}), ${cfg.steps} steps × ${cfg.batch} noisy ${cfg.digit}s (σ ${cfg.noise}), Adam lr ${cfg.lr}, seed ${cfg.seed}. Judge: ${clfFile}, recorded test accuracy ${judgeAccuracy === null ? '?' : pct(judgeAccuracy)}.`,
    '',
    `| held-out noisy ${cfg.digit}s (${held.indices.length}) | judged "${cfg.digit}" | mean p(${cfg.digit}) | verdicts | rec (nats) |`,
    '|---|---|---|---|---|',
    `| base (atoms off) | ${pct(bv.target)} | ${round(meanP(bv), 3)} | ${counts(bv.counts)} | ${round(evalTestBase.rec, 4)} |`,
    `| adapted (all atoms) | ${pct(av.target)} | ${round(meanP(av), 3)} | ${counts(av.counts)} | ${round(evalTest.rec, 4)} |`,
    `| only the active atoms on | ${pct(pruned.target)} | | ${counts(pruned.counts)} | |`,
    '',
    `Of the ${baseFailures} held-out ${cfg.digit}s the base decodes as another digit, the adapted decoder turns ${fixedByAdapter} into "${cfg.digit}"; it turns ${broken} of the base's correct ones into another digit.`,
    '',
    '| decoder layer | active atoms (95 % of usage) | atoms ≥ 1 % of max usage | atoms ever selected | non-zero codes per token | active atoms per image (95 %) |',
    '|---|---|---|---|---|---|',
    ...usage.map((u) => `| ${u.path} | ${u.active.length} | ${u.above1pct} | ${u.everUsed} | ${round(u.perToken, 3)} | ${round(u.activePerImage, 3)} |`),
    '',
    `Fixed latent (held-out #${held.indices[fixedAt]}): base → ${fj.pred[0]} (p(8) ${round(fj.probs[8]!, 3)}), adapted → ${fj.pred[1]} (p(${cfg.digit}) ${round(fj.probs[10 + cfg.digit]!, 3)}).`,
    '',
    `Figures: ${figs.join(', ')}.`,
    '',
  ].join('\n');
  writeFileSync(join(out, 'results.md'), md);
  io.print(md);
  io.log(`wrote ${join(out, 'results.json')}, results.md and ${figs.length} figures`);
  judge.destroy();
  ft.destroy();
  rt.destroy();
  return 0;
}

export const mnistVae8to3Experiment: Experiment = {
  summary: 'atoms paper §3.3/App. B/Fig. 1 MNIST transformer-VAE: atoms on the frozen 5–9 decoder fine-tuned on noisy 3s; held-out 3s judged before/after, active atoms per layer, per-atom red/blue contribution maps',
  usage: USAGE,
  options: {
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    steps: { type: 'string' },
    lr: { type: 'string' },
    batch: { type: 'string' },
    seed: { type: 'string' },
    noise: { type: 'string' },
    eval: { type: 'string' },
    k: { type: 'string' },
    atoms: { type: 'string' },
    vae: { type: 'string' },
    classifier: { type: 'string' },
  },
  run,
};
