/** The built page trains the demo model in headless Chromium (SwiftShader WebGPU): loss points appear and decrease. */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, inject, test } from 'vitest';
import { launchChromium, screenshot, serveStatic, type StaticServer } from './helpers/browser';

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

test('one click trains the demo model in the worker: loss points stream in and the loss goes down', async () => {
  const page = await browser.newPage({ viewport: { width: 1000, height: 1000 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto(server.url);
  await page.locator('[data-testid="engine-phase"][data-phase="ready"]').waitFor({ timeout: 90_000 });
  await page.getByTestId('train-button').click();
  await page.locator('[data-testid="demo-status"][data-status="stopped"]').waitFor({ timeout: 240_000 });
  const status = await page.getByTestId('demo-status').innerText();
  expect(status).toMatch(/stopped \(done\) at step 300/);
  const points = Number(await page.getByTestId('loss-chart').getAttribute('data-points'));
  expect(points).toBe(300);
  // The chart really drew the curve (plotly renders an SVG path for the trace).
  expect(await page.locator('[data-testid="loss-chart"] .scatterlayer path.js-line').count()).toBe(1);
  const losses: number[] = await page.evaluate(() => {
    const el = document.querySelector('[data-testid="loss-chart"]') as unknown as { data: { y: number[] }[] };
    return el.data[0]!.y;
  });
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  const first = mean(losses.slice(0, 10));
  const last = mean(losses.slice(-10));
  console.log(`e2e demo: loss ${first.toExponential(3)} → ${last.toExponential(3)}; ${status}`);
  expect(Number.isFinite(last)).toBe(true);
  expect(first / last).toBeGreaterThan(5);
  expect(errors).toEqual([]);
  await screenshot(page, 'demo-trained');
});
