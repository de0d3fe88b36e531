/**
 * The smallest end-to-end case through the built page in headless Chromium (SwiftShader WebGPU):
 * the synthetic-regression task — base pre-trained in the page, then every parameter fine-tuned in
 * the engine worker — trains on one click; loss points stream in and the loss drops.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, inject, test } from 'vitest';
import { launchChromium, screenshot, serveStatic, watchPage, type StaticServer } from './helpers/browser';

let server: StaticServer;
let browser: Browser;

beforeAll(async () => {
  server = await serveStatic(inject('distDir'));
  browser = await launchChromium({ webgpu: true });
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

test('one click trains the regression task in the worker: loss points stream in and the loss goes down', async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const { errors } = watchPage(page);
  await page.goto(`${server.url}#task=regression&adapter.kind=none&training.steps=300`);
  await page.locator('[data-testid="engine-phase"][data-phase="ready"]').waitFor({ timeout: 90_000 });
  await page.getByTestId('play').click();
  await page.locator('[data-testid="session-status"][data-phase="training"]').waitFor({ timeout: 60_000 });
  await page.locator('[data-testid="session-status"][data-phase="ready"], [data-testid="session-status"][data-phase="error"]').waitFor({ timeout: 240_000 });
  const status = page.getByTestId('session-status');
  expect(await status.getAttribute('data-phase'), await page.getByTestId('session-message').innerText().catch(() => '')).toBe('ready');
  expect(Number(await status.getAttribute('data-step'))).toBe(300);
  expect(await page.getByTestId('session-message').innerText()).toContain('finished at step 300');
  expect(Number(await page.getByTestId('runs-chart').getAttribute('data-points'))).toBe(300);
  // The chart really drew the curves (plotly renders an SVG path per line trace: train and validation).
  // (Charts redraw in the animation frame after their data lands.)
  await expect.poll(() => page.locator('[data-testid="runs-chart"] .scatterlayer path.js-line').count()).toBe(2);
  await expect.poll(() => page.evaluate(() => (document.querySelector('[data-testid="runs-chart"]') as unknown as { data: { y: number[] }[] }).data[0]!.y.length)).toBe(300);
  const traces: { name: string; y: number[] }[] = await page.evaluate(() => {
    const el = document.querySelector('[data-testid="runs-chart"]') as unknown as { data: { name: string; y: number[] }[] };
    return el.data.map((t) => ({ name: t.name, y: t.y }));
  });
  const losses = traces.find((t) => t.name.endsWith('(train)'))!.y;
  const validation = traces.find((t) => t.name.endsWith('(validation)'))!.y;
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  const first = mean(losses.slice(0, 10));
  const last = mean(losses.slice(-10));
  console.log(`e2e regression: loss ${first.toExponential(3)} → ${last.toExponential(3)}; validation ${validation[0]!.toExponential(3)} → ${validation[validation.length - 1]!.toExponential(3)}; ${await status.innerText()}`);
  expect(Number.isFinite(last)).toBe(true);
  expect(first / last).toBeGreaterThan(5);
  expect(validation[validation.length - 1]!).toBeLessThan(validation[0]!);
  expect(errors).toEqual([]);
  await screenshot(page, 'regression-trained');
});
