import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../src/config/defaults';
import { offeredAdapters, taskIds, taskModule } from '../src/playground/tasks/registry';
import { adapterKinds } from '../src/adapters/registry';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Settings = Record<string, any>;
const DEFAULT_CONFIG = defaultConfig();
import { formatIssues, parseConfig, type PlaygroundConfig } from '../src/config/schema';
import { configFromHash, configToHash, splitList } from '../src/config/url';
import { DEFAULT_WARMUP, effectiveWarmup } from '../src/train/settings';

const clone = (c: PlaygroundConfig): PlaygroundConfig => JSON.parse(JSON.stringify(c));

describe('configuration schema', () => {
  it('accepts the defaults', () => {
    expect(parseConfig(DEFAULT_CONFIG)).toEqual({ ok: true, config: DEFAULT_CONFIG });
  });

  it('reads −0 as 0 (the URL writes 0, so a −0 would not survive the round trip)', () => {
    const c = JSON.parse(JSON.stringify(DEFAULT_CONFIG)) as PlaygroundConfig;
    c.training.seed = -0;
    const r = parseConfig(c);
    expect(r.ok).toBe(true);
    if (r.ok) expect(Object.is(r.config.training.seed, 0)).toBe(true);
  });

  const bad: [string, (c: PlaygroundConfig) => void, RegExp][] = [
    ['adapter.stan.k', (c) => ((c.adapter.stan as Settings).k = 0), /^k \(active latents\) must be ≥ 1 \(an integer in 1…16384\)/],
    ['adapter.stan.k', (c) => ((c.adapter.stan as Settings).k = 2.5), /^k \(active latents\) must be an integer in 1…16384/],
    ['adapter.stan.expansion', (c) => ((c.adapter.stan as Settings).expansion = 0), /^expansion l\/n must be > 0 \(a number in \(0, 64\]\)/],
    ['adapter.stan.topk', (c) => ((c.adapter.stan as Settings).topk = 'largest'), /^top-k by must be one of signed, abs/],
    ['adapter.atoms.lambda', (c) => ((c.adapter.atoms as Settings).lambda = -0.1), /^λ \(threshold\) must be ≥ 0/],
    ['adapter.atoms.k', (c) => ((c.adapter.atoms as Settings).k = 65), /^k \(active atoms\) must be ≤ atoms M/],
    ['tasks.digits.view', (c) => (c.tasks.digits!.view = 'upside-down'), /^fine-tune on must be one of rot90, flip/],
    ['training.lr', (c) => (c.training.lr = 0), /^learning rate must be > 0/],
    ['training.lr', (c) => (c.training.lr = NaN), /^learning rate must be a number/],
    ['training.lr', (c) => (c.training.lr = Infinity), /^learning rate must be finite/],
    ['training.warmup', (c) => (c.training.warmup = c.training.steps + 1), /^warm-up steps must be ≤ steps/],
    ['task', (c) => ((c as { task: string }).task = 'imagenet'), /task must be one of fourier, mnist-vae, digits, regression/],
    ['adapter.kind', (c) => ((c.adapter as { kind: string }).kind = 'dora'), /adapter must be one of none, stan, atoms, lora, sora/],
    ['adapter.kind', (c) => ((c.adapter as { kind: string }).kind = 'stan'), /the Fourier toy task offers none; 'stan' attaches to sites this task's model does not have/],
  ];
  for (const [field, mutate, message] of bad) {
    it(`rejects a bad ${field}, naming the field and the allowed range`, () => {
      const c = clone(DEFAULT_CONFIG);
      mutate(c);
      const r = parseConfig(c);
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.issues.map((i) => i.field)).toContain(field);
      expect(formatIssues(r.issues)).toMatch(message);
    });
  }

  it('rejects unknown keys (a typo must not be ignored silently)', () => {
    const r = parseConfig({ ...clone(DEFAULT_CONFIG), tsak: 'fourier' });
    expect(r.ok).toBe(false);
    const s = clone(DEFAULT_CONFIG);
    (s.adapter.stan as Settings).kk = 3;
    expect(parseConfig(s).ok).toBe(false);
  });

  it('fills in task and adapter settings a config leaves out (older links and files keep working)', () => {
    const c = clone(DEFAULT_CONFIG) as Partial<PlaygroundConfig> & Settings;
    delete c.tasks;
    delete (c.adapter! as Settings).lora;
    delete (c.adapter!.stan as Settings).initD;
    const r = parseConfig(c);
    expect(r).toEqual({ ok: true, config: DEFAULT_CONFIG });
  });

  it('every task offers none plus exactly the adapters with a site kind its model has', () => {
    expect(offeredAdapters(taskModule('fourier'))).toEqual(['none']);
    // The digit transformer has Linear and attention-output sites: every registered adapter applies.
    expect(offeredAdapters(taskModule('digits'))).toEqual(['none', ...adapterKinds()]);
    expect(adapterKinds()).toEqual(expect.arrayContaining(['stan', 'atoms', 'lora', 'sora', 'vera']));
    for (const id of taskIds()) {
      for (const kind of offeredAdapters(taskModule(id))) {
        const c = clone(DEFAULT_CONFIG);
        c.task = id;
        c.adapter.kind = kind;
        expect(parseConfig(c).ok).toBe(true);
      }
    }
  });
});

describe('configuration in the URL hash', () => {
  it('the defaults are an empty hash; a change round-trips with only the changed fields', () => {
    expect(configToHash(DEFAULT_CONFIG)).toBe('');
    const c = clone(DEFAULT_CONFIG);
    c.task = 'digits';
    c.adapter.kind = 'stan';
    (c.adapter.stan as Settings).k = 4;
    c.adapter.targets = ['blocks.*.attn.q_proj', 'blocks.*.mlp.fc1'];
    c.training.seed = 42;
    c.tasks.digits!.view = 'flip';
    const hash = configToHash(c);
    expect(hash).toBe('#task=digits&tasks.digits.view=flip&adapter.kind=stan&adapter.targets=blocks.*.attn.q_proj%2Cblocks.*.mlp.fc1&adapter.stan.k=4&training.seed=42');
    expect(configFromHash(hash)).toEqual({ config: c, issues: [] });
  });

  it('site patterns with {a,b} alternatives round-trip; malformed patterns are refused with the reason', () => {
    const c = clone(DEFAULT_CONFIG);
    c.task = 'digits';
    c.adapter.kind = 'stan';
    c.adapter.targets = ['blocks.{0,1}.attn.{q,v}_proj', 'mlp.fc1', 'blocks.*.mlp.{fc1,fc2}'];
    expect(configFromHash(configToHash(c))).toEqual({ config: c, issues: [] });
    expect(splitList('a.{0,1}.b,c,{x,y}')).toEqual(['a.{0,1}.b', 'c', '{x,y}']);
    // What the fuzz test found: [','] was accepted and came back from the URL as [].
    for (const [bad, why] of [
      [',', /',' outside/],
      ['a}b', /'}' outside/],
      ['a.{0,1', /without a closing/],
      ['a..b', /empty segment/],
      ['a b', /only letters/],
    ] as const) {
      const cfg = clone(DEFAULT_CONFIG) as unknown as { adapter: { targets: string[] } };
      cfg.adapter.targets = [bad];
      const r = parseConfig(cfg);
      expect(r.ok, bad).toBe(false);
      if (!r.ok) expect(r.issues.map((i) => i.message).join(' | ')).toMatch(why);
    }
  });

  it('a garbage or impossible hash gives the defaults and says what was wrong', () => {
    for (const [hash, field] of [
      ['#adapter.stan.k=0', 'adapter.stan.k'],
      ['#training.lr=abc', 'training.lr'],
      ['#nonsense=1', 'nonsense'],
      ['#%E0%A4%A', '(url)'],
      ['#__proto__.polluted=1', '__proto__.polluted'],
      ['#task=', 'task'],
      ['#task=fourier&adapter.kind=lora', 'adapter.kind'],
    ] as const) {
      const r = configFromHash(hash);
      expect(r.config).toEqual(DEFAULT_CONFIG);
      expect(r.issues.map((i) => i.field)).toContain(field);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('property: any valid config round-trips through the hash; random hashes never throw', () => {
    const cfg = fc.record({
      task: fc.constantFrom(...taskIds()),
      kindPick: fc.nat(),
      view: fc.constantFrom('rot90', 'flip'),
      k: fc.integer({ min: 1, max: 64 }),
      expansion: fc.double({ min: 0.25, max: 8, noNaN: true }),
      lr: fc.double({ min: 1e-6, max: 0.5, noNaN: true }),
      seed: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      // Valid site patterns: 1–3 dot-separated segments, each maybe with one {a,b,…} group.
      targets: fc.array(fc.stringMatching(/^[a-z0-9_*]{1,5}(\{[a-z0-9_*]{1,3}(,[a-z0-9_*]{1,3}){0,2}\})?(\.[a-z0-9_*]{0,4}(\{[a-z0-9_*]{1,3}(,[a-z0-9_*]{1,3}){0,2}\})?[a-z0-9_]?){0,2}$/).filter((p) => !p.split('.').some((seg) => seg === '')), { maxLength: 4 }),
    });
    let runs = 0;
    fc.assert(
      fc.property(cfg, (r) => {
        runs++;
        const c = clone(DEFAULT_CONFIG);
        c.task = r.task;
        const offered = offeredAdapters(taskModule(r.task));
        c.adapter.kind = offered[r.kindPick % offered.length]!;
        c.tasks.digits!.view = r.view;
        (c.adapter.stan as Settings).k = r.k;
        (c.adapter.stan as Settings).expansion = r.expansion;
        c.training.lr = r.lr;
        c.training.seed = r.seed;
        c.adapter.targets = r.targets;
        expect(configFromHash(configToHash(c))).toEqual({ config: c, issues: [] });
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        runs++;
        const r = configFromHash(s);
        expect(r.config).toBeDefined();
      }),
      { numRuns: 3000 },
    );
    console.log(`config/url property runs: ${runs}`);
  });
});

describe('training warm-up longer than the run', () => {
  it('the default warm-up is shortened to a short run (a link that sets only the steps works); another value longer than the run is a clear error', () => {
    expect(DEFAULT_CONFIG.training.warmup).toBe(DEFAULT_WARMUP);
    expect(DEFAULT_WARMUP).toBeGreaterThan(3);
    // A shared link with a 3-step run and nothing about the warm-up.
    const link = configFromHash('#task=regression&training.steps=3');
    expect(link.issues).toEqual([]);
    expect(link.config.training.steps).toBe(3);
    expect(link.config.training.warmup).toBe(DEFAULT_WARMUP);
    expect(effectiveWarmup(link.config.training)).toBe(3);
    // The same through the schema directly (the page's Training panel, imported files).
    const c = clone(DEFAULT_CONFIG);
    c.training.steps = 3;
    expect(parseConfig(c).ok).toBe(true);
    // Runs at least as long as the default warm-up keep it as it is.
    expect(effectiveWarmup({ warmup: DEFAULT_WARMUP, steps: DEFAULT_WARMUP })).toBe(DEFAULT_WARMUP);
    expect(effectiveWarmup(DEFAULT_CONFIG.training)).toBe(DEFAULT_WARMUP);
    expect(effectiveWarmup({ warmup: 0, steps: 3 })).toBe(0);
    // A warm-up someone set to another value that does not fit the run: an error naming the field.
    for (const warmup of [4, DEFAULT_WARMUP + 1]) {
      const bad = configFromHash(`#task=regression&training.steps=3&training.warmup=${warmup}`);
      expect(bad.issues.map((i) => i.field)).toEqual(['training.warmup']);
      expect(formatIssues(bad.issues)).toMatch(/warm-up steps must be ≤ steps \(only the default 20 is shortened to a shorter run\)/);
    }
    expect(configFromHash('#task=regression&training.steps=3&training.warmup=3').issues).toEqual([]);
  });
});
