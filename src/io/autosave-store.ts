/**
 * Autosave in IndexedDB (through `idb`), usable from the page and from the engine worker
 * (IndexedDB works in workers). One record, `latest`: the session file's bytes (session-file.ts:
 * config, parameters, optimizer state, step, metric history) plus a small summary the page can
 * show in its "Resume previous session?" prompt without decoding the whole file.
 *
 * Saving never throws: a full disk or storage quota comes back as `{ ok: false, code: 'quota' }`
 * with a message, so the caller reports it and training continues.
 */
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';

export const AUTOSAVE_DB = 'sparse-adapter-playground';
const STORE = 'autosave';
const KEY = 'latest';

export interface AutosaveSummary {
  /** ISO time of the save. */
  savedAt: string;
  step: number;
  task: string;
  adapter: string;
  bytes: number;
}

interface AutosaveRecord {
  summary: AutosaveSummary;
  bytes: Uint8Array;
}

interface AutosaveSchema extends DBSchema {
  autosave: { key: string; value: AutosaveRecord };
}

export type SaveResult = { ok: true; summary: AutosaveSummary } | { ok: false; code: 'quota' | 'unavailable' | 'failed'; message: string };

function isQuota(e: unknown): boolean {
  const name = (e as { name?: unknown })?.name;
  return name === 'QuotaExceededError' || name === 'NS_ERROR_DOM_QUOTA_REACHED';
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

  async save(bytes: Uint8Array, summary: Omit<AutosaveSummary, 'bytes' | 'savedAt'>): Promise<SaveResult> {
    if (!this.db) return { ok: false, code: 'unavailable', message: this.unavailable! };
    const full: AutosaveSummary = { ...summary, savedAt: new Date().toISOString(), bytes: bytes.byteLength };
    try {
      await this.db.put(STORE, { summary: full, bytes }, KEY);
      return { ok: true, summary: full };
    } catch (e) {
      const mb = (bytes.byteLength / 1e6).toFixed(1);
      if (isQuota(e)) return { ok: false, code: 'quota', message: `autosave skipped: the browser's storage quota is full (${mb} MB needed). Training continues; free space or export the session to keep it.` };
      return { ok: false, code: 'failed', message: `autosave failed: ${(e as Error)?.message ?? String(e)}. Training continues.` };
    }
  }

  async summary(): Promise<AutosaveSummary | null> {
    if (!this.db) return null;
    return (await this.db.get(STORE, KEY))?.summary ?? null;
  }

  async load(): Promise<{ summary: AutosaveSummary; bytes: Uint8Array } | null> {
    if (!this.db) return null;
    const r = await this.db.get(STORE, KEY);
    return r ? { summary: r.summary, bytes: r.bytes } : null;
  }

  async clear(): Promise<void> {
    await this.db?.delete(STORE, KEY);
  }

  close(): void {
    this.db?.close();
  }
}
