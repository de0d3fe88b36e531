/**
 * The playground session's persistence (worker side, driven in Node with a stand-in store):
 * checkpoint ⇄ session file is exact and resumes bit-exactly, autosave runs every N steps and on
 * every stop, a full quota is reported while training continues, and an exported adapter
 * imported into a freshly configured session reproduces the view outputs exactly.
 */
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../src/config/defaults';

const DEFAULT_CONFIG = defaultConfig();
import type { PlaygroundConfig } from '../src/config/schema';
import { hasSavedOverrides, type AutosaveSummary, type SaveResult, type SavedOverrides } from '../src/io/autosave-store';
import { decodeSessionCheckpoint, encodeSessionCheckpoint } from '../src/persistence/session-checkpoint';
import { SessionPersistence, type AutosaveBackend, type AutosaveEvent } from '../src/persistence/session-persistence';
import { nodeAssets } from '../src/playground/node-assets';
import { PlaygroundSession, type SessionEvent } from '../src/playground/session';
import { testRuntime } from './helpers/gpu';

const assets = nodeAssets();

function config(kind: 'lora' | 'stan' = 'lora'): PlaygroundConfig {
  const c = structuredClone(DEFAULT_CONFIG);
  c.task = 'regression';
  c.adapter.kind = kind;
  c.adapter.targets = ['q_proj', 'v_proj'];
  c.adapter.lora = { rank: 2, alpha: 4 };
  c.adapter.stan = { expansion: 2, k: 4, topk: 'signed' };
  c.training = { ...c.training, batch: 2, lr: 1e-2, warmup: 0, steps: 40 };
  return c;
}

async function build(c: PlaygroundConfig, onEvent?: (e: SessionEvent) => void): Promise<PlaygroundSession> {
  return PlaygroundSession.create(await testRuntime(), c, { assets, small: true, stream: { metricEvery: 2, validateEvery: 4, statsEvery: 0 }, ...(onEvent ? { onEvent } : {}) });
}

/** An in-memory AutosaveBackend with slots (one record per slot, like the IndexedDB store). */
class MemoryStore implements AutosaveBackend {
  records = new Map<string, { summary: AutosaveSummary; bytes: Uint8Array; overrides: SavedOverrides | null }>();
  saves: number[] = [];
  quotaFull = false;
  readonly unavailable = null;
  /** The record of the default slot (the tests that use one slot). */
  get record() {
    return this.records.get('latest') ?? null;
  }
  async save(slot: string, bytes: Uint8Array, s: Omit<AutosaveSummary, 'bytes' | 'savedAt' | 'slot' | 'overrides'>, overrides?: SavedOverrides): Promise<SaveResult> {
    if (this.quotaFull) return { ok: false, code: 'quota', message: 'autosave skipped: the storage quota is full' };
    this.saves.push(s.step);
    const summary = { ...s, slot, bytes: bytes.length, savedAt: new Date(this.saves.length * 1000).toISOString(), overrides: hasSavedOverrides(overrides) };
    this.records.set(slot, { summary, bytes: bytes.slice(), overrides: overrides ? structuredClone(overrides) : null });
    return { ok: true, summary };
  }
  async saveOverrides(slot: string, overrides: SavedOverrides) {
    const r = this.records.get(slot);
    if (!r) return null;
    r.overrides = structuredClone(overrides);
    r.summary = { ...r.summary, overrides: hasSavedOverrides(overrides) };
    return r.summary;
  }
  async load(slot: string) {
    return this.records.get(slot) ?? null;
  }
  async summary(slot: string) {
    return this.records.get(slot)?.summary ?? null;
  }
  async list() {
    return [...this.records.values()].map((r) => r.summary).sort((a, b) => (a.savedAt < b.savedAt ? 1 : -1));
  }
  async clear(slot: string) {
    this.records.delete(slot);
  }
}

describe('session persistence', () => {
  it('checkpoint → session file → checkpoint is exact; a session built from it continues bit-exactly', async () => {
    const a = await build(config());
    await a.stepN(10);
    await a.validate();
    const cp = await a.checkpoint();
    const bytes = encodeSessionCheckpoint(cp, a.task.graph.packs, { id: 'regression:built-in', hash: 'none' });
    const back = decodeSessionCheckpoint(bytes).checkpoint;
    expect(back.config).toEqual(cp.config);
    expect(back.step).toBe(10);
    expect(back.history).toEqual(cp.history);
    expect(back.history.validation.length).toBeGreaterThan(0);
    expect(back.params).toEqual(cp.params);
    expect(back.optimizer).toEqual(cp.optimizer);
    const uninterrupted = await a.stepN(6);
    const b = await PlaygroundSession.fromCheckpoint(a.rt, back, { assets, small: true, stream: { metricEvery: 2, validateEvery: 4, statsEvery: 0 } });
    expect(b.step).toBe(10);
    const resumed = await b.stepN(6);
    expect(resumed.map((r) => [r.step, r.loss])).toEqual(uninterrupted.map((r) => [r.step, r.loss]));
    a.destroy();
    b.destroy();
  });

  it('autosave every N steps and on stop; a full quota is reported and training continues', async () => {
    const store = new MemoryStore();
    const events: AutosaveEvent[] = [];
    const p = new SessionPersistence(store, assets, { every: 10, onEvent: (e) => events.push(e) });
    let s: PlaygroundSession | null = null;
    s = await build(config(), (e) => s && p.onSessionEvent(s, e));
    p.adopt(s);
    await s.play(30).done;
    await p.settle();
    expect(s.step).toBe(30);
    expect(store.saves.length).toBeGreaterThanOrEqual(3);
    expect(store.saves.at(-1)).toBe(30); // the stop
    expect(store.saves.every((x, i) => i === 0 || x > store.saves[i - 1]!)).toBe(true);
    expect(events.every((e) => e.ok)).toBe(true);
    const saved = decodeSessionCheckpoint(store.record!.bytes).checkpoint;
    expect(saved.step).toBe(30);
    expect(saved.history.train.map((r) => r.step)).toEqual(Array.from({ length: 30 }, (_, i) => i));

    store.quotaFull = true;
    events.length = 0;
    await s.play(10).done;
    await p.settle();
    expect(s.step).toBe(40); // training went on
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((e) => !e.ok && e.code === 'quota' && /quota/.test(e.message!))).toBe(true);
    expect(decodeSessionCheckpoint(store.record!.bytes).checkpoint.step).toBe(30); // the last good autosave stays
    expect(p.lastBytes && decodeSessionCheckpoint(p.lastBytes).checkpoint.step).toBe(40); // kept in memory for device loss

    // Resume from the store: a session at step 30 whose next steps equal the uninterrupted run's.
    const cp = (await p.loadAutosave())!.checkpoint;
    const r = await PlaygroundSession.fromCheckpoint(s.rt, cp, { assets, small: true, stream: { metricEvery: 2, validateEvery: 0, statsEvery: 0 } });
    const ref = await build(config());
    await ref.stepN(30);
    expect((await r.stepN(4)).map((x) => x.loss)).toEqual((await ref.stepN(4)).map((x) => x.loss));
    for (const x of [s, r, ref]) x.destroy();
  });

  it('the base reference of a task with a shipped checkpoint is its path and the file\'s SHA-256', async () => {
    const { createHash } = await import('node:crypto');
    const { readFileSync } = await import('node:fs');
    const { taskModule } = await import('../src/playground/tasks/registry');
    const p = new SessionPersistence(new MemoryStore(), assets, { every: 10, onEvent: () => {} });
    const c = { ...config(), task: 'fourier' as const };
    const path = taskModule('fourier').baseCheckpoint!;
    const ref = await p.baseRef(c);
    expect(ref).toEqual({ id: path, hash: `sha256:${createHash('sha256').update(readFileSync(`public/${path}`)).digest('hex')}` });
    expect(await p.baseRef({ ...config(), training: { ...config().training, seed: 3 } })).toEqual({ id: 'regression:built-in(seed 3)', hash: 'none' });
  });

  it('importing a session checks its base against the page\'s: another seed\'s built-in base is refused, naming both', async () => {
    const p = new SessionPersistence(new MemoryStore(), assets, { every: 10, onEvent: () => {} });
    const s = await build(config());
    await s.stepN(2);
    const bytes = await p.encode(s);
    expect((await p.importSession(bytes)).step).toBe(2);
    const cp = await s.checkpoint();
    const other = encodeSessionCheckpoint(cp, s.task.graph.packs, { id: 'regression:built-in(seed 2)', hash: 'none' });
    await expect(p.importSession(other)).rejects.toThrow(/trained on base 'regression:built-in\(seed 2\)'; this page's regression base is 'regression:built-in\(seed 1\)'/);
    s.destroy();
  });

  it('a file from before a task offered a choice of bases loads with the setting whose base it was trained on; a base no setting loads is still refused', async () => {
    const p = new SessionPersistence(new MemoryStore(), assets, { every: 10, onEvent: () => {} });
    const s = await build(config());
    await s.stepN(1);
    const cp = await s.checkpoint();
    // The session file's config as an mnist-vae session made before 'base' existed: its settings read as the default (cls).
    const vae = { ...cp.config, task: 'mnist-vae', tasks: { ...cp.config.tasks, 'mnist-vae': { base: 'cls' } } } as PlaygroundConfig;
    const ref = async (c: PlaygroundConfig) => p.baseRef(c);
    const flattenRef = await ref({ ...vae, tasks: { ...vae.tasks, 'mnist-vae': { base: 'flatten' } } } as PlaygroundConfig);
    expect(flattenRef.id).toMatch(/mnist-vae-5to9\.safetensors$/);
    const old = encodeSessionCheckpoint({ ...cp, config: vae }, s.task.graph.packs, flattenRef);
    const got = await p.importSession(old);
    expect((got.config.tasks as Record<string, { base: string }>)['mnist-vae']!.base).toBe('flatten');
    expect(got.step).toBe(cp.step);
    // The current default base needs no change.
    const cur = encodeSessionCheckpoint({ ...cp, config: vae }, s.task.graph.packs, await ref(vae));
    expect((((await p.importSession(cur)).config.tasks) as Record<string, { base: string }>)['mnist-vae']!.base).toBe('cls');
    // Same path, another file (a retrained base): no setting loads it.
    const retrained = encodeSessionCheckpoint({ ...cp, config: vae }, s.task.graph.packs, { id: flattenRef.id, hash: `sha256:${'0'.repeat(64)}` });
    await expect(p.importSession(retrained)).rejects.toThrow(/trained on base 'checkpoints\/mnist-vae-5to9\.safetensors' \(sha256:0+…\); this page's mnist-vae base is 'checkpoints\/mnist-vae-5to9-cls\.safetensors'/);
    s.destroy();
  });

  it('after a NaN/Inf step nothing is autosaved (the autosave stays the last good state); restoring it with a lower learning rate continues', async () => {
    const store = new MemoryStore();
    const p = new SessionPersistence(store, assets, { every: 4, onEvent: () => {} });
    const s = await build(config());
    p.adopt(s);
    await s.stepN(8);
    await p.autosave(s);
    expect(store.saves).toEqual([8]);
    await s.stepN(4);
    // What the session emits around a bad step: a flagged metric row, then the non-finite stop.
    p.onSessionEvent(s, { type: 'metrics', rows: [{ step: 10, nonFinite: true }, { step: 11, nonFinite: false }] });
    p.onSessionEvent(s, { type: 'training-stopped', step: 12, reason: 'non-finite' });
    p.onSessionEvent(s, { type: 'metrics', rows: [{ step: 40, nonFinite: false }] });
    await p.settle();
    expect(store.saves).toEqual([8]);
    const cp = (await p.loadAutosave())!.checkpoint;
    cp.config = { ...cp.config, training: { ...cp.config.training, lr: cp.config.training.lr / 10 } };
    const r = await PlaygroundSession.fromCheckpoint(s.rt, cp, { assets, small: true, stream: { metricEvery: 2, validateEvery: 0, statsEvery: 0 } });
    p.adopt(r);
    expect(p.tainted).toBe(false);
    expect([r.step, r.config.training.lr]).toEqual([8, 1e-3]);
    expect((await r.stepN(4)).every((x) => Number.isFinite(x.loss) && !x.nonFinite)).toBe(true);
    s.destroy();
    r.destroy();
  });

  it('slots: each tab saves into its own slot and resumes its own run; another tab\'s run is only read; overrides are saved with the run', async () => {
    const store = new MemoryStore();
    const a = new SessionPersistence(store, assets, { every: 100, onEvent: () => {} });
    const b = new SessionPersistence(store, assets, { every: 100, onEvent: () => {} });
    a.slot = 'tab-a';
    b.slot = 'tab-b';
    const sa = await build(config('stan'));
    const sb = await build({ ...config('lora'), training: { ...config('lora').training, seed: 5 } });
    a.adopt(sa);
    b.adopt(sb);
    // Overrides changed before any save of this session: a full save, with them.
    await sa.stepN(3);
    await sa.setMask(0, [0, ...new Array<number>(sa.task.groups[0]!.count - 1).fill(1)]);
    await a.overridesChanged(sa);
    await sb.stepN(2);
    await b.autosave(sb);
    expect((await a.summary())).toMatchObject({ slot: 'tab-a', step: 3, adapter: 'stan', overrides: true });
    expect((await b.summary())).toMatchObject({ slot: 'tab-b', step: 2, adapter: 'lora', overrides: false });
    expect((await a.others()).map((x) => x.slot)).toEqual(['tab-b']);
    // After a save, an override change updates the overrides alone (no new save of the parameters).
    await sa.setK(0, 2);
    const saves = store.saves.length;
    await a.overridesChanged(sa);
    expect(store.saves.length).toBe(saves);
    expect(store.records.get('tab-a')!.overrides).toEqual(sa.currentOverrides);
    // Each resumes its own; A can read B's without writing into it.
    const own = (await a.loadAutosave())!;
    expect([own.checkpoint.step, own.checkpoint.config.adapter.kind]).toEqual([3, 'stan']);
    expect(own.overrides?.k?.[0]).toBe(2);
    expect(own.overrides?.masks?.[0]?.[0]).toBe(0);
    const theirs = (await a.loadAutosave('tab-b'))!;
    expect([theirs.checkpoint.step, theirs.checkpoint.config.adapter.kind]).toEqual([2, 'lora']);
    const r = await PlaygroundSession.fromCheckpoint(sa.rt, theirs.checkpoint, { assets, small: true, stream: { metricEvery: 2, validateEvery: 0, statsEvery: 0 } });
    a.adopt(r);
    await r.stepN(1);
    await a.autosave(r);
    expect((await a.summary())).toMatchObject({ slot: 'tab-a', step: 3, adapter: 'lora' });
    expect((await b.summary())).toMatchObject({ slot: 'tab-b', step: 2, adapter: 'lora' });
    // A discards its own; B's stays.
    await a.discard();
    expect(await a.summary()).toBeNull();
    expect((await b.summary())?.step).toBe(2);
    for (const x of [sa, sb, r]) x.destroy();
  });

  it('adapter export → import into a freshly configured session reproduces the view exactly; a STAN file for a LoRA session reconfigures', async () => {
    const p = new SessionPersistence(new MemoryStore(), assets, { every: 10, onEvent: () => {} });
    const a = await build(config('stan'));
    await a.stepN(8);
    const files = await p.exportAdapter(a);
    const want = await a.view();
    const decoded = p.decodeAdapterFiles(files.model, files.config);
    expect(decoded.description.kind).toBe('stan');
    expect(decoded.description.targets).toEqual(['blocks.0.attn.q_proj', 'blocks.0.attn.v_proj']);
    const c = p.configForAdapter(config('lora'), decoded.description);
    expect(c.adapter.kind).toBe('stan');
    const b = await build(c);
    const before = await b.view();
    expect(before).not.toEqual(want);
    await p.applyAdapterTo(b, decoded);
    expect(await b.view()).toEqual(want);
    a.destroy();
    b.destroy();
  });
});
