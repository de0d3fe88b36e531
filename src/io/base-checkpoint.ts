/**
 * Base-model checkpoints: the parameters of one model (no optimizer state) as safetensors, with
 * string metadata (the model kind, its config JSON, steps, final metrics, seconds taken …).
 *
 * A model's parameters may sit in a trainable or a frozen pack (or both, with per-parameter
 * freezing), so these work on the model's own ParamRef list, not on packs: loading a shipped
 * base into a frozen model is the same call as loading it into a trainable one. Loading checks
 * every name and shape (and, unless allowed, tensors the model does not have) and reports all
 * mismatches in one error that names each tensor.
 */
import type { ParamPack, ParamRef } from '../engine/param-pack';
import { parseSafetensors, serializeSafetensors, toFloat32 } from './safetensors';
import { matchingTensor } from './checkpoint-io';

export const BASE_CHECKPOINT_FORMAT = 'sparse-adapter-playground/base@1';

export class CheckpointMismatchError extends Error {
  constructor(readonly problems: string[]) {
    super(`checkpoint does not fit this model:\n  ${problems.join('\n  ')}`);
    this.name = 'CheckpointMismatchError';
  }
}

function byPack(params: readonly ParamRef[]): Map<ParamPack, ParamRef[]> {
  const m = new Map<ParamPack, ParamRef[]>();
  for (const p of params) {
    const l = m.get(p.pack);
    if (l) l.push(p);
    else m.set(p.pack, [p]);
  }
  return m;
}

/** Reads the parameters from the GPU (one readback per pack involved). */
export async function readParams(params: readonly ParamRef[]): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [pack, refs] of byPack(params)) {
    const all = await pack.readAll();
    for (const p of refs) out.set(p.name, all.get(p.name)!);
  }
  return out;
}

/** Serialises `values` for `params` (names and shapes from the refs) with metadata. */
export function baseCheckpointBytes(params: readonly ParamRef[], values: Map<string, Float32Array>, metadata: Record<string, string>): Uint8Array {
  const tensors = params.map((p) => {
    const data = values.get(p.name);
    if (!data || data.length !== p.size) throw new Error(`baseCheckpointBytes: no ${p.size} values for ${p.name}`);
    return { name: p.name, shape: [...p.shape], data };
  });
  return serializeSafetensors(tensors, { ...metadata, format: BASE_CHECKPOINT_FORMAT });
}

/** Reads the model's parameters from the GPU and serialises them. */
export async function saveBaseCheckpoint(params: readonly ParamRef[], metadata: Record<string, string>): Promise<Uint8Array> {
  return baseCheckpointBytes(params, await readParams(params), metadata);
}

export interface LoadBaseOptions {
  /** Accept tensors in the file that the model lacks (default false: they are reported). */
  allowExtra?: boolean;
  /** When set, the file's `model` metadata must equal this. */
  model?: string;
}

/** Everything that does not fit (empty when loading would succeed), the decoded values and the metadata. */
export function checkBaseCheckpoint(
  bytes: Uint8Array,
  params: readonly ParamRef[],
  opts: LoadBaseOptions = {},
): { problems: string[]; values: Map<string, Float32Array>; metadata: Record<string, string> } {
  const file = parseSafetensors(bytes);
  const problems: string[] = [];
  if (opts.model !== undefined && file.metadata.model !== undefined && file.metadata.model !== opts.model) {
    problems.push(`the file holds a '${file.metadata.model}' model, expected '${opts.model}'`);
  }
  const values = new Map<string, Float32Array>();
  const names = new Set<string>();
  for (const p of params) {
    names.add(p.name);
    const e = matchingTensor(file, p, problems);
    if (!e) continue;
    let v: Float32Array;
    try {
      v = toFloat32(e);
    } catch (err) {
      problems.push(`tensor '${p.name}' (${e.dtype}) cannot be read as float32: ${(err as Error).message}`);
      continue;
    }
    values.set(p.name, v);
  }
  if (!opts.allowExtra) {
    for (const name of file.tensors.keys()) if (!names.has(name)) problems.push(`unexpected tensor '${name}' (the model has no parameter of that name)`);
  }
  return { problems, values, metadata: { ...file.metadata } };
}

/**
 * Checks `bytes` against `params` and, when everything fits, writes every parameter (packs must
 * be finalized). Returns the file's metadata. Throws CheckpointMismatchError listing each
 * missing, mis-shaped or unexpected tensor by name (and `extraProblems`, e.g. config checks).
 */
export function loadBaseCheckpoint(bytes: Uint8Array, params: readonly ParamRef[], opts: LoadBaseOptions & { extraProblems?: string[] } = {}): Record<string, string> {
  const { problems, values, metadata } = checkBaseCheckpoint(bytes, params, opts);
  const all = [...(opts.extraProblems ?? []), ...problems];
  if (all.length) throw new CheckpointMismatchError(all);
  for (const [pack, refs] of byPack(params)) {
    const m = new Map<string, Float32Array>();
    for (const p of refs) m.set(p.name, values.get(p.name)!);
    pack.writeAll(m, { partial: true });
  }
  return metadata;
}

/** The metadata of a checkpoint file without loading it. */
export function baseCheckpointMetadata(bytes: Uint8Array): Record<string, string> {
  return { ...parseSafetensors(bytes).metadata };
}
