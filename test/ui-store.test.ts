/** The page's store (no DOM): config edits carry the schema's field issues, run curves never repeat a step, clearing keeps the live run, run labels. */
import { beforeEach, describe, expect, test } from 'vitest';
import { defaultConfig } from '../src/config/defaults';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Settings = Record<string, any>;
const DEFAULT_CONFIG = defaultConfig();
import { EMPTY_SESSION, runLabel, usePlayground } from '../src/ui/store';

beforeEach(() => {
  usePlayground.setState({ config: DEFAULT_CONFIG, configIssues: [], runs: [], liveRunId: null, session: EMPTY_SESSION });
});

describe('ui store', () => {
  test('an impossible field value is named by the schema; fixing it clears the issue', () => {
    const s = usePlayground.getState();
    s.updateConfig((c) => void ((c.adapter.stan as Settings).k = 0));
    const issues = usePlayground.getState().configIssues;
    expect(issues.map((i) => i.field)).toEqual(['adapter.stan.k']);
    expect(issues[0]!.message).toContain('k (active latents) must be ≥ 1');
    // The default config object itself is untouched (edits work on a copy).
    expect((DEFAULT_CONFIG.adapter.stan as Settings).k).toBe(16);
    usePlayground.getState().updateConfig((c) => void ((c.adapter.stan as Settings).k = 4));
    expect(usePlayground.getState().configIssues).toEqual([]);
    expect((usePlayground.getState().config.adapter.stan as Settings).k).toBe(4);
  });

  test('metric rows that arrive twice (event and reply, even in one batch) are recorded once, in step order', () => {
    const id = usePlayground.getState().startRun('a', DEFAULT_CONFIG);
    const p = (step: number, loss = step) => ({ step, loss });
    usePlayground.getState().appendMetrics(id, [p(0), p(0), p(1)], []);
    usePlayground.getState().appendMetrics(id, [p(1), p(2)], [p(2, 9)]);
    usePlayground.getState().appendMetrics(id, [], [p(2, 9), p(4, 7)]);
    const run = usePlayground.getState().runs.find((r) => r.id === id)!;
    expect(run.train.map((x) => x.step)).toEqual([0, 1, 2]);
    expect(run.val).toEqual([p(2, 9), p(4, 7)]);
  });

  test('clearing the runs keeps the live one; a new run becomes live', () => {
    const a = usePlayground.getState().startRun('a', DEFAULT_CONFIG);
    const b = usePlayground.getState().startRun('b', DEFAULT_CONFIG);
    expect(usePlayground.getState().liveRunId).toBe(b);
    usePlayground.getState().clearRuns();
    expect(usePlayground.getState().runs.map((r) => r.id)).toEqual([b]);
    expect(a).not.toBe(b);
  });

  test('run labels name the task and its settings, the adapter and its size, the sites, lr, batch and seed', () => {
    const c = structuredClone(DEFAULT_CONFIG);
    c.task = 'regression';
    c.adapter.kind = 'stan';
    (c.adapter.stan as Settings).k = 8;
    c.training.seed = 3;
    expect(runLabel(c)).toBe('Sequence regression · STAN k=8 ×2 · lr 0.003 · batch 32 · seed 3');
    c.adapter.targets = ['blocks.0.mlp.fc1'];
    expect(runLabel(c)).toBe('Sequence regression · STAN k=8 ×2 · blocks.0.mlp.fc1 · lr 0.003 · batch 32 · seed 3');
    c.adapter.kind = 'lora';
    expect(runLabel(c)).toContain('LoRA r=8 α=8');
    c.task = 'digits';
    c.tasks.digits!.view = 'flip';
    expect(runLabel(c)).toContain('Rotated digits · flip · LoRA');
    c.task = 'fourier';
    c.adapter.kind = 'none';
    expect(runLabel(c)).toBe('Fourier toy · train atoms · no adapter · lr 0.003 · batch 32 · seed 3');
  });
});
