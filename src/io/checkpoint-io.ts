/**
 * Checkpoints as safetensors: every parameter under its own name, the AdamW moments as flat
 * per-pack tensors (`optimizer.<pack>.m` / `.v`), the step and config in string metadata.
 * Loading checks every name and shape and says exactly what does not match.
 */
import type { ParamPack, ParamRef } from '../engine/param-pack';
import { parseSafetensors, serializeSafetensors, toFloat32, type SafetensorsFile, type TensorEntry } from './safetensors';
import type { TrainerState as Checkpoint } from './session-file';

export function checkpointToSafetensors(c: Checkpoint, packs: ParamPack[], metadata: Record<string, string> = {}): Uint8Array {
  const tensors: { name: string; shape: number[]; data: Float32Array }[] = [];
  packs.forEach((pack, i) => {
    for (const p of pack.params) tensors.push({ name: p.name, shape: [...p.shape], data: c.params[i]!.get(p.name)! });
    tensors.push({ name: `optimizer.${pack.name}.m`, shape: [c.optimizer.m[i]!.length], data: c.optimizer.m[i]! });
    tensors.push({ name: `optimizer.${pack.name}.v`, shape: [c.optimizer.v[i]!.length], data: c.optimizer.v[i]! });
  });
  return serializeSafetensors(tensors, { ...metadata, step: String(c.step), format: 'sparse-adapter-playground/checkpoint@1' });
}

/** The file's tensor for parameter `p`, or null after noting why it is missing or mis-shaped in `problems`. */
export function matchingTensor(file: SafetensorsFile, p: Pick<ParamRef, 'name' | 'shape'>, problems: string[]): TensorEntry | null {
  const e = file.tensors.get(p.name);
  if (!e) {
    problems.push(`missing tensor '${p.name}' (expected shape [${p.shape}])`);
    return null;
  }
  if (e.shape.length !== p.shape.length || e.shape.some((d, i) => d !== p.shape[i])) {
    problems.push(`tensor '${p.name}' has shape [${e.shape}], the model needs [${p.shape}]`);
    return null;
  }
  return e;
}

export function safetensorsToCheckpoint(bytes: Uint8Array, packs: ParamPack[]): { checkpoint: Checkpoint; metadata: Record<string, string> } {
  const file = parseSafetensors(bytes);
  const problems: string[] = [];
  const params: Map<string, Float32Array>[] = [];
  const m: Float32Array[] = [];
  const v: Float32Array[] = [];
  for (const pack of packs) {
    const values = new Map<string, Float32Array>();
    for (const p of pack.params) {
      const e = matchingTensor(file, p, problems);
      if (e) values.set(p.name, toFloat32(e));
    }
    params.push(values);
    for (const [key, out] of [['m', m], ['v', v]] as const) {
      const e = file.tensors.get(`optimizer.${pack.name}.${key}`);
      if (!e) {
        out.push(new Float32Array(pack.length));
        continue; // a params-only file (e.g. a shipped base) restarts the optimizer
      }
      const arr = toFloat32(e);
      if (arr.length !== pack.length) problems.push(`optimizer state '${pack.name}.${key}' has ${arr.length} values, this model's pack has ${pack.length}`);
      out.push(arr);
    }
  }
  if (problems.length) throw new Error(`checkpoint does not fit this model:\n  ${problems.join('\n  ')}`);
  const step = Number(file.metadata.step ?? '0');
  return { checkpoint: { step: Number.isFinite(step) ? step : 0, params, optimizer: { m, v } }, metadata: { ...file.metadata } };
}
