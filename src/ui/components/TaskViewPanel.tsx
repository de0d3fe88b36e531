/**
 * The outputs of the model on the task's fixed held-out view batch — the frozen base (no adapter)
 * beside the adapted model — with the task's one number above them and the inference controls
 * that edit them live: unit (latent/atom/rank) toggles and the k / density ρ slider.
 *
 * The task chooses one of a few generic view kinds (src/playground/types.ts TaskView), drawn the
 * same way for every task: signals (series over time), images (input / target / base / adapted,
 * with a judge's reading), classification (inputs with each model's prediction) and scalar
 * regression (prediction against target). A gallery of per-unit pictures (atom profiles,
 * contribution maps) may follow. Nothing here knows task ids.
 *
 * Views belong to the session that made them (store.ts `freshness`): another task's views are
 * not drawn at all, and views from other settings of the same task are marked as such — both in
 * the same render as the click that changed the configuration.
 */
import { useId, useState, type ReactNode } from 'react';
import type { ClassificationExample, ImageExample, LatentGroupInfo, RegressionPoint, SignalExample, TaskView, UnitGallery, ViewScore } from '../../worker/protocol';
import { taskModule } from '../../playground/tasks/registry';
import { describeChanges } from '../config-diff';
import { openLatent, setK, setMask } from '../engine-connection';
import { formatScore } from '../format';
import { useFreshness, usePlayground } from '../store';
import { DrawableView, ImageCanvas, SignalSvg, type Series } from './Drawable';
import { Icon } from './Icon';

const C = { target: '#111827', base: '#6b7280', adapted: '#dc2626', observed: '#2563eb' };

function ScoreLine({ score, testId = 'view-metric', pending = false }: { score: ViewScore; testId?: string; pending?: boolean }) {
  const f = (x: number) => formatScore(score.format, x);
  const better = score.adapted === null || score.adapted === score.base ? null : score.better === 'lower' ? score.adapted < score.base : score.adapted > score.base;
  return (
    <p className="score" data-testid={testId} data-pending={pending ? "true" : "false"} data-base={score.base} data-adapted={score.adapted ?? ''} data-all-on={score.allOn ?? ''}>
      <span className="score-label">{score.label}:</span> base <strong>{f(score.base)}</strong>
      {score.adapted !== null && (
        <>
          {' → '}adapted{' '}
          <strong className={better === null ? undefined : better ? 'ok' : 'bad'} data-testid="score-adapted">
            {f(score.adapted)}
          </strong>
        </>
      )}
      {pending && (
        <span className="note" aria-busy="true" data-testid="score-pending">
          {' '}
          → adapted: computing with your unit / k changes…
        </span>
      )}{' '}
      <span className="note">({score.better} is better)</span>
      {score.allOn !== undefined && (
        <span className="score-extra" data-testid="score-all-on">
          {' '}
          · with your unit / k changes; every unit on: {f(score.allOn)}
        </span>
      )}
      {score.baselines?.map((b) => (
        <span key={b.label} className="score-extra">
          {' '}
          · {b.label}: {f(b.value)}
        </span>
      ))}
    </p>
  );
}

function Swatch({ color, dash, faint, dot }: { color: string; dash?: boolean; faint?: boolean; dot?: boolean }) {
  return (
    <svg width="22" height="10" aria-hidden="true" className="swatch">
      {dot ? <circle cx="11" cy="5" r="3.5" fill={color} /> : <line x1="1" x2="21" y1="5" y2="5" stroke={color} strokeWidth={faint ? 1.5 : 2.5} strokeDasharray={faint ? '2 3' : dash ? '5 3' : undefined} />}
    </svg>
  );
}

function Legend({ items }: { items: { label: string; color: string; dash?: boolean; faint?: boolean; dot?: boolean }[] }) {
  return (
    <p className="legend" data-testid="view-legend">
      {items.map((i) => (
        <span key={i.label}>
          <Swatch color={i.color} {...(i.dash ? { dash: true } : {})} {...(i.faint ? { faint: true } : {})} {...(i.dot ? { dot: true } : {})} /> {i.label}
        </span>
      ))}
    </p>
  );
}

const ALL_ON = 'adapted, every unit on';

function SignalsBody({ view, format }: { view: Extract<TaskView, { kind: 'signals' }>; format: ViewScore['format'] }) {
  const withAllOn = view.signals.some((s) => s.allOn);
  const withObserved = view.signals.some((s) => s.observed?.length);
  return (
    <>
      <Legend
        items={[
          { label: 'target', color: C.target },
          ...(withObserved ? [{ label: 'observed', color: C.observed, dot: true }] : []),
          { label: 'base (no adapter)', color: C.base, dash: true },
          { label: 'adapted', color: C.adapted },
          ...(withAllOn ? [{ label: ALL_ON, color: C.adapted, faint: true }] : []),
        ]}
      />
      <div className="view-grid signals" data-testid="adapted-output" data-kind="signals">
        {view.signals.map((s, i) => (
          <SignalFigure key={i} s={s} xLabel={view.xLabel} format={format} />
        ))}
      </div>
    </>
  );
}

function SignalFigure({ s, xLabel, format }: { s: SignalExample; xLabel: string; format: ViewScore['format'] }) {
  const n = s.target.length;
  const observed = new Array<number>(n).fill(NaN);
  for (const o of s.observed ?? []) observed[o.t] = o.v;
  // The base's dashes go over the adapted line: where the two agree, both stay visible.
  const series: Series[] = [
    { values: s.target, color: C.target, name: 'target' },
    ...(s.allOn ? [{ values: s.allOn, color: C.adapted, faint: true, name: ALL_ON }] : []),
    ...(s.adapted ? [{ values: s.adapted, color: C.adapted, name: 'adapted' }] : []),
    { values: s.base, color: C.base, dash: true, name: 'base' },
    ...(s.observed?.length ? [{ values: observed, color: C.observed, points: true, name: 'observed' }] : []),
  ];
  return (
    <figure>
      <figcaption>
        <strong>{s.title}</strong>
        {s.score && (
          <>
            {' '}
            · base {formatScore(format, s.score.base)}
            {s.score.adapted !== null && <> · adapted {formatScore(format, s.score.adapted)}</>}
          </>
        )}
      </figcaption>
      <SignalSvg width={410} height={150} xLabel={xLabel} label={`${s.title}: ${series.map((x) => x.name).join(', ')}`} series={series} />
    </figure>
  );
}

/** A short checksum of the adapted images: it changes whenever a re-render changes any of them (tests wait on it). */
function adaptedChecksum(images: readonly ImageExample[]): string {
  let s = 0;
  for (const im of images) if (im.adapted) for (let i = 0; i < im.adapted.length; i++) s += im.adapted[i]! * ((i % 97) + 1);
  return s.toPrecision(10);
}

/** Each judge's reading, e.g. '8 (99 %) by MLP · 8 (97 %) by CNN'. */
function verdicts(judged: ImageExample['judged'], which: 'base' | 'adapted'): string | null {
  const parts = (judged ?? []).filter((j) => j[which] !== null).map((j) => (judged!.length > 1 ? `${j[which]} by ${j.by}` : j[which]!));
  return parts.length ? parts.join(' · ') : null;
}

function ImagesBody({ view }: { view: Extract<TaskView, { kind: 'images' }> }) {
  const withAllOn = view.images.some((im) => im.allOn);
  const rows: { key: string; label: string; get(im: ImageExample): Float32Array | null | undefined; judged?(im: ImageExample): string | null | undefined }[] = [
    ...(view.inputLabel ? [{ key: 'input', label: view.inputLabel, get: (im: ImageExample) => im.input }] : []),
    { key: 'target', label: view.targetLabel, get: (im) => im.target },
    { key: 'base', label: 'base (no adapter)', get: (im) => im.base, judged: (im) => verdicts(im.judged, 'base') },
    { key: 'adapted', label: 'adapted', get: (im) => im.adapted, judged: (im) => verdicts(im.judged, 'adapted') },
    ...(withAllOn ? [{ key: 'all-on', label: ALL_ON, get: (im: ImageExample) => im.allOn }] : []),
  ];
  return (
    <table className="image-grid" data-testid="adapted-output" data-kind="images" data-first-index={view.images[0]?.index ?? ''} data-adapted-sum={adaptedChecksum(view.images)}>
      <thead>
        <tr>
          <td />
          {view.images.map((im, i) => (
            <th key={i} scope="col">
              {im.title}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.key} className={`row-${r.key}`}>
            <th scope="row">{r.label}</th>
            {view.images.map((im, i) => {
              const px = r.get(im);
              const verdict = r.judged?.(im);
              return (
                <td key={i}>
                  {px ? <ImageCanvas pixels={px} side={view.side} scale={3} label={`${r.label}: ${im.title}`} /> : '—'}
                  {verdict && (
                    <div className="verdict" data-testid={`judged-${r.key}`}>
                      read as {verdict}
                    </div>
                  )}
                </td>
              );
            })}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function argmax(p: number[]): number {
  let best = 0;
  for (let i = 1; i < p.length; i++) if (p[i]! > p[best]!) best = i;
  return best;
}

function Prediction({ who, probs, label, classes }: { who: string; probs: number[]; label: number; classes: string[] }) {
  const c = argmax(probs);
  const right = c === label;
  return (
    <span className={right ? 'ok' : 'bad'}>
      <Icon name={right ? 'check' : 'cross'} label={right ? 'right' : 'wrong'} /> {who} {classes[c]} ({(100 * probs[c]!).toFixed(0)} %)
    </span>
  );
}

function ClassificationBody({ view }: { view: Extract<TaskView, { kind: 'classification' }> }) {
  return (
    <div className="view-grid classification" data-testid="adapted-output" data-kind="classification">
      {view.examples.map((ex: ClassificationExample, i) => (
        <figure key={i}>
          <DrawableView drawable={ex.drawable} label={`input ${i}: a ${view.classes[ex.label]} as the model sees it`} scale={3} />
          <figcaption>
            <strong>true {view.classes[ex.label]}</strong>
            <br />
            <Prediction who="base" probs={ex.base} label={ex.label} classes={view.classes} />
            {ex.adapted && (
              <>
                <br />
                <Prediction who="adapted" probs={ex.adapted} label={ex.label} classes={view.classes} />
              </>
            )}
            {ex.allOn && (
              <>
                <br />
                <span className="note">every unit on: {view.classes[argmax(ex.allOn)]}</span>
              </>
            )}
          </figcaption>
        </figure>
      ))}
    </div>
  );
}

function ScalarsBody({ view }: { view: Extract<TaskView, { kind: 'scalars' }> }) {
  const size = 340;
  const pad = 30;
  let lo = Infinity;
  let hi = -Infinity;
  for (const p of view.points) for (const v of [p.target, p.base, p.adapted ?? p.target, p.allOn ?? p.target]) if (Number.isFinite(v)) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
  if (!(hi > lo)) (lo = -1), (hi = 1);
  const s = (v: number) => pad + ((v - lo) / (hi - lo)) * (size - 2 * pad);
  const y = (v: number) => size - s(v);
  const dots = (get: (p: RegressionPoint) => number | null | undefined, color: string, hollow: boolean, key: string) => (
    <g key={key} className={`dots-${key}`}>
      {view.points.map((p, i) => {
        const v = get(p);
        return v === null || v === undefined || !Number.isFinite(v) ? null : <circle key={i} cx={s(p.target)} cy={y(v)} r={2.5} fill={hollow ? 'none' : color} stroke={color} strokeWidth={1} opacity={hollow ? 0.8 : 0.75} />;
      })}
    </g>
  );
  const withAllOn = view.points.some((p) => p.allOn !== undefined);
  return (
    <>
      <Legend items={[{ label: 'base (no adapter)', color: C.base, dot: true }, { label: 'adapted', color: C.adapted, dot: true }, ...(withAllOn ? [{ label: ALL_ON, color: '#f59e0b', dot: true }] : [])]} />
      <div data-testid="adapted-output" data-kind="scalars">
        <svg width={size} height={size} viewBox={`0 0 ${size} ${size}`} role="img" aria-label={`prediction against ${view.targetLabel}, ${view.points.length} points: base and adapted`} className="signal">
          <line x1={s(lo)} y1={y(lo)} x2={s(hi)} y2={y(hi)} stroke="#8888" strokeDasharray="4 3" />
          {withAllOn && dots((p) => p.allOn, '#f59e0b', true, 'all-on')}
          {dots((p) => p.adapted, C.adapted, false, 'adapted')}
          {dots((p) => p.base, C.base, true, 'base')}
          <g fontSize={10} fill="currentColor">
            <text x={size / 2} y={size - 4} textAnchor="middle">
              {view.targetLabel} →
            </text>
            <text x={10} y={size / 2} transform={`rotate(-90 10 ${size / 2})`} textAnchor="middle">
              prediction →
            </text>
            <text x={pad} y={size - 16}>
              {lo.toPrecision(2)}
            </text>
            <text x={size - pad} y={size - 16} textAnchor="end">
              {hi.toPrecision(2)}
            </text>
          </g>
        </svg>
      </div>
    </>
  );
}

function Gallery({ units, groups, pending }: { units: UnitGallery; groups: LatentGroupInfo[] | undefined; pending: boolean }) {
  const multi = new Set(units.items.map((i) => i.group)).size > 1;
  return (
    <div className={pending ? 'gallery stale' : 'gallery'} data-testid="unit-gallery" data-pending={pending ? 'true' : 'false'}>
      <h3>
        {units.title}
        {pending && <span className="note"> · updating for your unit / k changes…</span>}
      </h3>
      <p className="note" data-testid="unit-gallery-measure">
        {units.measure}. Click one for its view.
      </p>
      <div className="thumbs">
        {units.items.map((u) => {
          const g = groups?.[u.group];
          const name = `${g?.label ?? 'unit'} ${u.unit}`;
          return (
            <figure key={`${u.group}.${u.unit}`}>
              <button type="button" className="thumb-button" onClick={() => void openLatent(u.group, u.unit)} aria-label={`open ${name}${multi && g ? ` of ${g.path}` : ''}`}>
                <DrawableView drawable={u.drawable} label={`${name}`} width={180} height={64} scale={3} />
              </button>
              <figcaption>
                {multi && g && (
                  <>
                    {g.path}
                    <br />
                  </>
                )}
                #{u.unit} · {formatScore(units.format, u.value)}
              </figcaption>
            </figure>
          );
        })}
      </div>
    </div>
  );
}

function UnitControls({ group }: { group: LatentGroupInfo }) {
  const overrides = usePlayground((s) => s.inspection.overrides);
  const view = usePlayground((s) => s.inspection.view);
  const sliderId = useId();
  const mask = overrides.masks?.[group.group] ?? null;
  const on = (u: number) => (mask ? mask[u] !== 0 : true);
  const appliedK = overrides.k?.[group.group] ?? group.k;
  // The slider moves at once; the view follows when the worker answers (latest request wins).
  const [localK, setLocalK] = useState<{ group: number; k: number } | null>(null);
  const k = localK && localK.group === group.group ? localK.k : appliedK;
  const gallery = view?.units ?? null;
  const values = gallery ? new Map(gallery.items.filter((i) => i.group === group.group).map((i) => [i.unit, i.value])) : null;
  const shown = Math.min(group.count, 256);
  const toggle = (u: number) => {
    const next = Array.from({ length: group.count }, (_, i) => (on(i) ? 1 : 0));
    next[u] = next[u] ? 0 : 1;
    void setMask(group.group, next.every((x) => x === 1) ? null : next);
  };
  const off = mask ? mask.filter((x) => x === 0).length : 0;
  return (
    <div className="unit-controls" data-testid="unit-controls">
      {group.k !== null && (
        <div className="slider">
          <label htmlFor={sliderId}>
            k = <strong data-testid="k-value" data-applied={appliedK ?? ''}>{k}</strong> of {group.k} active {group.label}s per row (density ρ = k / {group.count} = {((k ?? 0) / group.count).toFixed(3)})
          </label>
          <input
            id={sliderId}
            type="range"
            min={1}
            max={group.k}
            step={1}
            value={k ?? group.k}
            data-testid="k-slider"
            onChange={(e) => {
              const v = Number(e.target.value);
              setLocalK({ group: group.group, k: v });
              void setK(group.group, v === group.k ? null : v);
            }}
          />
        </div>
      )}
      <fieldset>
        <legend>
          {group.label}s on/off ({group.count - off} of {group.count} on
          {group.count > shown ? `; the first ${shown} shown` : ''})
        </legend>
        <div className="toggles">
          {Array.from({ length: shown }, (_, u) => {
            const v = values?.get(u);
            return (
              <label key={u} className={on(u) ? 'on' : 'off'} title={v !== undefined && gallery ? `${group.label} ${u}: ${formatScore(gallery.format, v)} (${gallery.measure})` : undefined}>
                <input type="checkbox" checked={on(u)} onChange={() => toggle(u)} data-testid={`unit-toggle-${u}`} aria-label={`${group.label} ${u} on`} />
                {u}
              </label>
            );
          })}
        </div>
        <button type="button" onClick={() => void setMask(group.group, null)} disabled={!mask}>
          All on
        </button>
      </fieldset>
    </div>
  );
}

function ViewBody({ view }: { view: TaskView }) {
  switch (view.kind) {
    case 'signals':
      return <SignalsBody view={view} format={view.score.format} />;
    case 'images':
      return <ImagesBody view={view} />;
    case 'classification':
      return <ClassificationBody view={view} />;
    case 'scalars':
      return <ScalarsBody view={view} />;
  }
}

function Placeholder({ children, testId }: { children: ReactNode; testId: string }) {
  return (
    <div className="view-placeholder" data-testid={testId}>
      {children}
    </div>
  );
}

export function TaskViewPanel() {
  const view = usePlayground((s) => s.inspection.view);
  const viewStep = usePlayground((s) => s.inspection.viewStep);
  const info = usePlayground((s) => s.session.info);
  const phase = usePlayground((s) => s.session.phase);
  const task = usePlayground((s) => s.config.task);
  const config = usePlayground((s) => s.config);
  const groupIndex = usePlayground((s) => s.inspection.group);
  const setInspection = usePlayground((s) => s.setInspection);
  const fresh = useFreshness();
  const group = info?.groups[groupIndex] ?? null;
  const groupSelectId = useId();
  const shown = fresh === 'current' || fresh === 'stale' ? view : null;
  const name = taskModule(task).description.name;
  return (
    <section className="panel main-view" aria-labelledby="view-heading" data-testid="task-view" data-task={shown ? info!.config.task : ''} data-freshness={fresh} data-view-kind={shown?.kind ?? ''}>
      <h2 id="view-heading">
        Outputs: base vs adapted <span className="note">· {name}</span>
        {shown && viewStep !== null ? <span className="note"> · step {viewStep}</span> : ''}
      </h2>
      {fresh === 'none' && (
        <Placeholder testId="view-placeholder">
          {phase === 'configuring' ? (
            <p aria-busy="true">Building the session: loading the base model and attaching the adapter…</p>
          ) : (
            <p>
              The outputs appear here once the session is built: press <Icon name="play" /> <strong>Play</strong> or <strong>Step</strong>. You will see the frozen base (no adapter) beside the adapted
              model, on held-out examples, with the task's score above them.
            </p>
          )}
        </Placeholder>
      )}
      {fresh === 'other-task' && (
        <Placeholder testId="view-placeholder">
          <p>{phase === 'configuring' ? `Building the ${name} session…` : `Not built for ${name} yet: press Play or Step. (The previous task's outputs are cleared.)`}</p>
        </Placeholder>
      )}
      {fresh === 'stale' && shown && (
        <p className="stale-banner" role="status" data-testid="view-stale">
          From the previous settings ({describeChanges(info!.config, config).join('; ') || 'settings changed'}): Play, Step or Reset rebuilds with the new ones.
        </p>
      )}
      {(fresh === 'current' || fresh === 'stale') && !shown && <p aria-busy="true">Reading the outputs from the GPU…</p>}
      {shown && (
        <div className={fresh === 'stale' ? 'view-content stale' : 'view-content'}>
          <ScoreLine score={shown.score} pending={!!shown.pending} />
          {shown.otherScores?.map((sc) => <ScoreLine key={sc.label} score={sc} testId="view-metric-other" pending={!!shown.pending} />)}
          {shown.note && <p className="note view-note">{shown.note}</p>}
          <ViewBody view={shown} />
          {shown.units && shown.units.items.length > 0 && <Gallery units={shown.units} groups={info?.groups} pending={!!shown.pending} />}
        </div>
      )}
      {shown && info && info.groups.length > 1 && (
        <p>
          <label htmlFor={groupSelectId}>Adapted site </label>
          <select id={groupSelectId} value={groupIndex} onChange={(e) => setInspection({ group: Number(e.target.value), selected: null, latent: null })} data-testid="group-select">
            {info.groups.map((g) => (
              <option key={g.group} value={g.group}>
                {g.path} ({g.kind}, {g.count} {g.label}s)
              </option>
            ))}
          </select>
        </p>
      )}
      {group && shown && fresh === 'current' && <UnitControls group={group} />}
    </section>
  );
}
