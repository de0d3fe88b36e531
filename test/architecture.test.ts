/**
 * The architecture, checked on the source: imports only run down the layers (docs/ARCHITECTURE.md),
 * adapters and tasks are known outside their modules only through the registries.
 *
 * Layers, lowest first. A file may import files of its own group and of groups of a lower rank;
 * never a higher rank, and never another group of the same rank (models and adapters, say, do not
 * know each other). The longest matching prefix decides a file's group.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { adapterKinds } from '../src/adapters/registry';
import { taskIds } from '../src/playground/tasks/registry';

const LAYERS: [rank: number, group: string, prefixes: string[]][] = [
  [0, 'engine', ['src/engine/']],
  [0, 'settings', ['src/settings/']],
  [1, 'kernels', ['src/kernels/']],
  [1, 'io', ['src/io/']],
  [2, 'nn', ['src/nn/']],
  [2, 'data', ['src/data/']],
  [2, 'train', ['src/train/']],
  [3, 'models', ['src/models/']],
  [3, 'adapters', ['src/adapters/']],
  [4, 'analysis', ['src/analysis/']],
  [5, 'tasks', ['src/tasks/']],
  [5, 'playground data', ['src/playground/types.ts', 'src/playground/events.ts']],
  [6, 'experiments', ['src/experiments/']],
  [6, 'bench', ['src/bench/']],
  [6, 'playground tasks', ['src/playground/tasks/']],
  [7, 'config', ['src/config/']],
  [8, 'playground', ['src/playground/', 'src/persistence/']],
  [9, 'worker', ['src/worker/']],
  [10, 'ui', ['src/ui/']],
  [10, 'cli', ['src/cli/']],
];

function groupOf(file: string): { rank: number; group: string } | null {
  let best: { rank: number; group: string; len: number } | null = null;
  for (const [rank, group, prefixes] of LAYERS) for (const p of prefixes) if (file.startsWith(p) && (!best || p.length > best.len)) best = { rank, group, len: p.length };
  return best;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (/\.(ts|tsx)$/.test(e)) out.push(p);
  }
  return out;
}

const FILES = sourceFiles('src');
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;

describe('architecture', () => {
  it('every source file belongs to a layer', () => {
    expect(FILES.filter((f) => !groupOf(f))).toEqual([]);
  });

  it('imports only run down the layers', () => {
    const bad: string[] = [];
    for (const file of FILES) {
      const from = groupOf(file)!;
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(IMPORT)) {
        const spec = (m[1] ?? m[2])!.split('?')[0]!;
        const target = normalize(join(dirname(file), spec));
        if (!target.startsWith('src/')) continue; // shaders and other assets
        const to = groupOf(target.endsWith('.ts') || target.endsWith('.tsx') ? target : `${target}.ts`);
        if (!to) {
          bad.push(`${file} → ${spec}: target in no layer`);
          continue;
        }
        if (to.group === from.group) continue;
        if (to.rank >= from.rank) bad.push(`${file} (${from.group}, rank ${from.rank}) → ${relative('.', target)} (${to.group}, rank ${to.rank})`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('the infrastructure names no adapter kind and the page and config no task id (the first visit\'s default aside): they read the registries', () => {
    // Paper experiments, task modules and analyses may name the adapters they study (and kernel
    // families share some names: shaders/atoms.wgsl); the infrastructure and the page may not.
    const infrastructure = ['src/engine/', 'src/settings/', 'src/io/', 'src/nn/', 'src/train/', 'src/config/', 'src/playground/session.ts', 'src/playground/types.ts', 'src/playground/events.ts', 'src/persistence/', 'src/worker/', 'src/ui/', 'src/cli/'];
    const bad: string[] = [];
    for (const file of FILES) {
      const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
      const named = (name: string) => new RegExp(`['"\`]${name}['"\`]`).test(text);
      // The test case: the newest built-in adapter before the redesign, named nowhere else.
      if (!file.startsWith('src/adapters/') && named('sora')) bad.push(`${file} names adapter 'sora'`);
      if (infrastructure.some((p) => file.startsWith(p))) for (const kind of adapterKinds()) if (named(kind)) bad.push(`${file} names adapter '${kind}'`);
      if ((file.startsWith('src/ui/') || file.startsWith('src/config/')) && file !== 'src/config/defaults.ts') {
        for (const id of taskIds()) if (named(id)) bad.push(`${file} names task '${id}'`);
      }
    }
    expect(bad).toEqual([]);
  });
});
