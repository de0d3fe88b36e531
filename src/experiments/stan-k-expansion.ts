/**
 * STAN paper §4.3, Table 8 on digits: STAN on the frozen digit transformer's q/v projections,
 * fine-tuned on task A (rot90) for k ∈ {1, 8, 16, n-latents (k = l)} × expansion ∈ {1, 2}, each
 * cell with its own learning rate (picked on validation at expansion 1, per k; the same k uses it
 * at expansion 2), trained to its plateau, several seeds; test accuracy mean ± 95 % t-interval and
 * the paired difference against k = 8 (same seed: same E initialisation for the same l, same
 * batches). n-latents is k = l, which STAN's adapter runs on its dense path (no selection; topkVariant
 * 'auto', tested equal to the top-k kernels at k = l).
 */
import { linePlot, PALETTE, smallMultiples, type Series } from '../analysis/svg-plot';
import { round, type Experiment, type ExperimentIo, type ExperimentValues } from './experiment';
import { protocolSummary, pts, STAN_COMMON_OPTIONS, STAN_COMMON_USAGE, stanSetup, writeOutputs } from './stan-common';
import { baseAccuracy, ensureRun, methodId, NotStoredError, selectLearningRate, STAN_TARGETS, storedSeconds, TASK_A, type MethodSpec, type RunRecord, type Selection } from './stan-runs';
import { formatInterval, pairedDifference, signVerdict, tInterval, wilsonInterval, withinVerdict, type Check } from './stats';

type K = number | 'l';
const kLabel = (k: K) => (k === 'l' ? 'n-latents' : `k = ${k}`);
/** Methods that Table 9 reuses keep their checkpoints (stan-forgetting, stan-latents). */
export const TABLE9_STAN: MethodSpec = { kind: 'stan', expansion: 1, k: 8 };
const keepsSnapshots = (m: MethodSpec) => methodId(m) === methodId(TABLE9_STAN);

/** Half-width goal of a cell's interval (points of accuracy). */
export const HALF_WIDTH_GOAL = 0.015;

async function run(values: ExperimentValues, io: ExperimentIo): Promise<number> {
  const c = await stanSetup('stan-k-expansion', values, io);
  const { env } = c;
  const n = env.model.dim;
  const ks: K[] = c.quick ? [8, 'l'] : [1, 8, 16, 'l'];
  const expansions = c.quick ? [1] : [1, 2];
  const method = (e: number, k: K): MethodSpec => ({ kind: 'stan', expansion: e, k: k === 'l' ? Math.round(e * n) : k });
  const baseVal = await baseAccuracy(env, TASK_A, 'validation');
  const baseTest = await baseAccuracy(env, TASK_A, 'test');
  io.log(`frozen base on ${TASK_A}: validation ${pts(baseVal.accuracy)} %, test ${pts(baseTest.accuracy)} % (${baseTest.images} images)`);

  // under --stored-only, what is not stored is listed instead of trained
  const missing: string[] = [];
  const stored = async <T>(f: () => Promise<T>): Promise<T | null> => {
    try {
      return await f();
    } catch (e) {
      if (!(e instanceof NotStoredError)) throw e;
      missing.push(e.what);
      return null;
    }
  };
  // 1. learning rate per k, at expansion 1, seed 1
  const selections = new Map<K, Selection>();
  for (const k of ks) {
    const m = method(1, k);
    const sel = await stored(() => selectLearningRate(env, TASK_A, m, c.seeds[0]!, keepsSnapshots(m)));
    if (sel) selections.set(k, sel);
  }
  // 2. every cell × seed at its k's rate (a cell is reported only with every seed stored)
  const runs = new Map<string, RunRecord[]>();
  const notRun: { expansion: number; k: K; why: string }[] = [];
  for (const e of expansions) {
    for (const k of ks) {
      const m = method(e, k);
      const sel = selections.get(k);
      if (!sel) {
        notRun.push({ expansion: e, k, why: `no learning rate: the lr selection of ${kLabel(k)} is not in the store` });
        continue;
      }
      const rs: RunRecord[] = [];
      for (const seed of c.seeds) {
        const r = await stored(() => ensureRun(env, { view: TASK_A, method: m, lr: sel.lr, seed }, keepsSnapshots(m)));
        if (r) rs.push(r);
      }
      if (rs.length === c.seeds.length) runs.set(`${e}:${k}`, rs);
      else notRun.push({ expansion: e, k, why: `${c.seeds.length - rs.length} of ${c.seeds.length} seeds not in the store` });
    }
  }
  const has = (e: number, k: K) => runs.has(`${e}:${k}`);
  const seconds = (performance.now() - c.started) / 1000;
  const runSeconds = storedSeconds(env, [...[...selections.values()].flatMap((s) => s.candidates.map((x) => x.id)), ...[...runs.values()].flat().map((r) => r.id)]);

  // 3. cells, intervals, paired differences against k = 8
  const acc = (rs: RunRecord[]) => rs.map((r) => r.test!.accuracy);
  const cells = expansions.flatMap((e) =>
    ks.filter((k) => has(e, k)).map((k) => {
      const rs = runs.get(`${e}:${k}`)!;
      const iv = tInterval(acc(rs));
      const ref = runs.get(`${e}:8`);
      const vs8 = ref && k !== 8 ? pairedDifference(acc(rs), acc(ref)) : null;
      const m = method(e, k);
      return {
        k,
        kUsed: (m as { k: number }).k,
        expansion: e,
        l: Math.round(e * n),
        lr: selections.get(k)!.lr,
        lrAtEdge: selections.get(k)!.atEdge,
        trainable: rs[0]!.trainable,
        seeds: rs.map((r) => ({
          seed: r.seed,
          test: round(r.test!.accuracy),
          testWilson95: (() => {
            const w = wilsonInterval(Math.round(r.test!.accuracy * r.test!.images), r.test!.images);
            return [round(w.lo), round(w.hi)];
          })(),
          bestVal: round(r.best.value),
          bestStep: r.best.step,
          stop: r.stop,
          seconds: round(r.seconds.train + r.seconds.eval, 3),
        })),
        mean: round(iv.mean),
        ci95: [round(iv.lo), round(iv.hi)] as [number, number],
        halfWidth: round(iv.halfWidth),
        plateaued: rs.every((r) => r.stop.reason === 'plateau'),
        halfWidthOk: iv.halfWidth <= HALF_WIDTH_GOAL,
        vsK8: vs8 ? { mean: round(vs8.mean), ci95: [round(vs8.lo), round(vs8.hi)] as [number, number], diffs: vs8.diffs.map((d) => round(d)), excludesZero: vs8.excludesZero } : null,
      };
    }),
  );
  const cell = (e: number, k: K) => cells.find((x) => x.expansion === e && x.k === k)!;
  const total = expansions.length * ks.length;

  // 4. checks
  const checks: Check[] = [];
  const paper: Record<string, Record<string, number>> = {
    '1': { '1': 0.8139, '8': 0.8192, '16': 0.8171, l: 0.8158 },
    '2': { '1': 0.8131, '8': 0.8177, '16': 0.8213, l: 0.8286 },
  };
  for (const e of expansions) {
    for (const k of ks) {
      if (k === 8) continue;
      if (!has(e, k) || !has(e, 8)) {
        checks.push({ id: k === 'l' ? `t8-k8-vs-nlatents-e${e}` : `t8-k8-vs-k${k}-e${e}`, claim: `Table 8 at expansion ${e}: k = 8 vs ${kLabel(k)}`, measured: `not run: ${[!has(e, k) ? `e${e} ${kLabel(k)}` : '', !has(e, 8) ? `e${e} k = 8` : ''].filter(Boolean).join(' and ')} not in the store`, goal: 'a paired 95 % interval', pass: null, ci95: null, seeds: c.seeds });
        continue;
      }
      // vsK8 is acc(k) − acc(k = 8) (the table's "vs k = 8"); the checks state acc(k = 8) − acc(k).
      const vs = cell(e, k).vsK8!;
      const d = { mean: -vs.mean, ci95: [-vs.ci95[1], -vs.ci95[0]] as [number, number] };
      const p = paper[String(e)]?.[String(k)];
      const p8 = paper[String(e)]?.['8'];
      const paperDiff = p !== undefined && p8 !== undefined ? ` (paper: ${(100 * (p8 - p)).toFixed(2)} points)` : '';
      if (k === 'l') {
        checks.push({
          id: `t8-k8-vs-nlatents-e${e}`,
          claim: `small k is "remarkably comparable" to n-latents (k = l) at expansion ${e}${paperDiff}`,
          measured: d.mean,
          goal: `the 95 % interval of acc(k = 8) − acc(n-latents) lies within ±${100 * HALF_WIDTH_GOAL} points`,
          pass: withinVerdict({ lo: d.ci95[0], hi: d.ci95[1] }, HALF_WIDTH_GOAL),
          ci95: d.ci95,
          seeds: c.seeds,
        });
      } else {
        checks.push({
          id: `t8-k8-vs-k${k}-e${e}`,
          claim: `accuracy peaks at k = 8 or 16: k = 8 ${k === 16 ? 'vs' : 'beats'} k = ${k} at expansion ${e}${paperDiff}`,
          measured: d.mean,
          goal: k === 16 ? 'informational: the interval of acc(k = 8) − acc(k = 16) (the paper puts the peak at either)' : `the 95 % interval of acc(k = 8) − acc(k = ${k}) lies above 0`,
          pass: k === 16 ? null : signVerdict({ lo: d.ci95[0], hi: d.ci95[1] }, 'positive'),
          ci95: d.ci95,
          seeds: c.seeds,
        });
      }
    }
  }
  const notPlateaued = cells.filter((x) => !x.plateaued);
  const wide = cells.filter((x) => !x.halfWidthOk);
  checks.push({
    id: 't8-protocol-plateau',
    claim: 'protocol: every run stopped by the plateau rule before the cap',
    measured: `${cells.length - notPlateaued.length} / ${total} cells`,
    goal: 'all cells',
    pass: notPlateaued.length === 0 && notRun.length === 0,
    ci95: null,
    seeds: c.seeds,
    ...(notPlateaued.length || notRun.length ? { note: [notPlateaued.length ? `reached the cap: ${notPlateaued.map((x) => `e${x.expansion} ${kLabel(x.k)}`).join(', ')}` : '', notRun.length ? `not run: ${notRun.map((x) => `e${x.expansion} ${kLabel(x.k)}`).join(', ')}` : ''].filter(Boolean).join('; ') } : {}),
  });
  checks.push({
    id: 't8-protocol-half-width',
    claim: `protocol: every cell's 95 % interval half-width ≤ ${100 * HALF_WIDTH_GOAL} points`,
    measured: `${cells.length - wide.length} / ${total} cells${cells.length ? ` (largest ${pts(Math.max(...cells.map((x) => x.halfWidth)), 2)} points)` : ''}`,
    goal: 'all cells',
    pass: wide.length === 0 && notRun.length === 0,
    ci95: null,
    seeds: c.seeds,
    note: `with n seeds the half-width is t(0.975, n−1)·sd/√n; t = 12.71 for 2 seeds, so 2 seeds meet 1.5 points only when they differ by < 0.24 points`,
  });

  const results = {
    experiment: 'stan-k-expansion',
    paper: 'STAN (The Chosen Few) §4.3, Table 8: accuracy on an MNLI subset for TopK × expansion factor',
    quick: c.quick,
    storedOnly: env.storedOnly === true,
    notRun: notRun.map((x) => ({ expansion: x.expansion, k: x.k, why: x.why })),
    missing,
    device: c.device,
    seconds: round(seconds),
    runSeconds: round(runSeconds),
    setup: {
      task: `${TASK_A} digits (the base was pre-trained upright)`,
      targets: STAN_TARGETS,
      n,
      nLatents: 'k = l through STAN\'s dense path (no selection; equal to the top-k kernels at k = l)',
      seeds: c.seeds,
      lrPerK: 'picked at expansion 1 (seed 1) and reused at expansion 2 for the same k; n-latents picks its own',
      protocol: protocolSummary(env.settings),
      base: { file: c.baseFile, validation: round(baseVal.accuracy), test: round(baseTest.accuracy), testImages: baseTest.images },
    },
    lrSelection: [...selections.entries()].map(([k, s]) => ({ k, method: methodId(s.method), lr: s.lr, atEdge: s.atEdge, candidates: s.candidates.map((x) => ({ lr: x.lr, bestVal: round(x.score), halved: x.halved })) })),
    checks,
    cells,
    curves: Object.fromEntries([...runs.entries()].map(([key, rs]) => [key, rs.map((r) => ({ seed: r.seed, val: r.curve.map((p) => [p.step, round(p.value)]) }))])),
  };

  // 5. markdown + figures
  const header = `| TopK | ${expansions.map((e) => `expansion ${e} (l = ${Math.round(e * n)})`).join(' | ')} |`;
  const rows = ks.map(
    (k) =>
      `| ${kLabel(k)} | ${expansions
        .map((e) => {
          if (!has(e, k)) return 'not run';
          const x = cell(e, k);
          const d = x.vsK8 ? `; vs k = 8: ${(100 * x.vsK8.mean).toFixed(1)} [${(100 * x.vsK8.ci95[0]).toFixed(1)}, ${(100 * x.vsK8.ci95[1]).toFixed(1)}]` : '';
          return `${formatInterval({ mean: x.mean, halfWidth: x.halfWidth }, { scale: 100 })} (lr ${x.lr}${x.plateaued ? '' : ', cap'}${d})`;
        })
        .join(' | ')} |`,
  );
  const md = [
    `# STAN k × expansion (STAN paper §4.3, Table 8 analogue) — ${c.quick ? 'quick' : 'full'} run`,
    '',
    `Device: ${c.device}. Training and evaluation of every run in the table (learning-rate candidates included): ${runSeconds.toFixed(0)} s, as measured when each ran. STAN on ${STAN_TARGETS.join(', ')} of the frozen digit transformer (n = m = ${n}, 4 sites), fine-tuned on ${TASK_A} digits. Test accuracy (%) on ${baseTest.images} test digits, mean ± 95 % t-interval over seeds ${c.seeds.join(', ')}; in brackets the paired difference against k = 8 (points, 95 % interval). Frozen base: ${pts(baseTest.accuracy)} %.`,
    '',
    header,
    `|---|${expansions.map(() => '---').join('|')}|`,
    ...rows,
    `| trainable parameters | ${expansions.map((e) => String(cells.find((x) => x.expansion === e)?.trainable ?? '—')).join(' | ')} |`,
    '',
    ...(notRun.length ? [`Not run (not in the store): ${notRun.map((x) => `expansion ${x.expansion} ${kLabel(x.k)} (${x.why})`).join('; ')}.`, ''] : []),
    'Checks:',
    '',
    ...checks.map((x) => `- ${x.id}: ${x.claim} — measured ${typeof x.measured === 'number' ? `${(100 * x.measured).toFixed(2)} points` : x.measured}${x.ci95 ? ` [${(100 * x.ci95[0]).toFixed(2)}, ${(100 * x.ci95[1]).toFixed(2)}]` : ''} → ${x.pass === null ? 'undecided' : x.pass ? 'pass' : 'fail'}`),
    '',
    `Learning rates (validation, seed 1): ${results.lrSelection.map((s) => `${kLabel(s.k)}: ${s.lr}${s.atEdge ? ' (grid edge)' : ''}`).join('; ')}.`,
    '',
    'Figures: k-expansion-accuracy.svg, k-expansion-validation-curves.svg.',
    '',
  ].join('\n');
  const present = (e: number) => ks.map((k, i) => ({ k, i })).filter(({ k }) => has(e, k));
  const figs: Record<string, string> = {
    'k-expansion-accuracy.svg': linePlot(
      expansions.filter((e) => present(e).length).flatMap((e, i) => [
        { name: `expansion ${e} (mean)`, x: present(e).map((p) => p.i), y: present(e).map(({ k }) => cell(e, k).mean), mode: 'both' as const, color: PALETTE[i]! },
        { name: `expansion ${e} (95 % lo)`, x: present(e).map((p) => p.i), y: present(e).map(({ k }) => cell(e, k).ci95[0]), color: PALETTE[i]!, dash: '3,3', width: 1 },
        { name: `expansion ${e} (95 % hi)`, x: present(e).map((p) => p.i), y: present(e).map(({ k }) => cell(e, k).ci95[1]), color: PALETTE[i]!, dash: '3,3', width: 1 },
      ]),
      { title: `Test accuracy on ${TASK_A} vs TopK (x: ${ks.map(kLabel).join(', ')}), mean and 95 % interval`, xLabel: 'TopK index', yLabel: 'accuracy', hlines: [{ y: baseTest.accuracy, label: 'frozen base', color: '#999' }] },
    ),
    'k-expansion-validation-curves.svg': smallMultiples(
      expansions.flatMap((e) =>
        ks.filter((k) => has(e, k)).map((k) => ({
          title: `e ${e}, ${kLabel(k)}, lr ${cell(e, k).lr}`,
          series: runs.get(`${e}:${k}`)!.map((r, i): Series => ({ name: `seed ${r.seed}`, x: r.curve.map((p) => p.step), y: r.curve.map((p) => p.value), color: PALETTE[i]! })),
        })),
      ),
      { title: `Validation accuracy during training (${env.settings.validation} images; stop = plateau rule or cap ${env.settings.cap})`, columns: ks.length, panelWidth: 220, panelHeight: 140 },
    ),
  };
  writeOutputs(c, results, md, figs);
  c.destroy();
  return 0;
}

export const stanKExpansionExperiment: Experiment = {
  summary: 'STAN paper §4.3 Table 8 on digits: k ∈ {1, 8, 16, n-latents} × expansion ∈ {1, 2} on rotated digits, lr per k on validation, trained to a plateau, seeds, 95 % intervals, paired differences vs k = 8',
  usage: STAN_COMMON_USAGE,
  options: STAN_COMMON_OPTIONS,
  run,
};
