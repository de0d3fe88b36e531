/**
 * Your own input: on image tasks a 28×28 canvas (draw, erase, or load a held-out digit from the
 * view and edit it), on the Fourier task observations placed with the mouse. Base and adapted
 * outputs and the units that fire update live (the latest request wins while you draw); on the
 * Fourier task "Encode with the atoms" runs the GPU ISTA solver over the current dictionary and
 * shows the code and the reconstruction.
 */
import { useEffect, useRef, useState, type PointerEvent as ReactPointerEvent } from 'react';
import { openDashboard, runEncode, runOwnInput } from '../inspect-actions';
import { useInspect } from '../inspect-store';
import { usePlayground } from '../store';
import type { OwnInputResult } from '../../worker/protocol';
import { DrawableView, SignalSvg } from './Drawable';
import { PositionsView } from './LatentDashboard';

const SIDE = 28;
const SCALE = 8;
/** While drawing, at most one request per this many ms (the latest wins anyway). */
const LIVE_MS = 120;

function Firing({ result, labelOf }: { result: OwnInputResult; labelOf: (group: number) => string }) {
  const info = usePlayground((s) => s.session.info);
  return (
    <div data-testid="own-firing" data-units={result.firing.map((g) => `${g.group}:${g.units.map((u) => u.unit).join(',')}`).join(';')}>
      {result.firing.map((g) => (
        <div key={g.group}>
          <p className="status">
            {info?.groups[g.group]?.path ?? `group ${g.group}`}: {g.units.length} {labelOf(g.group)}s fire
          </p>
          <div className="chips">
            {g.units.slice(0, 16).map((u) => (
              <button key={u.unit} type="button" className="chip" onClick={() => void openDashboard(g.group, u.unit)} title={`activation ${u.activation.toPrecision(3)}`}>
                {u.unit} <small>{u.activation.toPrecision(2)}</small>
              </button>
            ))}
            {g.units.length > 16 && <span className="note">+{g.units.length - 16} more</span>}
          </div>
        </div>
      ))}
    </div>
  );
}

/** What the model answers with, by the kind of output the task returns (class probabilities or an image). */
const outputName = (r: OwnInputResult) => (r.base.kind === 'image' ? 'reconstruction' : 'class probabilities');

function DigitInput() {
  const pixels = useRef(new Float32Array(SIDE * SIDE));
  const canvas = useRef<HTMLCanvasElement>(null);
  const [erase, setErase] = useState(false);
  const drawing = useRef(false);
  const lastSent = useRef(0);
  const view = usePlayground((s) => s.inspection.view);
  const own = useInspect((s) => s.own);
  const busy = useInspect((s) => s.ownBusy);
  const info = usePlayground((s) => s.session.info);

  const paint = () => {
    const ctx = canvas.current?.getContext('2d');
    if (!ctx) return;
    const img = ctx.createImageData(SIDE, SIDE);
    for (let i = 0; i < SIDE * SIDE; i++) {
      const q = 255 * (1 - pixels.current[i]!);
      img.data.set([q, q, q, 255], 4 * i);
    }
    ctx.putImageData(img, 0, 0);
  };
  const send = () => {
    lastSent.current = performance.now();
    void runOwnInput({ kind: 'image', side: SIDE, pixels: Array.from(pixels.current) });
  };
  useEffect(paint, []);

  const at = (e: ReactPointerEvent<HTMLCanvasElement>) => {
    const r = e.currentTarget.getBoundingClientRect();
    const x = ((e.clientX - r.left) / r.width) * SIDE;
    const y = ((e.clientY - r.top) / r.height) * SIDE;
    // A soft round brush of radius ~1.4 pixels.
    for (let dy = -2; dy <= 2; dy++) {
      for (let dx = -2; dx <= 2; dx++) {
        const px = Math.floor(x) + dx;
        const py = Math.floor(y) + dy;
        if (px < 0 || py < 0 || px >= SIDE || py >= SIDE) continue;
        const d = Math.hypot(px + 0.5 - x, py + 0.5 - y);
        const v = Math.max(0, Math.min(1, 1.6 - d));
        const i = py * SIDE + px;
        pixels.current[i] = erase ? Math.min(pixels.current[i]!, 1 - v) : Math.max(pixels.current[i]!, v);
      }
    }
    paint();
    if (performance.now() - lastSent.current > LIVE_MS) send();
  };
  // Held-out inputs the view shows as images (a classification view's digits), to load onto the canvas.
  const digits = view?.kind === 'classification' ? view.examples.flatMap((e) => (e.drawable.kind === 'image' && e.drawable.side === SIDE ? [{ label: view.classes[e.label] ?? String(e.label), pixels: e.drawable.pixels }] : [])) : [];
  const r = own?.input.kind === 'image' ? own.result : null;
  const firstGroup = r?.firing[0];
  return (
    <div className="own-input">
      <div>
        <canvas
          ref={canvas}
          width={SIDE}
          height={SIDE}
          style={{ width: SIDE * SCALE, height: SIDE * SCALE, imageRendering: 'pixelated', touchAction: 'none', border: '1px solid var(--border)', cursor: 'crosshair' }}
          data-testid="digit-canvas"
          aria-label="28 by 28 drawing canvas: draw a digit with the mouse"
          onPointerDown={(e) => {
            drawing.current = true;
            e.currentTarget.setPointerCapture(e.pointerId);
            at(e);
          }}
          onPointerMove={(e) => drawing.current && at(e)}
          onPointerUp={() => {
            drawing.current = false;
            send();
          }}
        />
        <div className="controls">
          <label>
            <input type="checkbox" checked={erase} onChange={(e) => setErase(e.target.checked)} /> eraser
          </label>
          <button
            type="button"
            onClick={() => {
              pixels.current.fill(0);
              paint();
              send();
            }}
            data-testid="canvas-clear"
          >
            Clear
          </button>
          {digits.length > 0 && (
            <select
              value=""
              onChange={(e) => {
                const d = digits[Number(e.target.value)];
                if (!d) return;
                pixels.current.set(d.pixels);
                paint();
                send();
              }}
              data-testid="canvas-load"
            >
              <option value="">load a held-out digit…</option>
              {digits.map((d, i) => (
                <option key={i} value={i}>
                  #{i}: a {d.label}
                </option>
              ))}
            </select>
          )}
        </div>
        <p className="note">The canvas is what the model sees{view?.kind === 'classification' && view.note ? ` (as in the outputs: ${view.note})` : ''}.</p>
      </div>
      <div>
        {!r && <p className="note">Draw on the canvas: the base and the adapted model answer as you draw.</p>}
        {r && (
          <>
            <p className="status" data-testid="own-summary">
              base: {r.summary.base}
              {r.summary.adapted !== null ? ` · adapted: ${r.summary.adapted}` : ''}
              {busy ? ' · updating…' : ''}
            </p>
            <div className="thumbs">
              <figure>
                <DrawableView drawable={r.base} label={`base model ${outputName(r)}`} />
                <figcaption>base</figcaption>
              </figure>
              {r.adapted && (
                <figure>
                  <DrawableView drawable={r.adapted} label={`adapted model ${outputName(r)}`} />
                  <figcaption>adapted{r.adapted.kind === 'vector' ? ' (classes 0–9)' : ''}</figcaption>
                </figure>
              )}
              {firstGroup && firstGroup.units[0] && (
                <figure>
                  <PositionsView drawable={r.input} positions={firstGroup.units[0].positions} layout={r.layout} max={firstGroup.units[0].activation} label={`where ${firstGroup.units[0].unit} fires`} />
                  <figcaption>
                    where {info?.groups[firstGroup.group]?.label ?? 'unit'} {firstGroup.units[0].unit} fires
                  </figcaption>
                </figure>
              )}
            </div>
            <Firing result={r} labelOf={(g) => info?.groups[g]?.label ?? 'unit'} />
          </>
        )}
      </div>
    </div>
  );
}

const FW = 384;
const FH = 160;
const V_RANGE = 3;

function FourierInput() {
  const [points, setPoints] = useState<{ t: number; v: number }[]>([]);
  const [lambda, setLambda] = useState('0.05');
  const view = usePlayground((s) => s.inspection.view);
  const own = useInspect((s) => s.own);
  const encoded = useInspect((s) => s.encoded);
  const encodeBusy = useInspect((s) => s.encodeBusy);
  const info = usePlayground((s) => s.session.info);
  const T = view?.kind === 'signals' ? (view.signals[0]?.target.length ?? 64) : 64;
  // The model reconstructs from a fixed number of observed samples (those of the view's signals).
  const need = view?.kind === 'signals' ? (view.signals[0]?.observed?.length ?? 0) : 0;
  const x = (t: number) => 6 + (t / Math.max(1, T - 1)) * (FW - 12);
  const y = (v: number) => FH / 2 - (v / V_RANGE) * (FH / 2 - 6);
  const update = (next: { t: number; v: number }[]) => {
    setPoints(next);
    if (next.length && next.length === need) void runOwnInput({ kind: 'observations', points: next });
  };
  const r = own?.input.kind === 'observations' ? own.result : null;
  const line = (values: number[], colour: string, dash?: boolean) => <polyline fill="none" stroke={colour} strokeWidth={1.5} strokeDasharray={dash ? '4 3' : undefined} points={values.map((v, t) => `${x(t).toFixed(1)},${y(Math.max(-V_RANGE, Math.min(V_RANGE, v))).toFixed(1)}`).join(' ')} />;
  const lam = Number(lambda);
  return (
    <div className="own-input">
      <div>
        <svg
          width={FW}
          height={FH}
          data-testid="fourier-placer"
          data-points={points.length}
          role="img"
          aria-label="place observations: click to add a sample (once all are placed, a click moves the nearest one there), click on one to remove it"
          style={{ border: '1px solid var(--border)', cursor: 'crosshair' }}
          onClick={(e) => {
            const b = e.currentTarget.getBoundingClientRect();
            const t = Math.round(((e.clientX - b.left - 6) / (FW - 12)) * (T - 1));
            const v = ((FH / 2 - (e.clientY - b.top)) / (FH / 2 - 6)) * V_RANGE;
            if (t < 0 || t >= T) return;
            const hit = points.find((p) => p.t === t && Math.abs(y(p.v) - (e.clientY - b.top)) < 8);
            const placed = { t, v: Math.round(v * 100) / 100 };
            if (hit) update(points.filter((p) => p !== hit));
            else if (points.some((p) => p.t === t) || points.length < need || !need) update([...points.filter((p) => p.t !== t), placed]);
            else {
              // All observations placed: the nearest one (in time) moves to the click.
              const near = points.reduce((a, p) => (Math.abs(p.t - t) < Math.abs(a.t - t) ? p : a));
              update([...points.filter((p) => p !== near), placed]);
            }
          }}
        >
          <line x1={0} x2={FW} y1={y(0)} y2={y(0)} stroke="#8886" />
          {r && line((r.base as { values: number[] }).values, '#9ca3af', true)}
          {r?.adapted && line((r.adapted as { values: number[] }).values, '#dc2626')}
          {encoded && line(encoded.reconstruction, '#16a34a')}
          {points.map((p) => (
            <circle key={p.t} cx={x(p.t)} cy={y(p.v)} r={4} fill="#111" />
          ))}
        </svg>
        <div className="controls">
          <button type="button" onClick={() => (setPoints([]), useInspect.getState().set({ own: null, encoded: null }))} data-testid="placer-clear">
            Clear
          </button>
          {view?.kind === 'signals' && view.signals[0]?.observed && (
            <button type="button" onClick={() => update(view.signals[0]!.observed!.map((o) => ({ t: o.t, v: o.v })))} data-testid="placer-load">
              Load a validation signal's observations
            </button>
          )}
        </div>
        <p className="note" data-testid="placer-need" data-need={need}>
          {need > 0 && points.length !== need ? `The model reconstructs from exactly ${need} observed samples: ${points.length} placed. ` : ''}
          Black: your observations · grey dashed: base · red: adapted · green: encoded with the atoms.
        </p>
      </div>
      <div>
        {r && (
          <>
            <p className="status" data-testid="own-summary">
              base: {r.summary.base} · adapted: {r.summary.adapted}
            </p>
            <Firing result={r} labelOf={(g) => info?.groups[g]?.label ?? 'atom'} />
          </>
        )}
        <div className="controls">
          <label>
            λ{' '}
            <input type="number" min={0} step="any" value={lambda} onChange={(e) => setLambda(e.target.value)} style={{ width: '5rem' }} data-testid="encode-lambda" />
          </label>
          <button type="button" disabled={!points.length || encodeBusy || !(lam >= 0)} onClick={() => void runEncode({ points, lambda: lam, iterations: 300 })} data-testid="encode-button">
            {encodeBusy ? 'Encoding…' : 'Encode with the atoms (ISTA on the GPU)'}
          </button>
        </div>
        {encoded && (
          <div data-testid="encode-result" data-active={encoded.active}>
            <p className="status">
              {encoded.active} of {encoded.code.length} atoms used · RMS error on your observations {encoded.rmsObserved.toPrecision(3)} · λ {encoded.lambda}, {encoded.iterations} FISTA iterations
            </p>
            <figure data-testid="encode-code">
              <DrawableView drawable={{ kind: 'vector', values: encoded.code }} label={`code over the ${encoded.code.length} atoms`} />
              <figcaption>code (one bar per atom)</figcaption>
            </figure>
            <figure data-testid="encode-reconstruction">
              <SignalSvg series={[{ values: encoded.reconstruction, color: '#16a34a' }]} label="reconstruction from the code" />
              <figcaption>reconstruction Σ code·atom</figcaption>
            </figure>
          </div>
        )}
      </div>
    </div>
  );
}

export function OwnInputPanel() {
  const info = usePlayground((s) => s.session.info);
  const error = useInspect((s) => s.error);
  const kind = info?.inspect.ownInput ?? null;
  if (!info || !kind) return null;
  return (
    <section className="panel" aria-labelledby="own-heading" data-testid="own-input-panel" data-kind={kind}>
      <h2 id="own-heading">{kind === 'image' ? 'Your own digit' : 'Your own signal'}</h2>
      {kind === 'image' ? <DigitInput /> : <FourierInput />}
      {error && <p className="note error-text">{error}</p>}
    </section>
  );
}
