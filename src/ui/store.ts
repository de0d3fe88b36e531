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
import { DEFAULT_CONFIG } from '../config/defaults';
import { parseConfig, type ConfigIssue, type PlaygroundConfig } from '../config/schema';
import type { AdapterSummary, LimitsSummary, WorkerErrorCode } from '../worker/protocol';

export type { PlaygroundConfig };

export type EngineStatus =
  | { phase: 'idle' }
  | { phase: 'starting' }
  | { phase: 'ready'; adapter: AdapterSummary; limits: LimitsSummary; features: string[] }
  | { phase: 'error'; code: WorkerErrorCode; message: string; advice: string };

/** The training demo's live data, streamed from the worker. */
export interface DemoRun {
  status: 'idle' | 'training' | 'stopped';
  stopReason?: string;
  points: { step: number; loss: number }[];
  msPerStep: number | null;
  parameters: number | null;
}

export const EMPTY_DEMO: DemoRun = { status: 'idle', points: [], msPerStep: null, parameters: null };

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
  phase: 'none' | 'configuring' | 'ready' | 'training' | 'paused' | 'error';
  step: number;
  /** Trainable parameters of the adapter and parameters of the frozen base. */
  trainableParameters: number | null;
  baseParameters: number | null;
  msPerStep: number | null;
  /** Why training stopped, or what went wrong (with advice), shown next to the controls. */
  message: string | null;
  errorCode: WorkerErrorCode | null;
  advice: string | null;
  /** Config JSON the worker's session was built from (to know when a rebuild is needed). */
  builtFrom: string | null;
  /** Latents/atoms of the adapter and what they are called. */
  latentCount: number;
  latentLabel: 'latent' | 'atom' | 'rank';
  /** Configured k of k-sparse adapters (null when the adapter has no top-k). */
  maxK: number | null;
}

export const EMPTY_SESSION: SessionStatus = {
  phase: 'none',
  step: 0,
  trainableParameters: null,
  baseParameters: null,
  msPerStep: null,
  message: null,
  errorCode: null,
  advice: null,
  builtFrom: null,
  latentCount: 0,
  latentLabel: 'latent',
  maxK: null,
};

/** App. F statistics per latent (arrays of length latentCount). */
export interface LatentStatsView {
  step: number;
  /** log10 activation frequency (−∞ for dead latents, drawn at the axis floor). */
  frequency: number[];
  meanActivation: number[];
  labelEntropy: number[] | null;
  dead: number;
  dense: number;
}

export interface PlaygroundState {
  config: PlaygroundConfig;
  /** Schema issues of `config` (empty when valid). */
  configIssues: ConfigIssue[];
  /** Issues of the URL the page was opened with (shown once, dismissable). */
  urlIssues: ConfigIssue[];
  powerPreference: GPUPowerPreference;
  engine: EngineStatus;
  demo: DemoRun;
  session: SessionStatus;
  runs: RunRecord[];
  /** The run the live metrics go to (null when none is live). */
  liveRunId: number | null;
  stats: LatentStatsView | null;
  selectedLatent: number | null;
  /** Inference-time controls (not part of the config: they do not change training). */
  mask: boolean[] | null;
  kOverride: number | null;
  setConfig(next: PlaygroundConfig): void;
  updateConfig(recipe: (draft: PlaygroundConfig) => void): void;
  setUrlIssues(issues: ConfigIssue[]): void;
  setEngine(status: EngineStatus): void;
  setDemo(patch: Partial<DemoRun>): void;
  setSession(patch: Partial<SessionStatus>): void;
  startRun(label: string, config: PlaygroundConfig): number;
  appendMetrics(runId: number, train: LossPoint[], val: LossPoint[]): void;
  clearRuns(): void;
  setStats(stats: LatentStatsView | null): void;
  selectLatent(index: number | null): void;
  setMask(mask: boolean[] | null): void;
  setKOverride(k: number | null): void;
}

function issuesOf(config: PlaygroundConfig): ConfigIssue[] {
  const r = parseConfig(config);
  return r.ok ? [] : r.issues;
}

let nextRunId = 1;

export const usePlayground = create<PlaygroundState>()((set, get) => ({
  config: DEFAULT_CONFIG,
  configIssues: [],
  urlIssues: [],
  powerPreference: 'high-performance',
  engine: { phase: 'idle' },
  demo: EMPTY_DEMO,
  session: EMPTY_SESSION,
  runs: [],
  liveRunId: null,
  stats: null,
  selectedLatent: null,
  mask: null,
  kOverride: null,
  setConfig: (config) => set({ config, configIssues: issuesOf(config) }),
  updateConfig: (recipe) => {
    const draft = structuredClone(get().config);
    recipe(draft);
    set({ config: draft, configIssues: issuesOf(draft) });
  },
  setUrlIssues: (urlIssues) => set({ urlIssues }),
  setEngine: (engine) => set({ engine }),
  setDemo: (patch) => set((s) => ({ demo: { ...s.demo, ...patch } })),
  setSession: (patch) => set((s) => ({ session: { ...s.session, ...patch } })),
  startRun: (label, config) => {
    const id = nextRunId++;
    set((s) => ({ runs: [...s.runs, { id, label, config, train: [], val: [] }], liveRunId: id }));
    return id;
  },
  appendMetrics: (runId, train, val) =>
    set((s) => ({
      runs: s.runs.map((r) => (r.id === runId ? { ...r, train: train.length ? [...r.train, ...train] : r.train, val: val.length ? [...r.val, ...val] : r.val } : r)),
    })),
  clearRuns: () => set((s) => ({ runs: s.runs.filter((r) => r.id === s.liveRunId) })),
  setStats: (stats) => set({ stats }),
  selectLatent: (selectedLatent) => set({ selectedLatent }),
  setMask: (mask) => set({ mask }),
  setKOverride: (kOverride) => set({ kOverride }),
}));

/** A short label for a run, e.g. "fourier · stan k=16 · lr 0.003 · seed 1". */
export function runLabel(c: PlaygroundConfig): string {
  const a = c.adapter;
  const adapter =
    a.kind === 'stan'
      ? `stan k=${a.stan.k} ×${a.stan.expansion}`
      : a.kind === 'atoms'
        ? `atoms M=${a.atoms.atoms}${a.atoms.sigma === 'topk' ? ` k=${a.atoms.k}` : ` λ=${a.atoms.lambda}`} ${a.atoms.train}`
        : a.kind === 'lora'
          ? `lora r=${a.lora.rank}`
          : a.kind === 'sora'
            ? `sora r=${a.sora.rank} λ=${a.sora.lambda}`
            : 'no adapter';
  return `${c.task} · ${adapter} · lr ${c.training.lr} · seed ${c.training.seed}`;
}
