/**
 * Inspection: the App. F scatter of the current group (click a dot → its view), the latent/atom
 * view (top-activating examples, per-class activation bars, decoder direction, on/off), and the
 * App. A identifiability report of STAN groups.
 */
import { computeIdentifiability, openLatent, setMask } from '../engine-connection';
import { usePlayground } from '../store';
import { DrawableView } from './Drawable';
import { LatentScatter, OpenUnitForm } from './LatentScatter';

export function ScatterPanel() {
  const info = usePlayground((s) => s.session.info);
  const groupIndex = usePlayground((s) => s.inspection.group);
  const stats = usePlayground((s) => s.inspection.stats);
  const selected = usePlayground((s) => s.inspection.selected);
  const group = info?.groups[groupIndex];
  if (!info || !group) return null;
  const g = stats?.groups.find((x) => x.group === group.group) ?? null;
  return (
    <section className="panel" aria-labelledby="scatter-heading" data-testid="scatter-panel">
      <h2 id="scatter-heading" className="visually-hidden">
        Latent statistics
      </h2>
      {group.stats ? (
        <LatentScatter
          stats={g}
          label={group.label}
          selected={selected && selected.group === group.group ? selected.unit : null}
          onSelect={(unit) => void openLatent(group.group, unit)}
        />
      ) : (
        <>
          <p className="note">
            This site ({group.path}, {group.kind}) collects no activation statistics; open a {group.label} by its number.
          </p>
          <OpenUnitForm label={group.label} count={group.count} onOpen={(u) => void openLatent(group.group, u)} />
        </>
      )}
    </section>
  );
}

function ClassBars({ bars }: { bars: { label: string; value: number }[] }) {
  const max = Math.max(1e-12, ...bars.map((b) => Math.abs(b.value)));
  return (
    <div className="class-bars" role="img" aria-label={`mean activation per class: ${bars.map((b) => `${b.label} ${b.value.toFixed(3)}`).join(', ')}`} data-testid="class-bars">
      {bars.map((b) => (
        <div key={b.label} className="class-bar">
          <span className="bar-label">{b.label}</span>
          <span className="bar" style={{ width: `${(100 * Math.abs(b.value)) / max}%` }} />
          <span className="bar-value">{b.value.toFixed(3)}</span>
        </div>
      ))}
    </div>
  );
}

export function LatentViewPanel() {
  const selected = usePlayground((s) => s.inspection.selected);
  const latent = usePlayground((s) => s.inspection.latent);
  const latentStep = usePlayground((s) => s.inspection.latentStep);
  const overrides = usePlayground((s) => s.inspection.overrides);
  const info = usePlayground((s) => s.session.info);
  const setInspection = usePlayground((s) => s.setInspection);
  if (!selected) return null;
  const group = info?.groups[selected.group];
  const mask = overrides.masks?.[selected.group] ?? null;
  const isOn = !mask || mask[selected.unit] !== 0;
  const l = latent && latent.group === selected.group && latent.unit === selected.unit ? latent : null;
  return (
    <section className="panel" aria-labelledby="latent-heading" data-testid="latent-view" data-unit={selected.unit}>
      <h2 id="latent-heading">
        {group?.label ?? 'latent'} {selected.unit}
        {group ? ` · ${group.path}` : ''}
        {latentStep !== null ? ` (step ${latentStep})` : ''}
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
          {isOn ? `Switch this ${group?.label ?? 'unit'} off` : `Switch it back on`}
        </button>
        <button type="button" onClick={() => selected.unit > 0 && void openLatent(selected.group, selected.unit - 1)} disabled={selected.unit === 0}>
          ← previous
        </button>
        <button type="button" onClick={() => group && selected.unit < group.count - 1 && void openLatent(selected.group, selected.unit + 1)} disabled={!group || selected.unit >= group.count - 1}>
          next →
        </button>
        <button type="button" onClick={() => setInspection({ selected: null, latent: null })}>
          Close
        </button>
      </div>
      {!l && <p aria-busy="true">Reading this {group?.label ?? 'unit'} from the GPU…</p>}
      {l && (
        <>
          <p className="status">
            fires on {(100 * l.frequency).toFixed(2)} % of rows · mean activation {l.meanActivation.toPrecision(3)}
          </p>
          <h3>Top-activating examples</h3>
          {l.examples.length === 0 ? (
            <p className="note">It fired on none of the examples searched (a dead {l.label}).</p>
          ) : (
            <div className="thumbs" data-testid="latent-examples" data-count={l.examples.length}>
              {l.examples.map((ex, i) => (
                <figure key={i}>
                  <DrawableView drawable={ex.drawable} label={`example ${i}${ex.label !== null ? `, class ${ex.label}` : ''}, activation ${ex.activation.toFixed(3)}`} />
                  <figcaption>
                    {ex.label !== null ? `${ex.label} · ` : ''}
                    {ex.activation.toFixed(3)}
                  </figcaption>
                </figure>
              ))}
            </div>
          )}
          {l.classBars && (
            <>
              <h3>Mean activation per class</h3>
              <ClassBars bars={l.classBars} />
            </>
          )}
          <h3>What it writes (decoder direction)</h3>
          <div data-testid="latent-decoder">
            <DrawableView drawable={l.decoder} label={`decoder direction of ${l.label} ${l.unit}`} signed />
          </div>
        </>
      )}
    </section>
  );
}

export function IdentifiabilityPanel() {
  const info = usePlayground((s) => s.session.info);
  const groupIndex = usePlayground((s) => s.inspection.group);
  const ident = usePlayground((s) => s.inspection.identifiability);
  const step = usePlayground((s) => s.session.step);
  const group = info?.groups[groupIndex];
  if (!group?.identifiability) return null;
  const r = ident && ident.group === group.group ? ident.report : null;
  const yes = (b: boolean | null) => (b === null ? 'n/a' : b ? 'holds' : 'fails');
  return (
    <section className="panel" aria-labelledby="ident-heading" data-testid="identifiability-panel">
      <h2 id="ident-heading">Identifiability (STAN App. A)</h2>
      <p className="note">
        STAN's App. A: if every input coordinate has its own latent that wins the top-k by a margin (assumption 1), the decoder inverts the encoder on those latents (2) and the encoder rows are
        near-orthonormal (3), then the adapter's latents are identifiable — each one stands for one input direction.
      </p>
      <button type="button" onClick={() => void computeIdentifiability(group.group)} data-testid="identifiability-button">
        {r ? `Recompute (now at step ${step})` : 'Compute the report'}
      </button>
      {r && (
        <dl className="facts" data-testid="identifiability-report">
          <dt>Assumption 1 (singleton margins)</dt>
          <dd>
            {yes(r.summary.assumption1)} — min margin {r.summary.minMargin.toPrecision(3)}, {r.summary.positiveMargins} of {r.n} coordinates positive, carriers {r.summary.distinctCarriers ? 'distinct' : 'shared'}
          </dd>
          <dt>Assumption 2 (block identity)</dt>
          <dd>
            {yes(r.summary.assumption2)}
            {r.summary.maxBlockError !== null && ` — max error ${r.summary.maxBlockError.toPrecision(3)}, mean ${r.summary.meanBlockError!.toPrecision(3)}`}
          </dd>
          <dt>Assumption 3 (row orthonormality)</dt>
          <dd>
            {yes(r.summary.assumption3)} — error {r.orthoError.toPrecision(3)}
          </dd>
          <dt>Shapes</dt>
          <dd>
            l = {r.l}, n = {r.n}, m = {r.m} (step {ident!.step})
          </dd>
        </dl>
      )}
    </section>
  );
}
