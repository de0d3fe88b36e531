/**
 * Metric writes: scalars (loss, grad norm, NaN flag, …) copied on the GPU into row
 * `StepParams.slot` of the MetricRing history, so a step never reads anything back.
 * One dispatch writes up to six metrics.
 */
import type { CommandList, GpuRuntime } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { defineParams } from '../engine/uniform-params';
import { shader } from './shader-sources';

/** Sources one dispatch can write (history + 6 sources = 7 storage bindings ≤ 8). */
export const MAX_METRICS_PER_DISPATCH = 6;

const PARAMS = defineParams(
  { shaders: ['metrics'], struct: 'MetricParams' },
  { rows: 'u32', fields: 'u32', count: 'u32', _p0: 'u32', field: 'array<vec4<u32>, 2>' },
);

export interface MetricSource {
  /** A scalar; element 0 is written. */
  src: Tensor;
  /** Column of the history. */
  field: number;
}

/**
 * history[slot, field_k] = src_k[0] for each source, slot = StepParams.slot (row skipped when
 * slot ≥ history rows). More than six sources take several dispatches. No source may live in the
 * history's buffer (a read and a write binding of one buffer in one dispatch is invalid).
 */
export function recordWriteMetrics(
  rt: GpuRuntime,
  list: CommandList,
  a: { srcs: MetricSource[]; history: Tensor; fields: number; stepParams: GPUBuffer },
): void {
  if (a.fields < 1) throw new Error(`metrics: fields=${a.fields} must be ≥ 1`);
  const rows = Math.floor(a.history.size / a.fields);
  if (rows < 1) throw new Error(`metrics: history ${a.history.name} (${a.history.size} values) is smaller than one row of ${a.fields} fields`);
  for (const s of a.srcs) {
    if (!Number.isInteger(s.field) || s.field < 0 || s.field >= a.fields) throw new Error(`metrics: field ${s.field} of ${s.src.name} outside 0..${a.fields - 1}`);
    if (s.src.size < 1) throw new Error(`metrics: source ${s.src.name} is empty`);
    if (s.src.buffer === a.history.buffer) throw new Error(`metrics: source ${s.src.name} shares the history buffer`);
  }
  const pipe = rt.pipeline(shader('metrics'), 'write_metrics');
  for (let i = 0; i < a.srcs.length; i += MAX_METRICS_PER_DISPATCH) {
    const group = a.srcs.slice(i, i + MAX_METRICS_PER_DISPATCH);
    const params = rt.uniform(PARAMS.pack({ rows, fields: a.fields, count: group.length, field: group.map((s) => s.field) }), 'metrics.params');
    // Unused source slots repeat the first source (read-only bindings may alias).
    const srcs = Array.from({ length: MAX_METRICS_PER_DISPATCH }, (_, k) => (group[k] ?? group[0]!).src);
    const label = `write_metrics(${group.map((s) => s.src.name).join(',')})`;
    list.push(rt.dispatch(label, pipe, [a.stepParams, params, a.history, ...srcs], [1]));
  }
}

/** One metric: history[slot, field] = src[0]. */
export function recordWriteMetric(
  rt: GpuRuntime,
  list: CommandList,
  a: { src: Tensor; history: Tensor; fields: number; field: number; stepParams: GPUBuffer },
): void {
  recordWriteMetrics(rt, list, { srcs: [{ src: a.src, field: a.field }], history: a.history, fields: a.fields, stepParams: a.stepParams });
}
