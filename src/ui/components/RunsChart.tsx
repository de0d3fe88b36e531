/**
 * Train (solid) and validation (dotted, markers) loss of every kept run, overlaid; the live run is
 * drawn last and thicker. Runs stay until "Clear" (the live one stays). Plotly.react keeps
 * redraws cheap; updates are coalesced to one per animation frame by the store batching.
 * Before the first point there is no chart (an empty plot would show made-up log axes), and two
 * runs never share a legend label (runLegends in config-diff.ts).
 */
import Plotly from 'plotly.js-dist-min';
import { useEffect, useRef } from 'react';
import { runLegends } from '../config-diff';
import type { RunRecord } from '../store';

type PlotlyData = Parameters<typeof Plotly.react>[1][number];

const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#be185d', '#4d7c0f'];

export function RunsChart({ runs, liveRunId, onClear }: { runs: RunRecord[]; liveRunId: number | null; onClear(): void }) {
  const el = useRef<HTMLDivElement>(null);
  const trainPoints = runs.reduce((a, r) => a + r.train.length, 0);
  const anyPoints = runs.some((r) => r.train.length > 0 || r.val.length > 0);
  const live = runs.find((r) => r.id === liveRunId);
  const legends = runLegends(runs);
  useEffect(() => {
    if (!el.current || !anyPoints) return;
    const traces: PlotlyData[] = [];
    runs.forEach((r, i) => {
      const color = COLORS[i % COLORS.length]!;
      const isLive = r.id === liveRunId;
      const name = legends[i]!;
      traces.push({ x: r.train.map((p) => p.step), y: r.train.map((p) => p.loss), type: 'scatter', mode: r.train.length < 3 ? 'lines+markers' : 'lines', name: `${name} (train)`, line: { color, width: isLive ? 2.5 : 1.5 }, marker: { size: 5 }, legendgroup: String(r.id) });
      if (r.val.length)
        traces.push({ x: r.val.map((p) => p.step), y: r.val.map((p) => p.loss), type: 'scatter', mode: 'lines+markers', name: `${name} (validation)`, line: { color, dash: 'dot', width: 1.5 }, marker: { size: 5 }, legendgroup: String(r.id) });
    });
    // Drawn in the next frame: a click's own DOM update (labels, buttons) paints first, the chart follows.
    const node = el.current;
    const frame = requestAnimationFrame(() => {
      void Plotly.react(
        node,
        traces,
        {
          height: 300,
          margin: { l: 55, r: 10, t: 10, b: 40 },
          xaxis: { title: { text: 'step' }, rangemode: 'tozero' },
          yaxis: { title: { text: 'loss' }, type: 'log' },
          legend: { orientation: 'h', y: -0.3, font: { size: 10 } },
          showlegend: true,
        },
        { displayModeBar: false, responsive: true },
      );
    });
    return () => cancelAnimationFrame(frame);
  }, [runs, liveRunId, anyPoints, legends.join('\n')]);
  useEffect(() => {
    const node = el.current;
    return () => {
      if (node) Plotly.purge(node);
    };
  }, []);
  return (
    <div className="chart-block">
      <div className="chart-head">
        <h3>Loss</h3>
        <span className="status" data-testid="runs-summary">
          {runs.length} run{runs.length === 1 ? '' : 's'}
          {live && live.train.length ? ` · last train loss ${live.train[live.train.length - 1]!.loss.toExponential(3)}` : ''}
          {live && live.val.length ? `, validation ${live.val[live.val.length - 1]!.loss.toExponential(3)}` : ''}
        </span>
        <button type="button" onClick={onClear} disabled={runs.length <= (live ? 1 : 0)} data-testid="clear-runs">
          Clear other runs
        </button>
      </div>
      {!anyPoints && (
        <p className="note chart-empty" data-testid="runs-empty">
          The train and validation loss of each run appear here as it trains (log scale, one curve per run).
        </p>
      )}
      <div
        ref={el}
        className={anyPoints ? undefined : 'chart-hidden'}
        data-testid="runs-chart"
        data-runs={runs.length}
        data-points={live?.train.length ?? 0}
        data-total-points={trainPoints}
        data-legends={legends.join('\n')}
        role="img"
        aria-label={`loss of ${runs.length} runs`}
      />
    </div>
  );
}
