/**
 * The training protocol of the STAN reproductions on the digits task, as runs that can be
 * stored, resumed and shared between Table 8, Table 9 and App. F:
 *
 *  - a validation split carved from the train split (`validation` images, the same for every
 *    seed); every choice is made on it; test = all test digits of the view;
 *  - AdamW (weight decay 0.1 on every adapter weight), 6 % linear warm-up, cosine decay to 0 over
 *    the step cap (the cosine horizon is the cap, so a run's schedule does not depend on when it
 *    stops);
 *  - an evaluation on the validation split every `evalEvery` steps; the run stops when the plateau
 *    rule fires (training-protocol.ts: gains < 0.5 points over 100 steps) or at the cap; the best
 *    validation checkpoint is restored and scored on the test split;
 *  - the learning rate per method (per k) from a grid, picked on validation by successive halving:
 *    every rate runs to `halvingAt` steps, the best `halvingKeep` continue to their plateau, the
 *    best validation accuracy wins (its run is the seed-1 run of the cell).
 *
 * Runs are stored in a folder (one JSON per run, and for runs that keep them, a safetensors file
 * of trainer checkpoints — parameters and AdamW moments — at every evaluation, plus App. F
 * statistics accumulated over the training batches), so an interrupted experiment resumes where
 * it stopped and a later experiment reuses earlier runs: Table 9's first task is the plateau runs'
 * trajectory up to the shared target, App. F reads the same checkpoints.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Adapter, SparseCode } from '../adapters/adapter';
import type { AdapterSpec } from '../adapters/attach';
import { LowRankAdapter } from '../adapters/low-rank';
import { LatentStats, type LatentStatsSnapshot } from '../analysis/latent-stats';
import type { MnistSet } from '../data/mnist';
import type { CommandList, GpuRuntime } from '../engine/runtime';
import type { StepParams } from '../engine/step-params';
import { parseSafetensors, serializeSafetensors, toFloat32 } from '../io/safetensors';
import type { DigitTransformerConfig } from '../models/digit-transformer';
import { buildDigitsTask, probeIndices, type DigitView, type DigitsTask } from '../tasks/digits';
import { lrScale, type LrSchedule } from '../train/schedule';
import { Trainer, type Checkpoint, type TrainerOptions } from '../train/trainer';
import type { ExperimentIo } from './experiment';
import { halvingKeep, PlateauRule, selectBest, type CurvePoint } from './training-protocol';

/** Where STAN and LoRA attach in every experiment: the q and v projections of both blocks (PEFT's usual LoRA targets). */
export const STAN_TARGETS = ['blocks.*.attn.{q,v}_proj'];
export const TASK_A: DigitView = 'rot90';
export const TASK_B: DigitView = 'flip';

export type MethodSpec = { kind: 'stan'; expansion: number; k: number } | { kind: 'lora'; rank: number; alpha: number };

export function methodId(m: MethodSpec): string {
  return m.kind === 'stan' ? `stan-e${m.expansion}-k${m.k}` : `lora-r${m.rank}-a${m.alpha}`;
}

export function methodLabel(m: MethodSpec): string {
  return m.kind === 'stan' ? `STAN (expansion ${m.expansion}, k = ${m.k})` : `LoRA (r = ${m.rank}, α = ${m.alpha})`;
}

export function adapterSpec(m: MethodSpec): AdapterSpec {
  return m.kind === 'stan'
    ? { kind: 'stan', config: { expansion: m.expansion, k: m.k }, targets: STAN_TARGETS }
    : { kind: 'lora', config: { rank: m.rank, alpha: m.alpha }, targets: STAN_TARGETS };
}

export interface ProtocolSettings {
  /** Learning-rate grid, smallest first (ties go to the smaller). */
  lrs: number[];
  /** Step cap = cosine horizon. */
  cap: number;
  warmupFraction: number;
  weightDecay: number;
  evalEvery: number;
  plateauWindow: number;
  plateauMinGain: number;
  /** Consecutive flat evaluations before the plateau rule fires (training-protocol.ts). */
  plateauPatience: number;
  /** Successive halving: every rate runs to this step, the best `halvingKeep` go on. */
  halvingAt: number;
  halvingKeep: number;
  /** Validation images carved from the train split. */
  validation: number;
  /** Test images per view (all of the split unless --quick). */
  testImages: number;
  batch: number;
}

export const FULL_SETTINGS: ProtocolSettings = {
  lrs: [1e-3, 3e-3, 1e-2, 3e-2],
  cap: 600,
  warmupFraction: 0.06,
  weightDecay: 0.1,
  evalEvery: 50,
  plateauWindow: 100,
  plateauMinGain: 0.005,
  plateauPatience: 2,
  halvingAt: 100,
  halvingKeep: 2,
  validation: 500,
  testImages: 2000,
  batch: 32,
};

/** CI's end-to-end run of the same protocol on a tiny budget. */
export const QUICK_SETTINGS: ProtocolSettings = {
  lrs: [3e-3, 3e-2],
  cap: 16,
  warmupFraction: 0.06,
  weightDecay: 0.1,
  evalEvery: 4,
  plateauWindow: 8,
  plateauMinGain: 0.005,
  plateauPatience: 2,
  halvingAt: 8,
  halvingKeep: 1,
  validation: 64,
  testImages: 64,
  batch: 16,
};

/** Everything a run needs from its experiment. */
export interface RunEnv {
  io: ExperimentIo;
  rt: GpuRuntime;
  mnist: MnistSet;
  base: Uint8Array;
  model: DigitTransformerConfig;
  settings: ProtocolSettings;
  /** The run store folder. */
  store: string;
  /** Frozen-base accuracy per view on validation and test (computed once). */
  baseCache: Map<string, { accuracy: number; loss: number; images: number }>;
  /** Report from the store only (--stored-only): a run that would have to be trained or continued throws NotStoredError. */
  storedOnly?: boolean;
}

/** Thrown under --stored-only where a run is not (completely) in the store. */
export class NotStoredError extends Error {
  constructor(readonly what: string) {
    super(`${what} is not in the run store (--stored-only trains nothing)`);
  }
}

export interface RunSpec {
  view: DigitView;
  method: MethodSpec;
  lr: number;
  seed: number;
}

export interface EvalResult {
  accuracy: number;
  loss: number;
  images: number;
}

export interface RunRecord {
  id: string;
  view: DigitView;
  method: MethodSpec;
  lr: number;
  seed: number;
  trainable: number;
  settings: ProtocolSettings;
  /** Validation accuracy at step 0 (the frozen base: D = 0 / B = 0) and every evalEvery steps. */
  curve: CurvePoint[];
  /** Training loss and batch accuracy as streamed (every 10 steps). */
  train: { step: number; loss: number; accuracy: number }[];
  /** 'target': stopped on reaching a first-task target (Table 9); continued to its plateau when asked for one. */
  stop: { step: number; reason: 'plateau' | 'cap' | 'halved' | 'target'; lrScale: number };
  best: CurvePoint;
  /** Test split at the best validation checkpoint (absent for runs dropped by halving). */
  test: EvalResult | null;
  seconds: { train: number; eval: number };
  /** Trainer checkpoints at every evaluation (and App. F training statistics) were kept. */
  snapshots: boolean;
}

export function runId(s: RunSpec, settings: ProtocolSettings): string {
  const lr = s.lr.toExponential(0).replace('+', '');
  return `${s.view}-${methodId(s.method)}-lr${lr}-s${s.seed}-cap${settings.cap}-ev${settings.evalEvery}-val${settings.validation}-b${settings.batch}`;
}

const recordPath = (env: RunEnv, id: string) => join(env.store, `${id}.json`);
export const snapshotPath = (env: RunEnv, id: string) => join(env.store, `${id}.snapshots.safetensors`);

export function loadRecord(env: RunEnv, id: string): RunRecord | null {
  const p = recordPath(env, id);
  if (!existsSync(p)) return null;
  return JSON.parse(readFileSync(p, 'utf8')) as RunRecord;
}

function saveRecord(env: RunEnv, r: RunRecord): void {
  mkdirSync(env.store, { recursive: true });
  const p = recordPath(env, r.id);
  writeFileSync(`${p}.tmp`, JSON.stringify(r) + '\n');
  renameSync(`${p}.tmp`, p);
}

/** A digits task for `view` with the protocol's validation split and batch. */
export function buildTask(env: RunEnv, view: DigitView, method: MethodSpec | null, seed: number): DigitsTask {
  return buildDigitsTask(env.rt, env.mnist, { model: { ...env.model, batch: env.settings.batch, frozen: true }, view, seed, validation: env.settings.validation }, { adapters: method ? [adapterSpec(method)] : [], base: env.base, initSeed: seed });
}

/** The test indices of the protocol (all of the test split, or the first `testImages` of its seeded order). */
export function testIndices(env: RunEnv, task: DigitsTask): readonly number[] {
  return env.settings.testImages >= task.testIndices.length ? task.testIndices : seededOrder(task.testIndices).slice(0, env.settings.testImages);
}

const seededOrder = (xs: readonly number[]) => probeIndices(xs, xs.length);

export async function evaluate(task: DigitsTask, view: DigitView, indices: readonly number[]): Promise<EvalResult> {
  const e = await task.evaluate(view, indices);
  return { accuracy: e.accuracy, loss: e.loss, images: e.images };
}

/** Frozen-base accuracy on `split` of `view` (cached per environment). */
export async function baseAccuracy(env: RunEnv, view: DigitView, split: 'validation' | 'test'): Promise<EvalResult> {
  const key = `${view}:${split}`;
  const hit = env.baseCache.get(key);
  if (hit) return hit;
  const task = buildTask(env, view, null, 1);
  const r = await evaluate(task, view, split === 'validation' ? task.validationIndices : testIndices(env, task));
  task.destroy();
  env.baseCache.set(key, r);
  return r;
}

/** The protocol's optimizer and schedule for `horizon` steps: AdamW with weight decay, warm-up, cosine decay to 0. */
export function protocolTrainerOptions(st: ProtocolSettings, lr: number, horizon: number): TrainerOptions & { schedule: LrSchedule } {
  return {
    lr,
    schedule: { kind: 'cosine', warmupSteps: Math.max(1, Math.round(st.warmupFraction * horizon)), totalSteps: horizon, minRatio: 0 },
    adamw: { weightDecay: st.weightDecay },
    metricInterval: 10,
  };
}

// ---------- dense codes for LoRA's directions (App. F / Fig. 4) ----------

/**
 * The units App. F counts for an adapter, as a code LatentStats can read: STAN's own sparse code,
 * or LoRA's rank activations h = x·Aᵀ as a dense code (every direction "selected" on every row,
 * active where h > 0, eq. 18's a > 0). Call `release` when done.
 */
export function unitCode(rt: GpuRuntime, a: Adapter): { code: SparseCode; release(): void } {
  if (a.code) return { code: a.code, release() {} };
  if (!(a instanceof LowRankAdapter)) throw new Error(`${a.kind} at ${a.path} has no units App. F can count`);
  const r = a.latentCount;
  const idx = new Uint32Array(a.rows * r);
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < r; j++) idx[i * r + j] = j;
  const indices = rt.tensor([a.rows, r], `${a.path}.units.indices`, new Float32Array(idx.buffer));
  return { code: { indices, values: a.hidden, rows: a.rows, k: r }, release: () => rt.release(indices) };
}

// ---------- a run that stops at its plateau ----------

interface StatsTrack {
  stats: { adapter: Adapter; stats: LatentStats }[];
  releases: (() => void)[];
}

/** One training run under the protocol; advance it in pieces (successive halving interleaves several). */
export class PlateauRun {
  readonly id: string;
  readonly task: DigitsTask;
  readonly trainer: Trainer;
  readonly rule: PlateauRule;
  readonly valIdx: readonly number[];
  private bestParams: Map<string, Float32Array>[] | null = null;
  private readonly trainRows: { step: number; loss: number; accuracy: number }[] = [];
  private readonly snaps: { step: number; ckpt: Checkpoint; stats: { path: string; s: LatentStatsSnapshot }[] }[] = [];
  private readonly track: StatsTrack | null;
  private trainSeconds = 0;
  private evalSeconds = 0;
  private stoppedBy: 'plateau' | 'cap' | 'target' | null = null;
  /** False after a resume: the training statistics restart there, so later snapshots carry none. */
  private statsValid = true;

  constructor(
    readonly env: RunEnv,
    readonly spec: RunSpec,
    readonly keepSnapshots: boolean,
    /** Stop as soon as validation accuracy reaches this (a first-task target); the run stays resumable to its plateau. */
    readonly stopAt?: number,
  ) {
    const st = env.settings;
    this.id = runId(spec, st);
    if (env.storedOnly) throw new NotStoredError(`run ${this.id}`);
    this.task = buildTask(env, spec.view, spec.method, spec.seed);
    this.valIdx = this.task.validationIndices;
    this.track = keepSnapshots ? { stats: [], releases: [] } : null;
    const graph = this.track ? { ...this.task.graph, recordAfterOptimizer: (list: CommandList, sp: StepParams) => this.recordStats(list, sp) } : this.task.graph;
    this.trainer = new Trainer(env.rt, graph, {
      ...protocolTrainerOptions(st, spec.lr, st.cap),
      onMetrics: (rows) => this.trainRows.push(...rows.map((r) => ({ step: r.step, loss: r.values.loss!, accuracy: r.values.accuracy! }))),
    });
    this.rule = protocolRule(st);
  }

  /** App. F statistics accumulated over every training batch (recorded into the step after the optimizer: the code is this step's forward). */
  private recordStats(list: CommandList, sp: StepParams): void {
    this.task.graph.recordAfterOptimizer?.(list, sp);
    const t = this.track!;
    for (const a of this.task.adapters) {
      const u = unitCode(this.env.rt, a);
      t.releases.push(u.release);
      const stats = new LatentStats(this.env.rt, { l: a.latentCount, classes: 10, mode: 'signed', label: `${a.path}.train-stats` });
      stats.record(list, u.code, this.task.tokenLabels, sp);
      t.stats.push({ adapter: a, stats });
    }
  }

  get step(): number {
    return this.trainer.step;
  }

  get done(): boolean {
    return this.stoppedBy !== null;
  }

  /** The step-0 evaluation: the adapted model equals the frozen base (D = 0 / B = 0). */
  async start(): Promise<void> {
    const b = await baseAccuracy(this.env, this.spec.view, 'validation');
    this.rule.observe(0, b.accuracy);
    if (this.track) await this.snapshot(0);
  }

  private async snapshot(step: number): Promise<void> {
    const ckpt = await this.trainer.checkpoint();
    const stats = this.track && this.statsValid ? await Promise.all(this.track.stats.map(async (s) => ({ path: s.adapter.path, s: await s.stats.read() }))) : [];
    this.snaps.push({ step, ckpt, stats });
  }

  /**
   * Continues a stored run that stopped under an earlier plateau rule (e.g. without patience)
   * and would not have stopped under the current one: its stored snapshots come back, the
   * trainer (parameters, AdamW moments, step) is restored at the stop, the rule replays the
   * stored curve. Same schedule and batches, so the continuation is the run it would have been.
   */
  async resume(rec: RunRecord): Promise<void> {
    for (const snap of readSnapshots(this.env, rec.id)) this.snaps.push({ step: snap.step, ckpt: snap.ckpt, stats: [...snap.stats].map(([path, st]) => ({ path, s: st })) });
    for (const p of rec.curve) this.rule.observe(p.step, p.value);
    if (this.rule.plateaued) throw new Error(`run ${rec.id}: the current plateau rule fires on the stored curve; nothing to resume`);
    const at = this.snaps.find((x) => x.step === rec.stop.step);
    const best = this.snaps.find((x) => x.step === rec.best.step);
    if (!at || !best) throw new Error(`run ${rec.id} has no snapshot at step ${rec.stop.step} / ${rec.best.step}`);
    this.trainer.restore(at.ckpt);
    this.bestParams = best.ckpt.params;
    this.trainRows.push(...rec.train);
    this.trainSeconds = rec.seconds.train;
    this.evalSeconds = rec.seconds.eval;
    this.statsValid = false;
    if (this.trainer.step >= this.env.settings.cap) this.stoppedBy = 'cap';
  }

  /** Trains until `until` (a multiple of evalEvery, ≤ cap) or the plateau. */
  async advance(until: number): Promise<void> {
    const st = this.env.settings;
    while (!this.done && this.trainer.step < Math.min(until, st.cap)) {
      const n = Math.min(st.evalEvery, st.cap - this.trainer.step);
      let t0 = performance.now();
      await this.trainer.run(n);
      await this.trainer.drain();
      await this.env.rt.idle();
      this.trainSeconds += (performance.now() - t0) / 1000;
      t0 = performance.now();
      const v = await evaluate(this.task, this.spec.view, this.valIdx);
      this.evalSeconds += (performance.now() - t0) / 1000;
      const step = this.trainer.step;
      const prevBest = this.rule.best?.value ?? -Infinity;
      const plateaued = this.rule.observe(step, v.accuracy);
      if (v.accuracy > prevBest) this.bestParams = await Promise.all(this.task.graph.packs.map((p) => p.readAll()));
      if (this.keepSnapshots) await this.snapshot(step);
      if (plateaued) this.stoppedBy = 'plateau';
      else if (step >= st.cap) this.stoppedBy = 'cap';
      else if (this.stopAt !== undefined && v.accuracy >= this.stopAt) this.stoppedBy = 'target';
    }
  }

  /** Stops a run dropped by successive halving (no test evaluation). */
  halt(): RunRecord {
    return this.finishRecord('halved', null);
  }

  /** Restores the best validation checkpoint, scores the test split, stores and returns the record. */
  async finish(): Promise<RunRecord> {
    if (!this.done) throw new Error(`run ${this.id} finished before its plateau or cap`);
    if (this.bestParams) this.task.graph.packs.forEach((p, i) => p.writeAll(this.bestParams![i]!));
    const t0 = performance.now();
    const test = await evaluate(this.task, this.spec.view, testIndices(this.env, this.task));
    this.evalSeconds += (performance.now() - t0) / 1000;
    return this.finishRecord(this.stoppedBy!, test);
  }

  private finishRecord(reason: 'plateau' | 'cap' | 'halved' | 'target', test: EvalResult | null): RunRecord {
    const st = this.env.settings;
    const step = this.trainer.step;
    const sched = protocolTrainerOptions(st, this.spec.lr, st.cap).schedule;
    const rec: RunRecord = {
      id: this.id,
      view: this.spec.view,
      method: this.spec.method,
      lr: this.spec.lr,
      seed: this.spec.seed,
      trainable: this.task.trainableParameters,
      settings: st,
      curve: this.rule.curve.slice(),
      train: this.trainRows.slice(),
      stop: { step, reason, lrScale: lrScale(sched, Math.max(0, step - 1)) },
      best: this.rule.best!,
      test,
      seconds: { train: this.trainSeconds, eval: this.evalSeconds },
      snapshots: this.keepSnapshots && reason !== 'halved',
    };
    if (rec.snapshots) writeSnapshots(this.env, this.id, this.snaps);
    saveRecord(this.env, rec);
    this.destroy();
    return rec;
  }

  destroy(): void {
    this.trainer.destroy();
    for (const s of this.track?.stats ?? []) s.stats.destroy();
    for (const r of this.track?.releases.splice(0) ?? []) r();
    this.task.destroy();
  }
}

// ---------- snapshots on disk ----------

function writeSnapshots(env: RunEnv, id: string, snaps: { step: number; ckpt: Checkpoint; stats: { path: string; s: LatentStatsSnapshot }[] }[]): void {
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  const put = (name: string, data: Float32Array) => tensors.set(name, { shape: [data.length], data });
  for (const s of snaps) {
    s.ckpt.params.forEach((m, i) => {
      for (const [name, v] of m) put(`${s.step}/p${i}/${name}`, v);
    });
    s.ckpt.optimizer.m.forEach((v, i) => put(`${s.step}/m${i}`, v));
    s.ckpt.optimizer.v.forEach((v, i) => put(`${s.step}/v${i}`, v));
    for (const { path, s: st } of s.stats) {
      put(`${s.step}/stats/${path}/count`, Float32Array.from(st.count));
      put(`${s.step}/stats/${path}/sum`, Float32Array.from(st.sum));
      put(`${s.step}/stats/${path}/classSums`, Float32Array.from(st.classSums));
      put(`${s.step}/stats/${path}/samples`, Float32Array.of(st.samples));
    }
  }
  const bytes = serializeSafetensors(tensors, { steps: JSON.stringify(snaps.map((s) => s.step)) });
  const p = snapshotPath(env, id);
  mkdirSync(env.store, { recursive: true });
  writeFileSync(`${p}.tmp`, bytes);
  renameSync(`${p}.tmp`, p);
}

/** The plateau rule of the protocol's settings. */
export function protocolRule(st: ProtocolSettings): PlateauRule {
  return new PlateauRule({ window: st.plateauWindow, minGain: st.plateauMinGain, patience: st.plateauPatience });
}

export interface Snapshot {
  step: number;
  ckpt: Checkpoint;
  /** App. F statistics accumulated over the training batches up to `step`, per adapter path. */
  stats: Map<string, LatentStatsSnapshot>;
}

/** The stored trainer checkpoint (and training statistics) of run `id` at evaluation step `step`. */
export function readSnapshot(env: RunEnv, id: string, step: number): Snapshot {
  return snapshotFrom(parseSafetensors(readFileSync(snapshotPath(env, id))), id, step);
}

/** Every stored snapshot of run `id`, in step order. */
export function readSnapshots(env: RunEnv, id: string): Snapshot[] {
  const file = parseSafetensors(readFileSync(snapshotPath(env, id)));
  const steps = JSON.parse(file.metadata.steps ?? '[]') as number[];
  return steps.map((step) => snapshotFrom(file, id, step));
}

function snapshotFrom(file: ReturnType<typeof parseSafetensors>, id: string, step: number): Snapshot {
  const pre = `${step}/`;
  const params: Map<string, Float32Array>[] = [];
  const m: Float32Array[] = [];
  const v: Float32Array[] = [];
  const stats = new Map<string, Partial<LatentStatsSnapshot>>();
  for (const [name, entry] of file.tensors) {
    if (!name.startsWith(pre)) continue;
    const rest = name.slice(pre.length);
    const data = toFloat32(entry);
    let g: RegExpExecArray | null;
    if ((g = /^p(\d+)\/(.+)$/.exec(rest))) (params[Number(g[1])] ??= new Map()).set(g[2]!, data);
    else if ((g = /^m(\d+)$/.exec(rest))) m[Number(g[1])] = data;
    else if ((g = /^v(\d+)$/.exec(rest))) v[Number(g[1])] = data;
    else if ((g = /^stats\/(.+)\/(count|sum|classSums|samples)$/.exec(rest))) {
      const s = stats.get(g[1]!) ?? {};
      if (g[2] === 'samples') s.samples = data[0]!;
      else s[g[2] as 'count' | 'sum' | 'classSums'] = Float64Array.from(data);
      stats.set(g[1]!, s);
    }
  }
  if (!params.length) throw new Error(`run ${id} has no snapshot at step ${step}`);
  const full = new Map<string, LatentStatsSnapshot>();
  for (const [path, s] of stats) full.set(path, { l: s.count!.length, classes: 10, samples: s.samples!, count: s.count!, sum: s.sum!, classSums: s.classSums!, lastFired: new Float64Array(s.count!.length).fill(-1) });
  return { step, ckpt: { step, params, optimizer: { m, v } }, stats: full };
}

/** Training + evaluation seconds of the stored runs `ids` (each counted once), as measured when they ran. */
export function storedSeconds(env: RunEnv, ids: Iterable<string>): number {
  let t = 0;
  for (const id of new Set(ids)) {
    const r = loadRecord(env, id);
    if (r) t += r.seconds.train + r.seconds.eval;
  }
  return t;
}

// ---------- learning-rate selection and cells ----------

export interface Selection {
  view: DigitView;
  method: MethodSpec;
  seed: number;
  /** Every rate of the grid, with its validation score (best validation accuracy so far when halved). */
  candidates: { lr: number; score: number; halved: boolean; id: string }[];
  lr: number;
  atEdge: boolean;
  run: RunRecord;
}

/**
 * A stored record, made valid under the current settings: a run stopped by an earlier plateau
 * rule stands when the current rule fires at the same step on its curve, is resumed from its
 * snapshots when it would have gone on, and is null (run it again) when it has no snapshots.
 */
async function upToDate(env: RunEnv, rec: RunRecord, keepSnapshots: boolean): Promise<RunRecord | null> {
  const st = env.settings;
  const patience = rec.settings.plateauPatience ?? 1;
  if (rec.stop.reason === 'halved' || patience === st.plateauPatience) return rec;
  if (rec.stop.reason === 'plateau') {
    const rule = protocolRule(st);
    for (const p of rec.curve) rule.observe(p.step, p.value);
    if (rule.plateauStep !== rec.stop.step && rec.stop.step >= st.cap) {
      // it stopped at the cap anyway: only the reason changes
      const relabelled: RunRecord = { ...rec, settings: st, stop: { ...rec.stop, reason: 'cap' } };
      saveRecord(env, relabelled);
      return relabelled;
    }
    if (rule.plateauStep !== rec.stop.step) {
      if (rule.plateauStep !== null || !rec.snapshots || !existsSync(snapshotPath(env, rec.id))) return null;
      env.io.log(`  ${rec.id}: stopped at ${rec.stop.step} under plateau patience ${patience}; resuming under patience ${st.plateauPatience}`);
      const run = new PlateauRun(env, { view: rec.view, method: rec.method, lr: rec.lr, seed: rec.seed }, keepSnapshots || rec.snapshots);
      await run.resume(rec);
      return drive(env, run);
    }
  }
  const updated = { ...rec, settings: st };
  saveRecord(env, updated);
  return updated;
}

async function drive(env: RunEnv, run: PlateauRun): Promise<RunRecord> {
  const { spec } = run;
  const bar = env.io.progress(env.settings.cap, `${spec.view} ${methodId(spec.method)} lr ${spec.lr} seed ${spec.seed}`);
  while (!run.done) {
    const before = run.step;
    await run.advance(run.step + env.settings.evalEvery);
    if (run.step === before && !run.done) throw new Error(`run ${run.id} made no progress at step ${before}`);
    bar.update(run.step, `val ${(100 * run.rule.curve[run.rule.curve.length - 1]!.value).toFixed(1)} %`);
  }
  const rec = await run.finish();
  bar.done(`best val ${(100 * rec.best.value).toFixed(1)} % at ${rec.best.step}, stop ${rec.stop.reason} at ${rec.stop.step}, test ${(100 * rec.test!.accuracy).toFixed(1)} %`);
  env.io.log(`  ${rec.id}: best val ${(100 * rec.best.value).toFixed(2)} % (step ${rec.best.step}), ${rec.stop.reason} at ${rec.stop.step}, test ${(100 * rec.test!.accuracy).toFixed(2)} %, ${rec.seconds.train.toFixed(0)} + ${rec.seconds.eval.toFixed(0)} s`);
  return rec;
}

/**
 * Runs a single spec to its plateau (or loads it from the store). With `stopAt`, the run stops as
 * soon as its validation accuracy reaches stopAt (or at its plateau or the cap, whichever comes
 * first); a run stored that way is continued from its snapshots when asked for more (its
 * plateau, or a higher stopAt) — the same schedule and batches, so it is the run it would have been.
 */
export async function ensureRun(env: RunEnv, spec: RunSpec, keepSnapshots: boolean, stopAt?: number): Promise<RunRecord> {
  const id = runId(spec, env.settings);
  const have = loadRecord(env, id);
  if (have && have.stop.reason !== 'halved' && (!keepSnapshots || (have.snapshots && existsSync(snapshotPath(env, id))))) {
    const rec = have.stop.reason === 'target' ? have : await upToDate(env, have, keepSnapshots);
    if (rec && rec.stop.reason !== 'target') return rec;
    if (rec && stopAt !== undefined && rec.best.value >= stopAt) return rec;
    if (rec && rec.snapshots && existsSync(snapshotPath(env, id))) {
      env.io.log(`  ${id}: stopped at its target (step ${rec.stop.step}); continuing ${stopAt === undefined ? 'to its plateau' : `to ${(100 * stopAt).toFixed(2)} %`}`);
      const run = new PlateauRun(env, spec, true, stopAt);
      await run.resume(rec);
      return drive(env, run);
    }
  }
  const run = new PlateauRun(env, spec, keepSnapshots, stopAt);
  await run.start();
  return drive(env, run);
}

/**
 * Picks the learning rate of (view, method) on validation by successive halving with `seed`; the
 * winner's run is stored as an ordinary run (its id is the cell's seed run).
 */
export async function selectLearningRate(env: RunEnv, view: DigitView, method: MethodSpec, seed: number, keepSnapshots: boolean): Promise<Selection> {
  const st = env.settings;
  const specs = st.lrs.map((lr) => ({ view, method, lr, seed }));
  const ids = specs.map((s) => runId(s, st));
  let recs = ids.map((id) => loadRecord(env, id));
  const complete = (r: RunRecord | null) => r !== null && (r.stop.reason === 'halved' || !keepSnapshots || r.snapshots);
  if (!recs.every(complete)) {
    env.io.log(`learning rate for ${methodLabel(method)} on ${view} (seed ${seed}): ${st.lrs.join(', ')}; halving at step ${st.halvingAt}, ${st.halvingKeep} go on`);
    const runs = specs.map((s) => new PlateauRun(env, s, keepSnapshots));
    for (const r of runs) await r.start();
    for (const r of runs) await r.advance(st.halvingAt);
    const scores = runs.map((r) => r.rule.best!.value);
    const keep = new Set(halvingKeep(scores, st.halvingKeep));
    env.io.log(`  at step ${st.halvingAt}: ${runs.map((r, i) => `lr ${r.spec.lr}: ${(100 * scores[i]!).toFixed(1)} %${keep.has(i) ? '' : ' (dropped)'}`).join(', ')}`);
    recs = [];
    for (let i = 0; i < runs.length; i++) {
      const r = runs[i]!;
      if (!keep.has(i) && !r.done) {
        recs.push(r.halt());
        continue;
      }
      const bar = env.io.progress(st.cap, `${view} ${methodId(method)} lr ${r.spec.lr}`);
      while (!r.done) {
        await r.advance(r.step + st.evalEvery);
        bar.update(r.step, `val ${(100 * r.rule.curve[r.rule.curve.length - 1]!.value).toFixed(1)} %`);
      }
      const rec = await r.finish();
      bar.done(`best val ${(100 * rec.best.value).toFixed(1)} % (step ${rec.best.step}), ${rec.stop.reason} at ${rec.stop.step}`);
      recs.push(rec);
    }
  }
  const done: RunRecord[] = [];
  for (const r of recs) done.push((await upToDate(env, r!, keepSnapshots)) ?? (await ensureRun(env, { view: r!.view, method: r!.method, lr: r!.lr, seed: r!.seed }, keepSnapshots)));
  const finished = done.filter((r) => r.stop.reason !== 'halved');
  const sel = selectBest(finished.map((r) => ({ key: r.lr, score: r.best.value })));
  const run = finished.find((r) => r.lr === sel.best.key)!;
  const atEdge = sel.best.key === st.lrs[0] || sel.best.key === st.lrs[st.lrs.length - 1];
  env.io.log(`  → lr ${run.lr} (best val ${(100 * run.best.value).toFixed(2)} %${atEdge ? ', at the edge of the grid' : ''})`);
  return { view, method, seed, candidates: done.map((r) => ({ lr: r.lr, score: r.best.value, halved: r.stop.reason === 'halved', id: r.id })), lr: run.lr, atEdge, run };
}
