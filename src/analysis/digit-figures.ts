/**
 * Digit images and signed pixel maps as small PNGs inside a labelled SVG grid (reports from the
 * repro CLI; the page can use the same PNG bytes). Environment-free: the PNG encoder takes an
 * optional deflate (node:zlib's deflateSync in the CLI); without one it writes stored (unc-
 * ompressed) deflate blocks, which every PNG reader accepts.
 *
 * Colours: digits are dark ink on white (v = 1 → black); signed maps are red where the value is
 * positive (a pixel increases), blue where negative, white at 0, saturating at ±scale.
 */

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** zlib stream of stored deflate blocks (no compression). */
export function zlibStored(data: Uint8Array): Uint8Array {
  const blocks = Math.max(1, Math.ceil(data.length / 65535));
  const out = new Uint8Array(2 + data.length + blocks * 5 + 4);
  out[0] = 0x78;
  out[1] = 0x01;
  let o = 2;
  for (let b = 0; b < blocks; b++) {
    const s = b * 65535;
    const len = Math.min(65535, data.length - s);
    out[o++] = b === blocks - 1 ? 1 : 0;
    out[o++] = len & 0xff;
    out[o++] = len >>> 8;
    out[o++] = ~len & 0xff;
    out[o++] = (~len >>> 8) & 0xff;
    out.set(data.subarray(s, s + len), o);
    o += len;
  }
  let a = 1;
  let bsum = 0;
  for (const v of data) {
    a = (a + v) % 65521;
    bsum = (bsum + a) % 65521;
  }
  const adler = ((bsum << 16) | a) >>> 0;
  out[o++] = adler >>> 24;
  out[o++] = (adler >>> 16) & 0xff;
  out[o++] = (adler >>> 8) & 0xff;
  out[o++] = adler & 0xff;
  return out;
}

/** RGB (8-bit, w·h·3 bytes) → PNG file bytes. `deflate` must return a zlib stream (RFC 1950). */
export function encodePng(rgb: Uint8Array, w: number, h: number, deflate: (raw: Uint8Array) => Uint8Array = zlibStored): Uint8Array {
  if (rgb.length !== w * h * 3) throw new Error(`encodePng: ${rgb.length} bytes for a ${w}×${h} RGB image (needs ${w * h * 3})`);
  const raw = new Uint8Array(h * (1 + w * 3));
  for (let y = 0; y < h; y++) raw.set(rgb.subarray(y * w * 3, (y + 1) * w * 3), y * (1 + w * 3) + 1);
  const idat = deflate(raw);
  const chunks: [string, Uint8Array][] = [
    ['IHDR', new Uint8Array([w >>> 24, (w >>> 16) & 255, (w >>> 8) & 255, w & 255, h >>> 24, (h >>> 16) & 255, (h >>> 8) & 255, h & 255, 8, 2, 0, 0, 0])],
    ['IDAT', idat],
    ['IEND', new Uint8Array(0)],
  ];
  const size = 8 + chunks.reduce((s, [, d]) => s + 12 + d.length, 0);
  const out = new Uint8Array(size);
  out.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 0);
  let o = 8;
  for (const [type, data] of chunks) {
    const n = data.length;
    out.set([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255], o);
    for (let i = 0; i < 4; i++) out[o + 4 + i] = type.charCodeAt(i);
    out.set(data, o + 8);
    const crc = crc32(out, o + 4, o + 8 + n);
    out.set([crc >>> 24, (crc >>> 16) & 255, (crc >>> 8) & 255, crc & 255], o + 8 + n);
    o += 12 + n;
  }
  return out;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

export function base64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i]!;
    const b = bytes[i + 1] ?? 0;
    const c = bytes[i + 2] ?? 0;
    const n = (a << 16) | (b << 8) | c;
    s += B64[(n >>> 18) & 63]! + B64[(n >>> 12) & 63]! + (i + 1 < bytes.length ? B64[(n >>> 6) & 63]! : '=') + (i + 2 < bytes.length ? B64[n & 63]! : '=');
  }
  return s;
}

/** A digit [side²] in [0, 1] → RGB bytes, dark ink on white. */
export function digitRgb(img: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(img.length * 3);
  for (let i = 0; i < img.length; i++) {
    const v = Math.round(255 * (1 - Math.min(1, Math.max(0, img[i]!))));
    out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = v;
  }
  return out;
}

/** A signed map → RGB bytes: red positive, blue negative, white 0, saturating at ±scale. */
export function signedRgb(map: ArrayLike<number>, scale: number): Uint8Array {
  const out = new Uint8Array(map.length * 3);
  const s = scale > 0 ? scale : 1;
  for (let i = 0; i < map.length; i++) {
    const t = Math.min(1, Math.abs(map[i]!) / s);
    const fade = Math.round(255 * (1 - t));
    // White → pure red (increase) or pure blue (decrease).
    out[3 * i] = map[i]! >= 0 ? 255 : fade;
    out[3 * i + 1] = fade;
    out[3 * i + 2] = map[i]! >= 0 ? fade : 255;
  }
  return out;
}

/** max |v| over the given maps (a shared colour scale). */
export function maxAbs(...maps: ArrayLike<number>[]): number {
  let m = 0;
  for (const a of maps) for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

export interface ImagePanel {
  /** Caption above the image (one or two short lines separated by '\n'). */
  title: string;
  rgb: Uint8Array;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * Panels of side×side RGB images in a grid, each drawn at `pixel` screen pixels per image pixel
 * (crisp: image-rendering pixelated), with captions; rows may start with a row label.
 */
export function imageGridSvg(rows: { label?: string; panels: ImagePanel[] }[], opts: { title?: string; side?: number; pixel?: number; deflate?: (raw: Uint8Array) => Uint8Array; labelWidth?: number; note?: string } = {}): string {
  const side = opts.side ?? 28;
  const px = opts.pixel ?? 3;
  const cell = side * px;
  const gap = 8;
  const capH = 26;
  const labelW = rows.some((r) => r.label) ? (opts.labelWidth ?? 110) : 0;
  const cols = Math.max(1, ...rows.map((r) => r.panels.length));
  const titleH = opts.title ? 26 : 4;
  const noteH = opts.note ? 18 : 0;
  const W = labelW + cols * (cell + gap) + gap;
  const H = titleH + rows.length * (cell + capH + gap) + noteH + 4;
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`, `<rect width="${W}" height="${H}" fill="#fff"/>`];
  if (opts.title) parts.push(`<text x="${W / 2}" y="17" text-anchor="middle" font-size="13" font-weight="bold">${esc(opts.title)}</text>`);
  rows.forEach((r, ri) => {
    const y0 = titleH + ri * (cell + capH + gap);
    if (r.label) {
      const lines = r.label.split('\n');
      lines.forEach((ln, li) => parts.push(`<text x="4" y="${y0 + capH + cell / 2 + (li - (lines.length - 1) / 2) * 13}" font-size="11">${esc(ln)}</text>`));
    }
    r.panels.forEach((p, ci) => {
      const x = labelW + gap + ci * (cell + gap);
      const lines = p.title.split('\n').slice(0, 2);
      lines.forEach((ln, li) => parts.push(`<text x="${x + cell / 2}" y="${y0 + 11 + li * 12}" text-anchor="middle" font-size="10">${esc(ln)}</text>`));
      const png = encodePng(p.rgb, side, side, opts.deflate);
      parts.push(`<image x="${x}" y="${y0 + capH}" width="${cell}" height="${cell}" style="image-rendering:pixelated" preserveAspectRatio="none" href="data:image/png;base64,${base64(png)}"/>`);
      parts.push(`<rect x="${x}" y="${y0 + capH}" width="${cell}" height="${cell}" fill="none" stroke="#ccc"/>`);
    });
  });
  if (opts.note) parts.push(`<text x="4" y="${H - 6}" font-size="10" fill="#555">${esc(opts.note)}</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}
