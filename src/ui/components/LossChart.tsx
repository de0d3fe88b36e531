/** A live loss curve (plotly, log y axis). Updates with Plotly.react so redraws stay cheap. */
import Plotly from 'plotly.js-dist-min';
import { useEffect, useRef } from 'react';

export function LossChart({ points, title = 'training loss' }: { points: { step: number; loss: number }[]; title?: string }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!el.current) return;
    void Plotly.react(
      el.current,
      [{ x: points.map((p) => p.step), y: points.map((p) => p.loss), type: 'scatter', mode: 'lines', name: 'loss', line: { color: '#2563eb' } }],
      {
        title: { text: title },
        height: 280,
        margin: { l: 60, r: 20, t: 40, b: 40 },
        xaxis: { title: { text: 'step' } },
        yaxis: { title: { text: 'MSE' }, type: 'log' },
      },
      { displayModeBar: false, responsive: true, staticPlot: false },
    );
  }, [points, title]);
  useEffect(() => {
    const node = el.current;
    return () => {
      if (node) Plotly.purge(node);
    };
  }, []);
  return <div ref={el} data-testid="loss-chart" data-points={points.length} role="img" aria-label={`${title}: ${points.length} points`} />;
}
