/**
 * The page's view logic without a DOM: which views belong to the configuration on screen
 * (freshness), what sets two configurations apart (stale banner, run legends), score and
 * metadata formatting, field labels in error messages, and the run list per task.
 */
import { beforeEach, describe, expect, test } from 'vitest';
import { defaultConfig } from '../src/config/defaults';
import type { SessionInfo } from '../src/playground/types';
import { describeChanges, differingFields, runLegends } from '../src/ui/config-diff';
import { fieldLabel, registerFieldLabel, stripFieldPrefix } from '../src/ui/field-labels';
import { formatMetadata, formatScore } from '../src/ui/format';
import { EMPTY_SESSION, freshness, usePlayground, type PlaygroundConfig } from '../src/ui/store';

const DEFAULT_CONFIG = defaultConfig();
const stan = (c: PlaygroundConfig) => c.adapter.stan as { k: number };

const cfg = (edit: (c: PlaygroundConfig) => void = () => {}): PlaygroundConfig => {
  const c = structuredClone(DEFAULT_CONFIG);
  edit(c);
  return c;
};

const built = (c: PlaygroundConfig) => ({ ...EMPTY_SESSION, phase: 'ready' as const, info: { config: c } as SessionInfo, builtFrom: JSON.stringify(c) });

beforeEach(() => {
  usePlayground.setState({ config: DEFAULT_CONFIG, configIssues: [], runs: [], liveRunId: null, session: EMPTY_SESSION });
});

describe('freshness: views belong to the session that made them', () => {
  test('none → current → stale on another setting → other-task on another task; a failed build shows none', () => {
    const c = cfg();
    expect(freshness({ config: c, configIssues: [], session: EMPTY_SESSION })).toBe('none');
    const session = built(c);
    expect(freshness({ config: c, configIssues: [], session })).toBe('current');
    expect(freshness({ config: cfg((x) => void (x.training.lr = 0.01)), configIssues: [], session })).toBe('stale');
    expect(freshness({ config: cfg((x) => void (x.training.seed = 9)), configIssues: [], session })).toBe('stale');
    expect(freshness({ config: cfg((x) => void (x.task = 'regression')), configIssues: [], session })).toBe('other-task');
    // A config with issues is never the built one, even if the JSON matched.
    expect(freshness({ config: c, configIssues: [{ field: 'training.lr', message: 'x' }], session })).toBe('stale');
    expect(freshness({ config: c, configIssues: [], session: { ...session, info: null, builtFrom: null } })).toBe('none');
  });
});

describe('what sets configurations apart', () => {
  test('differing fields and readable changes; other adapters’ settings do not count', () => {
    const a = cfg();
    const b = cfg((x) => {
      x.training.lr = 0.01;
      stan(x).k = 4; // not the adapter in use
    });
    expect(differingFields(a, b)).toEqual(['adapter.stan.k', 'training.lr']);
    expect(describeChanges(a, b)).toEqual(['training.lr 0.003 → 0.01']);
    expect(describeChanges(a, b, 3, { from: false })).toEqual(['training.lr 0.01']);
    const c = cfg((x) => {
      x.adapter.kind = 'stan';
      stan(x).k = 4;
    });
    expect(describeChanges(a, c)).toEqual(['adapter.kind none → stan', `adapter.stan.k ${stan(a).k} → 4`]);
    const many = cfg((x) => {
      x.training.lr = 0.1;
      x.training.batch = 2;
      x.training.seed = 9;
      x.training.steps = 7;
    });
    expect(describeChanges(a, many, 2)).toEqual(['training.lr 0.003 → 0.1', 'training.batch 32 → 2', '2 more']);
  });

  test('run legends are all different: a colliding label gets what differs, or its run number', () => {
    const a = cfg();
    const b = cfg((x) => void (x.training.batch = 8)); // a run label that does not name the batch
    const legends = runLegends([
      { id: 1, label: 'fourier · atoms', config: a },
      { id: 2, label: 'fourier · atoms', config: b },
      { id: 3, label: 'fourier · atoms', config: a },
      { id: 4, label: 'regression · none', config: a },
    ]);
    expect(legends).toEqual(['fourier · atoms', 'fourier · atoms · training.batch 8', 'fourier · atoms · run 3', 'regression · none']);
    expect(new Set(legends).size).toBe(legends.length);
  });
});

describe('formatting', () => {
  test('scores: shares as percentages, numbers with 3 significant digits', () => {
    expect(formatScore('percent', 0.9031)).toBe('90.3 %');
    expect(formatScore('number', 1.2434)).toBe('1.24');
    expect(formatScore('number', 0.0001234)).toBe('1.23e-4');
    expect(formatScore('number', NaN)).toBe('NaN');
  });

  test('base checkpoint metadata reads as text, not JSON', () => {
    expect(formatMetadata('1500')).toBe('1,500');
    expect(formatMetadata('706.21', 's')).toBe('706 s');
    const test = '{"images":2000,"accuracy":0.974,"perDigit":[0.98,0.98],"counts":[200,225]}';
    expect(formatMetadata(test)).toBe('images 2,000, accuracy 97.4 %, perDigit: 2 values, counts: 2 values');
    expect(formatMetadata('{"loss":0.049958,"accuracy":0.98453}')).toBe('loss 0.0500, accuracy 98.5 %');
    expect(formatMetadata('{not json')).toBe('{not json');
  });

  test('errors name the field by its label, without the path repeated', () => {
    // Before any control registered it: the label the settings declare; then the label on the page.
    expect(fieldLabel('adapter.targets')).toBe('injection sites');
    expect(fieldLabel('no.such.field')).toBe('no.such.field');
    registerFieldLabel('training.lr', 'learning rate (as shown)');
    expect(fieldLabel('training.lr')).toBe('learning rate (as shown)');
    const msg = "adapter.targets: adapter.targets: stan cannot attach to blocks.0.attn (an attention-output site)";
    expect(stripFieldPrefix('adapter.targets', msg)).toBe('stan cannot attach to blocks.0.attn (an attention-output site)');
    expect(stripFieldPrefix('adapter.stan.k', 'adapter.stan.k must be ≥ 1')).toBe('must be ≥ 1');
    expect(stripFieldPrefix('adapter.targets', 'injection sites: nothing matches nomatch')).toBe('nothing matches nomatch');
    expect(stripFieldPrefix('training.lr', 'something else')).toBe('something else');
  });
});

describe('runs per task', () => {
  test("clearing keeps the live run and other tasks' runs", () => {
    const s = usePlayground.getState();
    const other = s.startRun('regression', cfg((x) => void (x.task = 'regression')));
    s.startRun('fourier 1', cfg());
    const live = usePlayground.getState().startRun('fourier 2', cfg());
    usePlayground.getState().clearRuns();
    expect(usePlayground.getState().runs.map((r) => r.id)).toEqual([other, live]);
  });
});
