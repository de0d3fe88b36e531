/**
 * The inspection views' own state (issue 15), kept apart from the page's main store
 * (src/ui/store.ts): the held-out statistics, the open unit's dashboard, the latent table's sort
 * and filter, your own input and the ISTA encoding, and how long each interaction took (the
 * e2e test reads those medians). The actions that fill it are in inspect-actions.ts.
 */
import { create } from 'zustand';
import type { EncodeResult, LatentDashboard, LatentStatsSummary, OwnInput, OwnInputResult } from '../worker/protocol';

export type SortKey = 'frequency' | 'meanActivation' | 'entropy' | 'effect' | 'unit';

export interface InspectState {
  /** Which statistics the metrics panel, scatter and table show. */
  source: 'training' | 'held-out';
  heldOut: { step: number; groups: LatentStatsSummary[] } | null;
  heldOutBusy: boolean;
  dashboard: LatentDashboard | null;
  dashboardBusy: boolean;
  /** The effect column, from the last statistics request (streamed statistics carry none). */
  effect: { step: number; group: number; values: (number | null)[] } | null;
  table: { sort: SortKey; descending: boolean; filterKey: Exclude<SortKey, 'unit'>; min: number | null; hideDead: boolean };
  own: { input: OwnInput; result: OwnInputResult } | null;
  ownBusy: boolean;
  encoded: EncodeResult | null;
  encodeBusy: boolean;
  error: string | null;
  /** Wall-clock ms of each interaction, by kind (request → reply). */
  timings: Record<string, number[]>;
  set(patch: Partial<InspectState>): void;
  time(kind: string, ms: number): void;
}

export const useInspect = create<InspectState>()((set) => ({
  source: 'training',
  heldOut: null,
  heldOutBusy: false,
  dashboard: null,
  dashboardBusy: false,
  effect: null,
  table: { sort: 'frequency', descending: true, filterKey: 'frequency', min: null, hideDead: false },
  own: null,
  ownBusy: false,
  encoded: null,
  encodeBusy: false,
  error: null,
  timings: {},
  set: (patch) => set(patch),
  time: (kind, ms) => set((s) => ({ timings: { ...s.timings, [kind]: [...(s.timings[kind] ?? []), ms].slice(-50) } })),
}));

/** Resets what belongs to the previous session (a new configure). */
export function resetInspect(): void {
  useInspect.getState().set({ heldOut: null, dashboard: null, effect: null, own: null, encoded: null, error: null });
}
