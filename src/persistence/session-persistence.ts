/**
 * Persistence of the playground session, worker side: autosave to IndexedDB every N steps, on
 * every stop (pause, done, NaN) and after every Step / +10, into this tab's own slot, with the
 * inference overrides (masks, k) kept up to date; the resume offers (this tab's run, and other
 * tabs' runs labelled as theirs), session export/import (one session file) and
 * adapter export/import (PEFT-like files), and the in-memory copy of the last autosave that
 * device-loss recovery restores from. Environment-free apart from the store it is given (an
 * AutosaveStore in the worker; tests pass a stand-in).
 *
 * Saving never stops training: the checkpoint is taken between steps (the session's lock), the
 * write is asynchronous, at most one save runs at a time (a request arriving meanwhile is
 * folded into the next), and a failed write (quota) is reported as an event.
 */
import type { PlaygroundConfig } from '../config/schema';
import { DEFAULT_SLOT, type AutosaveSummary, type SaveResult, type SavedOverrides } from '../io/autosave-store';
import { AdapterFileError, applyAdapter, decodeAdapter, exportAdapter, type AdapterDescription, type AdapterFiles } from '../io/adapter-file';
import { bytesFingerprint } from '../io/fingerprint';
import { decodeSessionCheckpoint, encodeSessionCheckpoint } from './session-checkpoint';
import { SessionFileError, type BaseRef } from '../io/session-file';
import type { FieldSpec } from '../settings/fields';
import type { PlaygroundSession } from '../playground/session';
import type { SessionCheckpoint } from '../playground/types';
import type { TaskAssets } from '../playground/tasks/task';
import { taskModule } from '../playground/tasks/registry';
import { adapterFileFormats, adapterModule } from '../adapters/registry';

/** The part of AutosaveStore this needs (slots: one per browser tab). */
export interface AutosaveBackend {
  save(slot: string, bytes: Uint8Array, summary: Omit<AutosaveSummary, 'bytes' | 'savedAt' | 'slot' | 'overrides'>, overrides?: SavedOverrides): Promise<SaveResult>;
  saveOverrides(slot: string, overrides: SavedOverrides): Promise<AutosaveSummary | null>;
  load(slot: string): Promise<{ summary: AutosaveSummary; bytes: Uint8Array; overrides: SavedOverrides | null } | null>;
  summary(slot: string): Promise<AutosaveSummary | null>;
  list(): Promise<AutosaveSummary[]>;
  clear(slot: string): Promise<void>;
  readonly unavailable: string | null;
}

export interface AutosaveEvent {
  type: 'autosave';
  ok: boolean;
  step: number;
  /** Why it failed (quota, no IndexedDB); null on success. */
  message: string | null;
  code: 'quota' | 'unavailable' | 'failed' | null;
  summary: AutosaveSummary | null;
}

export class SessionPersistence {
  /** Bytes of the last successful autosave (or the last loaded session), kept for device-loss recovery. */
  lastBytes: Uint8Array | null = null;
  /** This tab's slot: everything it saves goes there (the page names it at `init`). */
  slot: string = DEFAULT_SLOT;
  private lastSavedStep = -1;
  /** Whether the slot holds a save of the session adopted last (its overrides can then be updated alone). */
  private savedThisSession = false;
  private saving: Promise<void> | null = null;
  private again = false;
  private readonly baseHashes = new Map<string, Promise<string>>();

  constructor(
    private readonly store: AutosaveBackend,
    private readonly assets: TaskAssets,
    readonly opts: { every: number; onEvent: (e: AutosaveEvent) => void },
  ) {
    if (!(Number.isInteger(opts.every) && opts.every >= 1)) throw new Error(`autosave interval must be a positive integer, got ${opts.every}`);
  }

  /** The base reference of a config's task: its shipped checkpoint path and the file's SHA-256 ('none' when built in the page). */
  async baseRef(config: PlaygroundConfig): Promise<BaseRef> {
    const m = taskModule(config.task);
    const path = m.baseCheckpointFor ? m.baseCheckpointFor(config.tasks[config.task] ?? m.settings.defaults) : m.baseCheckpoint;
    if (!path) return { id: `${config.task}:built-in(seed ${config.training.seed})`, hash: 'none' };
    let h = this.baseHashes.get(path);
    if (!h) {
      h = this.assets.bytes(path).then(bytesFingerprint);
      this.baseHashes.set(path, h);
      h.catch(() => this.baseHashes.delete(path));
    }
    return { id: path, hash: await h };
  }

  /** The session's whole state as one session file. */
  async encode(session: PlaygroundSession, cp?: SessionCheckpoint): Promise<Uint8Array> {
    const checkpoint = cp ?? (await session.checkpoint());
    return encodeSessionCheckpoint(checkpoint, session.task.graph.packs, await this.baseRef(session.config));
  }

  /**
   * Feed every session event here: saves when `every` steps have passed and whenever training
   * stops — except after a non-finite step, so the autosave stays the last good state (the page
   * offers to restore it with a lower learning rate).
   */
  onSessionEvent(session: PlaygroundSession, e: { type: string; rows?: { step: number; nonFinite?: boolean }[]; step?: number; reason?: string }): void {
    if (e.type === 'metrics' && e.rows?.length) {
      if (e.rows.some((r) => r.nonFinite)) this.tainted = true;
      const next = e.rows[e.rows.length - 1]!.step + 1;
      if (!this.tainted && next - Math.max(0, this.lastSavedStep) >= this.opts.every) void this.autosave(session);
    } else if (e.type === 'training-stopped' && e.reason !== 'non-finite' && !this.tainted) void this.autosave(session);
  }

  /** Whether a non-finite step was seen since this session was adopted (autosave is held back). */
  tainted = false;

  /** Starts an autosave (or folds into the one running); resolves when it is written. */
  autosave(session: PlaygroundSession): Promise<void> {
    if (this.saving) {
      this.again = true;
      return this.saving;
    }
    this.saving = (async () => {
      do {
        this.again = false;
        await this.saveOnce(session);
      } while (this.again);
    })().finally(() => {
      this.saving = null;
    });
    return this.saving;
  }

  private async saveOnce(session: PlaygroundSession): Promise<void> {
    let step = session.step;
    try {
      const cp = await session.checkpoint();
      step = cp.step;
      if (step === this.lastSavedStep && this.lastBytes) return;
      const bytes = await this.encode(session, cp);
      this.lastBytes = bytes;
      const r = await this.store.save(this.slot, bytes, { step, task: session.config.task, adapter: session.config.adapter.kind }, session.currentOverrides);
      if (r.ok) {
        this.lastSavedStep = step;
        this.savedThisSession = true;
      }
      this.opts.onEvent(r.ok ? { type: 'autosave', ok: true, step, message: null, code: null, summary: r.summary } : { type: 'autosave', ok: false, step, message: r.message, code: r.code, summary: null });
    } catch (e) {
      // A destroyed session (reconfigured meanwhile) or a device loss: nothing to save now.
      this.opts.onEvent({ type: 'autosave', ok: false, step, message: `autosave failed: ${(e as Error)?.message ?? String(e)}`, code: 'failed', summary: null });
    }
  }

  /**
   * The inference overrides changed (a unit switched off, k lowered): saved with this session's
   * autosave — on their own when it has one, with a full save otherwise.
   */
  async overridesChanged(session: PlaygroundSession): Promise<void> {
    if (!this.savedThisSession) return this.autosave(session);
    await this.saving;
    try {
      const summary = await this.store.saveOverrides(this.slot, session.currentOverrides);
      if (summary) this.opts.onEvent({ type: 'autosave', ok: true, step: summary.step, message: null, code: null, summary });
      else await this.autosave(session);
    } catch (e) {
      this.opts.onEvent({ type: 'autosave', ok: false, step: session.step, message: `autosave failed: ${(e as Error)?.message ?? String(e)}`, code: 'failed', summary: null });
    }
  }

  /** Waits for a save in progress. */
  async settle(): Promise<void> {
    while (this.saving) await this.saving;
  }

  /** Why nothing is autosaved here (no IndexedDB), or null. */
  get unavailable(): string | null {
    return this.store.unavailable;
  }

  /** This tab's autosave (its slot's), or null. */
  async summary(): Promise<AutosaveSummary | null> {
    return this.store.summary(this.slot);
  }

  /** The other slots' autosaves (other tabs' runs), newest first. */
  async others(): Promise<AutosaveSummary[]> {
    return (await this.store.list()).filter((s) => s.slot !== this.slot);
  }

  /**
   * A slot's autosaved checkpoint (this tab's by default) and the overrides saved with it,
   * strictly decoded and checked against this page's base (SessionFileError otherwise). Another
   * slot's record is only read: this tab goes on saving into its own.
   */
  async loadAutosave(slot: string = this.slot): Promise<{ checkpoint: SessionCheckpoint; overrides: SavedOverrides | null } | null> {
    const r = await this.store.load(slot);
    if (!r) return null;
    const checkpoint = await this.importSession(r.bytes);
    this.lastBytes = r.bytes;
    if (slot === this.slot) this.lastSavedStep = checkpoint.step;
    return { checkpoint, overrides: r.overrides };
  }

  /** Deletes a slot's autosave (this tab's by default). */
  async discard(slot: string = this.slot): Promise<void> {
    await this.store.clear(slot);
    if (slot !== this.slot) return;
    this.lastBytes = null;
    this.lastSavedStep = -1;
    this.savedThisSession = false;
  }

  /**
   * A session file (an autosave, or from someone else): decoded strictly, and its base must be
   * the one this page builds for its task (same checkpoint hash, or same built-in id); the
   * caller builds the session from the result.
   */
  async importSession(bytes: Uint8Array): Promise<SessionCheckpoint> {
    const { checkpoint, base } = decodeSessionCheckpoint(bytes);
    const here = await this.baseRef(checkpoint.config);
    const same = (a: BaseRef, b: BaseRef) => a.hash === b.hash && (a.hash !== 'none' || a.id === b.id);
    if (same(base, here)) return checkpoint;
    // A file from before a task offered a choice of bases (its settings lack the choice, so they
    // read as the default): the task setting whose base is the file's, if one is.
    const migrated = await this.settingsForBase(checkpoint.config, base);
    if (migrated) return { ...checkpoint, config: migrated };
    const show = (b: BaseRef) => `'${b.id}'${b.hash === 'none' ? '' : ` (${b.hash.slice(0, 19)}…)`}`;
    throw new SessionFileError('mismatch', `the session was trained on base ${show(base)}; this page's ${checkpoint.config.task} base is ${show(here)}`);
  }

  /** The config with one choice of its task's settings changed so that it loads `base` (same id and hash), or null. */
  private async settingsForBase(config: PlaygroundConfig, base: BaseRef): Promise<PlaygroundConfig | null> {
    const m = taskModule(config.task);
    if (!m.baseCheckpointFor || base.hash === 'none') return null;
    const settings = (config.tasks[config.task] ?? m.settings.defaults) as Record<string, unknown>;
    for (const [field, spec] of Object.entries(m.settings.fields as Record<string, FieldSpec>)) {
      if (spec.type !== 'choice') continue;
      for (const option of spec.options) {
        if (option === settings[field]) continue;
        const next = { ...settings, [field]: option };
        if (m.baseCheckpointFor(next as never) !== base.id) continue;
        const candidate = { ...config, tasks: { ...config.tasks, [config.task]: next } } as PlaygroundConfig;
        const ref = await this.baseRef(candidate);
        if (ref.id === base.id && ref.hash === base.hash) return candidate;
      }
    }
    return null;
  }

  /** Resets the autosave bookkeeping for a freshly built session (it saves from its own step on). */
  adopt(session: PlaygroundSession): void {
    this.lastSavedStep = session.step;
    this.tainted = false;
    this.savedThisSession = false;
  }

  // ---------- adapters ----------

  /** What the session's adapters are, in adapter-file terms. */
  async describeAdapters(session: PlaygroundSession): Promise<AdapterDescription> {
    const kind = session.config.adapter.kind;
    if (kind === 'none' || session.task.adapters.length === 0) throw new AdapterFileError('kind', 'this session has no adapter to export: choose an adapter kind and configure first');
    const config = { ...(session.config.adapter[kind] as Record<string, string | number | boolean>) };
    return { kind, config, targets: session.task.adapters.map((a) => a.path), base: await this.baseRef(session.config) };
  }

  async exportAdapter(session: PlaygroundSession): Promise<AdapterFiles> {
    const d = await this.describeAdapters(session);
    await session.pause();
    return exportAdapter(d, session.task.adapters, session.task.graph.packs, adapterFileFormats());
  }

  /**
   * The configuration an adapter file needs: the current one with the file's adapter kind,
   * settings and exact target modules. Settings the schema does not know are refused.
   */
  configForAdapter(current: PlaygroundConfig, d: AdapterDescription): PlaygroundConfig {
    const schemaFields = { ...adapterModule(d.kind).settings.defaults, ...((current.adapter[d.kind] ?? {}) as Record<string, unknown>) };
    const settings: Record<string, unknown> = { ...schemaFields };
    for (const [k, v] of Object.entries(d.config)) {
      if (!Object.hasOwn(schemaFields, k)) throw new AdapterFileError('config', `adapter_config.${k} is not a setting of ${d.kind} adapters in this playground (known: ${Object.keys(schemaFields).join(', ')})`);
      settings[k] = v;
    }
    return { ...current, adapter: { ...current.adapter, kind: d.kind, targets: [...d.targets], [d.kind]: settings } };
  }

  /** Decodes adapter files (the safetensors bytes, and optionally adapter_config.json's text) for the registered adapter kinds. */
  decodeAdapterFiles(model: Uint8Array | ArrayBuffer, configText?: string): ReturnType<typeof decodeAdapter> {
    return decodeAdapter(model, configText, adapterFileFormats());
  }

  /** Writes a decoded adapter into a session built with configForAdapter (checks base, targets, shapes). */
  async applyAdapterTo(session: PlaygroundSession, decoded: ReturnType<typeof decodeAdapter>): Promise<void> {
    applyAdapter(decoded, { description: await this.describeAdapters(session), adapters: session.task.adapters, packs: session.task.graph.packs }, adapterFileFormats());
    session.task.invalidate?.(); // parameters changed outside a step: drop cached views
  }
}
