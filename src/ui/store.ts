/**
 * The page's state (zustand). Two halves:
 *  - `config`: what the user chose — plain, serializable data (it will be mirrored in the URL
 *    and sent to the worker as is);
 *  - `engine`: what the engine worker last reported — also plain data.
 * The worker client itself lives outside the store (engine-connection.ts): it is not data.
 */
import { create } from 'zustand';
import type { AdapterSummary, LimitsSummary, WorkerErrorCode } from '../worker/protocol';

export interface PlaygroundConfig {
  powerPreference: GPUPowerPreference;
}

export const DEFAULT_CONFIG: PlaygroundConfig = {
  powerPreference: 'high-performance',
};

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

export interface PlaygroundState {
  config: PlaygroundConfig;
  engine: EngineStatus;
  demo: DemoRun;
  setConfig(patch: Partial<PlaygroundConfig>): void;
  setEngine(status: EngineStatus): void;
  setDemo(patch: Partial<DemoRun>): void;
}

export const usePlayground = create<PlaygroundState>()((set) => ({
  config: DEFAULT_CONFIG,
  engine: { phase: 'idle' },
  demo: EMPTY_DEMO,
  setDemo: (patch) => set((s) => ({ demo: { ...s.demo, ...patch } })),
  setConfig: (patch) => set((s) => ({ config: { ...s.config, ...patch } })),
  setEngine: (engine) => set({ engine }),
}));
