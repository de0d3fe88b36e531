/**
 * GPU memory stays flat over a long run: 1,000 training steps of an adapted model (STAN, with the
 * metric ring flushing every 10 steps) allocate no buffer, no pipeline and no bind group; the
 * pool's allocated and live bytes are the same before and after.
 */
import { describe, expect, it } from 'vitest';
import { Trainer } from '../src/train/trainer';
import { buildAdaptedModel } from './helpers/adapted-model';
import { testRuntime } from './helpers/gpu';

describe('GPU memory over a long run', () => {
  it('1,000 steps: allocated bytes, live bytes, buffers, pipelines and bind groups unchanged', async () => {
    const rt = await testRuntime();
    const m = buildAdaptedModel(rt, { kind: 'stan', config: { expansion: 2, k: 4 }, targets: ['q_proj', 'fc1'] });
    const t = new Trainer(rt, m.graph, { lr: 1e-3, metricInterval: 10 });
    await t.run(10); // first flush: staging buffers are in use from here on
    await t.drain();
    const before = { allocated: rt.pool.allocatedBytes, live: rt.pool.liveBytes, counters: rt.counters };
    await t.run(1000);
    await t.drain();
    const after = { allocated: rt.pool.allocatedBytes, live: rt.pool.liveBytes, counters: rt.counters };
    console.log(`memory flat: ${t.step - 10} steps; pool ${before.allocated} → ${after.allocated} bytes allocated, ${before.live} → ${after.live} live; buffers created ${before.counters.buffers} → ${after.counters.buffers}`);
    expect(t.step).toBe(1010);
    expect(after.allocated).toBe(before.allocated);
    expect(after.live).toBe(before.live);
    expect(after.counters.buffers).toBe(before.counters.buffers);
    expect(after.counters.pipelines).toBe(before.counters.pipelines);
    expect(after.counters.bindGroups).toBe(before.counters.bindGroups);
    expect(after.counters.submits - before.counters.submits).toBe(1000);
    expect(after.counters.readbacks).toBe(before.counters.readbacks);
    t.destroy();
    m.destroy();
  });
});
