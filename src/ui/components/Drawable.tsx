/**
 * Draws a Drawable (src/playground/types.ts): a signal as an SVG line, an image on a canvas
 * (grey for values in [0, 1]; red/blue for signed maps such as contributions), a vector as bars.
 * Cheap enough to draw dozens of them per view (no plotly here).
 */
import { useEffect, useRef } from 'react';
import type { Drawable } from '../../worker/protocol';

export interface Series {
  values: number[];
  color: string;
  dash?: boolean;
  /** Dotted and thin: a reference line (e.g. the adapted model with every unit on). */
  faint?: boolean;
  points?: boolean;
  /** Name for the accessible description. */
  name?: string;
}

/** Line chart of a few series on shared axes; NaN values are gaps (points) or 0 (lines). `xLabel` adds a labelled time axis. */
export function SignalSvg({ series, width = 160, height = 60, label, xLabel }: { series: Series[]; width?: number; height?: number; label: string; xLabel?: string }) {
  let lo = Infinity;
  let hi = -Infinity;
  let n = 1;
  for (const s of series) {
    n = Math.max(n, s.values.length);
    for (const v of s.values) {
      if (!Number.isFinite(v)) continue;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  if (!(hi > lo)) {
    lo = (Number.isFinite(lo) ? lo : 0) - 1;
    hi = lo + 2;
  }
  const axis = xLabel ? 14 : 0;
  const plotH = height - axis;
  const x = (i: number) => (n <= 1 ? width / 2 : (i / (n - 1)) * (width - 8) + 4);
  const y = (v: number) => plotH - 4 - ((v - lo) / (hi - lo)) * (plotH - 8);
  return (
    <svg width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label} className="signal">
      {lo < 0 && hi > 0 && <line x1={0} x2={width} y1={y(0)} y2={y(0)} stroke="#8886" strokeWidth={1} />}
      {series.map((s, k) =>
        s.points ? (
          <g key={s.name ?? k} fill={s.color}>
            {s.values.map((v, i) => (Number.isFinite(v) ? <circle key={i} cx={x(i)} cy={y(v)} r={3} /> : null))}
          </g>
        ) : (
          <polyline
            key={s.name ?? k}
            fill="none"
            stroke={s.color}
            strokeWidth={s.faint ? 1.25 : 1.75}
            strokeDasharray={s.faint ? '2 3' : s.dash ? '5 3' : undefined}
            points={s.values.map((v, i) => `${x(i).toFixed(1)},${y(Number.isFinite(v) ? v : 0).toFixed(1)}`).join(' ')}
          />
        ),
      )}
      {xLabel && (
        <g className="axis" fontSize={10} fill="currentColor">
          <line x1={4} x2={width - 4} y1={plotH} y2={plotH} stroke="#8888" />
          <text x={4} y={height - 2}>
            0
          </text>
          <text x={width / 2} y={height - 2} textAnchor="middle">
            {xLabel}
          </text>
          <text x={width - 4} y={height - 2} textAnchor="end">
            {n - 1}
          </text>
        </g>
      )}
    </svg>
  );
}

/** Paints `pixels` (row-major side×side) on a canvas; signed maps use blue (−) / white / red (+). */
export function ImageCanvas({ pixels, side, scale = 3, signed, label, testId }: { pixels: ArrayLike<number>; side: number; scale?: number; signed?: boolean; label: string; testId?: string }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const c = ref.current;
    const ctx = c?.getContext('2d');
    if (!c || !ctx) return;
    const img = ctx.createImageData(side, side);
    let maxAbs = 0;
    if (signed) for (let i = 0; i < side * side; i++) maxAbs = Math.max(maxAbs, Math.abs(pixels[i] ?? 0));
    for (let i = 0; i < side * side; i++) {
      const v = pixels[i] ?? 0;
      let r: number, g: number, b: number;
      if (signed) {
        const t = maxAbs > 0 ? Math.max(-1, Math.min(1, v / maxAbs)) : 0;
        // red adds ink, blue removes it
        r = t < 0 ? 255 * (1 + t) : 255;
        g = 255 * (1 - Math.abs(t));
        b = t > 0 ? 255 * (1 - t) : 255;
      } else {
        const q = 255 * (1 - Math.max(0, Math.min(1, v)));
        r = g = b = q;
      }
      img.data[4 * i] = r;
      img.data[4 * i + 1] = g;
      img.data[4 * i + 2] = b;
      img.data[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }, [pixels, side, signed]);
  return <canvas ref={ref} width={side} height={side} style={{ width: side * scale, height: side * scale, imageRendering: 'pixelated' }} role="img" aria-label={label} data-testid={testId} className="digit" />;
}

export function DrawableView({ drawable, label, signed, testId, width, height, scale }: { drawable: Drawable; label: string; signed?: boolean; testId?: string; width?: number; height?: number; scale?: number }) {
  switch (drawable.kind) {
    case 'signal':
      return <SignalSvg series={[{ values: drawable.values, color: '#2563eb' }]} label={label} {...(width ? { width } : {})} {...(height ? { height } : {})} />;
    case 'image': {
      let neg = false;
      for (let i = 0; i < drawable.pixels.length && !neg; i++) neg = drawable.pixels[i]! < 0;
      return <ImageCanvas pixels={drawable.pixels} side={drawable.side} signed={signed ?? drawable.signed ?? neg} label={label} testId={testId} {...(scale ? { scale } : {})} />;
    }
    case 'vector': {
      const vals = drawable.values;
      const max = Math.max(1e-12, ...vals.map(Math.abs));
      const w = width ?? 160;
      const h = height ?? 60;
      const bw = w / Math.max(1, vals.length);
      return (
        <svg width={w} height={h} role="img" aria-label={label} className="signal">
          {vals.map((v, i) => (
            <rect key={i} x={i * bw} width={Math.max(1, bw - 0.5)} y={v >= 0 ? h / 2 - (v / max) * (h / 2) : h / 2} height={(Math.abs(v) / max) * (h / 2)} fill={v >= 0 ? '#dc2626' : '#2563eb'} />
          ))}
        </svg>
      );
    }
  }
}
