/**
 * "Benchmark this GPU" in headless Chromium (SwiftShader): the header tab opens the page, it
 * names the adapter, runs the smoke preset in the engine worker with a progress bar, shows ms and
 * GFLOP/s per row, copies JSON with the row shape of bench/results/latest.json, and Cancel stops a
 * longer run.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BenchResult } from '../../src/bench/types';
import { REPO_ROOT, screenshot, watchPage } from './helpers/browser';
import { gotoReady, useServedPage } from './helpers/page';

const env = useServedPage();

describe('Benchmark this GPU', () => {
  it('runs in the worker on this adapter: progress, ms and GFLOP/s rows, JSON shaped like latest.json, copy and cancel', async () => {
    const context = await env.browser.newContext({ viewport: { width: 1100, height: 900 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: env.server.url });
    const page = await context.newPage();
    const watch = watchPage(page);
    await gotoReady(page, env.server.url);

    await page.getByTestId('tab-bench').click();
    await page.getByTestId('bench-page').waitFor({ state: 'visible' });
    const adapterText = await page.getByTestId('bench-adapter').innerText();
    expect(adapterText.toLowerCase()).toContain('swiftshader');

    await page.getByTestId('bench-preset-smoke').check();
    await page.getByTestId('bench-run').click();
    await page.locator('[data-testid="bench-status"][data-phase="running"]').waitFor({ timeout: 10_000 });
    await page.locator('[data-testid="bench-status"][data-phase="done"]').waitFor({ timeout: 170_000 });
    await screenshot(page, 'bench-page');

    const kernelRows = await page.locator('[data-testid="bench-kernels"] tbody tr').allInnerTexts();
    expect(kernelRows.length).toBe(4); // 2 shapes × 2 variants
    for (const r of kernelRows) expect(r).toMatch(/matmul\.(regblock|tiled)\s+\d+×\d+×\d+\s+[\d.]+\s+[\d.]+/);
    const stepRows = await page.locator('[data-testid="bench-steps"] tbody tr').allInnerTexts();
    expect(stepRows.length).toBe(1);
    expect(stepRows[0]).toMatch(/regression-small.*\t\d+\t1\t0$/);

    // The JSON: latest.json's top-level fields and row keys.
    const json = await page.getByTestId('bench-json').inputValue();
    const res = JSON.parse(json) as BenchResult;
    const latest = JSON.parse(readFileSync(join(REPO_ROOT, 'bench/results/latest.json'), 'utf8')) as BenchResult;
    for (const key of ['adapter', 'date', 'quick', 'rows', 'trainStep']) expect(Object.keys(res)).toContain(key);
    expect(Object.keys(res.adapter).sort()).toEqual(Object.keys(latest.adapter).sort());
    for (const row of res.rows) {
      for (const key of Object.keys(latest.rows[0]!).filter((k) => ['kernel', 'shape', 'ms', 'gflops'].includes(k))) expect(row).toHaveProperty(key);
      expect(row.ms).toBeGreaterThan(0);
      expect(row.gflops).toBeGreaterThan(0);
    }
    for (const key of ['model', 'ms', 'dispatches', 'submits', 'readbacks', 'metricReadbacksPerStep']) expect(res.trainStep[0]).toHaveProperty(key);
    expect(res.trainStep[0]).toMatchObject({ submits: 1, readbacks: 0 });
    expect(res.runtime).toMatch(/Chrome/);

    await page.getByTestId('bench-copy').click();
    await page.getByTestId('bench-copied').waitFor();
    const clip = await page.evaluate(() => navigator.clipboard.readText());
    expect(JSON.parse(clip)).toEqual(res);

    // Cancel a longer run after its first item.
    await page.getByTestId('bench-preset-quick').check();
    await page.getByTestId('bench-run').click();
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="bench-progress"]')?.getAttribute('value') ?? 0) >= 1, undefined, { timeout: 120_000 });
    await page.getByTestId('bench-cancel').click();
    await page.locator('[data-testid="bench-status"][data-phase="cancelled"]').waitFor({ timeout: 120_000 });
    expect(await page.locator('[data-testid="bench-kernels"] tbody tr').count()).toBeGreaterThan(0);

    // Back to the playground: still there.
    await page.getByTestId('tab-playground').click();
    expect(await page.getByTestId('bench-page').isVisible()).toBe(false);
    expect(watch.errors).toEqual([]);
    await context.close();
  });
});
