/**
 * The playground session's checkpoint (src/playground/types.ts: SessionCheckpoint — config,
 * step, params per pack, AdamW moments, train and validation history) ⇄ a session file
 * (session-file.ts). The live packs supply the names and shapes the checkpoint leaves out; the
 * base reference goes alongside. Used by autosave, "export session" and device-loss recovery.
 */
import type { MetricPoint, SessionCheckpoint, ValidationPoint } from '../playground/types';
import { decodeSession, encodeSession, SessionFileError, type BaseRef, type ConfigCheck, type Session } from '../io/session-file';
import { formatIssues, parseConfig, type PlaygroundConfig } from '../config/schema';

/** The playground's config check for session files: the one schema (derived from the registries). */
export const checkPlaygroundConfig: ConfigCheck = (raw) => {
  const r = parseConfig(raw);
  return r.ok ? null : formatIssues(r.issues);
};

/** What encoding needs from each trainable pack (a ParamPack fits). */
export interface PackLayout {
  name: string;
  params: readonly { name: string; shape: readonly number[] }[];
}

const TRAIN_FIELDS = ['loss', 'grad_norm', 'non_finite'] as const;

function extraKeys<P>(points: readonly P[], pick: (p: P) => Record<string, number> | undefined): string[] {
  const keys = new Set<string>();
  for (const p of points) for (const k of Object.keys(pick(p) ?? {})) keys.add(k);
  return [...keys].sort();
}

/** The config of a decoded session, defaults filled in (it passed checkPlaygroundConfig). */
function parsedConfig(raw: unknown): PlaygroundConfig {
  const r = parseConfig(raw);
  if (!r.ok) throw new SessionFileError('config', `the session's config is invalid:\n${formatIssues(r.issues)}`);
  return r.config;
}

export function sessionFromCheckpointState(cp: SessionCheckpoint, packs: readonly PackLayout[], base: BaseRef, extra: Record<string, string> = {}): Session {
  if (cp.params.length !== packs.length) throw new SessionFileError('mismatch', `the checkpoint has ${cp.params.length} parameter packs, the session ${packs.length}`);
  const trainExtra = extraKeys(cp.history.train, (p: MetricPoint) => p.extra);
  const valKeys = extraKeys(cp.history.validation, (p: ValidationPoint) => p.metrics);
  return {
    config: { ...cp.config },
    base,
    step: cp.step,
    packs: packs.map((pack, i) => ({
      name: pack.name,
      params: pack.params.map((p) => {
        const data = cp.params[i]![p.name];
        if (!data) throw new SessionFileError('mismatch', `the checkpoint has no values for '${pack.name}/${p.name}'`);
        return { name: p.name, shape: [...p.shape], data };
      }),
      m: cp.optimizer.m[i]!,
      v: cp.optimizer.v[i]!,
    })),
    metrics: {
      fields: [...TRAIN_FIELDS, ...trainExtra],
      rows: cp.history.train.map((p) => ({ step: p.step, values: { ...(p.extra ?? {}), loss: p.loss, grad_norm: p.gradNorm, non_finite: p.nonFinite ? 1 : 0 } })),
    },
    validation: { fields: ['loss', ...valKeys.filter((k) => k !== 'loss')], rows: cp.history.validation.map((p) => ({ step: p.step, values: { ...p.metrics, loss: p.loss } })) },
    extra,
  };
}

/** The session file for a playground checkpoint. */
export function encodeSessionCheckpoint(cp: SessionCheckpoint, packs: readonly PackLayout[], base: BaseRef, extra: Record<string, string> = {}): Uint8Array {
  return encodeSession(sessionFromCheckpointState(cp, packs, base, extra), checkPlaygroundConfig);
}

/** The playground checkpoint in a session file (strictly decoded), its base reference and extra state. */
export function decodeSessionCheckpoint(bytes: Uint8Array | ArrayBuffer): { checkpoint: SessionCheckpoint; base: BaseRef; extra: Record<string, string>; session: Session } {
  const s = decodeSession(bytes, checkPlaygroundConfig);
  for (const f of TRAIN_FIELDS) if (!s.metrics.fields.includes(f)) throw new SessionFileError('metrics', `metadata 'metric_fields' must include '${f}'`);
  const train: MetricPoint[] = s.metrics.rows.map((r) => {
    const { loss, grad_norm, non_finite, ...extra } = r.values;
    return { step: r.step, loss: loss!, gradNorm: grad_norm!, nonFinite: non_finite !== 0 || !Number.isFinite(loss!) || !Number.isFinite(grad_norm!), extra };
  });
  const validation: ValidationPoint[] = (s.validation?.rows ?? []).map((r) => {
    const { loss, ...metrics } = r.values;
    return { step: r.step, loss: loss ?? NaN, metrics };
  });
  const checkpoint: SessionCheckpoint = {
    format: 'sparse-adapter-playground/session@1',
    config: parsedConfig(s.config),
    step: s.step,
    params: s.packs.map((p) => Object.fromEntries(p.params.map((t) => [t.name, t.data]))),
    optimizer: { m: s.packs.map((p) => p.m), v: s.packs.map((p) => p.v) },
    history: { train, validation },
  };
  return { checkpoint, base: s.base, extra: s.extra, session: s };
}
