/**
 * STAN paper §4.4, Table 9 on digits: sequential fine-tuning of one adapter, first task A then
 * task B (rot90 → flip and flip → rot90), STAN vs LoRA in two budgets:
 *   matched parameters — STAN expansion 1, k = 8 (l = 64) vs LoRA r = 64, α = 128 (32,768 each);
 *   the paper's configurations — STAN k = 8, expansion 1 vs LoRA r = 8, α = 16 (Table 12).
 * STAN is the same runs in both budgets.
 *
 * Protocol (on top of stan-runs.ts):
 *  - learning rate per method picked on task A = rot90's validation split (STAN's is Table 8's
 *    k = 8 cell) and used for both tasks and both directions;
 *  - first task: the method's plateau run on the first view; the shared target is 2 points below
 *    the lowest best-validation accuracy of all methods and seeds in that direction, so every run
 *    reaches it; each run is taken back to its last evaluation below the target and continued
 *    (same schedule, same batches, its stored AdamW state) with a validation evaluation every few
 *    steps until it reaches the target — the first-task accuracies are then matched to within a
 *    few steps' gain;
 *  - second task: a fresh AdamW, the same rate, 6 % warm-up and cosine decay over a fixed number
 *    of steps; both tasks' validation accuracy every 40 steps; test accuracy of both at the switch
 *    and at the end;
 *  - reported per run: drop on A (test, points), retention (A − base)/(A₀ − base), A at a matched
 *    B accuracy (validation curve, interpolated; the level is the lowest final-B validation
 *    accuracy among the budget's runs); paired by seed, LoRA vs STAN, 95 % t-intervals.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { linePlot, PALETTE, type Series } from '../analysis/svg-plot';
import type { DigitView } from '../tasks/digits';
import { Trainer } from '../train/trainer';
import { numberOption, round, type Experiment, type ExperimentIo, type ExperimentValues } from './experiment';
import { protocolSummary, pts, STAN_COMMON_OPTIONS, STAN_COMMON_USAGE, stanSetup, writeOutputs, type StanCommon } from './stan-common';
import { TABLE9_STAN } from './stan-k-expansion';
import { baseAccuracy, buildTask, ensureRun, evaluate, NotStoredError, storedSeconds, methodId, methodLabel, protocolTrainerOptions, readSnapshot, selectLearningRate, STAN_TARGETS, TASK_A, TASK_B, testIndices, type EvalResult, type MethodSpec, type RunRecord } from './stan-runs';
import { pairedDifference, signVerdict, tInterval, type Check } from './stats';
import { firstReaching, matchedWithin, retention, sharedTarget, valueAtLevel, type TwoTaskPoint } from './training-protocol';

/** The shared first-task target sits this far below the lowest plateau. */
export const MATCH_BELOW = 0.02;
/** First-task accuracies (test) must agree within this many points before task B. */
export const MATCH_TOLERANCE = 0.02;

export interface Budget {
  id: string;
  label: string;
  stan: MethodSpec;
  lora: MethodSpec;
}

export const BUDGETS: Budget[] = [
  { id: 'matched', label: 'matched parameters', stan: TABLE9_STAN, lora: { kind: 'lora', rank: 64, alpha: 128 } },
  { id: 'paper', label: "the paper's configurations", stan: TABLE9_STAN, lora: { kind: 'lora', rank: 8, alpha: 16 } },
];

export interface SwitchRecord {
  id: string;
  first: DigitView;
  second: DigitView;
  method: MethodSpec;
  seed: number;
  lr: number;
  runA: string;
  target: number;
  /** Step of the first task at the switch, and its validation accuracy there. */
  switchStep: number;
  valAtSwitch: number;
  /** Test accuracy of both tasks at the switch and at the end of the second task. */
  atSwitch: { a: EvalResult; b: EvalResult };
  atEnd: { a: EvalResult; b: EvalResult };
  /** Validation accuracy of both tasks during the second task (step 0 = the switch). */
  curve: TwoTaskPoint[];
  stepsB: number;
  seconds: number;
}

interface Settings9 {
  stepsB: number;
  evalB: number;
  refine: number;
  /**
   * A first-task target fixed in advance (--first-target): first-task runs stop when they reach it
   * on validation instead of running to their plateau (they stay resumable to it). It is the shared
   * target when every run reaches it; otherwise the default rule (lowest best − MATCH_BELOW) applies.
   */
  firstTarget?: number;
}

async function switchRun(c: StanCommon, s9: Settings9, runA: RunRecord, target: number, second: DigitView): Promise<SwitchRecord> {
  const { env } = c;
  const id = `t9-${runA.view}-to-${second}-${methodId(runA.method)}-s${runA.seed}-target${target.toFixed(4)}-B${s9.stepsB}-ev${s9.evalB}-from-${runA.id}`;
  const file = join(env.store, `${id}.json`);
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as SwitchRecord;
  if (env.storedOnly) throw new NotStoredError(`switch ${id}`);
  const t0 = performance.now();
  const cross = firstReaching(runA.curve, target);
  if (!cross) throw new Error(`run ${runA.id} never reached the first-task target ${pts(target, 2)} % (best ${pts(runA.best.value, 2)} %)`);
  const at = runA.curve.indexOf(cross);
  const prev = at > 0 ? runA.curve[at - 1]! : cross;
  const snap = readSnapshot(env, runA.id, prev.step);
  const task = buildTask(env, runA.view, runA.method, runA.seed);
  const valIdx = task.validationIndices;
  // first task: continue from the last evaluation below the target, evaluating every `refine` steps
  const trA = new Trainer(env.rt, task.graph, protocolTrainerOptions(env.settings, runA.lr, env.settings.cap));
  trA.restore(snap.ckpt);
  let val = prev.value;
  while (val < target && trA.step < cross.step) {
    await trA.run(Math.min(s9.refine, cross.step - trA.step));
    await trA.drain();
    val = (await evaluate(task, runA.view, valIdx)).accuracy;
  }
  const switchStep = trA.step;
  trA.destroy();
  const testIdx = testIndices(env, task);
  const atSwitch = { a: await evaluate(task, runA.view, testIdx), b: await evaluate(task, second, testIdx) };
  // second task
  task.setTrainView(second);
  const trB = new Trainer(env.rt, task.graph, protocolTrainerOptions(env.settings, runA.lr, s9.stepsB));
  const curve: TwoTaskPoint[] = [];
  const point = async () => curve.push({ step: trB.step, a: (await evaluate(task, runA.view, valIdx)).accuracy, b: (await evaluate(task, second, valIdx)).accuracy });
  await point();
  const bar = c.io.progress(s9.stepsB, `${runA.view}→${second} ${methodId(runA.method)} seed ${runA.seed}`);
  while (trB.step < s9.stepsB) {
    await trB.run(Math.min(s9.evalB, s9.stepsB - trB.step));
    await trB.drain();
    await point();
    const p = curve[curve.length - 1]!;
    bar.update(trB.step, `A ${pts(p.a)} % B ${pts(p.b)} %`);
  }
  const atEnd = { a: await evaluate(task, runA.view, testIdx), b: await evaluate(task, second, testIdx) };
  bar.done(`A ${pts(atSwitch.a.accuracy)} → ${pts(atEnd.a.accuracy)} %, B ${pts(atEnd.b.accuracy)} %`);
  trB.destroy();
  task.destroy();
  const rec: SwitchRecord = { id, first: runA.view, second, method: runA.method, seed: runA.seed, lr: runA.lr, runA: runA.id, target, switchStep, valAtSwitch: val, atSwitch, atEnd, curve, stepsB: s9.stepsB, seconds: (performance.now() - t0) / 1000 };
  writeFileSync(`${file}.tmp`, JSON.stringify(rec) + '\n');
  renameSync(`${file}.tmp`, file);
  return rec;
}

/** One direction of Table 9: its shared target, the first-task runs and the switches stored so far. */
export interface Table9Direction {
  first: DigitView;
  second: DigitView;
  target: number;
  /** The target is --first-target's value (every run reached it), not lowest best − MATCH_BELOW. */
  fixedTarget: boolean;
  runsA: RunRecord[];
  switches: SwitchRecord[];
  /** Under --stored-only: what is not in the store yet (empty: the direction is complete). */
  missing: string[];
}

/**
 * The runs stan-forgetting and stan-latents share: per direction, the shared target and every
 * (method, seed)'s switch record. Without --first-target every first-task run goes to its plateau
 * first (the target depends on all of them), then the switches. With it, each (method, seed) runs
 * to the target and switches at once, the paper's budget's methods first, so a budget can be
 * complete before the others; if a run plateaus below the target, the direction falls back to
 * lowest best − MATCH_BELOW and the switches are made again at that target.
 */
export async function table9Runs(c: StanCommon, s9: Settings9): Promise<{
  budgets: Budget[];
  methods: MethodSpec[];
  lrs: Map<string, { lr: number; atEdge: boolean; candidates: { lr: number; score: number; halved: boolean; id: string }[] }>;
  directions: Table9Direction[];
}> {
  const { env } = c;
  const budgets = c.quick ? BUDGETS.filter((b) => b.id === 'paper') : BUDGETS;
  const methods: MethodSpec[] = [];
  for (const b of budgets) for (const m of [b.stan, b.lora]) if (!methods.some((x) => methodId(x) === methodId(m))) methods.push(m);
  const lrs = new Map<string, { lr: number; atEdge: boolean; candidates: { lr: number; score: number; halved: boolean; id: string }[] }>();
  for (const m of methods) {
    const s = await selectLearningRate(env, TASK_A, m, c.seeds[0]!, true);
    lrs.set(methodId(m), { lr: s.lr, atEdge: s.atEdge, candidates: s.candidates });
  }
  // the paper's budget first (its methods), then the rest
  const order: MethodSpec[] = [];
  for (const b of [...budgets].reverse()) for (const m of [b.stan, b.lora]) if (!order.some((x) => methodId(x) === methodId(m))) order.push(m);
  const dirs: [DigitView, DigitView][] = c.quick ? [[TASK_A, TASK_B]] : [[TASK_A, TASK_B], [TASK_B, TASK_A]];
  const directions: Table9Direction[] = [];
  // under --stored-only, what is not stored is listed instead of trained
  const stored = async <T>(missing: string[], f: () => Promise<T>): Promise<T | null> => {
    try {
      return await f();
    } catch (e) {
      if (!(e instanceof NotStoredError)) throw e;
      missing.push(e.what);
      return null;
    }
  };
  const ft = s9.firstTarget;
  for (const [first, second] of dirs) {
    const runsA: RunRecord[] = [];
    let switches: SwitchRecord[] = [];
    let missing: string[] = [];
    const runA = (m: MethodSpec, seed: number) => stored(missing, () => ensureRun(env, { view: first, method: m, lr: lrs.get(methodId(m))!.lr, seed }, true, ft));
    if (ft !== undefined) {
      for (const m of order) {
        for (const seed of c.seeds) {
          const r = await runA(m, seed);
          if (!r) continue;
          runsA.push(r);
          if (r.best.value < ft) continue;
          const sw = await stored(missing, () => switchRun(c, s9, r, ft, second));
          if (sw) switches.push(sw);
        }
      }
    } else {
      for (const m of order) {
        for (const seed of c.seeds) {
          const r = await runA(m, seed);
          if (r) runsA.push(r);
        }
      }
    }
    const all = runsA.length === methods.length * c.seeds.length;
    const fixed = ft !== undefined && runsA.every((r) => r.best.value >= ft);
    let target = fixed ? ft : NaN;
    if (!fixed && all) {
      // the default rule: every run's plateau is known
      target = sharedTarget(runsA.map((r) => r.best.value), MATCH_BELOW);
      switches = [];
      missing = [];
      for (const r of runsA) {
        const sw = await stored(missing, () => switchRun(c, s9, r, target, second));
        if (sw) switches.push(sw);
      }
    } else if (!fixed) {
      missing.push(`the switches of ${first} → ${second} (the shared target needs every first-task run)`);
    }
    c.io.log(`${first} → ${second}: shared first-task target ${Number.isNaN(target) ? 'not known yet' : `${pts(target, 2)} %`} (validation; ${fixed ? (all ? 'fixed by --first-target, reached by every run' : `fixed by --first-target, reached by the ${runsA.length} stored runs (provisional)`) : 'lowest best − 2 points'}); ${switches.length} of ${methods.length * c.seeds.length} switches${missing.length ? `; not stored: ${missing.length}` : ''}`);
    directions.push({ first, second, target, fixedTarget: fixed && all, runsA, switches, missing });
  }
  return { budgets, methods, lrs, directions };
}

export function table9Settings(c: StanCommon, values: ExperimentValues): Settings9 {
  return {
    stepsB: numberOption(values['steps-b'], 'steps-b', { int: true, min: 1 }) ?? (c.quick ? 8 : 240),
    evalB: numberOption(values['eval-b'], 'eval-b', { int: true, min: 1 }) ?? (c.quick ? 4 : 40),
    refine: c.quick ? 1 : 5,
    firstTarget: firstTargetOption(values['first-target']),
  };
}

function firstTargetOption(v: string | boolean | undefined): number | undefined {
  const x = numberOption(v, 'first-target', { min: 0, exclusiveMin: true });
  if (x !== undefined && x >= 1) throw new Error(`--first-target is a validation accuracy as a fraction in (0, 1), got ${x}`);
  return x;
}

const iv95 = (xs: number[]) => {
  const t = tInterval(xs);
  return { mean: round(t.mean), ci95: [round(t.lo), round(t.hi)] as [number, number], halfWidth: round(t.halfWidth) };
};

async function run(values: ExperimentValues, io: ExperimentIo): Promise<number> {
  const c = await stanSetup('stan-forgetting', values, io);
  const { env } = c;
  const s9 = table9Settings(c, values);
  const t9 = await table9Runs(c, s9);
  const seconds = (performance.now() - c.started) / 1000;
  const runSeconds = storedSeconds(env, [...[...t9.lrs.values()].flatMap((v) => v.candidates.map((x) => x.id)), ...t9.directions.flatMap((d) => d.runsA.map((r) => r.id))]) + t9.directions.flatMap((d) => d.switches).reduce((a, s) => a + s.seconds, 0);
  const base = new Map<string, number>();
  for (const v of [TASK_A, TASK_B]) base.set(v, (await baseAccuracy(env, v, 'test')).accuracy);

  const checks: Check[] = [];
  const paper: Record<string, { stan: number; lora: number }> = { [`${TASK_A}-${TASK_B}`]: { stan: 4.6, lora: 14.2 }, [`${TASK_B}-${TASK_A}`]: { stan: 6.5, lora: 17.8 } };
  const tables = [];
  const unfinished: { budget: string; first: DigitView; second: DigitView; stored: string[]; missing: string[] }[] = [];
  for (const d of t9.directions) {
    const baseA = base.get(d.first)!;
    for (const b of t9.budgets) {
      const find = (m: MethodSpec, seed: number) => d.switches.find((s) => methodId(s.method) === methodId(m) && s.seed === seed);
      const pairs = [b.stan, b.lora].flatMap((m) => c.seeds.map((seed) => ({ m, seed, sw: find(m, seed) })));
      if (pairs.some((x) => !x.sw)) {
        unfinished.push({ budget: b.id, first: d.first, second: d.second, stored: pairs.filter((x) => x.sw).map((x) => `${methodId(x.m)} s${x.seed}`), missing: pairs.filter((x) => !x.sw).map((x) => `${methodId(x.m)} s${x.seed}`) });
        continue;
      }
      const pick = (m: MethodSpec) => c.seeds.map((seed) => find(m, seed)!);
      const S = pick(b.stan);
      const L = pick(b.lora);
      const level = Math.min(...[...S, ...L].map((s) => Math.max(...s.curve.map((p) => p.b))));
      const per = (rs: typeof S) =>
        rs.map((s) => {
          const a0 = s.atSwitch.a.accuracy;
          const a1 = s.atEnd.a.accuracy;
          return { seed: s.seed, switchStep: s.switchStep, valAtSwitch: round(s.valAtSwitch), a0: round(a0), aEnd: round(a1), drop: round(a0 - a1), retention: round(retention(a1, a0, baseA)), bEnd: round(s.atEnd.b.accuracy), aAtMatchedB: round(valueAtLevel(s.curve, level)?.a ?? NaN) };
        });
      const ps = per(S);
      const pl = per(L);
      const matched = c.seeds.map((_, i) => matchedWithin([ps[i]!.a0, pl[i]!.a0], MATCH_TOLERANCE));
      const dropDiff = pairedDifference(pl.map((x) => x.drop), ps.map((x) => x.drop)); // LoRA − STAN: > 0 = STAN forgets less
      const retDiff = pairedDifference(ps.map((x) => x.retention), pl.map((x) => x.retention));
      const atBDiff = pairedDifference(ps.map((x) => x.aAtMatchedB), pl.map((x) => x.aAtMatchedB));
      const key = `${d.first}-${d.second}`;
      const tag = `${b.id}-${d.first}-to-${d.second}`;
      checks.push({
        id: `t9-protocol-matched-${tag}`,
        claim: `protocol: first-task test accuracy of STAN and LoRA within ${100 * MATCH_TOLERANCE} points before the second task (per seed)`,
        measured: `largest gap ${pts(Math.max(...matched.map((m) => m.spread)), 2)} points`,
        goal: `≤ ${100 * MATCH_TOLERANCE} points for every seed`,
        pass: matched.every((m) => m.matched),
        ci95: null,
        seeds: c.seeds,
      });
      const dd = { lo: dropDiff.lo, hi: dropDiff.hi };
      checks.push({
        id: `t9-drop-${tag}`,
        claim: `STAN forgets less than LoRA: drop on the first task (paper ${d.first === TASK_A ? 'SST-2 → MNLI' : 'MNLI → SST-2'} analogue: ${paper[key]!.stan} vs ${paper[key]!.lora} points)`,
        measured: round(dropDiff.mean),
        goal: 'the 95 % interval of drop(LoRA) − drop(STAN) lies above 0',
        pass: signVerdict(dd, 'positive'),
        ci95: [round(dropDiff.lo), round(dropDiff.hi)],
        seeds: c.seeds,
      });
      checks.push({
        id: `t9-retention-${tag}`,
        claim: 'STAN retains more of what it gained on the first task: (A − base)/(A₀ − base)',
        measured: round(retDiff.mean),
        goal: 'the 95 % interval of retention(STAN) − retention(LoRA) lies above 0',
        pass: signVerdict(retDiff, 'positive'),
        ci95: [round(retDiff.lo), round(retDiff.hi)],
        seeds: c.seeds,
      });
      checks.push({
        id: `t9-a-at-matched-b-${tag}`,
        claim: `STAN keeps more of the first task at the same second-task accuracy (validation level ${pts(level)} %)`,
        measured: round(atBDiff.mean),
        goal: 'the 95 % interval of A(STAN) − A(LoRA) at matched B lies above 0',
        pass: signVerdict(atBDiff, 'positive'),
        ci95: [round(atBDiff.lo), round(atBDiff.hi)],
        seeds: c.seeds,
      });
      const summary = (rows: ReturnType<typeof per>) => ({ a0: iv95(rows.map((x) => x.a0)), aEnd: iv95(rows.map((x) => x.aEnd)), drop: iv95(rows.map((x) => x.drop)), retention: iv95(rows.map((x) => x.retention)), bEnd: iv95(rows.map((x) => x.bEnd)), aAtMatchedB: iv95(rows.map((x) => x.aAtMatchedB)) });
      tables.push({
        budget: b.id,
        budgetLabel: b.label,
        first: d.first,
        second: d.second,
        target: round(d.target),
        matchedBLevel: round(level),
        baseFirstTest: round(baseA),
        stan: { method: methodLabel(b.stan), lr: t9.lrs.get(methodId(b.stan))!.lr, trainable: d.runsA.find((r) => methodId(r.method) === methodId(b.stan))!.trainable, seeds: ps, ...summary(ps) },
        lora: { method: methodLabel(b.lora), lr: t9.lrs.get(methodId(b.lora))!.lr, trainable: d.runsA.find((r) => methodId(r.method) === methodId(b.lora))!.trainable, seeds: pl, ...summary(pl) },
        loraMinusStanDrop: { mean: round(dropDiff.mean), ci95: [round(dropDiff.lo), round(dropDiff.hi)] },
        stanMinusLoraRetention: { mean: round(retDiff.mean), ci95: [round(retDiff.lo), round(retDiff.hi)] },
        stanMinusLoraAAtMatchedB: { mean: round(atBDiff.mean), ci95: [round(atBDiff.lo), round(atBDiff.hi)] },
      });
    }
  }
  for (const u of unfinished) {
    {
      const tag = `${u.budget}-${u.first}-to-${u.second}`;
      for (const [id, claim] of [
        ['t9-protocol-matched', 'protocol: first-task test accuracy of STAN and LoRA within 2 points before the second task (per seed)'],
        ['t9-drop', 'STAN forgets less than LoRA: drop on the first task'],
        ['t9-retention', 'STAN retains more of what it gained on the first task: (A − base)/(A₀ − base)'],
        ['t9-a-at-matched-b', 'STAN keeps more of the first task at the same second-task accuracy'],
      ] as const) {
        checks.push({ id: `${id}-${tag}`, claim, measured: `not finished: no switch stored for ${u.missing.join(', ')}`, goal: 'as in the finished budgets and directions', pass: null, ci95: null, seeds: c.seeds });
      }
    }
  }
  const results = {
    experiment: 'stan-forgetting',
    storedOnly: env.storedOnly === true,
    unfinished,
    notStored: t9.directions.filter((d) => d.missing.length).map((d) => ({ first: d.first, second: d.second, missing: d.missing })),
    paper: 'STAN (The Chosen Few) §4.4, Table 9: sequential fine-tuning SST-2 → MNLI and back, drop on the first task, STAN vs LoRA',
    quick: c.quick,
    device: c.device,
    seconds: round(seconds),
    runSeconds: round(runSeconds),
    setup: {
      tasks: `A = ${TASK_A}, B = ${TASK_B} digits; one adapter on ${STAN_TARGETS.join(', ')}, the base's head shared`,
      budgets: t9.budgets.map((b) => ({ id: b.id, label: b.label, stan: methodLabel(b.stan), lora: methodLabel(b.lora) })),
      seeds: c.seeds,
      learningRates: Object.fromEntries([...t9.lrs.entries()].map(([k, v]) => [k, { lr: v.lr, atEdge: v.atEdge, candidates: v.candidates.map((x) => ({ lr: x.lr, bestVal: round(x.score), halved: x.halved })) }])),
      firstTask: `the method's plateau run; shared target = lowest best-validation accuracy of all runs in the direction − ${100 * MATCH_BELOW} points${s9.firstTarget !== undefined ? ` (with --first-target ${s9.firstTarget}: first-task runs stop on reaching ${pts(s9.firstTarget, 2)} % on validation, and that is the target where every run reached it — directions: ${t9.directions.map((d) => `${d.first} → ${d.second} ${d.fixedTarget ? 'fixed' : 'lowest best − 2'}`).join(', ')})` : ''}; continued from the last evaluation below it with a validation evaluation every ${s9.refine} steps until reached`,
      firstTaskRuns: t9.directions.flatMap((d) => d.runsA.map((r) => ({ view: r.view, method: methodId(r.method), seed: r.seed, stop: r.stop.reason, stopStep: r.stop.step, bestVal: round(r.best.value), bestStep: r.best.step }))),
      secondTask: `${s9.stepsB} steps, fresh AdamW, same rate, ${Math.round(100 * env.settings.warmupFraction)} % warm-up, cosine to 0; validation accuracy of both tasks every ${s9.evalB} steps`,
      protocol: protocolSummary(env.settings),
      baseTest: Object.fromEntries([...base.entries()].map(([k, v]) => [k, round(v)])),
    },
    checks,
    tables,
    runs: t9.directions.map((d) => ({ first: d.first, second: d.second, target: round(d.target), switches: d.switches.map((s) => ({ method: methodId(s.method), seed: s.seed, runA: s.runA, switchStep: s.switchStep, valAtSwitch: round(s.valAtSwitch), curve: s.curve.map((p) => [p.step, round(p.a), round(p.b)]) })) })),
  };
  const f = (x: { mean: number; halfWidth: number }, scale = 100) => `${(scale * x.mean).toFixed(1)} ± ${Number.isFinite(x.halfWidth) ? (scale * x.halfWidth).toFixed(1) : '∞'}`;
  const md = [
    `# Sequential fine-tuning and forgetting (STAN paper §4.4, Table 9 analogue) — ${c.quick ? 'quick' : 'full'} run`,
    '',
    `Device: ${c.device}. Training and evaluation of every run behind the table (learning-rate candidates, first-task runs, switches): ${runSeconds.toFixed(0)} s, as measured when each ran. Test accuracy in % (${env.settings.testImages} digits per view), mean ± 95 % t-interval over seeds ${c.seeds.join(', ')}; retention as a fraction. First task trained to a shared validation target; second task ${s9.stepsB} steps.`,
    '',
    '| budget | direction | method (trainable, lr) | A₀ at switch | A at end | drop (points) | retention | B at end | A at matched B (val) |',
    '|---|---|---|---|---|---|---|---|---|',
    ...tables.flatMap((t) =>
      [t.stan, t.lora].map((m) => `| ${t.budgetLabel} | ${t.first} → ${t.second} | ${m.method} (${m.trainable}, ${m.lr}) | ${f(m.a0)} | ${f(m.aEnd)} | ${f(m.drop)} | ${m.retention.mean.toFixed(2)} ± ${Number.isFinite(m.retention.halfWidth) ? m.retention.halfWidth.toFixed(2) : '∞'} | ${f(m.bEnd)} | ${f(m.aAtMatchedB)} |`),
    ),
    '',
    'Checks:',
    '',
    ...(unfinished.length ? [`Not finished (switches not in the store yet): ${unfinished.map((u) => `${u.budget}, ${u.first} → ${u.second}: ${u.missing.join(', ')}`).join('; ')}.`, ''] : []),
    ...checks.map((x) => `- ${x.id}: ${x.claim} — measured ${typeof x.measured === 'number' ? x.measured : x.measured}${x.ci95 ? ` [${x.ci95[0]}, ${x.ci95[1]}]` : ''} → ${x.pass === null ? 'undecided' : x.pass ? 'pass' : 'fail'}`),
    '',
  ].join('\n');
  const figs: Record<string, string> = {};
  for (const d of t9.directions) {
    if (!d.switches.length) continue;
    const series: Series[] = [];
    t9.methods.forEach((m, i) => {
      for (const s of d.switches.filter((x) => methodId(x.method) === methodId(m))) {
        series.push({ name: `${methodLabel(m)} s${s.seed}: ${d.first}`, x: s.curve.map((p) => p.step), y: s.curve.map((p) => p.a), color: PALETTE[i]!, mode: 'both' });
        series.push({ name: `${methodLabel(m)} s${s.seed}: ${d.second}`, x: s.curve.map((p) => p.step), y: s.curve.map((p) => p.b), color: PALETTE[i]!, dash: '5,4' });
      }
    });
    figs[`forgetting-${d.first}-then-${d.second}.svg`] = linePlot(series, { title: `Validation accuracy while training ${d.second} after ${d.first} (solid: ${d.first}, dashed: ${d.second}); start matched at ${pts(d.target)} %`, xLabel: `steps of ${d.second}`, yLabel: 'validation accuracy', yRange: [0, 1], hlines: [{ y: base.get(d.first)!, label: `base on ${d.first}`, color: '#999' }] });
  }
  writeOutputs(c, results, md, figs);
  c.destroy();
  return 0;
}

export const stanForgettingExperiment: Experiment = {
  summary: 'STAN paper §4.4 Table 9 on digits: first task to a shared validation target, then the second for a fixed number of steps; drop, retention, A at matched B; STAN vs LoRA (matched parameters; the paper\'s r = 8) both directions, seeds, intervals',
  usage: `${STAN_COMMON_USAGE} [--steps-b N] [--eval-b N] [--first-target fraction]`,
  options: { ...STAN_COMMON_OPTIONS, 'steps-b': { type: 'string' }, 'eval-b': { type: 'string' }, 'first-target': { type: 'string' } },
  run,
};
