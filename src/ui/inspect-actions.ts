/**
 * Inspection actions (issue 15): each is one request to the engine worker; replies land in the
 * inspection store (inspect-store.ts), and every interaction's wall-clock time is recorded.
 * When requests overlap (a fast slider, a drawing), the latest one wins.
 */
import type { EncodeRequest, OwnInput } from '../worker/protocol';
import { WorkerError } from '../worker/client';
import { engineClient } from './engine-connection';
import { resetInspect, useInspect } from './inspect-store';
import { usePlayground } from './store';

function errorText(e: unknown): string | null {
  if (e instanceof WorkerError && e.code === 'busy') return null;
  return e instanceof Error ? e.message : String(e);
}

async function timed<T>(kind: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const r = await fn();
  useInspect.getState().time(kind, performance.now() - t0);
  return r;
}

let dashboardSeq = 0;

/** Opens a unit's dashboard (and selects it: the scatter and the table highlight it). */
export async function openDashboard(group: number, unit: number): Promise<void> {
  const mine = ++dashboardSeq;
  usePlayground.getState().setInspection({ selected: { group, unit } });
  useInspect.getState().set({ dashboardBusy: true, error: null });
  try {
    const r = await timed('dashboard', () => engineClient().request({ type: 'dashboard', group, unit }));
    if (mine === dashboardSeq) useInspect.getState().set({ dashboard: r.dashboard, dashboardBusy: false });
  } catch (e) {
    if (mine === dashboardSeq) useInspect.getState().set({ dashboardBusy: false, error: errorText(e) });
  }
}

/** Statistics of every group: the training window (with the effect column) or the held-out probe set. */
export async function refreshStats(source: 'training' | 'held-out'): Promise<void> {
  const st = useInspect.getState();
  if (source === 'held-out') st.set({ heldOutBusy: true, error: null });
  try {
    const r = await timed(source === 'held-out' ? 'held-out stats' : 'stats', () => engineClient().request({ type: 'stats', source }));
    if (source === 'held-out') useInspect.getState().set({ heldOut: { step: r.step, groups: r.groups }, heldOutBusy: false });
    else usePlayground.getState().setInspection({ stats: { step: r.step, groups: r.groups } });
  } catch (e) {
    useInspect.getState().set({ heldOutBusy: false, error: errorText(e) });
  }
}

let ownSeq = 0;

/** Your own input through base and adapted model; the latest request wins. */
export async function runOwnInput(input: OwnInput): Promise<void> {
  const mine = ++ownSeq;
  useInspect.getState().set({ ownBusy: true, error: null });
  try {
    const r = await timed('own input', () => engineClient().request({ type: 'own-input', input }));
    if (mine === ownSeq) useInspect.getState().set({ own: { input, result: r.result }, ownBusy: false });
  } catch (e) {
    if (mine === ownSeq) useInspect.getState().set({ ownBusy: false, error: errorText(e) });
  }
}

/** Encodes placed observations with the current atoms (ISTA on the GPU). */
export async function runEncode(request: EncodeRequest): Promise<void> {
  useInspect.getState().set({ encodeBusy: true, error: null });
  try {
    const r = await timed('encode', () => engineClient().request({ type: 'encode', request }));
    useInspect.getState().set({ encoded: r.result, encodeBusy: false });
  } catch (e) {
    useInspect.getState().set({ encodeBusy: false, error: errorText(e) });
  }
}

// A new session (configure, reset, import) starts the inspection afresh; the effect column is
// kept from the last statistics that carried it (streamed ones do not).
let builtFrom: string | null = null;
usePlayground.subscribe((s) => {
  if (s.session.builtFrom !== builtFrom || s.session.info === null) {
    if (builtFrom !== null || s.session.info === null) resetInspect();
    builtFrom = s.session.builtFrom;
  }
  const stats = s.inspection.stats;
  if (!stats) return;
  for (const g of stats.groups) {
    if (g.effect && g.group === s.inspection.group) {
      const cur = useInspect.getState().effect;
      if (!cur || cur.step !== stats.step || cur.group !== g.group) useInspect.getState().set({ effect: { step: stats.step, group: g.group, values: g.effect } });
    }
  }
});
