/**
 * A frozen transformer records only the backward its adapters need (TinyTransformer, the digits
 * and regression models' body): blocks below the lowest adapted one are skipped, and the adapted
 * block's LN1 branch runs only as far as its adapter needs. A δ added to block `at`'s attention
 * output is an o_proj bias shift, so dL/dδ must equal a trainable copy's o_proj bias gradient.
 */
import { describe, expect, it } from 'vitest';
import { ParamPack } from '../src/engine/param-pack';
import { Rng } from '../src/engine/rng';
import { CommandList } from '../src/engine/runtime';
import { TinyTransformer, type TinyTransformerConfig } from '../src/models/tiny-transformer';
import { deltaOutputHook } from './helpers/delta-hook';
import { maxRelError, randomArray, testRuntime } from './helpers/gpu';

const CFG: TinyTransformerConfig = { inDim: 5, outDim: 3, dim: 16, heads: 2, layers: 2, seq: 6, batch: 2, mlpRatio: 2 };

describe('TinyTransformer backward pruning under a frozen base', () => {
  for (const at of [0, 1]) {
    it(`output adapter on block ${at}: gradient equals the trainable reference's, nothing below it recorded`, async () => {
      const rt = await testRuntime();
      const rows = CFG.batch * CFG.seq;
      const refT = new ParamPack(rt, 'ref', true);
      const refF = new ParamPack(rt, 'ref.frozen', false);
      const ref = new TinyTransformer({ rt, trainable: refT, frozen: refF, rng: new Rng(7) }, 'model', CFG);
      refT.finalize();
      refF.finalize();
      // LayerNorm gains/biases away from 1/0 so their backward matters.
      const prng = new Rng(8);
      for (const p of refT.params) {
        if (!/\.ln/.test(p.name)) continue;
        p.pack.writeAll(new Map([[p.name, Float32Array.from({ length: p.size }, () => (p.name.endsWith('gamma') || p.name.endsWith('weight') ? 1 : 0) + prng.uniform(-0.5, 0.5))]]), { partial: true });
      }
      const values = await refT.readAll();

      const trainable = new ParamPack(rt, 'adapter', true);
      const frozen = new ParamPack(rt, 'base', false);
      const model = new TinyTransformer({ rt, trainable, frozen, rng: new Rng(1) }, 'model', { ...CFG, frozen: true });
      const delta = trainable.add('adapter.delta', [CFG.dim], new Float32Array(CFG.dim));
      const { hook, seen } = deltaOutputHook(rt, delta, rows, CFG.dim);
      model.blocks[at]!.attn.outputAdapter = hook;
      trainable.finalize();
      frozen.finalize();
      frozen.writeAll(values);

      const x = randomArray(rows * CFG.inDim, 9);
      const dy = randomArray(rows * CFG.outDim, 10);
      const run = (m: TinyTransformer, pack: ParamPack) => {
        rt.write(m.input.value, x);
        rt.write(m.output.grad!, dy);
        const list = new CommandList('step');
        list.push(pack.zeroGradOp());
        m.recordForward(list);
        const backward = new CommandList('backward');
        m.recordBackward(backward);
        list.append(backward);
        rt.submit([list]);
        return backward.ops.map((o) => o.label);
      };
      const full = run(ref, refT);
      const want = await rt.read(refT.get(`model.blocks.${at}.attn.o_proj.bias`).grad);
      const labels = run(model, trainable);
      expect(seen.inputGrad).toBe(false);
      expect(Math.max(...Array.from(want, Math.abs))).toBeGreaterThan(1e-3);
      expect(maxRelError(await rt.read(delta.grad), want)).toBeLessThan(1e-5);
      // Pruned: the adapted block's q/k/v/o dx and attention kernels, every block below, the embedding.
      const own = (l: string) => l.includes(`blocks.${at}.`) && /attn\.[qkvo]_proj\.dx|attention_/.test(l);
      expect(labels.filter(own)).toEqual([]);
      expect(full.filter(own).length).toBeGreaterThan(3);
      expect(labels.some((l) => l.includes(`blocks.${at}.mlp.fc1.dx`))).toBe(true);
      expect(labels.some((l) => l.includes('blocks.0.'))).toBe(at === 0);
      expect(labels.some((l) => l.includes('model.embed'))).toBe(false);
      expect(full.some((l) => l.includes('model.embed'))).toBe(true);
    });
  }
});
