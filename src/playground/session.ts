/**
 * The playground session: one task + base + adapter built from a validated PlaygroundConfig,
 * the Trainer that trains it, and everything the page asks between steps (views with inference
 * overrides, a unit's inspection, latent statistics, the App. A report, whole-state checkpoints).
 * Environment-free: the worker (src/worker/engine.worker.ts) only routes messages here, and the
 * tests drive it directly in Node.
 *
 * Concurrency: JS runs one thing at a time, but the play loop awaits between steps (to let
 * messages in), so a view could start between two steps. Everything that touches the GPU —
 * each training step and each view/inspection/validation — runs under one lock (`exclusive`),
 * so a view never sees a half-updated batch and training never runs with a view's overrides.
 *
 * Streaming while playing (StreamOptions): train-loss rows every `metricEvery` steps (the
 * MetricRing's asynchronous readback, never a stall), validation on the held-out batch every
 * `validateEvery` steps, latent statistics every `statsEvery` steps (both between steps).
 * A non-finite loss or gradient (AdamW skips that update and flags it) pauses the run and the
 * `training-stopped` event names the step.
 */
import { labelEntropy, meanActivation, meanFrequency, type LatentStatsSnapshot } from '../analysis/latent-stats';
import { siteMetrics } from '../analysis/latent-metrics';
import { LatentWindow, MAX_WINDOW_ROWS, MAX_WINDOW_SLOTS, type LatentWindowSnapshot } from '../analysis/latent-window';
import { formatIssues, parseConfig, type PlaygroundConfig } from '../config/schema';
import { buildConfigOf } from '../config/resolve';
import { ConfigError } from '../engine/errors';
import type { GpuRuntime } from '../engine/runtime';
import { taskModule, taskSummary } from './tasks/registry';
import type { GroupStatsSource, TaskAssets, TaskInstance, UnitActivationSet, ViewOutputs } from './tasks/task';
import type { LrSchedule } from '../train/schedule';
import { effectiveWarmup } from '../train/settings';
import { Trainer } from '../train/trainer';
import type { LatentStatsEvent, MetricsEvent, ProgressEvent, StreamOptions, TrainingStoppedEvent, ValidationEvent } from './events';
import type { EncodeRequest, EncodeResult, InferenceOverrides, LatentDashboard, LatentInspection, LatentStatsSummary, MetricPoint, OwnInput, OwnInputResult, SessionCheckpoint, SessionInfo, TaskView, ValidationPoint, ViewDeferred } from './types';
import { buildDashboard, unitOff } from './dashboard';
import type { IdentifiabilityReport } from '../analysis/identifiability';

export type SessionEvent = MetricsEvent | ValidationEvent | LatentStatsEvent | TrainingStoppedEvent | ProgressEvent;

export interface SessionOptions {
  assets: TaskAssets;
  stream?: StreamOptions;
  /** Smaller held-out and view sets (tests). */
  small?: boolean;
  onEvent?: (event: SessionEvent) => void;
  /** Cancels a long build (loading, pre-training). */
  signal?: AbortSignal;
}

export const SESSION_FORMAT = 'sparse-adapter-playground/session@1' as const;
const STEP_MAX = 1000;

/** Raised when a request cannot run now (playing, or a build in progress). */
export class SessionBusyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SessionBusyError';
  }
}

/** Validates a raw config: ConfigError naming the first bad field, every issue in the message. */
export function validateConfig(raw: unknown): PlaygroundConfig {
  const r = parseConfig(raw);
  if (r.ok) return r.config;
  const first = r.issues[0]!;
  const err = new ConfigError(first.field, formatIssues(r.issues));
  // ConfigError prefixes the field; formatIssues already names every field.
  err.message = formatIssues(r.issues);
  throw err;
}

/** Adapters and tasks name their own fields ('k', 'targets', 'batch'); the page needs the config's dot path. */
function configField(field: string, config: PlaygroundConfig): string {
  if (/^(task|tasks|adapter|training)(\.|$)/.test(field)) return field;
  if (field === 'targets') return 'adapter.targets';
  if (field === 'kind') return 'adapter.kind';
  const kind = config.adapter.kind;
  const settings = config.adapter[kind];
  if (settings && typeof settings === 'object' && field in settings) return `adapter.${kind}.${field}`;
  if (field in (config.tasks[config.task] ?? {})) return `tasks.${config.task}.${field}`;
  if (field in config.training) return `training.${field}`;
  return field;
}

function yieldToEventLoop(): Promise<void> {
  // setImmediate (Node) / a MessageChannel hop (browsers, workers): unlike setTimeout(0), no 1–4 ms clamp.
  const g = globalThis as { setImmediate?: (fn: () => void) => void };
  if (g.setImmediate) return new Promise((r) => g.setImmediate!(r));
  return new Promise((r) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => {
      ch.port1.close();
      r();
    };
    ch.port2.postMessage(null);
  });
}

function log10OrNull(x: number): number | null {
  return x > 0 && Number.isFinite(x) ? Math.log10(x) : null;
}

/** Default rows of the training-statistics window (StreamOptions.statsWindow). */
export const DEFAULT_STATS_WINDOW = 16384;

/** The session's window of one group: what it records, and the latest totals read back. */
interface GroupWindow {
  source: GroupStatsSource;
  window: LatentWindow;
  name: string;
  latest: { step: number; snap: LatentWindowSnapshot } | null;
}

/** A summary (App. F per unit + the site's standard metrics) from counts over `samples` rows. */
export function summarizeStats(
  group: number,
  source: 'training' | 'held-out',
  s: LatentStatsSnapshot,
  extra: { window: LatentStatsSummary['window']; sqDelta?: number; sqOut?: number; unitNorms?: Float32Array | null },
): LatentStatsSummary {
  const freq = meanFrequency(s);
  const act = meanActivation(s);
  const ent = labelEntropy(s);
  const metrics = siteMetrics({ count: s.count, rows: s.samples, ...(extra.sqDelta !== undefined ? { sqDelta: extra.sqDelta, sqOut: extra.sqOut ?? 0 } : {}) });
  const norms = extra.unitNorms ?? null;
  return {
    group,
    source,
    samples: s.samples,
    window: extra.window,
    log10Freq: Array.from(freq, log10OrNull),
    log10MeanAct: Array.from(act, log10OrNull),
    entropy: Array.from(ent, (h) => (Number.isFinite(h) && s.classes > 0 ? h : null)),
    dead: metrics.dead,
    dense: metrics.dense,
    metrics,
    effect: norms ? Array.from(s.sum, (v, i) => (s.samples > 0 ? (v / s.samples) * norms[i]! : 0)) : null,
  };
}

export class PlaygroundSession {
  readonly trainer: Trainer;
  private readonly history: { train: MetricPoint[]; validation: ValidationPoint[] } = { train: [], validation: [] };
  private overrides: InferenceOverrides = {};
  private lock: Promise<void> = Promise.resolve();
  private playing: Promise<void> | null = null;
  private stopRequested = false;
  private stopReason: { reason: 'non-finite'; message: string } | null = null;
  private windowStart = 0;
  /** Rows before this step were reported already (the ring re-reports a window after a partial flush or a restore). */
  private nextMetricStep = 0;
  private destroyed = false;
  private readonly stream: Required<StreamOptions>;
  /** Bumped when the parameters change outside training (restore): cached inspection data is stale. */
  private generation = 0;
  private dashCache: { key: string; sets: Map<number, UnitActivationSet>; on: ViewOutputs | null } | null = null;
  /** Training-statistics windows, one per group the task offers (recorded into the step). */
  private readonly windows: GroupWindow[] = [];

  private constructor(
    readonly rt: GpuRuntime,
    readonly config: PlaygroundConfig,
    readonly task: TaskInstance,
    private readonly opts: SessionOptions,
  ) {
    this.stream = { metricEvery: 5, validateEvery: 50, statsEvery: 25, statsWindow: DEFAULT_STATS_WINDOW, ...(opts.stream ?? {}) };
    for (const [k, v] of Object.entries(this.stream)) {
      const min = k === 'metricEvery' || k === 'statsWindow' ? 1 : 0;
      if (!Number.isInteger(v) || v < min) throw new ConfigError(`stream.${k}`, `must be an integer ≥ ${min}, got ${v}`);
    }
    const t = config.training;
    try {
      for (const source of task.statsSources ?? []) {
        const info = task.groups[source.group]!;
        const rows = source.code.kind === 'sparse' ? source.code.code.rows : source.code.rows;
        const slots = Math.min(MAX_WINDOW_SLOTS, Math.floor(MAX_WINDOW_ROWS / rows), Math.max(1, Math.round(this.stream.statsWindow / rows)));
        const window = new LatentWindow(rt, { l: info.count, slots, rows, classes: source.labels ? source.classes : 0, mode: source.mode, label: `window(${info.path})` });
        this.windows.push({ source, window, name: `window.${source.group}`, latest: null });
      }
      const graph = this.windows.length
        ? {
            ...task.graph,
            recordAfterBackward: (list: Parameters<NonNullable<typeof task.graph.recordAfterBackward>>[0], sp: Parameters<NonNullable<typeof task.graph.recordAfterBackward>>[1]) => {
              task.graph.recordAfterBackward?.(list, sp);
              for (const w of this.windows) w.window.record(list, w.source.code, w.source.labels, sp, w.source.adapter?.recordDelta?.(list) ?? null);
            },
          }
        : task.graph;
      this.trainer = new Trainer(rt, graph, {
        lr: t.lr,
        schedule: { kind: t.schedule as LrSchedule['kind'], warmupSteps: effectiveWarmup(t), totalSteps: t.steps, minRatio: 0.05 },
        adamw: { clipNorm: 1 },
        metricInterval: this.stream.metricEvery,
        onMetrics: (rows) => this.onMetrics(rows),
        snapshots: this.windows.map((w) => ({ name: w.name, tensor: w.window.totals, prepare: w.window.reduceList })),
        onSnapshots: (snap) => {
          for (const w of this.windows) {
            const data = snap.data.get(w.name);
            if (data && (!w.latest || snap.step >= w.latest.step)) w.latest = { step: snap.step, snap: w.window.decode(data) };
          }
        },
      });
    } catch (e) {
      for (const w of this.windows.splice(0)) w.window.destroy();
      throw e;
    }
  }

  /** Validates `rawConfig`, builds the task (base loaded, adapters attached) and the trainer. */
  static async create(rt: GpuRuntime, rawConfig: unknown, opts: SessionOptions): Promise<PlaygroundSession> {
    const config = validateConfig(rawConfig);
    const module = taskModule(config.task);
    let task: TaskInstance;
    try {
      task = await module.build(rt, buildConfigOf(config), opts.assets, {
        small: opts.small ?? false,
        onProgress: (label, done, total) => opts.onEvent?.({ type: 'progress', label, done, total }),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } catch (e) {
      if (e instanceof ConfigError) {
        const field = configField(e.field, config);
        const msg = e.message.startsWith(`${e.field}: `) ? e.message.slice(e.field.length + 2) : e.message;
        throw new ConfigError(field, msg);
      }
      throw e;
    }
    try {
      return new PlaygroundSession(rt, config, task, opts);
    } catch (e) {
      task.destroy();
      throw e;
    }
  }

  /** Builds a session from a checkpoint's config and loads its state (params, optimizer, step, history). */
  static async fromCheckpoint(rt: GpuRuntime, cp: SessionCheckpoint, opts: SessionOptions): Promise<PlaygroundSession> {
    if (cp.format !== SESSION_FORMAT) throw new ConfigError('format', `not a playground session (format '${String(cp.format)}', expected '${SESSION_FORMAT}')`);
    const s = await PlaygroundSession.create(rt, cp.config, opts);
    try {
      s.restore(cp);
    } catch (e) {
      s.destroy();
      throw e;
    }
    return s;
  }

  get streamOptions(): Required<StreamOptions> {
    return { ...this.stream };
  }

  get step(): number {
    return this.trainer.step;
  }

  get isPlaying(): boolean {
    return this.playing !== null;
  }

  info(): SessionInfo {
    const t = this.task;
    return {
      config: this.config,
      task: taskSummary(taskModule(this.config.task)),
      step: this.trainer.step,
      parameters: t.parameters,
      groups: [...t.groups],
      sites: [...t.sites],
      classes: t.classes ? [...t.classes] : null,
      dispatchesPerStep: this.trainer.stepList.dispatchCount,
      inspect: { dashboard: !!(t.unitActivations && t.viewOutputs), ownInput: t.ownInput ? (t.ownInputKind ?? null) : null, encode: !!t.encodeWithAtoms },
      base: t.base,
    };
  }

  /** The metric history so far (train rows as they came back, validation points). */
  metricHistory(): { train: MetricPoint[]; validation: ValidationPoint[] } {
    return { train: this.history.train.slice(), validation: this.history.validation.slice() };
  }

  private emit(e: SessionEvent): void {
    this.opts.onEvent?.(e);
  }

  private onMetrics(rows: { step: number; values: Record<string, number> }[]): void {
    const now = performance.now();
    const msPerStep = (now - this.windowStart) / Math.max(1, rows.length);
    this.windowStart = now;
    const fresh = rows.filter((r) => r.step >= this.nextMetricStep);
    if (!fresh.length) return;
    this.nextMetricStep = fresh[fresh.length - 1]!.step + 1;
    const points: MetricPoint[] = fresh.map((r) => {
      const { loss, grad_norm, non_finite, ...extra } = r.values;
      const nonFinite = non_finite !== 0 || !Number.isFinite(loss!) || !Number.isFinite(grad_norm!);
      return { step: r.step, loss: loss!, gradNorm: grad_norm!, nonFinite, extra };
    });
    this.history.train.push(...points);
    this.emit({ type: 'metrics', rows: points, msPerStep });
    const bad = points.find((p) => p.nonFinite);
    if (bad && !this.stopReason) {
      this.stopReason = { reason: 'non-finite', message: `step ${bad.step}: the loss or a gradient is not finite (loss ${bad.loss}, gradient norm ${bad.gradNorm}); that update was skipped. Lower the learning rate or reset.` };
      this.stopRequested = true;
    }
  }

  /** Runs `fn` with the GPU to itself (no training step or other view in between). */
  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.lock;
    let release!: () => void;
    this.lock = new Promise((r) => (release = r));
    await prev;
    try {
      if (this.destroyed) throw new Error('the session was destroyed');
      return await fn();
    } finally {
      release();
    }
  }

  private checkIdle(what: string): void {
    if (this.playing) throw new SessionBusyError(`cannot ${what} while playing; pause first`);
  }

  /**
   * Starts training for `steps` more steps (default: up to config.training.steps); returns at
   * once. Events stream; `training-stopped` ends it. Resolves `done` when the loop has stopped.
   */
  play(steps?: number): { step: number; until: number; done: Promise<void> } {
    this.checkIdle('play');
    const from = this.trainer.step;
    const n = steps ?? Math.max(0, this.config.training.steps - from);
    if (!Number.isInteger(n) || n < 0 || n > 1_000_000) throw new ConfigError('steps', `must be an integer in 0…1000000, got ${steps}`);
    const until = from + n;
    this.stopRequested = false;
    this.stopReason = null;
    const done = this.loop(until).finally(() => {
      this.playing = null;
    });
    this.playing = done;
    return { step: from, until, done };
  }

  private async loop(until: number): Promise<void> {
    const s = this.stream;
    this.windowStart = performance.now();
    try {
      while (this.trainer.step < until && !this.stopRequested) {
        await this.exclusive(() => this.trainer.run(1));
        const step = this.trainer.step;
        if (s.validateEvery > 0 && step % s.validateEvery === 0) await this.validate();
        if (s.statsEvery > 0 && step % s.statsEvery === 0 && this.windows.length) {
          // The windows as last read back with the metrics (they may lag a metric interval or two; window.lastStep says).
          const groups = this.windows.map((w) => this.windowSummary(w, null)).filter((x): x is LatentStatsSummary => x !== null);
          this.emit({ type: 'latent-stats', step, groups });
        }
        await yieldToEventLoop();
      }
      await this.exclusive(() => this.trainer.drain());
      const step = this.trainer.step;
      if (this.stopReason) {
        this.emit({ type: 'training-stopped', step, reason: 'non-finite', message: this.stopReason.message });
        return;
      }
      if (s.validateEvery > 0 && step % s.validateEvery !== 0) await this.validate();
      this.emit({ type: 'training-stopped', step, reason: step >= until ? 'done' : 'paused' });
    } catch (e) {
      if (this.destroyed) return;
      this.emit({ type: 'training-stopped', step: this.trainer.step, reason: 'error', message: e instanceof Error ? e.message : String(e) });
    }
  }

  /** Stops the play loop after the step in flight; resolves when it has stopped. */
  async pause(): Promise<number> {
    this.stopRequested = true;
    if (this.playing) await this.playing;
    return this.trainer.step;
  }

  /** Runs `n` steps and returns the metric rows they produced (all of them: the last window is flushed). */
  async stepN(n: number): Promise<MetricPoint[]> {
    this.checkIdle('step');
    if (!Number.isInteger(n) || n < 1 || n > STEP_MAX) throw new ConfigError('n', `steps per request must be an integer in 1…${STEP_MAX}, got ${n}`);
    const first = this.trainer.step;
    this.stopReason = null;
    this.stopRequested = false;
    this.windowStart = performance.now();
    await this.exclusive(async () => {
      await this.trainer.run(n);
      await this.trainer.drain();
    });
    return this.history.train.filter((p) => p.step >= first);
  }

  /** Loss and metrics on the held-out batch (recorded in the history and emitted). */
  async validate(): Promise<ValidationPoint> {
    const r = await this.exclusive(() => this.task.validate());
    const point: ValidationPoint = { step: this.trainer.step, loss: r.loss, metrics: r.metrics };
    this.history.validation.push(point);
    this.emit({ type: 'validation', point });
    return point;
  }

  get currentOverrides(): InferenceOverrides {
    return structuredClone(this.overrides);
  }

  /** Counts view requests (as they arrive, before the GPU lock): a deferred score asked before the latest view is stale. */
  private viewSeq = 0;

  /**
   * The task's view with the current overrides (or `overrides`, which become current).
   * `defer`: the outputs first, the score and unit gallery later (`viewDeferred`), where the task
   * can split them (the view then says `pending`).
   */
  async view(overrides?: InferenceOverrides, opts: { defer?: boolean } = {}): Promise<TaskView> {
    const o = overrides ?? this.overrides;
    ++this.viewSeq;
    const defer = !!opts.defer && !!this.task.viewDeferred;
    const v = await this.exclusive(() => this.task.view(o, { defer }));
    this.overrides = structuredClone(o);
    return v;
  }

  /**
   * What a `pending` view left out (scores, unit gallery), under the current overrides, at the current step;
   * null when a newer view was asked for meanwhile (its own scores follow it) or the task has no split.
   */
  async viewDeferred(): Promise<{ step: number; overrides: InferenceOverrides; rest: ViewDeferred } | null> {
    const seq = this.viewSeq;
    const t = this.task;
    if (!t.viewDeferred) return null;
    return this.exclusive(async () => {
      const stale = () => seq !== this.viewSeq;
      if (stale()) return null;
      const o = structuredClone(this.overrides);
      const rest = await t.viewDeferred!(o, stale);
      return rest ? { step: this.trainer.step, overrides: o, rest } : null;
    });
  }

  /** Unit toggles and k changes re-render the outputs first; the score and unit gallery under the new overrides follow (viewDeferred). */
  async setMask(group: number, mask: number[] | null): Promise<TaskView> {
    const masks = { ...(this.overrides.masks ?? {}), [group]: mask };
    return this.view({ ...this.overrides, masks }, { defer: true });
  }

  async setK(group: number, k: number | null): Promise<TaskView> {
    const ks = { ...(this.overrides.k ?? {}), [group]: k };
    return this.view({ ...this.overrides, k: ks }, { defer: true });
  }

  async inspect(group: number, unit: number): Promise<LatentInspection> {
    this.checkGroup(group);
    return this.exclusive(() => this.task.inspect(group, unit, this.overrides));
  }

  /**
   * A unit's dashboard over the task's held-out probe (src/playground/dashboard.ts), with the
   * current overrides: activation histogram, top and quantile examples with where they fire,
   * class bars, what it writes, co-active units, and the effect of switching it off on the view
   * batch (loss and outputs with it on − off).
   */
  async dashboard(group: number, unit: number): Promise<LatentDashboard> {
    this.checkGroup(group);
    const info = this.task.groups[group]!;
    if (!Number.isInteger(unit) || unit < 0 || unit >= info.count) throw new ConfigError('unit', `must be an integer in 0…${info.count - 1} (${info.count} ${info.label}s in group ${group}), got ${unit}`);
    const t = this.task;
    if (!t.unitActivations || !t.viewOutputs) throw new ConfigError('task', `the ${this.config.task} task has no ${info.label} dashboard`);
    return this.exclusive(async () => {
      const o = this.overrides;
      // Every unit of a group shares the activations and the "on" outputs: cached until the next step, restore or override change.
      const key = JSON.stringify([this.trainer.step, this.generation, o]);
      if (this.dashCache?.key !== key) this.dashCache = { key, sets: new Map(), on: null };
      const cache = this.dashCache;
      let set = cache.sets.get(group);
      if (!set) {
        set = await t.unitActivations!(group, o);
        cache.sets.set(group, set);
      }
      cache.on ??= await t.viewOutputs!(o);
      const on = cache.on;
      const off = await t.viewOutputs!(unitOff(o, group, unit, info.count));
      const adapter = t.adapters[group];
      const decoder = t.unitDecoder ? await t.unitDecoder(group, unit, o) : { kind: 'vector' as const, values: adapter?.unitDirection ? Array.from(await adapter.unitDirection(unit)) : [] };
      return buildDashboard({ group, unit, step: this.trainer.step, set, decoder, on, off });
    });
  }

  /** The user's own input through base and adapted model (current overrides): outputs and the units that fire. */
  async ownInput(input: OwnInput): Promise<OwnInputResult> {
    const t = this.task;
    if (!t.ownInput) throw new ConfigError('input', `the ${this.config.task} task takes no input of your own`);
    if (!input || typeof input !== 'object') throw new ConfigError('input', 'must be an object with a kind');
    return this.exclusive(() => t.ownInput!(input, this.overrides));
  }

  /** Encodes observations with the task's current atoms (ISTA on the GPU). */
  async encode(request: EncodeRequest): Promise<EncodeResult> {
    const t = this.task;
    if (!t.encodeWithAtoms) throw new ConfigError('task', `the ${this.config.task} task has no atoms to encode with`);
    if (!request || typeof request !== 'object') throw new ConfigError('request', 'must be an object with points and lambda');
    return this.exclusive(() => t.encodeWithAtoms!(request));
  }

  private checkGroup(group: number): void {
    if (!Number.isInteger(group) || group < 0 || group >= this.task.groups.length) {
      throw new ConfigError('group', `must be one of 0…${this.task.groups.length - 1} (this session has ${this.task.groups.length} groups), got ${group}`);
    }
  }

  /** The training window of a group: its raw totals as last read back with the metrics (null before the first flush). */
  windowSnapshot(group: number): { step: number; snap: LatentWindowSnapshot; slots: number; rowsPerStep: number } | null {
    const w = this.windows.find((x) => x.source.group === group);
    return w?.latest ? { ...w.latest, slots: w.window.slots, rowsPerStep: w.window.rows } : null;
  }

  private windowSummary(w: GroupWindow, norms: Float32Array | null): LatentStatsSummary | null {
    if (!w.latest) return null;
    const { step, snap } = w.latest;
    const stats: LatentStatsSnapshot = { l: snap.l, classes: snap.classes, samples: snap.rows, count: snap.count, sum: snap.sum, classSums: snap.classSums, lastFired: snap.count.map((c) => (c > 0 ? step : -1)) };
    const steps = Math.round(snap.rows / w.window.rows);
    return summarizeStats(w.source.group, 'training', stats, {
      window: { steps, slots: w.window.slots, rowsPerStep: w.window.rows, lastStep: step },
      ...(w.source.adapter?.recordDelta ? { sqDelta: snap.sqDelta, sqOut: snap.sqOut } : {}),
      unitNorms: norms,
    });
  }

  /** Unit norms of a group's adapter (read back), for the effect column; null when it has none. */
  private async unitNorms(group: number): Promise<Float32Array | null> {
    const a = this.task.statsSources?.find((s) => s.group === group)?.adapter ?? this.task.adapters[group];
    if (!a?.unitNorms) return null;
    return this.exclusive(() => a.unitNorms!());
  }

  /**
   * Latent statistics of every collecting group. 'training' (default): the training window as last
   * read back with the metrics — no GPU work, except the unit norms for the effect column when
   * `effect` is set; a group whose window has no rows yet is left out. 'held-out': the task's
   * probe set at the current parameters (a forward pass per batch, on demand).
   */
  async stats(opts: { source?: 'training' | 'held-out'; effect?: boolean } = {}): Promise<LatentStatsSummary[]> {
    const out: LatentStatsSummary[] = [];
    const source = opts.source ?? 'training';
    const effect = opts.effect ?? true;
    if (source === 'training') {
      if (this.trainer.step > 0 && !this.playing) await this.exclusive(() => this.trainer.drain());
      for (const w of this.windows) {
        const s = this.windowSummary(w, effect ? await this.unitNorms(w.source.group) : null);
        if (s) out.push(s);
      }
      return out;
    }
    for (const g of this.task.groups) {
      if (!g.stats) continue;
      const step = this.trainer.step;
      const snap = await this.exclusive(() => this.task.latentStats(g.group, step));
      if (!snap) continue;
      out.push(summarizeStats(g.group, 'held-out', snap, { window: null, unitNorms: effect ? await this.unitNorms(g.group) : null }));
    }
    return out;
  }

  async identifiability(group: number): Promise<IdentifiabilityReport> {
    this.checkGroup(group);
    const r = await this.exclusive(() => this.task.identifiability(group));
    if (!r) throw new ConfigError('group', `the App. A report applies to STAN groups; group ${group} is ${this.task.groups[group]!.kind}`);
    return r;
  }

  /** The whole state (waits for the step in flight; call while paused for a consistent history). */
  async checkpoint(): Promise<SessionCheckpoint> {
    const c = await this.exclusive(() => this.trainer.checkpoint());
    const params = c.params.map((m) => Object.fromEntries(m));
    return {
      format: SESSION_FORMAT,
      config: structuredClone(this.config),
      step: c.step,
      params,
      optimizer: c.optimizer,
      history: { train: this.history.train.filter((p) => p.step < c.step), validation: this.history.validation.filter((p) => p.step <= c.step) },
    };
  }

  /** Loads a checkpoint of a session with the same config (use fromCheckpoint for any config). */
  restore(cp: SessionCheckpoint): void {
    this.checkIdle('restore');
    if (JSON.stringify(cp.config) !== JSON.stringify(this.config)) throw new ConfigError('config', 'the checkpoint was made with another configuration; build the session from it (fromCheckpoint)');
    const packs = this.task.graph.packs;
    if (cp.params.length !== packs.length) throw new ConfigError('params', `the checkpoint has ${cp.params.length} parameter packs, this session ${packs.length}`);
    const problems: string[] = [];
    packs.forEach((pack, i) => {
      const got = cp.params[i]!;
      for (const p of pack.params) {
        const v = got[p.name];
        if (!v) problems.push(`missing '${p.name}'`);
        else if (v.length !== p.size) problems.push(`'${p.name}' has ${v.length} values, needs ${p.size}`);
      }
    });
    if (problems.length) throw new ConfigError('params', `the checkpoint does not fit this session: ${problems.join('; ')}`);
    this.trainer.restore({ step: cp.step, params: cp.params.map((o) => new Map(Object.entries(o))), optimizer: cp.optimizer });
    this.task.invalidate?.();
    this.generation++;
    this.dashCache = null;
    // The window's rows came from the old run: start it afresh.
    for (const w of this.windows) {
      w.window.reset();
      w.latest = null;
    }
    this.nextMetricStep = cp.step;
    this.history.train = cp.history.train.slice();
    this.history.validation = cp.history.validation.slice();
  }

  /**
   * Resolves once the GPU work queued so far (a step, a view, an inspection in flight) is done.
   * Call before destroy() when requests may still be running: their buffers go back to the
   * pool on destroy, and a late write would land in whatever reuses them.
   */
  settle(): Promise<void> {
    return this.exclusive(async () => {}).catch(() => {});
  }

  /** Frees every GPU allocation of the session (trainer, task, adapters). */
  destroy(): void {
    if (this.destroyed) return;
    this.stopRequested = true;
    this.destroyed = true;
    this.trainer.destroy();
    for (const w of this.windows.splice(0)) w.window.destroy();
    this.task.destroy();
  }
}
