/**
 * This tab's autosave slot id. Kept in sessionStorage, which is per tab and survives a reload, so
 * a reloaded tab finds its own run — and two tabs never share a slot, so neither overwrites or
 * offers the other's run as its own. A duplicated tab inherits sessionStorage: the tab that
 * holds the id's Web Lock keeps it, the copy takes a new id. The lock also tells other tabs
 * whether a slot's tab is still open.
 */
const KEY = 'sparse-adapter-playground.tab';
const LOCK_PREFIX = 'sparse-adapter-playground.tab:';
/** A reload's previous document releases its lock as it unloads; wait this long for it. */
const RELOAD_WAIT_MS = 1500;

let claimed: Promise<string> | null = null;

function read(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

function write(id: string): void {
  try {
    sessionStorage.setItem(KEY, id);
  } catch {
    // no sessionStorage: the id lasts for this page only
  }
}

function freshId(): string {
  return typeof crypto.randomUUID === 'function' ? crypto.randomUUID() : `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;
}

/** Holds the id's lock for the life of this document; false if another tab keeps it. */
function hold(id: string, wait: boolean): Promise<boolean> {
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  if (!locks) return Promise.resolve(true);
  return new Promise<boolean>((resolve) => {
    const opts: LockOptions = wait ? { signal: AbortSignal.timeout(RELOAD_WAIT_MS) } : { ifAvailable: true };
    locks
      .request(LOCK_PREFIX + id, opts, (lock) => {
        if (!lock) {
          resolve(false);
          return undefined;
        }
        resolve(true);
        return new Promise<void>(() => {}); // released when the document goes away
      })
      .catch(() => resolve(false));
  });
}

async function claim(): Promise<string> {
  const kept = read();
  if (kept && /^[A-Za-z0-9_-]{1,64}$/.test(kept) && (await hold(kept, true))) return kept;
  for (;;) {
    const id = freshId();
    if (await hold(id, false)) {
      write(id);
      return id;
    }
  }
}

/** This tab's slot id (claimed once per document). */
export function tabId(): Promise<string> {
  claimed ??= claim();
  return claimed;
}

/** The slot ids whose tabs are open right now (this one included), or null when the browser cannot tell. */
export async function openTabIds(): Promise<Set<string> | null> {
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  if (!locks) return null;
  const q = await locks.query();
  return new Set((q.held ?? []).map((l) => l.name ?? '').filter((n) => n.startsWith(LOCK_PREFIX)).map((n) => n.slice(LOCK_PREFIX.length)));
}
