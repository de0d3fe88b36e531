/**
 * The label each config field carries on the page ('adapter.targets' → 'injection sites'), so
 * messages name a field the way the user sees it. Filled by the field components as they render
 * (fields.tsx), so it holds exactly the labels on screen, whoever declared them.
 */
import { fieldLabel as declaredLabel } from '../config/resolve';

const labels = new Map<string, string>();

export function registerFieldLabel(field: string, label: unknown): void {
  if (typeof label === 'string' && label) labels.set(field, label);
}

/** The field's label on the page, else the label its settings declare (config/resolve), else its dotted path. */
export function fieldLabel(field: string): string {
  return labels.get(field) ?? declaredLabel(field);
}

/**
 * An error message about `field` without the field's path repeated in front (the worker's
 * messages carry 'adapter.targets: …' or 'injection sites: …' prefixes), and with any mention of the
 * path at the start replaced by nothing: the page shows the label before it.
 */
export function stripFieldPrefix(field: string, message: string): string {
  let m = message.trim();
  const label = fieldLabel(field);
  for (;;) {
    const next = m.startsWith(`${field}: `) ? m.slice(field.length + 2) : label !== field && m.startsWith(`${label}: `) ? m.slice(label.length + 2) : m.startsWith(`${field} `) && /^(must|is|has|cannot|should)\b/.test(m.slice(field.length + 1)) ? m.slice(field.length + 1) : null;
    if (next === null) return m;
    m = next.trim();
  }
}
