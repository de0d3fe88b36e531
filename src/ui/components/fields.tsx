/**
 * Labelled, keyboard-operable form fields bound to one config field each. A field's schema issue
 * (from parseConfig, e.g. "adapter.stan.k must be ≥ 1 (allowed 1…16384)") is shown right under
 * it and linked with aria-describedby.
 */
import { useId, useState, useEffect, type ReactNode } from 'react';
import { usePlayground } from '../store';

/** The issue messages for one dotted config path. */
export function useFieldIssues(field: string): string[] {
  return usePlayground((s) => s.configIssues).filter((i) => i.field === field).map((i) => i.message);
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
