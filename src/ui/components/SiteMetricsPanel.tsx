/**
 * The site's standard metrics (SAELens / sparsify names), live: L0, dead and dense fractions,
 * the log10 feature-density histogram with the counts below 1e-5 and 1e-6, and the adapter's
 * share of the output ‖ΔO‖/‖O‖ — over the training window (the last N training rows,
 * accumulated on the GPU inside each step) or, on demand, the held-out probe set.
 */
import { refreshStats } from '../inspect-actions';
import { useInspect } from '../inspect-store';
import { usePlayground } from '../store';
import type { LatentStatsSummary } from '../../worker/protocol';

/** The statistics the inspection views show for the current group (training window or held-out). */
export function useShownStats(): { summary: LatentStatsSummary | null; step: number | null; source: 'training' | 'held-out' } {
  const groupIndex = usePlayground((s) => s.inspection.group);
  const info = usePlayground((s) => s.session.info);
  const training = usePlayground((s) => s.inspection.stats);
  const source = useInspect((s) => s.source);
  const heldOut = useInspect((s) => s.heldOut);
  const group = info?.groups[groupIndex];
  const from = source === 'training' ? training : heldOut;
  const summary = group ? (from?.groups.find((g) => g.group === group.group) ?? null) : null;
  return { summary, step: from?.step ?? null, source };
}

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

function DensityHistogram({ s }: { s: LatentStatsSummary }) {
  const h = s.metrics.histogram;
  const max = Math.max(1, ...h.counts, s.dead);
  const W = 360;
  const H = 90;
  const bins = h.counts.length;
  // One extra column on the left for the units that never fired.
  const bw = W / (bins + 2);
  const y = (c: number) => H - 14 - (c / max) * (H - 20);
  const ticks = [-6, -5, -4, -3, -2, -1, 0];
  const xOf = (log10: number) => bw * 2 + ((log10 - h.edges[0]!) / (h.edges[bins]! - h.edges[0]!)) * bw * bins;
  return (
    <svg width={W} height={H} role="img" aria-label={`feature density histogram: ${h.counts.join(', ')} units per bin from 1e-6 to 1; ${s.dead} never fired`} data-testid="density-histogram" data-bins={bins} data-units={h.counts.reduce((a, b) => a + b, 0) + s.dead}>
      <rect x={0} y={y(s.dead)} width={bw - 1} height={H - 14 - y(s.dead)} fill="#888" />
      <text x={bw / 2} y={H - 2} fontSize={9} textAnchor="middle">
        dead
      </text>
      {h.counts.map((c, b) => (
        <rect key={b} x={bw * 2 + b * bw} y={y(c)} width={Math.max(1, bw - 1)} height={H - 14 - y(c)} fill="#2563eb">
          <title>{`10^${h.edges[b]!.toFixed(2)} … 10^${h.edges[b + 1]!.toFixed(2)}: ${c}`}</title>
        </rect>
      ))}
      {ticks.map((t) => (
        <text key={t} x={xOf(t)} y={H - 2} fontSize={9} textAnchor="middle">
          {t === 0 ? '1' : `1e${t}`}
        </text>
      ))}
      <line x1={xOf(Math.log10(s.metrics.denseThreshold))} x2={xOf(Math.log10(s.metrics.denseThreshold))} y1={0} y2={H - 14} stroke="#dc2626" strokeDasharray="3 2" />
    </svg>
  );
}

export function SiteMetricsPanel() {
  const info = usePlayground((s) => s.session.info);
  const groupIndex = usePlayground((s) => s.inspection.group);
  const setInspection = usePlayground((s) => s.setInspection);
  const phase = usePlayground((s) => s.session.phase);
  const busy = useInspect((s) => s.heldOutBusy);
  const setInspect = useInspect((s) => s.set);
  const { summary: s, step, source } = useShownStats();
  const statsGroups = info?.groups.filter((g) => g.stats) ?? [];
  if (!info || statsGroups.length === 0) return null;
  const group = info.groups[groupIndex];
  const m = s?.metrics;
  return (
    <section className="panel" aria-labelledby="metrics-heading" data-testid="metrics-panel" data-source={source}>
      <h2 id="metrics-heading">Site metrics</h2>
      <div className="controls">
        {statsGroups.length > 1 && (
          <label>
            site{' '}
            <select value={groupIndex} onChange={(e) => setInspection({ group: Number(e.target.value) })} data-testid="metrics-site">
              {statsGroups.map((g) => (
                <option key={g.group} value={g.group}>
                  {g.path} ({g.count} {g.label}s)
                </option>
              ))}
            </select>
          </label>
        )}
        <label>
          <input type="radio" name="stats-source" checked={source === 'training'} onChange={() => setInspect({ source: 'training' })} data-testid="source-training" /> training window
        </label>
        <label>
          <input
            type="radio"
            name="stats-source"
            checked={source === 'held-out'}
            onChange={() => {
              setInspect({ source: 'held-out' });
              void refreshStats('held-out');
            }}
            data-testid="source-held-out"
          />{' '}
          held-out set
        </label>
        {source === 'held-out' && (
          <button type="button" disabled={busy || phase === 'training'} onClick={() => void refreshStats('held-out')} data-testid="held-out-refresh">
            {busy ? 'Computing…' : 'Recompute now'}
          </button>
        )}
      </div>
      {!s || !m ? (
        <p className="note">{source === 'training' ? 'The training window fills as soon as training runs (press Play or Step).' : busy ? 'Running the held-out set through the model…' : 'Press "Recompute now".'}</p>
      ) : (
        <>
          <p className="status" data-testid="metrics-rows" data-rows={s.samples}>
            {s.window
              ? `${group?.path ?? ''}: the last ${s.samples.toLocaleString('en-US')} training rows = ${s.window.steps} step${s.window.steps === 1 ? '' : 's'} × ${s.window.rowsPerStep} rows (steps ${s.window.lastStep - s.window.steps + 1}–${s.window.lastStep}; the window holds ${s.window.slots} steps), accumulated on the GPU inside each step`
              : `${group?.path ?? ''}: ${s.samples.toLocaleString('en-US')} rows of the held-out set at step ${step}`}
          </p>
          <dl className="facts metrics">
            <dt title="mean number of active units per row">L0</dt>
            <dd data-testid="metric-l0">{m.l0.toFixed(2)}</dd>
            <dt title="never fired in these rows">dead</dt>
            <dd data-testid="metric-dead">
              {pct(m.deadFraction)} ({m.dead} of {m.units})
            </dd>
            <dt title="fires on more than the stated share of rows">dense (&gt; {pct(m.denseThreshold)} of rows)</dt>
            <dd data-testid="metric-dense">
              {pct(m.denseFraction)} ({m.dense})
            </dd>
            <dt title="density below 1e-5 / 1e-6, dead units included">density &lt; 1e-5 / 1e-6</dt>
            <dd data-testid="metric-rare">
              {m.histogram.below1e5} / {m.histogram.below1e6}
              {s.samples < 1e5 && <span className="note"> (with {s.samples.toLocaleString('en-US')} rows the smallest non-zero density is {(1 / s.samples).toExponential(1)})</span>}
            </dd>
            <dt title="‖ΔO‖ / ‖O‖ over the rows: how much of the site's output the adapter writes">output share ‖ΔO‖/‖O‖</dt>
            <dd data-testid="metric-share">{m.outputShare === null ? (s.source === 'held-out' ? 'measured over training' : 'not measured for this site') : m.outputShare.toPrecision(3)}</dd>
          </dl>
          <h3>Feature density (log10 of the share of rows each unit fires on; red: the dense threshold)</h3>
          <DensityHistogram s={s} />
        </>
      )}
    </section>
  );
}
