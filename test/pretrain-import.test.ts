/**
 * Imported weights (`npm run cli -- pretrain <kind> --weights file`, the PyTorch replicas in
 * scripts/torch/): importWeights loads every parameter and keeps the file's run fields, refuses a
 * file that does not say how it was trained or that does not fit the model; importFidelity
 * compares the exporter's recorded outputs with the engine's.
 */
import { describe, expect, it } from 'vitest';
import { ParamPack } from '../src/engine/param-pack';
import { Rng } from '../src/engine/rng';
import type { GpuRuntime } from '../src/engine/runtime';
import { importFidelity, importWeights } from '../src/experiments/pretrain';
import { serializeSafetensors } from '../src/io/safetensors';
import { DigitCnn, type DigitCnnConfig } from '../src/models/digit-cnn';
import { testRuntime } from './helpers/gpu';

const TINY: DigitCnnConfig = { kind: 'cnn', batch: 2, side: 7, pixels: 49, channels: [3, 4], strides: [1, 2], classes: 3 };

function build(rt: GpuRuntime, seed: number) {
  const trainable = new ParamPack(rt, `imp${seed}`, true);
  const frozen = new ParamPack(rt, `imp${seed}.frozen`, false);
  const model = new DigitCnn({ rt, trainable, frozen, rng: new Rng(seed) }, 'classifier', TINY);
  trainable.finalize();
  frozen.finalize();
  return { trainable, frozen, model };
}

describe('imported weights', () => {
  it('loads every tensor of a replica export, keeps its run fields, and refuses files that do not fit or do not say how they were trained', async () => {
    const rt = await testRuntime();
    const a = build(rt, 1);
    const b = build(rt, 2);
    const values = await a.trainable.readAll();
    const tensors = a.model.parameters().map((p) => ({ name: p.name, shape: [...p.shape], data: values.get(p.name)! }));
    const meta = { trained_by: 'replica', steps: '12', lr: '0.002', seconds: '3.5', unrelated: 'x' };
    const fields = importWeights(serializeSafetensors(tensors, meta), b.model.parameters());
    expect(fields).toEqual({ trained_by: 'replica', steps: '12', lr: '0.002', seconds: '3.5' });
    const got = await b.trainable.readAll();
    for (const [k, v] of values) expect(Array.from(got.get(k)!)).toEqual(Array.from(v));

    expect(() => importWeights(serializeSafetensors(tensors, { steps: '12' }), b.model.parameters())).toThrow(/no 'trained_by' metadata/);
    expect(() => importWeights(serializeSafetensors(tensors.slice(1), meta), b.model.parameters())).toThrow(new RegExp(tensors[0]!.name.replace(/\./g, '\\.')));
    for (const m of [a, b]) {
      m.trainable.destroy();
      m.frozen.destroy();
    }
  });

  it('importFidelity reports the largest difference between the recorded and the engine outputs, null without a record', async () => {
    const check = { z: [0.5, -1], images: [0.25, 0.75, 0.5] };
    const file = (m: Record<string, string>) => serializeSafetensors([{ name: 'w', shape: [1], data: Float32Array.from([1]) }], m);
    const run = async (z: Float32Array) => Float32Array.from([z[0]! / 2, 0.75, 0.5 + 1e-3]);
    const r = await importFidelity(file({ torch_check: JSON.stringify(check) }), run);
    expect(r!.values).toBe(3);
    expect(r!.maxAbsDiff).toBeCloseTo(1e-3, 6);
    expect(await importFidelity(file({}), run)).toBeNull();
    await expect(importFidelity(file({ torch_check: JSON.stringify(check) }), async () => new Float32Array(2))).rejects.toThrow(/returned 2 values for 3/);
  });
});
