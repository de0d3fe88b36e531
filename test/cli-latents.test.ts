/** `npm run cli -- latents`: a page link's settings → trained session → site metrics and a dashboard as JSON. */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { latentsCommand } from '../src/cli/latents';

describe('cli latents', () => {
  it('dumps the training-window metrics of every site and a unit dashboard', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'latents-')), 'out.json');
    const code = await latentsCommand(['--config', 'task=regression&adapter.kind=stan&adapter.stan.k=4&training.batch=2', '--steps', '6', '--small', '--window', '64', '--unit', '1', '--eval', '--out', out]);
    expect(code).toBe(0);
    const j = JSON.parse(readFileSync(out, 'utf8'));
    expect(j.step).toBe(6);
    expect(j.sites.length).toBe(j.groups.length);
    const site = j.sites[0];
    expect(site.source).toBe('training');
    expect(site.samples).toBe(64); // 4 steps × 2 sequences × 8 tokens
    expect(site.metrics.l0).toBeGreaterThan(0);
    expect(site.metrics.l0).toBeLessThanOrEqual(4);
    expect(site.metrics.histogram.counts.length).toBe(24);
    expect(j.dashboard.unit).toBe(1);
    expect(Array.isArray(j.dashboard.histogram.counts)).toBe(true);
    expect(typeof j.dashboard.effect.deltaLoss).toBe('number');
    // --eval: the validation loss and the held-out set's metrics per group.
    expect(j.validation.step).toBe(6);
    expect(Number.isFinite(j.validation.loss)).toBe(true);
    expect(j.heldOut.length).toBe(j.groups.length);
    expect(j.heldOut[0].samples).toBeGreaterThan(0);
    expect(j.heldOut[0].metrics.deadFraction).toBeGreaterThanOrEqual(0);
    expect(j.heldOut[0].metrics.deadFraction).toBeLessThanOrEqual(1);
  });

  it('refuses a bad link with the field named', async () => {
    expect(await latentsCommand(['--config', 'task=nope'])).toBe(2);
    await expect(latentsCommand(['--steps', '-1'])).rejects.toThrow(/--steps/);
  });
});
