/**
 * Labelled, keyboard-operable form fields bound to one config field each. A field's schema issue
 * (from parseConfig, e.g. "adapter.stan.k must be ≥ 1 (allowed 1…16384)") is shown right under
 * it and linked with aria-describedby.
 */
import { useId, useState, useEffect, type ReactNode } from 'react';
import type { FieldSpec } from '../../settings/fields';
import { registerFieldLabel, stripFieldPrefix } from '../field-labels';
import { freshness, usePlayground } from '../store';

/**
 * The issue messages for one dotted config path: the schema's, and the engine's last build error
 * about this field while the configuration is the one that failed (shown under the field itself).
 */
export function useFieldIssues(field: string): string[] {
  const issues = usePlayground((s) => s.configIssues);
  const buildError = usePlayground((s) => (s.session.errorField === field && s.session.message && s.session.failedFrom === JSON.stringify(s.config) && freshness(s) !== 'current' ? s.session.message : null));
  const out = issues.filter((i) => i.field === field).map((i) => i.message);
  if (buildError) out.push(stripFieldPrefix(field, buildError));
  return out;
}

function FieldError({ id, messages }: { id: string; messages: string[] }) {
  if (!messages.length) return null;
  return (
    <span id={id} className="field-error" role="alert" data-testid="field-error">
      {messages.join('; ')}
    </span>
  );
}

export function NumberField({
  field,
  label,
  value,
  onChange,
  step = 'any',
  hint,
  disabled,
}: {
  field: string;
  label: ReactNode;
  value: number;
  onChange(v: number): void;
  step?: number | 'any';
  hint?: string;
  disabled?: boolean;
}) {
  const id = useId();
  const issues = useFieldIssues(field);
  registerFieldLabel(field, label);
  // Keep the text the user typed (e.g. "1e-" mid-edit) while the store holds the number.
  const [text, setText] = useState(String(value));
  useEffect(() => {
    if (Number(text) !== value) setText(Number.isFinite(value) ? String(value) : text);
  }, [value]);
  return (
    <label className={`field${issues.length ? ' invalid' : ''}`} htmlFor={id}>
      <span className="field-label">{label}</span>
      <input
        id={id}
        type="text"
        inputMode="decimal"
        data-field={field}
        value={text}
        disabled={disabled}
        aria-invalid={issues.length > 0}
        aria-describedby={issues.length ? `${id}-err` : undefined}
        title={hint}
        onChange={(e) => {
          setText(e.target.value);
          const t = e.target.value.trim();
          onChange(t === '' ? NaN : Number(t));
        }}
        data-step={step}
      />
      <FieldError id={`${id}-err`} messages={issues} />
    </label>
  );
}

export function SelectField<T extends string>({
  field,
  label,
  value,
  options,
  onChange,
  disabled,
}: {
  field: string;
  label: ReactNode;
  value: T;
  options: readonly (T | { value: T; label: string })[];
  onChange(v: T): void;
  disabled?: boolean;
}) {
  const id = useId();
  const issues = useFieldIssues(field);
  registerFieldLabel(field, label);
  return (
    <label className={`field${issues.length ? ' invalid' : ''}`} htmlFor={id}>
      <span className="field-label">{label}</span>
      <select id={id} data-field={field} value={value} disabled={disabled} onChange={(e) => onChange(e.target.value as T)} aria-invalid={issues.length > 0}>
        {options.map((o) => {
          const opt = typeof o === 'string' ? { value: o, label: o } : o;
          return (
            <option key={opt.value} value={opt.value}>
              {opt.label}
            </option>
          );
        })}
      </select>
      <FieldError id={`${id}-err`} messages={issues} />
    </label>
  );
}

export function TextListField({ field, label, value, onChange, hint }: { field: string; label: ReactNode; value: string[]; onChange(v: string[]): void; hint?: string }) {
  const id = useId();
  const issues = useFieldIssues(field);
  registerFieldLabel(field, label);
  const [text, setText] = useState(value.join(', '));
  useEffect(() => {
    if (text.split(',').map((s) => s.trim()).filter(Boolean).join(',') !== value.join(',')) setText(value.join(', '));
  }, [value]);
  return (
    <label className={`field wide${issues.length ? ' invalid' : ''}`} htmlFor={id}>
      <span className="field-label">{label}</span>
      <input
        id={id}
        type="text"
        data-field={field}
        value={text}
        title={hint}
        aria-invalid={issues.length > 0}
        onChange={(e) => {
          setText(e.target.value);
          onChange(
            e.target.value
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean),
          );
        }}
      />
      {hint && <span className="field-hint">{hint}</span>}
      <FieldError id={`${id}-err`} messages={issues} />
    </label>
  );
}

/** A checkbox bound to one config field. */
export function CheckField({ field, label, value, onChange, disabled, hint }: { field: string; label: ReactNode; value: boolean; onChange(v: boolean): void; disabled?: boolean; hint?: string }) {
  const id = useId();
  const issues = useFieldIssues(field);
  return (
    <label className={`field check${issues.length ? ' invalid' : ''}`} htmlFor={id}>
      <input id={id} type="checkbox" data-field={field} checked={value} disabled={disabled} title={hint} onChange={(e) => onChange(e.target.checked)} />
      <span className="field-label">{label}</span>
      <FieldError id={`${id}-err`} messages={issues} />
    </label>
  );
}

/**
 * The controls of one settings section (an adapter's, a task's, the training one), rendered from
 * its field declarations (src/settings/fields.ts): label, type, options, help, when it applies.
 * `path` is the section's dot path ('adapter.stan'); `advanced` fields sit in a closed <details>.
 */
export function SettingsFields({
  path,
  fields,
  values,
  onChange,
  disabled,
  locked,
}: {
  path: string;
  fields: Readonly<Record<string, FieldSpec>>;
  values: Readonly<Record<string, unknown>>;
  onChange(key: string, value: unknown): void;
  disabled?: boolean;
  /** Keys shown but not editable here (e.g. set by the base checkpoint). */
  locked?: readonly string[];
}) {
  const render = (key: string, f: FieldSpec) => {
    const field = `${path}.${key}`;
    const off = disabled || (locked?.includes(key) ?? false);
    const hint = f.help;
    const v = values[key];
    switch (f.type) {
      case 'int':
      case 'number':
        return <NumberField key={key} field={field} label={f.label} value={typeof v === 'number' ? v : NaN} disabled={off} {...(hint ? { hint } : {})} step={f.type === 'int' ? 1 : 'any'} onChange={(n) => onChange(key, n)} />;
      case 'choice':
        return (
          <SelectField
            key={key}
            field={field}
            label={f.label}
            value={String(v)}
            options={f.options.map((o) => ({ value: o, label: f.optionLabels?.[o] ?? o }))}
            disabled={off}
            onChange={(o) => onChange(key, o)}
          />
        );
      case 'boolean':
        return <CheckField key={key} field={field} label={f.label} value={v === true} disabled={off} {...(hint ? { hint } : {})} onChange={(b) => onChange(key, b)} />;
    }
  };
  const shown = Object.entries(fields).filter(([, f]) => !f.visible || f.visible(values));
  const basic = shown.filter(([, f]) => !f.advanced);
  const advanced = shown.filter(([, f]) => f.advanced);
  return (
    <>
      {basic.map(([k, f]) => render(k, f))}
      {advanced.length > 0 && (
        <details className="advanced wide">
          <summary>advanced</summary>
          <div className="fields">{advanced.map(([k, f]) => render(k, f))}</div>
        </details>
      )}
    </>
  );
}
