/**
 * Small dependency-free SVG plots for reports (the repro CLI writes them; the page could inline
 * them): line plots with several series (lines and/or markers, optional log y axis) and a grid
 * of small multiples. Output is a standalone SVG string; numbers are rounded to keep files small.
 */

export interface Series {
  name: string;
  /** y values; x defaults to 0, 1, 2, … */
  y: ArrayLike<number>;
  x?: ArrayLike<number>;
  color?: string;
  /** 'line' (default), 'markers' or 'both'. */
  mode?: 'line' | 'markers' | 'both';
  dash?: string;
  width?: number;
}

export interface LinePlotOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
  logY?: boolean;
  /** Fixed y range (default: data range with 5 % padding). */
  yRange?: [number, number];
  xRange?: [number, number];
  legend?: boolean;
  /** Horizontal reference lines, e.g. a baseline. */
  hlines?: { y: number; label: string; color?: string }[];
}

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

const fmt = (v: number) => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : Number(v.toPrecision(3)).toString());
const r2 = (v: number) => Math.round(v * 100) / 100;

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** About `n` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, n);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

interface Frame {
  x0: number;
  y0: number;
  w: number;
  h: number;
  xr: [number, number];
  yr: [number, number];
  logY: boolean;
}

function range(series: Series[], axis: 'x' | 'y', logY: boolean, hl: number[] = []): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of series) {
    const n = s.y.length;
    for (let i = 0; i < n; i++) {
      let v = axis === 'x' ? (s.x ? s.x[i]! : i) : s.y[i]!;
      if (axis === 'y' && logY) {
        if (!(v > 0)) continue;
        v = Math.log10(v);
      }
      if (Number.isFinite(v)) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
  }
  for (const v0 of hl) {
    const v = logY ? Math.log10(v0) : v0;
    if (Number.isFinite(v)) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  if (!Number.isFinite(lo)) return [0, 1];
  if (lo === hi) return [lo - 0.5, hi + 0.5];
  if (axis === 'x') return [lo, hi];
  const pad = 0.05 * (hi - lo);
  return [lo - pad, hi + pad];
}

function px(f: Frame, x: number): number {
  return f.x0 + ((x - f.xr[0]) / (f.xr[1] - f.xr[0])) * f.w;
}
function py(f: Frame, y: number): number {
  const v = f.logY ? Math.log10(y) : y;
  return f.y0 + f.h - ((v - f.yr[0]) / (f.yr[1] - f.yr[0])) * f.h;
}

function drawSeries(f: Frame, series: Series[], markerR = 2.2): string {
  const parts: string[] = [];
  series.forEach((s, si) => {
    const color = s.color ?? PALETTE[si % PALETTE.length]!;
    const mode = s.mode ?? 'line';
    const pts: string[] = [];
    const dots: string[] = [];
    for (let i = 0; i < s.y.length; i++) {
      const x = s.x ? s.x[i]! : i;
      const y = s.y[i]!;
      if (!Number.isFinite(x) || !Number.isFinite(y) || (f.logY && !(y > 0))) continue;
      const X = r2(px(f, x));
      const Y = r2(py(f, y));
      pts.push(`${X},${Y}`);
      if (mode !== 'line') dots.push(`<circle cx="${X}" cy="${Y}" r="${markerR}" fill="${color}"/>`);
    }
    if (mode !== 'markers' && pts.length > 1) {
      parts.push(`<polyline fill="none" stroke="${color}" stroke-width="${s.width ?? 1.5}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''} points="${pts.join(' ')}"/>`);
    }
    parts.push(...dots);
  });
  return parts.join('');
}

function axes(f: Frame, opts: { xLabel?: string | undefined; yLabel?: string | undefined; ticks?: boolean; fontSize?: number }): string {
  const fs = opts.fontSize ?? 11;
  const parts = [`<rect x="${f.x0}" y="${f.y0}" width="${f.w}" height="${f.h}" fill="none" stroke="#444" stroke-width="0.8"/>`];
  if (opts.ticks !== false) {
    for (const t of niceTicks(f.xr[0], f.xr[1], 6)) {
      const X = r2(px(f, t));
      parts.push(`<line x1="${X}" y1="${f.y0 + f.h}" x2="${X}" y2="${f.y0 + f.h + 4}" stroke="#444"/><text x="${X}" y="${f.y0 + f.h + 6 + fs}" font-size="${fs}" text-anchor="middle">${fmt(t)}</text>`);
    }
    const yt = f.logY ? niceTicks(Math.floor(f.yr[0]), Math.ceil(f.yr[1]), 6).filter((v) => Number.isInteger(v) && v >= f.yr[0] - 1e-9 && v <= f.yr[1] + 1e-9).map((v) => 10 ** v) : niceTicks(f.yr[0], f.yr[1], 5);
    for (const t of yt) {
      const Y = r2(py(f, t));
      parts.push(`<line x1="${f.x0 - 4}" y1="${Y}" x2="${f.x0}" y2="${Y}" stroke="#444"/><line x1="${f.x0}" y1="${Y}" x2="${f.x0 + f.w}" y2="${Y}" stroke="#ddd" stroke-width="0.5"/><text x="${f.x0 - 6}" y="${Y + fs / 3}" font-size="${fs}" text-anchor="end">${fmt(t)}</text>`);
    }
  }
  if (opts.xLabel) parts.push(`<text x="${f.x0 + f.w / 2}" y="${f.y0 + f.h + 2 * fs + 10}" font-size="${fs}" text-anchor="middle">${escapeXml(opts.xLabel)}</text>`);
  if (opts.yLabel) parts.push(`<text transform="translate(${f.x0 - 44},${f.y0 + f.h / 2}) rotate(-90)" font-size="${fs}" text-anchor="middle">${escapeXml(opts.yLabel)}</text>`);
  return parts.join('');
}

function legend(series: { name: string; color: string; dash?: string | undefined }[], x: number, y: number, fs = 11): string {
  return series
    .map((s, i) => {
      const Y = y + i * (fs + 5);
      return `<line x1="${x}" y1="${Y}" x2="${x + 18}" y2="${Y}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/><text x="${x + 22}" y="${Y + fs / 3}" font-size="${fs}">${escapeXml(s.name)}</text>`;
    })
    .join('');
}

function svgDoc(width: number, height: number, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>${body}</svg>\n`;
}

/** One panel, several series, optional legend (to the right) and reference lines. */
export function linePlot(series: Series[], opts: LinePlotOptions = {}): string {
  const width = opts.width ?? 640;
  const height = opts.height ?? 360;
  const showLegend = opts.legend ?? series.length > 1;
  const legendW = showLegend ? 170 : 0;
  const logY = opts.logY ?? false;
  const f: Frame = {
    x0: 64,
    y0: opts.title ? 30 : 12,
    w: width - 64 - 16 - legendW,
    h: height - (opts.title ? 30 : 12) - 48,
    xr: opts.xRange ?? range(series, 'x', false),
    yr: opts.yRange ? (logY ? [Math.log10(opts.yRange[0]), Math.log10(opts.yRange[1])] : opts.yRange) : range(series, 'y', logY, (opts.hlines ?? []).map((h) => h.y)),
    logY,
  };
  const parts = [axes(f, { xLabel: opts.xLabel, yLabel: opts.yLabel })];
  if (opts.title) parts.push(`<text x="${width / 2}" y="18" font-size="13" text-anchor="middle" font-weight="bold">${escapeXml(opts.title)}</text>`);
  const hl = (opts.hlines ?? []).map((h, i) => ({ ...h, color: h.color ?? '#888', dash: '4 3', i }));
  for (const h of hl) {
    const Y = r2(py(f, h.y));
    parts.push(`<line x1="${f.x0}" y1="${Y}" x2="${f.x0 + f.w}" y2="${Y}" stroke="${h.color}" stroke-dasharray="4 3"/>`);
  }
  parts.push(drawSeries(f, series));
  if (showLegend) {
    const entries = [
      ...series.map((s, i) => ({ name: s.name, color: s.color ?? PALETTE[i % PALETTE.length]!, dash: s.dash })),
      ...hl.map((h) => ({ name: h.label, color: h.color, dash: h.dash })),
    ];
    parts.push(legend(entries, f.x0 + f.w + 14, f.y0 + 10));
  }
  return svgDoc(width, height, parts.join(''));
}

export interface SmallMultiplesOptions {
  title?: string;
  columns?: number;
  panelWidth?: number;
  panelHeight?: number;
  /** Same y range in every panel (default true). */
  shareY?: boolean;
  /** Legend entries drawn once under the title (name → color of the series index). */
  legend?: boolean;
}

/** A grid of small panels, each with its own title and series (e.g. one atom per panel). */
export function smallMultiples(panels: { title: string; series: Series[] }[], opts: SmallMultiplesOptions = {}): string {
  const cols = Math.max(1, Math.min(opts.columns ?? 4, panels.length));
  const pw = opts.panelWidth ?? 180;
  const ph = opts.panelHeight ?? 110;
  const rowsN = Math.ceil(panels.length / cols);
  const first = panels[0]?.series ?? [];
  const showLegend = (opts.legend ?? first.length > 1) && first.length > 0;
  const top = (opts.title ? 28 : 6) + (showLegend ? 20 : 0);
  const width = cols * pw + 10;
  const height = top + rowsN * ph + 8;
  const shared = opts.shareY ?? true;
  const yAll = shared ? range(panels.flatMap((p) => p.series), 'y', false) : null;
  const parts: string[] = [];
  if (opts.title) parts.push(`<text x="${width / 2}" y="18" font-size="13" text-anchor="middle" font-weight="bold">${escapeXml(opts.title)}</text>`);
  if (showLegend) {
    let x = 12;
    first.forEach((s, i) => {
      const color = s.color ?? PALETTE[i % PALETTE.length]!;
      parts.push(legend([{ name: s.name, color, dash: s.dash }], x, top - 12, 10));
      x += 30 + 6.5 * s.name.length;
    });
  }
  panels.forEach((p, i) => {
    const c = i % cols;
    const r = Math.floor(i / cols);
    const f: Frame = { x0: 5 + c * pw + 6, y0: top + r * ph + 14, w: pw - 14, h: ph - 22, xr: range(p.series, 'x', false), yr: yAll ?? range(p.series, 'y', false), logY: false };
    parts.push(`<text x="${f.x0 + f.w / 2}" y="${f.y0 - 3}" font-size="10" text-anchor="middle">${escapeXml(p.title)}</text>`);
    parts.push(axes(f, { ticks: false }));
    if (f.yr[0] < 0 && f.yr[1] > 0) {
      const Y = r2(py(f, 0));
      parts.push(`<line x1="${f.x0}" y1="${Y}" x2="${f.x0 + f.w}" y2="${Y}" stroke="#ccc" stroke-width="0.5"/>`);
    }
    parts.push(drawSeries(f, p.series, 1.8));
  });
  return svgDoc(width, height, parts.join(''));
}

/** A simple vertical bar chart (e.g. per-atom usage, sorted). */
export function barPlot(values: ArrayLike<number>, opts: LinePlotOptions & { color?: string; labels?: string[] } = {}): string {
  const width = opts.width ?? 640;
  const height = opts.height ?? 300;
  const n = values.length;
  const vals = Array.from(values);
  const f: Frame = {
    x0: 64,
    y0: opts.title ? 30 : 12,
    w: width - 80,
    h: height - (opts.title ? 30 : 12) - 48,
    xr: [-0.5, n - 0.5],
    yr: opts.yRange ?? [Math.min(0, ...vals), Math.max(...vals, 1e-12) * 1.05],
    logY: false,
  };
  const parts = [axes(f, { xLabel: opts.xLabel, yLabel: opts.yLabel })];
  if (opts.title) parts.push(`<text x="${width / 2}" y="18" font-size="13" text-anchor="middle" font-weight="bold">${escapeXml(opts.title)}</text>`);
  const bw = Math.max(1, (f.w / n) * 0.8);
  vals.forEach((v, i) => {
    const X = r2(px(f, i) - bw / 2);
    const Y0 = py(f, 0);
    const Y1 = py(f, v);
    parts.push(`<rect x="${X}" y="${r2(Math.min(Y0, Y1))}" width="${r2(bw)}" height="${r2(Math.abs(Y1 - Y0))}" fill="${opts.color ?? PALETTE[0]}"/>`);
  });
  return svgDoc(width, height, parts.join(''));
}
