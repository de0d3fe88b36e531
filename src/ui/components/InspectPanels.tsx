/**
 * Inspection: the App. F scatter of the current group (click a dot → its dashboard), the unit's
 * dashboard (LatentDashboard.tsx), and the App. A identifiability report of STAN groups. The site
 * metrics, the latent table and your own input have their own panels.
 */
import { computeIdentifiability, openLatent } from '../engine-connection';
import { useFreshness, usePlayground } from '../store';
import { LatentDashboardPanel } from './LatentDashboard';
import { LatentScatter, OpenUnitForm } from './LatentScatter';
import { useShownStats } from './SiteMetricsPanel';

export function ScatterPanel() {
  const info = usePlayground((s) => s.session.info);
  const groupIndex = usePlayground((s) => s.inspection.group);
  const selected = usePlayground((s) => s.inspection.selected);
  const { summary } = useShownStats();
  const group = info?.groups[groupIndex];
  const fresh = useFreshness();
  // Another task's statistics are never shown; other settings' are marked.
  if (!info || !group || fresh === 'none' || fresh === 'other-task') return null;
  const g = summary ? { ...summary, denseThreshold: summary.metrics.denseThreshold } : null;
  return (
    <section className={`panel${fresh === 'stale' ? ' stale' : ''}`} aria-labelledby="scatter-heading" data-testid="scatter-panel" data-freshness={fresh}>
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

/** The open unit's dashboard. */
export const LatentViewPanel = LatentDashboardPanel;

export function IdentifiabilityPanel() {
  const info = usePlayground((s) => s.session.info);
  const groupIndex = usePlayground((s) => s.inspection.group);
  const ident = usePlayground((s) => s.inspection.identifiability);
  const step = usePlayground((s) => s.session.step);
  const fresh = useFreshness();
  const group = info?.groups[groupIndex];
  if (!group?.identifiability || fresh !== 'current') return null;
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
