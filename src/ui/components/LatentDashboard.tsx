/**
 * A unit's dashboard (the sae_vis / Neuronpedia feature page for our adapters): activation
 * histogram, top-activating examples and examples sampled from activation quantiles, each with
 * where inside it the unit fires (image patches, signal samples, tokens), per-class bars, what it
 * writes, the effect of switching it off (Δloss and the red/blue output difference on the view
 * batch), and the most co-active units (click to open). Data: src/playground/dashboard.ts.
 */
import { setMask } from '../engine-connection';
import { openDashboard } from '../inspect-actions';
import { useInspect } from '../inspect-store';
import { useFreshness, usePlayground } from '../store';
import type { DashboardExample, Drawable, LatentDashboard, PositionLayout } from '../../worker/protocol';
import { DrawableView, ImageCanvas } from './Drawable';

function fmt(x: number): string {
  return Math.abs(x) >= 1e-3 || x === 0 ? x.toPrecision(3) : x.toExponential(2);
}

/** Bars of `values` (≥ 0) with labels under them. */
function Bars({ values, labels, testId, label, width = 300, height = 70, colour = '#2563eb' }: { values: number[]; labels?: string[]; testId?: string; label: string; width?: number; height?: number; colour?: string }) {
  const max = Math.max(1e-12, ...values);
  const bw = width / Math.max(1, values.length);
  return (
    <svg width={width} height={height + (labels ? 12 : 0)} role="img" aria-label={label} data-testid={testId} data-bins={values.length}>
      {values.map((v, i) => (
        <rect key={i} x={i * bw} y={height - (v / max) * height} width={Math.max(1, bw - 1)} height={(v / max) * height} fill={colour}>
          <title>{`${labels?.[i] ?? i}: ${v}`}</title>
        </rect>
      ))}
      {labels &&
        labels.map((l, i) =>
          i % Math.ceil(labels.length / 6) === 0 ? (
            <text key={i} x={i * bw} y={height + 10} fontSize={9}>
              {l}
            </text>
          ) : null,
        )}
    </svg>
  );
}

/** The example with the unit's activation at each position over it (patch overlay, bars under a signal, token strip). */
export function PositionsView({ drawable, positions, layout, label, max }: { drawable: Drawable; positions: number[]; layout: PositionLayout; label: string; max: number }) {
  const top = Math.max(1e-12, max);
  if (layout.kind === 'patches' && drawable.kind === 'image') {
    const scale = 3;
    const cell = layout.patch * scale;
    return (
      <div className="positions-overlay" style={{ width: layout.side * scale, height: layout.side * scale }} data-testid="firing-positions" data-kind="patches" data-firing={positions.filter((p) => p > 0).length}>
        <ImageCanvas pixels={drawable.pixels} side={drawable.side} label={label} scale={scale} />
        {positions.slice(layout.offset).map((a, p) =>
          a > 0 ? <span key={p} className="patch" style={{ left: (p % layout.grid) * cell, top: Math.floor(p / layout.grid) * cell, width: cell, height: cell, opacity: 0.15 + 0.6 * (a / top) }} title={`patch ${p}: ${fmt(a)}`} /> : null,
        )}
        {layout.offset > 0 && positions.slice(0, layout.offset).some((a) => a > 0) && <span className="lead-token">lead token {fmt(Math.max(...positions.slice(0, layout.offset)))}</span>}
      </div>
    );
  }
  if (drawable.kind === 'signal' || drawable.kind === 'vector') {
    return (
      <div data-testid="firing-positions" data-kind={layout.kind} data-firing={positions.filter((p) => p > 0).length}>
        <DrawableView drawable={drawable} label={label} />
        <Bars values={positions} label={`activation per ${layout.kind === 'samples' ? 'sample' : 'token'}`} width={160} height={18} colour="#f59e0b" />
      </div>
    );
  }
  return (
    <div data-testid="firing-positions" data-kind={layout.kind} data-firing={positions.filter((p) => p > 0).length}>
      <DrawableView drawable={drawable} label={label} />
      <Bars values={positions} label="activation per position" width={84} height={18} colour="#f59e0b" />
    </div>
  );
}

function Example({ ex, layout, max, caption }: { ex: DashboardExample; layout: PositionLayout; max: number; caption?: string }) {
  return (
    <figure>
      <PositionsView drawable={ex.drawable} positions={ex.positions} layout={layout} max={max} label={`example ${ex.example}${ex.label !== null ? `, class ${ex.label}` : ''}, activation ${fmt(ex.activation)}`} />
      <figcaption>
        {caption ?? ''}
        {ex.label !== null ? `${ex.label} · ` : ''}
        {fmt(ex.activation)}
      </figcaption>
    </figure>
  );
}

function Effect({ d }: { d: LatentDashboard }) {
  const e = d.effect;
  return (
    <div data-testid="latent-effect" data-delta-loss={e.deltaLoss}>
      <p className="status">
        {e.lossName} on the view batch: {fmt(e.lossOn)} with it → {fmt(e.lossOff)} without it (Δ = <strong>{e.deltaLoss >= 0 ? '+' : ''}{fmt(e.deltaLoss)}</strong>: {e.deltaLoss > 0 ? 'the model needs it' : e.deltaLoss < 0 ? 'the model is better without it here' : 'no change'})
      </p>
      <div className="thumbs">
        {e.examples.map((x, i) => (
          <figure key={i}>
            <DrawableView drawable={x.drawable} label={`output with it on minus off, ${x.label}`} signed />
            <figcaption>
              {x.label} · max |Δ| {fmt(x.maxAbs)}
            </figcaption>
          </figure>
        ))}
      </div>
    </div>
  );
}

export function LatentDashboardPanel() {
  const selected = usePlayground((s) => s.inspection.selected);
  const overrides = usePlayground((s) => s.inspection.overrides);
  const info = usePlayground((s) => s.session.info);
  const setInspection = usePlayground((s) => s.setInspection);
  const d = useInspect((s) => s.dashboard);
  const busy = useInspect((s) => s.dashboardBusy);
  const error = useInspect((s) => s.error);
  const fresh = useFreshness();
  // Views belong to the session that made them: never another task's.
  if (!selected || fresh === 'none' || fresh === 'other-task') return null;
  const group = info?.groups[selected.group];
  const mask = overrides.masks?.[selected.group] ?? null;
  const isOn = !mask || mask[selected.unit] !== 0;
  const l = d && d.group === selected.group && d.unit === selected.unit ? d : null;
  const unitName = group?.label ?? 'unit';
  const maxAct = l ? Math.max(1e-12, ...l.top.map((t) => t.activation)) : 1;
  return (
    <section className="panel" aria-labelledby="latent-heading" data-testid="latent-view" data-unit={selected.unit} data-busy={busy ? 1 : 0}>
      <h2 id="latent-heading">
        {unitName} {selected.unit}
        {group ? ` · ${group.path}` : ''}
        {l ? ` (step ${l.step})` : ''}
      </h2>
      <div className="controls">
        <button
          type="button"
          data-testid="latent-toggle"
          aria-pressed={!isOn}
          onClick={() => {
            if (!group) return;
            const next = Array.from({ length: group.count }, (_, i) => (mask ? (mask[i] ?? 1) : 1));
            next[selected.unit] = isOn ? 0 : 1;
            void setMask(selected.group, next.every((x) => x === 1) ? null : next);
          }}
        >
          {isOn ? `Switch this ${unitName} off` : `Switch it back on`}
        </button>
        <button type="button" onClick={() => selected.unit > 0 && void openDashboard(selected.group, selected.unit - 1)} disabled={selected.unit === 0}>
          ← previous
        </button>
        <button type="button" onClick={() => group && selected.unit < group.count - 1 && void openDashboard(selected.group, selected.unit + 1)} disabled={!group || selected.unit >= group.count - 1}>
          next →
        </button>
        <button type="button" onClick={() => setInspection({ selected: null, latent: null })}>
          Close
        </button>
      </div>
      {!l && !error && <p aria-busy="true">Reading this {unitName} from the GPU…</p>}
      {error && !l && <p className="note error-text">{error}</p>}
      {l && (
        <>
          <p className="status" data-testid="latent-summary">
            over {l.examples} {l.set} ({l.rows.toLocaleString('en-US')} rows): fires on {(100 * l.frequency).toFixed(2)} % of rows · mean activation {fmt(l.meanActivation)}
            {l.entropy !== null ? ` · label entropy ${l.entropy.toFixed(2)} nats` : ''}
            {busy ? ' · updating…' : ''}
          </p>
          <h3>Activation histogram (rows where it fires)</h3>
          <Bars values={l.histogram.counts} labels={l.histogram.edges.slice(0, -1).map(fmt)} testId="activation-histogram" label={`histogram of ${unitName} ${l.unit}'s activations: ${l.histogram.counts.join(', ')}`} />
          <h3>Top-activating examples, and where in them it fires</h3>
          {l.top.length === 0 ? (
            <p className="note">It fired on none of the examples searched (a dead {unitName} here).</p>
          ) : (
            <div className="thumbs" data-testid="latent-examples" data-count={l.top.length}>
              {l.top.map((ex) => (
                <Example key={ex.example} ex={ex} layout={l.layout} max={maxAct} />
              ))}
            </div>
          )}
          {l.quantiles.length > 0 && (
            <>
              <h3>Examples sampled across its activation range</h3>
              <div data-testid="latent-quantiles" data-groups={l.quantiles.length}>
                {l.quantiles
                  .slice()
                  .reverse()
                  .map((q, i) => (
                    <div key={i} className="quantile-row">
                      <span className="quantile-label">
                        {Math.round(100 * q.from)}–{Math.round(100 * q.to)} % ({fmt(q.minActivation)}–{fmt(q.maxActivation)})
                      </span>
                      <div className="thumbs">
                        {q.examples.map((ex) => (
                          <Example key={ex.example} ex={ex} layout={l.layout} max={maxAct} />
                        ))}
                      </div>
                    </div>
                  ))}
              </div>
            </>
          )}
          {l.classBars && (
            <>
              <h3>Mean activation per class</h3>
              <div className="class-bars" role="img" aria-label={`mean activation per class: ${l.classBars.map((b) => `${b.label} ${b.value.toFixed(3)}`).join(', ')}`} data-testid="class-bars">
                {l.classBars.map((b) => {
                  const max = Math.max(1e-12, ...l.classBars!.map((x) => Math.abs(x.value)));
                  return (
                    <div key={b.label} className="class-bar">
                      <span className="bar-label">{b.label}</span>
                      <span className="bar" style={{ width: `${(100 * Math.abs(b.value)) / max}%` }} />
                      <span className="bar-value">{b.value.toFixed(3)}</span>
                    </div>
                  );
                })}
              </div>
            </>
          )}
          <h3>What it writes (decoder direction)</h3>
          <div data-testid="latent-decoder">
            <DrawableView drawable={l.decoder} label={`decoder direction of ${unitName} ${l.unit}`} signed />
          </div>
          <h3>Switching it off (red: it adds there, blue: it removes)</h3>
          <Effect d={l} />
          <h3>Most often active together with it</h3>
          {l.coactive.length === 0 ? (
            <p className="note">No other {unitName} fires on the same rows.</p>
          ) : (
            <ul className="coactive" data-testid="latent-coactive" data-count={l.coactive.length}>
              {l.coactive.map((c) => (
                <li key={c.unit}>
                  <button type="button" onClick={() => void openDashboard(l.group, c.unit)} data-testid="coactive-link">
                    {unitName} {c.unit}
                  </button>{' '}
                  Jaccard {c.jaccard.toFixed(2)} · fires on {(100 * c.given).toFixed(0)} % of this one's rows
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </section>
  );
}
