/**
 * The STAN paper's App. F scatter, live: one dot per latent/atom, x = activation density on a fixed
 * log axis from 1e-6 to 1 (so units that fire on 85 % of rows look dense, not spread out), y = mean
 * activation (log), colour = label entropy (when the rows have labels), the dense threshold dotted.
 * Dead units (never fired) sit in a column left of 1e-6 as crosses; the open unit is ringed in
 * red. Clicking a dot — or choosing its number in the box, for keyboard users — opens that unit.
 */
import Plotly from 'plotly.js-dist-min';
import { useEffect, useId, useRef, useState } from 'react';

type PlotlyData = Parameters<typeof Plotly.react>[1][number];

export interface ScatterStats {
  log10Freq: (number | null)[];
  log10MeanAct: (number | null)[];
  entropy: (number | null)[];
  dead: number;
  dense: number;
  samples: number;
  /** Share of rows above which a unit counts as dense (a dotted line). */
  denseThreshold?: number;
}

/** Where dead units are drawn: a column left of the axis' 1e-6. */
const DEAD_X = 10 ** -6.6;

export function LatentScatter({ stats, label, selected, onSelect }: { stats: ScatterStats | null; label: string; selected: number | null; onSelect(unit: number): void }) {
  const el = useRef<HTMLDivElement>(null);
  const onSelectRef = useRef(onSelect);
  onSelectRef.current = onSelect;
  const count = stats?.log10Freq.length ?? 0;
  const alive = stats ? stats.log10Freq.filter((f) => f !== null).length : 0;

  useEffect(() => {
    if (!el.current) return;
    const xs: number[] = [];
    const ys: number[] = [];
    const colours: number[] = [];
    const units: number[] = [];
    const deadUnits: number[] = [];
    if (stats) {
      stats.log10Freq.forEach((f, i) => {
        if (f === null || stats.log10MeanAct[i] === null) {
          deadUnits.push(i);
          return;
        }
        xs.push(10 ** f);
        ys.push(10 ** stats.log10MeanAct[i]!);
        colours.push(stats.entropy[i] ?? 0);
        units.push(i);
      });
    }
    const hasEntropy = !!stats && stats.entropy.some((e) => e !== null);
    const sel = selected !== null ? units.indexOf(selected) : -1;
    const yFloor = ys.length ? Math.min(...ys) : 1;
    const traces: PlotlyData[] = [
      {
        x: xs,
        y: ys,
        customdata: units,
        type: 'scatter',
        mode: 'markers',
        name: `${label}s`,
        hovertemplate: `${label} %{customdata}<br>density %{x:.2e}<br>mean activation %{y:.3g}${hasEntropy ? '<br>entropy %{marker.color:.2f} nats' : ''}<extra></extra>`,
        marker: {
          size: 9,
          color: hasEntropy ? colours : '#2563eb',
          colorscale: 'Viridis',
          showscale: hasEntropy,
          colorbar: hasEntropy ? { title: { text: 'label entropy' }, thickness: 12 } : undefined,
          line: { width: 0.5, color: '#fff' },
        },
      },
      {
        // Units that never fired: a column left of the axis' 1e-6.
        x: deadUnits.map(() => DEAD_X),
        y: deadUnits.map(() => yFloor),
        customdata: deadUnits,
        type: 'scatter',
        mode: 'markers',
        name: 'dead',
        hovertemplate: `${label} %{customdata}: never fired<extra></extra>`,
        marker: { symbol: 'x', size: 7, color: '#888' },
      },
      {
        // The selected unit, ringed.
        x: sel >= 0 ? [xs[sel]!] : selected !== null && deadUnits.includes(selected) ? [DEAD_X] : [],
        y: sel >= 0 ? [ys[sel]!] : selected !== null && deadUnits.includes(selected) ? [yFloor] : [],
        customdata: selected !== null ? [selected] : [],
        type: 'scatter',
        mode: 'markers',
        name: 'selected',
        hovertemplate: `${label} %{customdata} (open)<extra></extra>`,
        marker: { symbol: 'circle-open', size: 18, color: '#dc2626', line: { width: 3, color: '#dc2626' } },
      },
    ];
    const dense = stats?.denseThreshold ?? null;
    // Drawn in the next frame: a click's own DOM update (labels, buttons) paints first, the chart follows.
    const node = el.current;
    const frame = requestAnimationFrame(() => {
      void Plotly.react(
        node,
        traces,
        {
          height: 320,
          margin: { l: 60, r: 20, t: 10, b: 45 },
          // Fixed axes: density from 1e-6 to 1 (dead units left of it), so dense and sparse read as what they are.
          xaxis: {
            title: { text: 'activation density (share of rows it fires on, log scale)' },
            type: 'log',
            range: [Math.log10(DEAD_X) - 0.3, 0.05],
            tickvals: [DEAD_X, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1],
            ticktext: ['dead', '1e-6', '1e-5', '1e-4', '0.001', '0.01', '0.1', '1'],
          },
          yaxis: { title: { text: 'mean activation when active (log)' }, type: 'log' },
          shapes: dense !== null ? [{ type: 'line', xref: 'x', yref: 'paper', x0: dense, x1: dense, y0: 0, y1: 1, line: { color: '#dc2626', dash: 'dot', width: 1 } }] : [],
          showlegend: false,
          hovermode: 'closest',
          clickmode: 'event',
        },
        { displayModeBar: false, responsive: true },
      );
    });
    return () => cancelAnimationFrame(frame);
  }, [stats, selected, label]);

  useEffect(() => {
    const node = el.current as (HTMLDivElement & { on?(ev: string, fn: (e: { points: { customdata: unknown }[] }) => void): void }) | null;
    if (!node) return;
    // Plotly attaches .on() to the div at its first plot; wait for it.
    let tries = 0;
    const attach = () => {
      if (node.on) node.on('plotly_click', (e) => {
        const unit = Number(e.points[0]?.customdata);
        if (Number.isInteger(unit)) onSelectRef.current(unit);
      });
      else if (tries++ < 50) requestAnimationFrame(attach);
    };
    attach();
    return () => Plotly.purge(node);
  }, []);

  return (
    <div className="chart-block">
      <div className="chart-head">
        <h3>{label === 'atom' ? 'Atoms' : label === 'rank' ? 'Rank dimensions' : 'Latents'} (App. F)</h3>
        <span className="status" data-testid="latent-counts">
          {stats ? `${count} ${label}s · ${alive} fired · ${stats.dead} dead · ${stats.dense} dense${stats.denseThreshold !== undefined ? ` (> ${(100 * stats.denseThreshold).toFixed(0)} % of rows)` : ''} · over ${stats.samples.toLocaleString('en-US')} rows` : 'statistics appear after the first training steps'}
        </span>
      </div>
      <div ref={el} data-testid="latent-scatter" data-points={alive} role="img" aria-label={`scatter of ${count} ${label}s: activation frequency against mean activation`} />
      <OpenUnitForm label={label} count={count} onOpen={onSelect} />
    </div>
  );
}

/** Opens a unit by number (the keyboard path to a latent's view). */
export function OpenUnitForm({ label, count, onOpen }: { label: string; count: number; onOpen(unit: number): void }) {
  const inputId = useId();
  const [typed, setTyped] = useState('');
  return (
    <form
      className="inline-form"
      onSubmit={(e) => {
        e.preventDefault();
        const n = Number(typed);
        if (Number.isInteger(n) && n >= 0 && n < count) onOpen(n);
      }}
    >
      <label htmlFor={inputId}>
        Open {label} # (0–{Math.max(0, count - 1)})
      </label>
      <input id={inputId} type="number" min={0} max={Math.max(0, count - 1)} value={typed} onChange={(e) => setTyped(e.target.value)} data-testid="open-latent-input" />
      <button type="submit" disabled={!count}>
        Open
      </button>
    </form>
  );
}
