// Summarises the runs of scripts/auxk-digits.sh into results.json (checks with seeds and 95 % t-intervals).
// Usage: node scripts/auxk-summary.mjs <dir with seed*-aux*.json> <results.json>
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const [dir, outFile] = process.argv.slice(2);
const T975 = { 1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262 };
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
function ci(xs) {
  const m = mean(xs);
  if (xs.length < 2) return { mean: m, ci95: null };
  const sd = Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
  const h = T975[xs.length - 1] * (sd / Math.sqrt(xs.length));
  return { mean: m, ci95: [m - h, m + h] };
}
const runs = {};
for (const f of readdirSync(dir).filter((f) => /^seed\d+-aux\d+\.json$/.test(f))) {
  const [, seed, aux] = /^seed(\d+)-aux(\d+)\.json$/.exec(f);
  const j = JSON.parse(readFileSync(join(dir, f), 'utf8'));
  const avg = (xs) => mean(xs.map((s) => s.metrics.deadFraction));
  (runs[seed] ??= {})[aux === '0' ? 'off' : 'on'] = {
    auxK: Number(aux),
    valLoss: j.validation.loss,
    valAccuracy: j.validation.metrics.accuracy ?? null,
    deadTrainWindow: avg(j.sites),
    deadHeldOut: avg(j.heldOut),
    perSite: j.sites.map((s, i) => ({ path: s.path, deadTrainWindow: s.metrics.deadFraction, deadHeldOut: j.heldOut[i].metrics.deadFraction, l0: s.metrics.l0, outputShare: s.metrics.outputShare })),
    trainSeconds: j.trainSeconds,
    config: j.config,
  };
}
const seeds = Object.keys(runs).filter((s) => runs[s].off && runs[s].on).map(Number).sort((a, b) => a - b);
const col = (arm, key) => seeds.map((s) => runs[s][arm][key]);
const diff = (key) => seeds.map((s) => runs[s].on[key] - runs[s].off[key]);
const summary = {};
for (const key of ['valLoss', 'valAccuracy', 'deadTrainWindow', 'deadHeldOut']) summary[key] = { off: ci(col('off', key)), on: ci(col('on', key)), pairedDiff: ci(diff(key)) };
const dDead = summary.deadTrainWindow.pairedDiff;
const dLoss = summary.valLoss.pairedDiff;
const checks = [
  {
    id: 'auxk-dead-fraction',
    claim: 'AuxK lowers the dead fraction (sparsify / Gao et al. 2024)',
    measured: dDead.mean,
    goal: '< 0 (paired difference on − off of the training-window dead fraction, mean over the 4 sites)',
    pass: dDead.ci95 !== null && dDead.ci95[1] < 0,
    ci95: dDead.ci95,
    seeds,
  },
  {
    id: 'auxk-loss',
    claim: 'at equal or better loss',
    measured: dLoss.mean,
    goal: '≤ 0 within the interval (paired difference on − off of the validation loss)',
    pass: dLoss.ci95 !== null && dLoss.ci95[0] <= 0,
    ci95: dLoss.ci95,
    seeds,
  },
];
const out = {
  experiment: 'auxk-digits',
  setup: 'digits × STAN (expansion 4 → l = 256, k = 4, signed top-k) on the 4 default sites; AuxK off vs auxK = 32 (n/2, sparsify default), auxScale 1/32, dead after 20 steps unfired; playground defaults otherwise (batch 32, lr 3e-3, cosine, warm-up 20); no tuning',
  command: 'bash scripts/auxk-digits.sh /tmp/auxk 200 1 2 3',
  checks,
  summary,
  runs,
};
mkdirSync(dirname(outFile), { recursive: true });
writeFileSync(outFile, `${JSON.stringify(out, null, 2)}\n`);
console.log(JSON.stringify({ checks, summary }, null, 2));
