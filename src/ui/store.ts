/**
 * The page's one store (zustand). Three kinds of data, kept apart:
 *  - `config`: what the user chose — the serializable PlaygroundConfig of src/config/schema.ts,
 *    mirrored in the URL hash (url-sync.ts). It may be momentarily invalid while the user edits a
 *    field; `configIssues` then names the fields, and nothing invalid is sent or written to the URL.
 *  - `engine`, `session`: what the engine worker last reported (plain data).
 *  - `runs`, `stats`, `inspection`: streamed runtime data (metrics, latent statistics, views).
 * The worker client itself lives outside the store (engine-connection.ts): it is not data.
 */
import { create } from 'zustand';
import { defaultConfig } from '../config/defaults';
import { parseConfig, type ConfigIssue, type PlaygroundConfig } from '../config/schema';
import type { IdentifiabilityReport } from '../playground/types';
import type { AdapterSummary, InferenceOverrides, LatentInspection, LatentStatsSummary, LimitsSummary, SessionInfo, TaskView, WorkerErrorCode } from '../worker/protocol';

export type { PlaygroundConfig };

export type EngineStatus =
  | { phase: 'idle' }
  | { phase: 'starting' }
  | { phase: 'ready'; adapter: AdapterSummary; limits: LimitsSummary; features: string[] }
  | { phase: 'error'; code: WorkerErrorCode; message: string; advice: string };

export interface LossPoint {
  step: number;
  loss: number;
}

/** One training run's curves, kept for overlay until the user clears them. */
export interface RunRecord {
  id: number;
  /** e.g. "fourier · stan k=16 · seed 1". */
  label: string;
  config: PlaygroundConfig;
  train: LossPoint[];
  val: LossPoint[];
}

/** The playground session in the worker (one model + adapter, trained step by step). */
export interface SessionStatus {
  phase: 'none' | 'configuring' | 'ready' | 'training' | 'stepping' | 'error';
  step: number;
  info: SessionInfo | null;
  msPerStep: number | null;
  /** Why training stopped, or what went wrong, shown next to the controls. */
  message: string | null;
  errorCode: WorkerErrorCode | null;
  advice: string | null;
  /** Config field at fault for a 'bad-config' error from the worker. */
  errorField: string | null;
  /** JSON of the config the worker's session was built from (a different config needs a rebuild). */
  builtFrom: string | null;
  /** JSON of the config whose build failed last (its error shows under the field while that config is on screen). */
  failedFrom: string | null;
  /** Long preparation (loading the base, pre-training) in progress. */
  progress: { label: string; done: number; total: number } | null;
}

export const EMPTY_SESSION: SessionStatus = {
  phase: 'none',
  step: 0,
  info: null,
  msPerStep: null,
  message: null,
  errorCode: null,
  advice: null,
  errorField: null,
  builtFrom: null,
  failedFrom: null,
  progress: null,
};

/** What the inspection views show (each refreshed from the worker on demand). */
export interface InspectionState {
  /** The group the scatter and controls look at. */
  group: number;
  view: TaskView | null;
  viewStep: number | null;
  overrides: InferenceOverrides;
  stats: { step: number; groups: LatentStatsSummary[] } | null;
  selected: { group: number; unit: number } | null;
  latent: LatentInspection | null;
  latentStep: number | null;
  identifiability: { group: number; step: number; report: IdentifiabilityReport } | null;
}

export const EMPTY_INSPECTION: InspectionState = {
  group: 0,
  view: null,
  viewStep: null,
  overrides: {},
  stats: null,
  selected: null,
  latent: null,
  latentStep: null,
  identifiability: null,
};

export interface PlaygroundState {
  config: PlaygroundConfig;
  /** Schema issues of `config` (empty when valid). */
  configIssues: ConfigIssue[];
  /** Issues of the URL the page was opened with (shown once, dismissable). */
  urlIssues: ConfigIssue[];
  powerPreference: GPUPowerPreference;
  engine: EngineStatus;
  session: SessionStatus;
  runs: RunRecord[];
  /** The run the live metrics go to (null when none is live). */
  liveRunId: number | null;
  inspection: InspectionState;
  setConfig(next: PlaygroundConfig): void;
  updateConfig(recipe: (draft: PlaygroundConfig) => void): void;
  setUrlIssues(issues: ConfigIssue[]): void;
  setEngine(status: EngineStatus): void;
  setSession(patch: Partial<SessionStatus>): void;
  startRun(label: string, config: PlaygroundConfig): number;
  appendMetrics(runId: number, train: LossPoint[], val: LossPoint[]): void;
  clearRuns(): void;
  setInspection(patch: Partial<InspectionState>): void;
}

function issuesOf(config: PlaygroundConfig): ConfigIssue[] {
  const r = parseConfig(config);
  return r.ok ? [] : r.issues;
}

function appendAfter(old: LossPoint[], add: LossPoint[]): LossPoint[] {
  let last = old.length ? old[old.length - 1]!.step : -Infinity;
  const fresh: LossPoint[] = [];
  for (const p of add) {
    // Also within `add`: an event and a reply may carry the same rows into one flush.
    if (p.step <= last) continue;
    fresh.push(p);
    last = p.step;
  }
  return fresh.length ? [...old, ...fresh] : old;
}

let nextRunId = 1;

export const usePlayground = create<PlaygroundState>()((set, get) => ({
  config: defaultConfig(),
  configIssues: [],
  urlIssues: [],
  powerPreference: 'high-performance',
  engine: { phase: 'idle' },
  session: EMPTY_SESSION,
  runs: [],
  liveRunId: null,
  inspection: EMPTY_INSPECTION,
  setConfig: (config) => set({ config, configIssues: issuesOf(config) }),
  updateConfig: (recipe) => {
    const draft = structuredClone(get().config);
    recipe(draft);
    set({ config: draft, configIssues: issuesOf(draft) });
  },
  setUrlIssues: (urlIssues) => set({ urlIssues }),
  setEngine: (engine) => set({ engine }),
  setSession: (patch) => set((s) => ({ session: { ...s.session, ...patch } })),
  startRun: (label, config) => {
    const id = nextRunId++;
    set((s) => ({ runs: [...s.runs, { id, label, config, train: [], val: [] }], liveRunId: id }));
    return id;
  },
  // Points arrive from replies and events alike; a step already recorded is not added twice.
  appendMetrics: (runId, train, val) =>
    set((s) => ({
      runs: s.runs.map((r) => (r.id === runId ? { ...r, train: appendAfter(r.train, train), val: appendAfter(r.val, val) } : r)),
    })),
  // The chart shows the task on screen: other tasks' runs are not its to clear.
  clearRuns: () => set((s) => ({ runs: s.runs.filter((r) => r.id === s.liveRunId || r.config.task !== s.config.task) })),
  setInspection: (patch) => set((s) => ({ inspection: { ...s.inspection, ...patch } })),
}));

/**
 * How the views on screen relate to the configuration on screen (views are tied to the session
 * that made them):
 *  - 'none': no session is built;
 *  - 'other-task': the session is another task's — its views are not shown at all;
 *  - 'stale': same task, other settings — views are shown marked "from the previous settings";
 *  - 'current': the session was built from the configuration on screen.
 * Derived from the store alone, so a click that changes the configuration updates every view in
 * the same render.
 */
export type Freshness = 'none' | 'other-task' | 'stale' | 'current';

export function freshness(s: Pick<PlaygroundState, 'config' | 'configIssues' | 'session'>): Freshness {
  const info = s.session.info;
  if (!info || s.session.builtFrom === null) return 'none';
  if (info.config.task !== s.config.task) return 'other-task';
  return !s.configIssues.length && s.session.builtFrom === JSON.stringify(s.config) ? 'current' : 'stale';
}

/** Hook: the views' freshness (re-rendered whenever config or session change). */
export function useFreshness(): Freshness {
  return usePlayground(freshness);
}

export { runLabel } from '../config/resolve';
