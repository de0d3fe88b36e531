import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../src/config/defaults';
import { formatIssues, parseConfig, type PlaygroundConfig } from '../src/config/schema';
import { configFromHash, configToHash } from '../src/config/url';

const clone = (c: PlaygroundConfig): PlaygroundConfig => JSON.parse(JSON.stringify(c));

describe('configuration schema', () => {
  it('accepts the defaults', () => {
    expect(parseConfig(DEFAULT_CONFIG)).toEqual({ ok: true, config: DEFAULT_CONFIG });
  });

  const bad: [string, (c: PlaygroundConfig) => void, RegExp][] = [
    ['adapter.stan.k', (c) => (c.adapter.stan.k = 0), /adapter\.stan\.k must be ≥ 1/],
    ['adapter.stan.k', (c) => (c.adapter.stan.k = 2.5), /adapter\.stan\.k must be an integer/],
    ['adapter.stan.expansion', (c) => (c.adapter.stan.expansion = 0), /adapter\.stan\.expansion must be > 0/],
    ['adapter.atoms.lambda', (c) => (c.adapter.atoms.lambda = -0.1), /adapter\.atoms\.lambda must be ≥ 0/],
    ['adapter.atoms.k', (c) => (c.adapter.atoms.k = 65), /adapter\.atoms\.k must be ≤ adapter\.atoms\.atoms/],
    ['training.lr', (c) => (c.training.lr = 0), /training\.lr must be > 0/],
    ['training.lr', (c) => (c.training.lr = NaN), /training\.lr must be a number/],
    ['training.lr', (c) => (c.training.lr = Infinity), /training\.lr must be finite/],
    ['task', (c) => ((c as { task: string }).task = 'imagenet'), /task must be one of fourier, mnist-vae, digits, regression/],
    ['adapter.kind', (c) => ((c.adapter as { kind: string }).kind = 'dora'), /adapter\.kind must be one of none, stan, atoms, lora, sora/],
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
  });
});

describe('configuration in the URL hash', () => {
  it('the defaults are an empty hash; a change round-trips with only the changed fields', () => {
    expect(configToHash(DEFAULT_CONFIG)).toBe('');
    const c = clone(DEFAULT_CONFIG);
    c.task = 'digits';
    c.adapter.kind = 'stan';
    c.adapter.stan.k = 4;
    c.adapter.targets = ['blocks.*.attn.q_proj', 'blocks.*.mlp.fc1'];
    c.training.seed = 42;
    const hash = configToHash(c);
    expect(hash).toBe('#task=digits&adapter.kind=stan&adapter.targets=blocks.*.attn.q_proj%2Cblocks.*.mlp.fc1&adapter.stan.k=4&training.seed=42');
    expect(configFromHash(hash)).toEqual({ config: c, issues: [] });
  });

  it('a garbage or impossible hash gives the defaults and says what was wrong', () => {
    for (const [hash, field] of [
      ['#adapter.stan.k=0', 'adapter.stan.k'],
      ['#training.lr=abc', 'training.lr'],
      ['#nonsense=1', 'nonsense'],
      ['#%E0%A4%A', '(url)'],
      ['#__proto__.polluted=1', '__proto__.polluted'],
      ['#task=', 'task'],
    ] as const) {
      const r = configFromHash(hash);
      expect(r.config).toBe(DEFAULT_CONFIG);
      expect(r.issues.map((i) => i.field)).toContain(field);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('property: any valid config round-trips through the hash; random hashes never throw', () => {
    const cfg = fc.record({
      task: fc.constantFrom('fourier', 'mnist-vae', 'digits', 'regression'),
      kind: fc.constantFrom('none', 'stan', 'atoms', 'lora', 'sora'),
      k: fc.integer({ min: 1, max: 64 }),
      expansion: fc.double({ min: 0.25, max: 8, noNaN: true }),
      lr: fc.double({ min: 1e-6, max: 0.5, noNaN: true }),
      seed: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      targets: fc.array(fc.stringMatching(/^[a-z0-9_.*{}]{1,20}$/).filter((s) => !s.includes(',')), { maxLength: 4 }),
    });
    let runs = 0;
    fc.assert(
      fc.property(cfg, (r) => {
        runs++;
        const c = clone(DEFAULT_CONFIG);
        c.task = r.task as PlaygroundConfig['task'];
        c.adapter.kind = r.kind as PlaygroundConfig['adapter']['kind'];
        c.adapter.stan.k = r.k;
        c.adapter.stan.expansion = r.expansion;
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
