/**
 * Which settings tell two configurations apart, as short `field value` texts: the "from the
 * previous settings" line over stale views, and the legend of runs whose labels would collide.
 */

/** Flattens a plain JSON value to dotted paths → printable values (arrays print joined). */
export function flatten(value: unknown, prefix = '', out: Map<string, string> = new Map()): Map<string, string> {
  if (Array.isArray(value)) out.set(prefix, value.map(String).join(','));
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else out.set(prefix, String(value));
  return out;
}

/** The fields whose values differ between `a` and `b` (in `b`'s order, then fields only `a` has). */
export function differingFields(a: unknown, b: unknown): string[] {
  const fa = flatten(a);
  const fb = flatten(b);
  const out: string[] = [];
  for (const [k, v] of fb) if (fa.get(k) !== v) out.push(k);
  for (const k of fa.keys()) if (!fb.has(k)) out.push(k);
  return out;
}

/**
 * `a → b` per differing field, e.g. ['adapter.kind atoms → none', 'training.lr 0.003 → 0.01'] (just
 * the new value with `from: false`);
 * an adapter's settings count only for the adapter kind in use (switching kind keeps the others).
 */
export function describeChanges(before: unknown, after: unknown, max = 3, opts: { from?: boolean } = {}): string[] {
  const fa = flatten(before);
  const fb = flatten(after);
  const kind = fb.get('adapter.kind');
  const relevant = (k: string) => {
    const m = /^adapter\.([^.]+)\./.exec(k);
    return !m || m[1] === kind || m[1] === fa.get('adapter.kind');
  };
  const diffs = differingFields(before, after).filter(relevant);
  const out = diffs.slice(0, max).map((k) => (opts.from === false ? `${k} ${fb.get(k) ?? '—'}` : `${k} ${fa.get(k) ?? '—'} → ${fb.get(k) ?? '—'}`));
  if (diffs.length > max) out.push(`${diffs.length - max} more`);
  return out;
}

/**
 * One legend label per run, all different: a run whose label an earlier run has already gets
 * what sets it apart from that run ('training.batch 32 → 8'), or "run N" when the settings are
 * the same (a Reset repeats the run).
 */
export function runLegends(runs: readonly { id: number; label: string; config: unknown }[]): string[] {
  const used = new Set<string>();
  return runs.map((r, i) => {
    let label = r.label;
    if (used.has(label)) {
      const first = runs.slice(0, i).find((o) => o.label === r.label)!;
      const diff = describeChanges(first.config, r.config, 2, { from: false });
      label = diff.length ? `${r.label} · ${diff.join(', ')}` : `${r.label} · run ${r.id}`;
      if (used.has(label)) label = `${r.label} · run ${r.id}`;
    }
    used.add(label);
    return label;
  });
}
