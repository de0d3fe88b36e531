/**
 * Declarative settings: an adapter or a task lists its hyperparameters once — type, range,
 * label, help, when the field applies — and everything else derives from that list: the valibot
 * schema that validates a config (every message names the field by its label and gives the
 * allowed range), the defaults, the URL's value types, and the controls the page renders.
 *
 * This file knows nothing of adapters, tasks or the page; it sits at the bottom of the layers.
 */
import * as v from 'valibot';

interface FieldBase {
  /** What the page shows next to the control, and what error messages call the field. */
  label: string;
  /** One sentence shown as the control's hint. */
  help?: string;
  /** Shown under "advanced" in the page (engine choices and rarely changed options). */
  advanced?: boolean;
  /** Whether the field applies given the other settings (hidden in the page otherwise). Default: always. */
  visible?: (settings: Readonly<Record<string, unknown>>) => boolean;
}

export type FieldSpec =
  | (FieldBase & { type: 'int'; min: number; max: number })
  | (FieldBase & { type: 'number'; min: number; max: number; exclusiveMin?: boolean })
  | (FieldBase & { type: 'choice'; options: readonly string[]; optionLabels?: Readonly<Record<string, string>> })
  | (FieldBase & { type: 'boolean' });

/** A cross-field rule: `ok(settings)` false → an issue on `field` with `message`. */
export interface SettingsCheck<C> {
  field: keyof C & string;
  message: string;
  ok(settings: C): boolean;
}

/** The settings of one adapter or task: fields in display order, their defaults, cross-field checks. */
export interface SettingsSpec<C extends object> {
  fields: { readonly [K in keyof C]: FieldSpec };
  defaults: C;
  checks?: readonly SettingsCheck<C>[];
}

/** Shorthands for declaring fields. */
export const int = (label: string, min: number, max: number, extra: Omit<FieldBase, 'label'> = {}): FieldSpec => ({ type: 'int', label, min, max, ...extra });
export const num = (label: string, min: number, max: number, extra: Omit<FieldBase, 'label'> & { exclusiveMin?: boolean } = {}): FieldSpec => ({ type: 'number', label, min, max, ...extra });
export const choice = (label: string, options: readonly string[], extra: Omit<FieldBase, 'label'> & { optionLabels?: Record<string, string> } = {}): FieldSpec => ({ type: 'choice', label, options, ...extra });
export const flag = (label: string, extra: Omit<FieldBase, 'label'> = {}): FieldSpec => ({ type: 'boolean', label, ...extra });

/** The allowed values of a field in words, e.g. "an integer in 1…64", "one of signed, abs". */
export function describeAllowed(f: FieldSpec): string {
  switch (f.type) {
    case 'int':
      return `an integer in ${f.min}…${f.max}`;
    case 'number':
      return `a number in ${f.exclusiveMin ? '(' : '['}${f.min}, ${f.max}]`;
    case 'choice':
      return `one of ${f.options.join(', ')}`;
    case 'boolean':
      return 'true or false';
  }
}

/** −0 read as 0: a JSON or URL −0 would otherwise not survive a round trip through the URL (which writes 0). */
const positiveZero = (x: number): number => (x === 0 ? 0 : x);

/** The valibot schema of one field; every message starts with the field's label. */
export function fieldSchema(f: FieldSpec): v.GenericSchema {
  const allowed = describeAllowed(f);
  switch (f.type) {
    case 'int':
      return v.pipe(
        v.number(`${f.label} must be a number (${allowed})`),
        v.integer(`${f.label} must be ${allowed}`),
        v.minValue(f.min, `${f.label} must be ≥ ${f.min} (${allowed})`),
        v.maxValue(f.max, `${f.label} must be ≤ ${f.max} (${allowed})`),
        v.transform(positiveZero),
      );
    case 'number':
      return v.pipe(
        v.number(`${f.label} must be a number (${allowed})`),
        v.finite(`${f.label} must be finite (${allowed})`),
        v.check((x: number) => (f.exclusiveMin ? x > f.min : x >= f.min), `${f.label} must be ${f.exclusiveMin ? '>' : '≥'} ${f.min} (${allowed})`),
        v.maxValue(f.max, `${f.label} must be ≤ ${f.max} (${allowed})`),
        v.transform(positiveZero),
      );
    case 'choice':
      return v.picklist(f.options as [string, ...string[]], `${f.label} must be ${allowed}`);
    case 'boolean':
      return v.boolean(`${f.label} must be ${allowed}`);
  }
}

/**
 * The object schema of a settings spec: unknown keys are rejected (a typo never falls back to a
 * default silently); a missing key takes its default (so links and files written before a field
 * existed keep working); then the cross-field checks run.
 */
export function settingsSchema<C extends object>(spec: SettingsSpec<C>): v.GenericSchema<unknown, C> {
  const entries: Record<string, v.GenericSchema> = {};
  for (const [key, f] of Object.entries(spec.fields) as [string, FieldSpec][]) {
    entries[key] = v.optional(fieldSchema(f), (spec.defaults as Record<string, unknown>)[key] as never) as unknown as v.GenericSchema;
  }
  let schema = v.strictObject(entries) as unknown as v.GenericSchema;
  for (const c of spec.checks ?? []) {
    const rule = v.forward(v.check((s: Record<string, unknown>) => c.ok(s as C), c.message), [c.field] as never);
    schema = v.pipe(schema, rule as never) as unknown as v.GenericSchema;
  }
  return schema as v.GenericSchema<unknown, C>;
}

/** Checks that a spec's defaults satisfy its own fields (a spec that cannot even hold its defaults is a bug). */
export function checkSpec<C extends object>(name: string, spec: SettingsSpec<C>): void {
  const keys = Object.keys(spec.fields);
  const dkeys = Object.keys(spec.defaults);
  if (keys.join() !== dkeys.join()) throw new Error(`${name}: fields (${keys.join(', ')}) and defaults (${dkeys.join(', ')}) must list the same keys in the same order`);
  const r = v.safeParse(settingsSchema(spec), spec.defaults);
  if (!r.success) throw new Error(`${name}: the defaults do not satisfy the fields: ${r.issues.map((i) => i.message).join('; ')}`);
}
