/** Number and text formatting for the page's views (pure; unit-tested in test/ui-views.test.ts). */
import type { ViewScore } from '../worker/protocol';

/** A score as the page prints it: shares as percentages, other numbers with 3 significant digits. */
export function formatScore(format: ViewScore['format'], x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return format === 'percent' ? `${(100 * x).toFixed(1)} %` : x < 1e-3 && x > 0 ? x.toExponential(2) : x.toPrecision(3);
}

function fmtNumber(x: number): string {
  if (Number.isInteger(x)) return x.toLocaleString('en-US');
  return Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(3);
}

/**
 * A metadata value as a reader wants it: numbers formatted, JSON objects as "name value" pairs
 * (their scalar fields; lists are summarised by length), anything else as is.
 */
export function formatMetadata(value: string, unit?: string): string {
  const t = value.trim();
  const n = Number(t);
  if (t !== '' && Number.isFinite(n)) return `${fmtNumber(n)}${unit ? ` ${unit}` : ''}`;
  if (t.startsWith('{')) {
    try {
      const o = JSON.parse(t) as Record<string, unknown>;
      const parts: string[] = [];
      for (const [k, v] of Object.entries(o)) {
        const name = k.replace(/_/g, ' ');
        if (typeof v === 'number') parts.push(/accuracy|acc$/i.test(k) && v <= 1 ? `${name} ${(100 * v).toFixed(1)} %` : `${name} ${fmtNumber(v)}`);
        else if (typeof v === 'string' && v.length <= 40) parts.push(`${name} ${v}`);
        else if (Array.isArray(v)) parts.push(`${name}: ${v.length} values`);
      }
      if (parts.length) return parts.join(', ');
    } catch {
      // not JSON after all: shown as text
    }
  }
  return t.length > 160 ? `${t.slice(0, 160)}…` : t;
}
