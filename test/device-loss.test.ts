/**
 * Device loss: destroy the GPUDevice in the middle of a run → DeviceWatch reports the loss, a new
 * device is acquired, the last autosave (session-file bytes, written every 8 steps) is restored
 * into a freshly built model and trainer, and training continues from the autosave's step with
 * finite losses — the same losses, bit for bit, as an uninterrupted run.
 */
import { describe, expect, it } from 'vitest';
import type { AdapterSpec } from '../src/adapters/attach';
import { defaultConfig } from '../src/config/defaults';
import { checkPlaygroundConfig } from '../src/persistence/session-checkpoint';

const DEFAULT_CONFIG = defaultConfig();
import type { PlaygroundConfig } from '../src/config/schema';
import type { MetricRow } from '../src/engine/metric-ring';
import { acquireNodeGpu } from '../src/engine/node-gpu';
import { GpuRuntime } from '../src/engine/runtime';
import { encodeSession, sessionFromCheckpoint } from '../src/io/session-file';
import { DeviceWatch, recoverSession } from '../src/persistence/device-recovery';
import { Trainer } from '../src/train/trainer';
import { buildAdaptedModel } from './helpers/adapted-model';

const SPEC: AdapterSpec = { kind: 'lora', config: { rank: 2, alpha: 4 }, targets: ['q_proj', 'v_proj', 'fc2'] };
const CONFIG: PlaygroundConfig = { ...DEFAULT_CONFIG, task: 'regression', adapter: { ...DEFAULT_CONFIG.adapter, kind: 'lora', lora: { rank: 2, alpha: 4 } } };
const OPTS = { lr: 1e-2, metricInterval: 4 };

describe('device loss', () => {
  it('device.destroy() mid-run → loss detected → new device, autosave restored → training continues with the uninterrupted losses', async () => {
    const ctx = await acquireNodeGpu();
    const rt = new GpuRuntime(ctx);
    const watch = new DeviceWatch(ctx);
    const m = buildAdaptedModel(rt, SPEC);
    const rows: MetricRow[] = [];
    const t = new Trainer(rt, m.graph, { ...OPTS, onMetrics: (r) => rows.push(...r) });
    let autosave: Uint8Array | null = null;
    for (let i = 0; i < 2; i++) {
      await t.run(8);
      autosave = encodeSession(sessionFromCheckpoint(await t.checkpoint(), m.graph.packs, { config: CONFIG, base: await m.base(), metrics: { fields: t.fields, rows } }), checkPlaygroundConfig);
    }
    // Lose the device in the middle of the next stretch.
    const running = t.run(1000, { onStep: (s) => s === 19 && ctx.device.destroy() }).then(
      () => null,
      (e: unknown) => e,
    );
    const loss = await watch.lost;
    t.pause();
    await running;
    expect(loss.reason).toBe('destroyed');
    expect(watch.isLost).toBe(true);
    expect(t.step).toBeLessThan(1000);

    const rec = await recoverSession(acquireNodeGpu, autosave!, (rt2) => {
      const m2 = buildAdaptedModel(rt2, SPEC);
      const rows2: MetricRow[] = [];
      const trainer = new Trainer(rt2, m2.graph, { ...OPTS, onMetrics: (r) => rows2.push(...r) });
      return { m2, rows2, trainer, packs: m2.graph.packs };
    });
    expect(rec.rt.device).not.toBe(ctx.device);
    expect(rec.session.step).toBe(16);
    expect(rec.session.base).toEqual(await rec.built.m2.base());
    expect(rec.built.trainer.step).toBe(16);
    await rec.built.trainer.run(8);
    await rec.built.trainer.drain();
    const resumed = rec.built.rows2.map((r) => [r.step, r.values.loss!]);
    expect(resumed.map(([s]) => s)).toEqual([16, 17, 18, 19, 20, 21, 22, 23]);
    expect(resumed.every(([, l]) => Number.isFinite(l))).toBe(true);
    // Uninterrupted reference, built afterwards on the new device (its pipelines are compiled already).
    const ref = buildAdaptedModel(rec.rt, SPEC);
    const refRows: MetricRow[] = [];
    const tr = new Trainer(rec.rt, ref.graph, { ...OPTS, onMetrics: (r) => refRows.push(...r) });
    await tr.run(24);
    await tr.drain();
    const refLoss = new Map(refRows.map((r) => [r.step, r.values.loss!]));
    expect(resumed).toEqual(resumed.map(([s]) => [s, refLoss.get(s!)]));

    for (const x of [rec.built.trainer, tr]) x.destroy();
    for (const x of [rec.built.m2, ref]) x.destroy();
    rec.rt.destroy();
    rec.watch.release();
  });

  it('release() (our own teardown) is not reported as a loss', async () => {
    const ctx = await acquireNodeGpu();
    const watch = new DeviceWatch(ctx);
    watch.release();
    await ctx.device.lost;
    const first = await Promise.race([watch.lost.then(() => 'lost'), new Promise((r) => setTimeout(() => r('quiet'), 50))]);
    expect(first).toBe('quiet');
    expect(watch.isLost).toBe(false);
  });
});
