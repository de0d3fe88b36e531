/**
 * Autosave in IndexedDB (through `idb`), usable from the page and from the engine worker
 * (IndexedDB works in workers). One record per slot — a slot is one browser tab (the page keeps
 * its slot id in sessionStorage, so a reload finds its own run): the session file's bytes
 * (session-file.ts: config, parameters, optimizer state, step, metric history), the inference
 * overrides on screen (masks, k), and a small summary the page can show in its "Resume?" prompt
 * without decoding the whole file. A tab writes only its own slot, so tabs never overwrite each
 * other's runs; the oldest slots beyond MAX_SLOTS are dropped.
 *
 * Saving never throws: a full disk or storage quota comes back as `{ ok: false, code: 'quota' }`
 * with a message, so the caller reports it and training continues.
 */
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';

export const AUTOSAVE_DB = 'sparse-adapter-playground';
const STORE = 'autosave';
/** The slot of saves made before slots existed (and of callers that name none). */
export const DEFAULT_SLOT = 'latest';
/** Slots kept; older ones are dropped when a new one is written. */
export const MAX_SLOTS = 8;

export interface AutosaveSummary {
  /** Whose save it is: the tab's slot id. */
  slot: string;
  /** ISO time of the save. */
  savedAt: string;
  step: number;
  task: string;
  adapter: string;
  bytes: number;
  /** Whether inference overrides (units off, a lower k) are saved with it. */
  overrides?: boolean;
}

/** Masks and k overrides as the session holds them (plain data; see InferenceOverrides). */
export type SavedOverrides = { masks?: Record<number, number[] | null>; k?: Record<number, number | null> };

interface AutosaveRecord {
  summary: AutosaveSummary;
  bytes: Uint8Array;
  overrides?: SavedOverrides;
}

interface AutosaveSchema extends DBSchema {
  autosave: { key: string; value: AutosaveRecord };
}

export type SaveResult = { ok: true; summary: AutosaveSummary } | { ok: false; code: 'quota' | 'unavailable' | 'failed'; message: string };

function isQuota(e: unknown): boolean {
  const name = (e as { name?: unknown })?.name;
  return name === 'QuotaExceededError' || name === 'NS_ERROR_DOM_QUOTA_REACHED';
}

/** Whether overrides change anything (some mask or k set). */
export function hasSavedOverrides(o: SavedOverrides | undefined): boolean {
  return !!o && (Object.values(o.masks ?? {}).some((m) => m) || Object.values(o.k ?? {}).some((k) => k !== null && k !== undefined));
}

export class AutosaveStore {
  private constructor(private readonly db: IDBPDatabase<AutosaveSchema> | null, readonly unavailable: string | null) {}

  /** Opens the store; without IndexedDB (private mode, old browsers) every call reports 'unavailable'. */
  static async open(name = AUTOSAVE_DB): Promise<AutosaveStore> {
    if (typeof indexedDB === 'undefined') return new AutosaveStore(null, 'IndexedDB is not available here, so nothing is autosaved');
    try {
      const db = await openDB<AutosaveSchema>(name, 1, {
        upgrade(d) {
          if (!d.objectStoreNames.contains(STORE)) d.createObjectStore(STORE);
        },
      });
      return new AutosaveStore(db, null);
    } catch (e) {
      return new AutosaveStore(null, `IndexedDB could not be opened (${(e as Error)?.message ?? String(e)}), so nothing is autosaved`);
    }
  }

  async save(slot: string, bytes: Uint8Array, summary: Omit<AutosaveSummary, 'bytes' | 'savedAt' | 'slot' | 'overrides'>, overrides?: SavedOverrides): Promise<SaveResult> {
    if (!this.db) return { ok: false, code: 'unavailable', message: this.unavailable! };
    const full: AutosaveSummary = { ...summary, slot, savedAt: new Date().toISOString(), bytes: bytes.byteLength, overrides: hasSavedOverrides(overrides) };
    try {
      await this.db.put(STORE, { summary: full, bytes, ...(overrides ? { overrides } : {}) }, slot);
      await this.prune(slot);
      return { ok: true, summary: full };
    } catch (e) {
      const mb = (bytes.byteLength / 1e6).toFixed(1);
      if (isQuota(e)) return { ok: false, code: 'quota', message: `autosave skipped: the browser's storage quota is full (${mb} MB needed). Training continues; free space or export the session to keep it.` };
      return { ok: false, code: 'failed', message: `autosave failed: ${(e as Error)?.message ?? String(e)}. Training continues.` };
    }
  }

  /** Replaces the overrides saved with `slot`'s record (none: false). One transaction: a concurrent save is never lost. */
  async saveOverrides(slot: string, overrides: SavedOverrides): Promise<AutosaveSummary | null> {
    if (!this.db) return null;
    const tx = this.db.transaction(STORE, 'readwrite');
    const rec = await tx.store.get(slot);
    if (!rec) {
      await tx.done;
      return null;
    }
    const summary = { ...rec.summary, overrides: hasSavedOverrides(overrides) };
    await tx.store.put({ ...rec, summary, overrides }, slot);
    await tx.done;
    return summary;
  }

  /** Drops the oldest slots beyond MAX_SLOTS (never `keep`). */
  private async prune(keep: string): Promise<void> {
    const all = await this.list();
    const drop = all.filter((s) => s.slot !== keep).slice(MAX_SLOTS - 1);
    for (const s of drop) await this.db!.delete(STORE, s.slot);
  }

  async summary(slot: string): Promise<AutosaveSummary | null> {
    if (!this.db) return null;
    return (await this.db.get(STORE, slot))?.summary ?? null;
  }

  /** Every slot's summary, newest first. */
  async list(): Promise<AutosaveSummary[]> {
    if (!this.db) return [];
    const out: AutosaveSummary[] = [];
    // One read transaction: keys and values from the same state.
    for (let c = await this.db.transaction(STORE).store.openCursor(); c; c = await c.continue()) out.push({ ...c.value.summary, slot: String(c.key) });
    return out.sort((a, b) => (a.savedAt < b.savedAt ? 1 : a.savedAt > b.savedAt ? -1 : 0));
  }

  async load(slot: string): Promise<{ summary: AutosaveSummary; bytes: Uint8Array; overrides: SavedOverrides | null } | null> {
    if (!this.db) return null;
    const r = await this.db.get(STORE, slot);
    return r ? { summary: { ...r.summary, slot }, bytes: r.bytes, overrides: r.overrides ?? null } : null;
  }

  async clear(slot: string): Promise<void> {
    await this.db?.delete(STORE, slot);
  }

  close(): void {
    this.db?.close();
  }
}
