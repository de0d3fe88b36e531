/**
 * The STAN paper's App. F scatter, live: one dot per latent/atom, x = log10 activation frequency,
 * y = log10 mean activation, colour = label entropy (when the task has labels). Dead units (never
 * fired) sit on the left edge as crosses. Clicking a dot — or choosing its number in the box,
 * for keyboard users — opens that unit's view.
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
}

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
    const deadX: number[] = [];
    const deadUnits: number[] = [];
    let minX = 0;
    if (stats) {
      for (const f of stats.log10Freq) if (f !== null) minX = Math.min(minX, f);
      stats.log10Freq.forEach((f, i) => {
        if (f === null || stats.log10MeanAct[i] === null) {
          deadUnits.push(i);
          deadX.push(minX - 0.5);
          return;
        }
        xs.push(f);
        ys.push(stats.log10MeanAct[i]!);
        colours.push(stats.entropy[i] ?? 0);
        units.push(i);
      });
    }
    const hasEntropy = !!stats && stats.entropy.some((e) => e !== null);
    const sel = selected !== null ? units.indexOf(selected) : -1;
    const yFloor = ys.length ? Math.min(...ys) : 0;
    const traces: PlotlyData[] = [
      {
        x: xs,
        y: ys,
        customdata: units,
        type: 'scatter',
        mode: 'markers',
        name: `${label}s`,
        hovertemplate: `${label} %{customdata}<br>log10 freq %{x:.2f}<br>log10 mean act %{y:.2f}${hasEntropy ? '<br>entropy %{marker.color:.2f}' : ''}<extra></extra>`,
        marker: {
          size: 9,
          color: hasEntropy ? colours : '#2563eb',
          colorscale: 'Viridis',
          showscale: hasEntropy,
          colorbar: hasEntropy ? { title: { text: 'label entropy' }, thickness: 12 } : undefined,
          line: { width: units.map((_, i) => (i === sel ? 3 : 0.5)), color: units.map((_, i) => (i === sel ? '#dc2626' : '#fff')) },
        },
      },
      {
        x: deadX,
        y: deadX.map(() => yFloor),
        customdata: deadUnits,
        type: 'scatter',
        mode: 'markers',
        name: 'dead',
        hovertemplate: `${label} %{customdata}: never fired<extra></extra>`,
        marker: { symbol: 'x', size: 7, color: '#888' },
      },
    ];
    // Drawn in the next frame: a click's own DOM update (labels, buttons) paints first, the chart follows.
    const node = el.current;
    const frame = requestAnimationFrame(() => {
      void Plotly.react(
        node,
        traces,
        {
          height: 320,
          margin: { l: 60, r: 20, t: 10, b: 45 },
          xaxis: { title: { text: 'log10 activation frequency' } },
          yaxis: { title: { text: 'log10 mean activation' } },
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
          {stats ? `${count} ${label}s · ${alive} fired · ${stats.dead} dead · ${stats.dense} dense · over ${stats.samples.toLocaleString('en-US')} rows` : 'statistics appear after the first training steps'}
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
