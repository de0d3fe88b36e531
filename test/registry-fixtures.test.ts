/**
 * Adding an adapter or a task is one module plus one registration line: a fixture adapter
 * (test/fixtures/shift-adapter.ts) and a fixture task (test/fixtures/sum-task.ts), registered
 * here and nowhere else, work through the config schema, the URL, the page's panels, a training
 * session, and adapter export → import — with no other change.
 */
import { createElement } from 'react';
import { renderToString } from 'react-dom/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAdapter, unregisterAdapter } from '../src/adapters/registry';
import { defaultConfig } from '../src/config/defaults';
import { runLabel } from '../src/config/resolve';
import { parseConfig, type PlaygroundConfig } from '../src/config/schema';
import { configFromHash, configToHash } from '../src/config/url';
import { SessionPersistence, type AutosaveBackend } from '../src/persistence/session-persistence';
import { nodeAssets } from '../src/playground/node-assets';
import { PlaygroundSession } from '../src/playground/session';
import { offeredAdapters, registerTask, taskModule, unregisterTask } from '../src/playground/tasks/registry';
import { AdapterConfigPanel, TaskPanel } from '../src/ui/components/ConfigPanels';
import { EMPTY_SESSION, usePlayground } from '../src/ui/store';
import { shiftAdapter } from './fixtures/shift-adapter';
import { sumTask } from './fixtures/sum-task';
import { testRuntime } from './helpers/gpu';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Settings = Record<string, any>;

beforeAll(() => {
  registerAdapter(shiftAdapter);
  registerTask(sumTask);
});
afterAll(() => {
  unregisterAdapter('shift');
  unregisterTask('sum');
});

function fixtureConfig(): PlaygroundConfig {
  const c = defaultConfig();
  c.task = 'sum';
  c.adapter.kind = 'shift';
  c.training = { ...c.training, batch: 4, lr: 0.05, warmup: 0, steps: 20, schedule: 'constant' };
  return c;
}

/** Export and import need no autosave storage. */
const NO_STORE: AutosaveBackend = {
  unavailable: 'not used in this test',
  save: async () => ({ ok: false, code: 'unavailable', message: 'not used' }),
  saveOverrides: async () => null,
  load: async () => null,
  list: async () => [],
  summary: async () => null,
  clear: async () => {},
};

describe('a fixture adapter and a fixture task, registered with one line each', () => {
  it('the schema knows them: defaults, ranges named by label, offered adapters', () => {
    const c = fixtureConfig();
    expect((c.adapter.shift as Settings).scale).toBe(1);
    expect(c.tasks.sum).toEqual({ gain: 0.5 });
    expect(parseConfig(c).ok).toBe(true);
    expect(offeredAdapters(taskModule('sum'))).toContain('shift');
    expect(offeredAdapters(taskModule('fourier'))).not.toContain('shift');
    const bad = structuredClone(c);
    (bad.adapter.shift as Settings).scale = 0;
    bad.tasks.sum!.gain = 11;
    const r = parseConfig(bad);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.issues).toContainEqual({ field: 'adapter.shift.scale', message: 'shift scale s must be > 0 (a number in (0, 10])' });
      expect(r.issues).toContainEqual({ field: 'tasks.sum.gain', message: 'target gain must be ≤ 10 (a number in [0, 10])' });
    }
    expect(runLabel(c)).toBe('Sum fixture · gain 0.5 · Shift s=1 · lr 0.05 · batch 4 · seed 1');
  });

  it('the URL round-trips them', () => {
    const c = fixtureConfig();
    (c.adapter.shift as Settings).scale = 2.5;
    c.tasks.sum!.gain = 3;
    const hash = configToHash(c);
    expect(hash).toContain('task=sum');
    expect(hash).toContain('tasks.sum.gain=3');
    expect(hash).toContain('adapter.kind=shift');
    expect(hash).toContain('adapter.shift.scale=2.5');
    expect(configFromHash(hash)).toEqual({ config: c, issues: [] });
  });

  it('the panels render their choices and fields from the registries', () => {
    // renderToString reads a zustand store's initial state (its server snapshot); the page renders on the client, so set both.
    const state = { config: fixtureConfig(), configIssues: [], runs: [], liveRunId: null, session: EMPTY_SESSION };
    usePlayground.setState(state);
    Object.assign(usePlayground.getInitialState(), state);
    const task = renderToString(createElement(TaskPanel, {}));
    expect(task).toContain('data-testid="task-sum"');
    expect(task).toContain('Sum fixture');
    expect(task).toContain('target gain');
    const adapter = renderToString(createElement(AdapterConfigPanel, { trainable: null, base: null }));
    expect(adapter).toContain('data-testid="adapter-shift"');
    expect(adapter).toContain('shift scale s');
    expect(adapter).toContain('h = W₀·x + s·β');
    // The fixture task's default sites for a Linear adapter fill the targets hint.
    expect(adapter).toContain('blocks.*.attn.{q,v}_proj');
  });

  it('a session trains it, and an exported adapter imports into a fresh session with the same outputs', async () => {
    const rt = await testRuntime();
    const assets = nodeAssets();
    const opts = { assets, small: true, stream: { metricEvery: 2, validateEvery: 0, statsEvery: 0 } };
    const s = await PlaygroundSession.create(rt, fixtureConfig(), opts);
    const p = new SessionPersistence(NO_STORE, assets, { every: 10, onEvent: () => {} });
    try {
      expect(s.info().task.adapters).toEqual(['none', 'stan', 'atoms', 'lora', 'sora', 'vera', 'shift']);
      expect(s.task.adapters.map((a) => a.path)).toEqual(['blocks.0.attn.q_proj', 'blocks.0.attn.v_proj']);
      const rows = await s.stepN(12);
      expect(rows.every((r) => Number.isFinite(r.loss))).toBe(true);
      expect(rows.at(-1)!.loss).toBeLessThan(rows[0]!.loss);
      const want = await s.view();
      const files = await p.exportAdapter(s);
      expect(JSON.parse(files.config).peft_type).toBe('SHIFT');
      const decoded = p.decodeAdapterFiles(files.model, files.config);
      const fresh = await PlaygroundSession.create(rt, p.configForAdapter(fixtureConfig(), decoded.description), opts);
      try {
        await p.applyAdapterTo(fresh, decoded);
        expect(await fresh.view()).toEqual(want);
      } finally {
        fresh.destroy();
      }
    } finally {
      s.destroy();
    }
  });
});
