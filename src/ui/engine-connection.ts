/**
 * The one engine worker of the page, and the actions that talk to it. Replies and events land in
 * the store; components read the store and call these actions. Nothing here waits on the GPU on
 * the UI thread: every request is a message, and streamed points are coalesced into one store
 * update per animation frame, so a fast GPU cannot flood React.
 */
import type { InferenceOverrides, MetricPoint, SessionInfo, StreamOptions, TaskView, ValidationPoint } from '../worker/protocol';
import { EngineClient, WorkerError } from '../worker/client';
import { EMPTY_INSPECTION, runLabel, usePlayground, type LossPoint } from './store';
import { openDashboard } from './inspect-actions';
import { tabId } from './tab-id';

let client: EngineClient | null = null;

/** Where the ms/step of the current play is measured from (its first metric rows); null when not playing. */
let rate: { t: number; step: number } | null = null;
let playing = false;

/** How often the playing session streams (steps). Small enough to see movement on SwiftShader. */
export const STREAM: StreamOptions = { metricEvery: 5, validateEvery: 25, statsEvery: 10 };

// ---------- coalesced streaming ----------

const pending = { train: [] as LossPoint[], val: [] as LossPoint[], msPerStep: null as number | null, step: null as number | null };
let flushScheduled = false;

function scheduleFlush(): void {
  if (flushScheduled) return;
  flushScheduled = true;
  const flush = () => {
    flushScheduled = false;
    const s = usePlayground.getState();
    if (s.liveRunId !== null && (pending.train.length || pending.val.length)) s.appendMetrics(s.liveRunId, pending.train, pending.val);
    const patch: Parameters<typeof s.setSession>[0] = {};
    if (pending.msPerStep !== null) patch.msPerStep = pending.msPerStep;
    if (pending.step !== null && pending.step > s.session.step) patch.step = pending.step;
    if (Object.keys(patch).length) s.setSession(patch);
    pending.train = [];
    pending.val = [];
    pending.msPerStep = null;
    pending.step = null;
  };
  // rAF does not run in hidden tabs; the timeout keeps data flowing there.
  let done = false;
  const once = () => {
    if (done) return;
    done = true;
    flush();
  };
  requestAnimationFrame(once);
  setTimeout(once, 100);
}

function pushTrain(rows: MetricPoint[]): void {
  for (const r of rows) pending.train.push({ step: r.step, loss: r.loss });
  if (rows.length) pending.step = Math.max(pending.step ?? 0, rows[rows.length - 1]!.step + 1);
  scheduleFlush();
}

function errorText(e: unknown): { message: string; code: WorkerError['code']; advice: string; field: string | null } {
  if (e instanceof WorkerError) return { message: e.message, code: e.code, advice: e.advice, field: e.field ?? null };
  return { message: e instanceof Error ? e.message : String(e), code: 'internal', advice: 'This is a bug: please report it with the browser console log.', field: null };
}

export function engineClient(): EngineClient {
  if (!client) {
    client = EngineClient.start();
    client.onEvent((event) => {
      const s = usePlayground.getState();
      switch (event.type) {
        case 'device-lost':
          s.setSession({ phase: 'none', builtFrom: null, message: 'The GPU device was lost; the session will be rebuilt when you press Play.' });
          s.setEngine({
            phase: 'error',
            code: 'device-lost',
            message: `The GPU device was lost (${event.reason}): ${event.message || 'no details'}.`,
            advice: 'Recovering: the engine acquires a new device and restores the last autosave. If this message stays, press "Retry" (the session is rebuilt from its configuration) or reload the page.',
          });
          break;
        case 'metrics': {
          // Wall-clock time per step since the first rows of this play (the first window, with
          // its pipeline compilation, is the baseline): steady, and never a drained window's ~0.
          const last = event.rows.length ? event.rows[event.rows.length - 1]!.step + 1 : null;
          if (playing && last !== null) {
            const now = performance.now();
            if (rate === null) rate = { t: now, step: last };
            else if (last > rate.step) pending.msPerStep = (now - rate.t) / (last - rate.step);
          }
          pushTrain(event.rows);
          break;
        }
        case 'validation':
          pending.val.push({ step: event.point.step, loss: event.point.loss });
          scheduleFlush();
          break;
        case 'latent-stats':
          s.setInspection({ stats: { step: event.step, groups: event.groups } });
          break;
        case 'progress':
          s.setSession({ progress: event.done >= event.total ? null : { label: event.label, done: event.done, total: event.total } });
          break;
        case 'training-stopped': {
          playing = false;
          const why =
            event.reason === 'done'
              ? `finished at step ${event.step}`
              : event.reason === 'paused'
                ? `paused at step ${event.step}`
                : event.reason === 'non-finite'
                  ? `stopped at step ${event.step}: the loss became NaN/Inf — lower the learning rate and press Reset`
                  : `stopped at step ${event.step}: ${event.message ?? 'error'}`;
          s.setSession({ phase: 'ready', step: event.step, message: why });
          void refreshInspection();
          break;
        }
      }
    });
  }
  return client;
}

/** Starts (or restarts) the engine: acquires the GPU in the worker. */
export async function connectEngine(): Promise<void> {
  const { powerPreference, setEngine } = usePlayground.getState();
  setEngine({ phase: 'starting' });
  try {
    const reply = await engineClient().request({ type: 'init', powerPreference, tab: await tabId() });
    setEngine({ phase: 'ready', adapter: reply.adapter, limits: reply.limits, features: reply.features });
  } catch (e) {
    const t = errorText(e);
    setEngine({ phase: 'error', code: t.code, message: t.message, advice: t.advice });
  }
}

// ---------- the playground session ----------

function sessionError(e: unknown, phase: 'error' | 'ready' = 'error'): void {
  const t = errorText(e);
  usePlayground.getState().setSession({ phase, message: t.message, errorCode: t.code, advice: t.advice, errorField: t.field, progress: null });
}

function configJson(): string | null {
  const { config, configIssues } = usePlayground.getState();
  return configIssues.length ? null : JSON.stringify(config);
}

/** Whether the session in the worker was built from the config on screen. */
export function sessionIsCurrent(): boolean {
  const { session } = usePlayground.getState();
  return session.builtFrom !== null && session.builtFrom === configJson();
}

/**
 * Which session the page shows: bumped whenever a session is adopted or lost. A reply to a view,
 * inspection or statistics request made for an earlier session is dropped, so a late answer can
 * never put the previous session's outputs under the new one.
 */
let generation = 0;

/** `next`: the phase the session goes on to (play/step continue without showing 'ready' in between). */
function applySessionInfo(info: SessionInfo, builtFrom: string, next: 'ready' | 'training' | 'stepping' = 'ready'): void {
  const s = usePlayground.getState();
  generation++;
  s.startRun(runLabel(info.config), info.config);
  const group = info.groups.findIndex((g) => g.stats);
  // msPerStep: null — the previous session's speed is not this one's.
  s.setSession({ phase: next, step: info.step, info, builtFrom, failedFrom: null, msPerStep: null, message: null, errorCode: null, advice: null, errorField: null, progress: null });
  s.setInspection({ ...EMPTY_INSPECTION, group: Math.max(0, group) });
}

/**
 * Shows a session the worker built from a file or an autosave (src/ui/components/PersistencePanel.tsx):
 * its config goes on screen, its metric history into a new run of the chart.
 */
export function adoptSession(info: SessionInfo, history: { train: MetricPoint[]; validation: ValidationPoint[] }, view?: { view: TaskView; step: number; overrides: InferenceOverrides }): void {
  usePlayground.getState().setConfig(info.config);
  applySessionInfo(info, JSON.stringify(usePlayground.getState().config));
  const s = usePlayground.getState();
  if (s.liveRunId !== null) s.appendMetrics(s.liveRunId, history.train.map((p) => ({ step: p.step, loss: p.loss })), history.validation.map((p) => ({ step: p.step, loss: p.loss })));
  // A resumed session brings its outputs (with the overrides saved with it): shown in the same update as the session.
  if (view) setView(view.view, view.step, view.overrides);
  void refreshInspection();
}

/** Builds the session from the config on screen (a new run in the chart). */
export async function configureSession(next: 'ready' | 'training' | 'stepping' = 'ready'): Promise<boolean> {
  const json = configJson();
  const s = usePlayground.getState();
  if (json === null) {
    s.setSession({ phase: s.session.phase === 'training' ? 'training' : s.session.builtFrom ? 'ready' : 'none', message: 'Fix the highlighted settings first.', errorCode: 'bad-config', advice: null });
    return false;
  }
  s.setSession({ phase: 'configuring', message: null, errorCode: null, advice: null, errorField: null });
  try {
    const reply = await engineClient().request({ type: 'configure', config: JSON.parse(json), stream: STREAM });
    applySessionInfo(reply.session, json, next);
    if (next === 'ready') void refreshInspection();
    return true;
  } catch (e) {
    // The old session is gone in the worker: none of its views stay on screen.
    generation++;
    usePlayground.getState().setSession({ builtFrom: null, info: null, failedFrom: json, msPerStep: null });
    usePlayground.getState().setInspection(EMPTY_INSPECTION);
    sessionError(e);
    return false;
  }
}

/** Plays (trains until config.training.steps or a pause); builds the session first when the config changed. */
export async function play(): Promise<void> {
  if (!sessionIsCurrent() && !(await configureSession('training'))) return;
  const s = usePlayground.getState();
  s.setSession({ phase: 'training', message: null });
  rate = null;
  playing = true;
  try {
    await engineClient().request({ type: 'play' });
  } catch (e) {
    sessionError(e, 'ready');
  }
}

export async function pause(): Promise<void> {
  try {
    await engineClient().request({ type: 'pause' });
  } catch (e) {
    sessionError(e, 'ready');
  }
}

/** Runs `n` steps and refreshes the views. */
export async function step(n = 1): Promise<void> {
  if (!sessionIsCurrent() && !(await configureSession('stepping'))) return;
  const s = usePlayground.getState();
  s.setSession({ phase: 'stepping', message: null });
  try {
    const t0 = performance.now();
    playing = false;
    const reply = await engineClient().request({ type: 'step', n });
    pushTrain(reply.rows);
    usePlayground.getState().setSession({ phase: 'ready', step: reply.step, msPerStep: (performance.now() - t0) / n });
    await refreshInspection();
  } catch (e) {
    sessionError(e, 'ready');
  }
}

/** Rebuilds the session with the same seed: the next run repeats this one exactly. */
export async function reset(): Promise<void> {
  if (!sessionIsCurrent()) {
    await configureSession();
    return;
  }
  const json = configJson()!;
  usePlayground.getState().setSession({ phase: 'configuring', message: null });
  try {
    const reply = await engineClient().request({ type: 'reset' });
    applySessionInfo(reply.session, json);
    void refreshInspection();
  } catch (e) {
    sessionError(e);
  }
}

export async function cancelPreparation(): Promise<void> {
  try {
    await engineClient().request({ type: 'cancel' });
  } catch (e) {
    sessionError(e, 'ready');
  }
}

function setView(view: TaskView, step: number, overrides: InferenceOverrides): void {
  usePlayground.getState().setInspection({ view, viewStep: step, overrides });
}

/** Runs `ask` and hands its answer to `apply` only if the page still shows the session it was asked of. */
async function forThisSession<T>(ask: () => Promise<T>, apply: (r: T) => void): Promise<boolean> {
  const mine = generation;
  const r = await ask();
  if (mine !== generation) return false;
  apply(r);
  return true;
}

/** An error from a request of an earlier session is not this session's. */
function requestError(e: unknown, mine: number): void {
  if (mine === generation) sessionError(e, 'ready');
}

/** Refreshes the output view, the statistics and the open latent (between steps). */
export async function refreshInspection(): Promise<void> {
  const s = usePlayground.getState();
  if (!s.session.info || s.session.phase === 'configuring') return;
  const mine = generation;
  try {
    if (!(await forThisSession(() => engineClient().request({ type: 'view' }), (v) => setView(v.view, v.step, v.overrides)))) return;
    if (s.session.info.groups.some((g) => g.stats)) {
      if (!(await forThisSession(() => engineClient().request({ type: 'stats' }), (st) => usePlayground.getState().setInspection({ stats: { step: st.step, groups: st.groups } })))) return;
    }
    const sel = usePlayground.getState().inspection.selected;
    if (sel) await openLatent(sel.group, sel.unit);
  } catch (e) {
    if (!(e instanceof WorkerError && e.code === 'busy')) requestError(e, mine);
  }
}

/** Opens a unit's view: its dashboard (src/ui/inspect-actions.ts). */
export async function openLatent(group: number, unit: number): Promise<void> {
  await openDashboard(group, unit);
}

/**
 * Shows a view answered with part of it pending (scores, unit gallery: the previous gallery stays
 * in place, marked as updating), then asks for that part and fills it in if the page still shows
 * that view.
 */
function setViewThenRest(view: TaskView, step: number, overrides: InferenceOverrides): void {
  const prev = usePlayground.getState().inspection.view;
  const shown = view.pending && !view.units && prev?.units ? { ...view, units: prev.units } : view;
  setView(shown, step, overrides);
  if (!view.pending) return;
  const mine = generation;
  void forThisSession(
    () => engineClient().request({ type: 'view-deferred' }),
    (r) => {
      const s = usePlayground.getState().inspection;
      // Only into the view it belongs to: the same object still shown (no newer view or step), the same overrides.
      if (!r || s.view !== shown || s.viewStep !== r.step || JSON.stringify(s.overrides) !== JSON.stringify(r.overrides)) return;
      setView({ ...view, score: r.rest.score, ...(r.rest.otherScores ? { otherScores: r.rest.otherScores } : {}), ...(r.rest.units ? { units: r.rest.units } : {}), pending: false }, r.step, r.overrides);
    },
  ).catch((e: unknown) => {
    if (!(e instanceof WorkerError && e.code === 'busy')) requestError(e, mine);
  });
}

/** Switches units on/off for inference; the view re-renders from the reply (its score follows). */
export async function setMask(group: number, mask: number[] | null): Promise<void> {
  const mine = generation;
  try {
    await forThisSession(() => engineClient().request({ type: 'set-mask', group, mask }), (r) => setViewThenRest(r.view, r.step, r.overrides));
  } catch (e) {
    requestError(e, mine);
  }
}

/** Top-k (density) override for inference; latest request wins when the slider moves fast. */
let kSeq = 0;
export async function setK(group: number, k: number | null): Promise<void> {
  const seq = ++kSeq;
  const mine = generation;
  try {
    await forThisSession(() => engineClient().request({ type: 'set-k', group, k }), (r) => {
      if (seq === kSeq) setViewThenRest(r.view, r.step, r.overrides);
    });
  } catch (e) {
    requestError(e, mine);
  }
}

export async function computeIdentifiability(group: number): Promise<void> {
  const mine = generation;
  try {
    await forThisSession(() => engineClient().request({ type: 'identifiability', group }), (r) => usePlayground.getState().setInspection({ identifiability: { group: r.group, step: r.step, report: r.report } }));
  } catch (e) {
    requestError(e, mine);
  }
}
