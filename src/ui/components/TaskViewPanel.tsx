/**
 * The outputs of the model on the task's fixed view batch — base vs adapted — with the inference
 * controls that edit them live: unit (latent/atom/rank) toggles and the k / density ρ slider.
 * Fourier: observed points, truth, base, adapted (+ each atom's time profile and usage).
 * MNIST VAE: noisy input, clean target, base and adapted decodes, and each unit's red/blue
 * contribution map on the first image (the paper's 8 → 3 view). Regression: target/base/adapted.
 */
import { useId, useState } from 'react';
import type { LatentGroupInfo, TaskView } from '../../worker/protocol';
import { openLatent, setK, setMask } from '../engine-connection';
import { usePlayground } from '../store';
import { DrawableView, ImageCanvas, SignalSvg } from './Drawable';

const C = { truth: '#111827', base: '#9ca3af', adapted: '#dc2626', observed: '#2563eb' };

function Legend() {
  return (
    <p className="legend">
      <span style={{ color: C.truth }}>━ truth</span> <span style={{ color: C.observed }}>● observed</span> <span style={{ color: C.base }}>┅ base</span> <span style={{ color: C.adapted }}>━ adapted</span>
    </p>
  );
}

function FourierView({ view }: { view: Extract<TaskView, { kind: 'fourier' }> }) {
  return (
    <>
      <p className="status" data-testid="view-metric">
        held-out NMSE: base {view.nmse.base.toFixed(3)}
        {view.nmse.adapted !== null && <> · adapted <strong>{view.nmse.adapted.toFixed(3)}</strong></>}
      </p>
      <Legend />
      <div className="thumbs" data-testid="adapted-output">
        {view.signals.slice(0, 6).map((s, i) => {
          const observed = new Array<number>(view.seq).fill(NaN);
          for (const o of s.observed) observed[o.t] = o.v;
          return (
            <figure key={i}>
              <SignalSvg
                width={220}
                height={90}
                label={`signal ${i}: truth, observed points, base and adapted reconstruction`}
                series={[
                  { values: s.truth, color: C.truth },
                  { values: s.base, color: C.base, dash: true },
                  ...(s.adapted ? [{ values: s.adapted, color: C.adapted }] : []),
                  { values: observed, color: C.observed, points: true },
                ]}
              />
              <figcaption>freqs {s.freqs.join(', ')}</figcaption>
            </figure>
          );
        })}
      </div>
      {view.atoms.length > 0 && (
        <>
          <h4>Most used atoms: time profiles d_m(t) (click one for its view)</h4>
          <div className="thumbs" data-testid="fourier-atoms">
            {[...view.atoms]
              .sort((a, b) => b.usage - a.usage)
              .slice(0, 8)
              .map((a) => (
                <figure key={a.unit}>
                  <button type="button" className="thumb-button" onClick={() => void openLatent(0, a.unit)} aria-label={`open atom ${a.unit}`}>
                    <SignalSvg width={120} height={44} series={[{ values: a.profile, color: C.adapted }]} label={`atom ${a.unit} time profile`} />
                  </button>
                  <figcaption>
                    #{a.unit} · usage {a.usage.toPrecision(2)}
                  </figcaption>
                </figure>
              ))}
          </div>
        </>
      )}
    </>
  );
}

function MnistView({ view }: { view: Extract<TaskView, { kind: 'mnist-vae' }> }) {
  const groups = usePlayground((s) => s.session.info?.groups);
  return (
    <>
      <table className="digits" data-testid="adapted-output">
        <thead>
          <tr>
            <th scope="col">label</th>
            <th scope="col">input (noisy)</th>
            <th scope="col">clean</th>
            <th scope="col">base</th>
            <th scope="col">adapted</th>
          </tr>
        </thead>
        <tbody>
          {view.images.slice(0, 4).map((im, i) => (
            <tr key={i}>
              <td>{im.label}</td>
              <td>
                <ImageCanvas pixels={im.noisy} side={view.side} label={`noisy ${im.label}`} scale={2} />
              </td>
              <td>
                <ImageCanvas pixels={im.clean} side={view.side} label={`clean ${im.label}`} scale={2} />
              </td>
              <td>
                <ImageCanvas pixels={im.base} side={view.side} label={`base decode of ${im.label}`} scale={2} />
              </td>
              <td>{im.adapted ? <ImageCanvas pixels={im.adapted} side={view.side} label={`adapted decode of ${im.label}`} scale={2} /> : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {view.contributions.length > 0 && (
        <>
          <h4>Each unit's contribution to the first image, per layer (red adds ink, blue removes it)</h4>
          <div className="thumbs">
            {view.contributions.slice(0, 16).map((c) => (
              <figure key={`${c.group}.${c.unit}`}>
                <button type="button" className="thumb-button" onClick={() => void openLatent(c.group, c.unit)} aria-label={`open unit ${c.unit} of group ${c.group}`}>
                  <DrawableView drawable={c.drawable} label={`contribution of unit ${c.unit}`} signed />
                </button>
                <figcaption>
                  {groups?.[c.group]?.path ?? `site ${c.group}`}
                  <br />#{c.unit} · {(100 * c.share).toFixed(0)} %
                </figcaption>
              </figure>
            ))}
          </div>
        </>
      )}
    </>
  );
}

function argmax(p: number[]): number {
  let best = 0;
  for (let i = 1; i < p.length; i++) if (p[i]! > p[best]!) best = i;
  return best;
}

function DigitsView({ view }: { view: Extract<TaskView, { kind: 'digits' }> }) {
  return (
    <>
      <p className="status" data-testid="view-metric">
        held-out accuracy on the {view.view} digits: base {(100 * view.accuracy.base).toFixed(1)} %
        {view.accuracy.adapted !== null && (
          <>
            {' '}
            · adapted <strong>{(100 * view.accuracy.adapted).toFixed(1)} %</strong>
          </>
        )}
      </p>
      <div className="thumbs" data-testid="adapted-output">
        {view.images.slice(0, 12).map((im, i) => {
          const b = argmax(im.base);
          const a = im.adapted ? argmax(im.adapted) : null;
          return (
            <figure key={i}>
              <ImageCanvas pixels={im.pixels} side={view.side} scale={2} label={`digit ${im.label} as the model sees it (${view.view})`} />
              <figcaption>
                true {im.label}
                <br />
                <span className={b === im.label ? 'ok' : 'bad'}>
                  base {b} ({(100 * im.base[b]!).toFixed(0)} %)
                </span>
                {a !== null && (
                  <>
                    <br />
                    <span className={a === im.label ? 'ok' : 'bad'}>
                      adapted {a} ({(100 * im.adapted![a]!).toFixed(0)} %)
                    </span>
                  </>
                )}
              </figcaption>
            </figure>
          );
        })}
      </div>
    </>
  );
}

function RegressionView({ view }: { view: Extract<TaskView, { kind: 'regression' }> }) {
  const dims = Math.min(view.outDim, 3);
  return (
    <>
      <p className="status" data-testid="view-metric">
        held-out MSE: base {view.mse.base.toExponential(3)}
        {view.mse.adapted !== null && <> · adapted <strong>{view.mse.adapted.toExponential(3)}</strong></>}
      </p>
      <Legend />
      <div className="thumbs" data-testid="adapted-output">
        {Array.from({ length: dims }, (_, d) => (
          <figure key={d}>
            <SignalSvg
              width={220}
              height={90}
              label={`output ${d} over the sequence: target, base and adapted`}
              series={[
                { values: view.target.map((r) => r[d]!), color: C.truth },
                { values: view.base.map((r) => r[d]!), color: C.base, dash: true },
                ...(view.adapted ? [{ values: view.adapted.map((r) => r[d]!), color: C.adapted }] : []),
              ]}
            />
            <figcaption>output {d}</figcaption>
          </figure>
        ))}
      </div>
    </>
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
  const usage = view?.kind === 'fourier' ? new Map(view.atoms.map((a) => [a.unit, a.usage])) : null;
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
            k = <strong data-testid="k-value" data-applied={appliedK ?? ''}>{k}</strong> of {group.k} (density ρ = k / {group.count} = {((k ?? 0) / group.count).toFixed(3)})
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
          {Array.from({ length: shown }, (_, u) => (
            <label key={u} className={on(u) ? 'on' : 'off'} title={usage ? `usage ${usage.get(u)?.toFixed(3) ?? '—'}` : undefined}>
              <input type="checkbox" checked={on(u)} onChange={() => toggle(u)} data-testid={`unit-toggle-${u}`} aria-label={`${group.label} ${u} on`} />
              {u}
            </label>
          ))}
        </div>
        <button type="button" onClick={() => void setMask(group.group, null)} disabled={!mask}>
          All on
        </button>
      </fieldset>
    </div>
  );
}

export function TaskViewPanel() {
  const view = usePlayground((s) => s.inspection.view);
  const viewStep = usePlayground((s) => s.inspection.viewStep);
  const info = usePlayground((s) => s.session.info);
  const groupIndex = usePlayground((s) => s.inspection.group);
  const setInspection = usePlayground((s) => s.setInspection);
  const group = info?.groups[groupIndex] ?? null;
  const groupSelectId = useId();
  return (
    <section className="panel" aria-labelledby="view-heading" data-testid="task-view">
      <h2 id="view-heading">Outputs: base vs adapted{viewStep !== null ? ` (step ${viewStep})` : ''}</h2>
      {!view && <p className="note">Outputs appear once the session is built (press Play or Step).</p>}
      {view?.kind === 'fourier' && <FourierView view={view} />}
      {view?.kind === 'mnist-vae' && <MnistView view={view} />}
      {view?.kind === 'regression' && <RegressionView view={view} />}
      {view?.kind === 'digits' && <DigitsView view={view} />}
      {info && info.groups.length > 1 && (
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
      {group && view && <UnitControls group={group} />}
    </section>
  );
}
