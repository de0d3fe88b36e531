/**
 * Every unit of the current group in a table, sorted and filtered by frequency, mean activation,
 * label entropy or effect (mean ‖a·d‖ it writes per row), from the statistics the other views
 * show (training window or held-out). Click a row to open its dashboard.
 */
import { useMemo } from 'react';
import { openDashboard } from '../inspect-actions';
import { useInspect, type SortKey } from '../inspect-store';
import { usePlayground } from '../store';
import { useShownStats } from './SiteMetricsPanel';

const KEYS: { key: Exclude<SortKey, 'unit'>; label: string }[] = [
  { key: 'frequency', label: 'frequency' },
  { key: 'meanActivation', label: 'mean activation' },
  { key: 'entropy', label: 'label entropy' },
  { key: 'effect', label: 'effect' },
];
const SHOWN = 40;

function fmt(x: number | null): string {
  if (x === null || !Number.isFinite(x)) return '—';
  return Math.abs(x) >= 1e-3 || x === 0 ? x.toPrecision(3) : x.toExponential(2);
}

export function LatentTablePanel() {
  const info = usePlayground((s) => s.session.info);
  const groupIndex = usePlayground((s) => s.inspection.group);
  const selected = usePlayground((s) => s.inspection.selected);
  const table = useInspect((s) => s.table);
  const effectCache = useInspect((s) => s.effect);
  const set = useInspect((s) => s.set);
  const { summary: s } = useShownStats();
  const group = info?.groups[groupIndex];
  const rows = useMemo(() => {
    if (!s) return [];
    const effect = s.effect ?? (effectCache && effectCache.group === s.group ? effectCache.values : null);
    return s.log10Freq.map((f, unit) => ({
      unit,
      frequency: f === null ? 0 : 10 ** f,
      meanActivation: s.log10MeanAct[unit] === null ? 0 : 10 ** s.log10MeanAct[unit]!,
      entropy: s.entropy[unit] ?? null,
      effect: effect ? (effect[unit] ?? null) : null,
    }));
  }, [s, effectCache]);
  const shown = useMemo(() => {
    const { sort, descending, filterKey, min, hideDead } = table;
    const val = (r: (typeof rows)[number], k: SortKey) => (k === 'unit' ? r.unit : r[k]);
    const out = rows.filter((r) => (!hideDead || r.frequency > 0) && (min === null || (val(r, filterKey) ?? -Infinity) >= min));
    out.sort((a, b) => {
      const x = val(a, sort) ?? -Infinity;
      const y = val(b, sort) ?? -Infinity;
      return (descending ? y - x : x - y) || a.unit - b.unit;
    });
    return out;
  }, [rows, table]);
  if (!info || !group?.stats || !s) return null;
  const header = (key: SortKey, label: string) => (
    <th key={key} aria-sort={table.sort === key ? (table.descending ? 'descending' : 'ascending') : 'none'}>
      <button type="button" onClick={() => set({ table: { ...table, sort: key, descending: table.sort === key ? !table.descending : key !== 'unit' } })} data-testid={`sort-${key}`}>
        {label}
        {table.sort === key ? (table.descending ? ' ▼' : ' ▲') : ''}
      </button>
    </th>
  );
  return (
    <section className="panel" aria-labelledby="table-heading" data-testid="latent-table" data-rows={shown.length}>
      <h2 id="table-heading">
        All {group.label}s of {group.path}
      </h2>
      <div className="controls">
        <label>
          show where{' '}
          <select value={table.filterKey} onChange={(e) => set({ table: { ...table, filterKey: e.target.value as Exclude<SortKey, 'unit'> } })} data-testid="filter-key">
            {KEYS.map((k) => (
              <option key={k.key} value={k.key}>
                {k.label}
              </option>
            ))}
          </select>{' '}
          ≥{' '}
          <input
            type="number"
            step="any"
            value={table.min ?? ''}
            placeholder="any"
            onChange={(e) => set({ table: { ...table, min: e.target.value === '' ? null : Number(e.target.value) } })}
            data-testid="filter-min"
            style={{ width: '6rem' }}
          />
        </label>
        <label>
          <input type="checkbox" checked={table.hideDead} onChange={(e) => set({ table: { ...table, hideDead: e.target.checked } })} data-testid="hide-dead" /> hide dead
        </label>
      </div>
      <p className="note">
        effect = mean ‖activation · direction‖ it writes per row (frequency × mean activation × the norm of what it writes); the dashboard measures the change in loss when it is switched off.
        {!s.effect && !effectCache ? ' Effects appear when training pauses.' : ''}
      </p>
      <table className="latent-table">
        <thead>
          <tr>
            {header('unit', group.label)}
            {KEYS.map((k) => header(k.key, k.label))}
          </tr>
        </thead>
        <tbody>
          {shown.slice(0, SHOWN).map((r) => (
            <tr key={r.unit} className={selected && selected.group === group.group && selected.unit === r.unit ? 'selected' : undefined}>
              <td>
                <button type="button" onClick={() => void openDashboard(group.group, r.unit)} data-testid="table-open">
                  {r.unit}
                </button>
              </td>
              <td>{r.frequency > 0 ? fmt(r.frequency) : 'dead'}</td>
              <td>{fmt(r.meanActivation)}</td>
              <td>{fmt(r.entropy)}</td>
              <td>{fmt(r.effect)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {shown.length > SHOWN && <p className="note">… and {shown.length - SHOWN} more (sort or filter to see them).</p>}
    </section>
  );
}
