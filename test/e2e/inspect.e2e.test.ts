/**
 * Inspection in the built page (headless Chromium, SwiftShader WebGPU), issue 15: after training
 * steps the metrics panel shows L0 / dead / dense and the density histogram of the training
 * window; a latent's dashboard shows its activation histogram, quantile examples, where it fires,
 * the effect of switching it off and co-active latents (one of which opens); drawing on the
 * 28×28 canvas changes the set of firing latents; on the Fourier task, placed observations get
 * reconstructions and "encode with the atoms" returns a code and a reconstruction. Prints the
 * median time of each interaction (request → DOM updated). Small shapes, few steps.
 */
import type { Page } from 'playwright-core';
import { afterAll, describe, expect, test } from 'vitest';
import { screenshot } from './helpers/browser';
import { openReadyPage, useServedPage } from './helpers/page';

const env = useServedPage();
const times: Record<string, number[]> = {};

function note(kind: string, ms: number): void {
  (times[kind] ??= []).push(ms);
}
const median = (xs: number[]) => {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

afterAll(() => {
  const lines = Object.entries(times).map(([k, v]) => `${k} ${median(v).toFixed(0)} ms (n=${v.length})`);
  console.log(`e2e inspect: median interaction times — ${lines.join('; ')}`);
});

const openPage = (hash: string) => openReadyPage(env.browser, env.server.url + hash);

async function settled(page: Page, step: number, timeout = 240_000): Promise<void> {
  await page.locator(`[data-testid="session-status"][data-phase="ready"][data-step="${step}"], [data-testid="session-status"][data-phase="error"]`).waitFor({ timeout });
  expect(await page.getByTestId('session-status').getAttribute('data-phase')).toBe('ready');
}

/** Runs `action` and waits until `done()` holds; records the time. */
async function timed(kind: string, action: () => Promise<unknown>, done: () => Promise<unknown>): Promise<void> {
  const t0 = Date.now();
  await action();
  await done();
  note(kind, Date.now() - t0);
}

const firing = (page: Page) => page.getByTestId('own-firing').getAttribute('data-units');

describe('inspection in the page', () => {
  test('digits × STAN: metrics, a latent dashboard, co-active link, table sort, drawing changes the firing latents', async () => {
    const { page, errors } = await openPage('#task=digits&adapter.kind=stan&adapter.stan.k=4&adapter.stan.expansion=1&training.batch=8&training.steps=30');
    try {
      await timed(
        'build + 10 steps',
        () => page.getByTestId('step-10').click(),
        () => settled(page, 10),
      );
      // The metrics panel: the training window's L0 / dead / dense and the histogram.
      const metrics = page.getByTestId('metrics-panel');
      await metrics.getByTestId('metric-l0').waitFor({ timeout: 60_000 });
      expect(Number(await metrics.getByTestId('metric-l0').innerText())).toBeGreaterThan(0);
      expect(await metrics.getByTestId('metric-dead').innerText()).toMatch(/% \(\d+ of 64\)/);
      expect(await metrics.getByTestId('metric-dense').innerText()).toMatch(/%/);
      expect(Number(await page.getByTestId('density-histogram').getAttribute('data-bins'))).toBe(24);
      expect(Number(await page.getByTestId('density-histogram').getAttribute('data-units'))).toBe(64);
      expect(Number(await page.getByTestId('metrics-rows').getAttribute('data-rows'))).toBeGreaterThan(0);
      await timed(
        'step → metrics',
        () => page.getByTestId('step').click(),
        () => settled(page, 11),
      );

      // A latent's dashboard from a scatter dot.
      const dot = page.locator('[data-testid="latent-scatter"] .scatterlayer .trace:first-child path.point').first();
      await expect.poll(() => page.locator('[data-testid="latent-scatter"] .scatterlayer .trace:first-child path.point').count(), { timeout: 30_000 }).toBeGreaterThan(0);
      await timed(
        'open a latent',
        () => dot.click({ force: true }),
        () => page.locator('[data-testid="latent-view"][data-busy="0"] [data-testid="activation-histogram"]').waitFor({ timeout: 60_000 }),
      );
      const view = page.getByTestId('latent-view');
      expect(Number(await view.getByTestId('activation-histogram').getAttribute('data-bins'))).toBe(20);
      expect(Number(await view.getByTestId('latent-examples').getAttribute('data-count'))).toBeGreaterThan(0);
      expect(Number(await view.getByTestId('latent-quantiles').getAttribute('data-groups'))).toBeGreaterThan(0);
      expect(await view.getByTestId('firing-positions').first().getAttribute('data-kind')).toBe('patches');
      expect(Number(await view.getByTestId('firing-positions').first().getAttribute('data-firing'))).toBeGreaterThan(0);
      expect(await view.getByTestId('latent-effect').getAttribute('data-delta-loss')).toMatch(/^-?\d/);
      expect(Number(await view.getByTestId('latent-coactive').getAttribute('data-count'))).toBeGreaterThan(0);
      expect(await view.getByTestId('class-bars').count()).toBe(1);
      // The selected dot is ringed.
      expect(await page.locator('[data-testid="latent-scatter"] .scatterlayer .trace:nth-child(3) path.point').count()).toBe(1);
      await screenshot(page, 'inspect-digits-dashboard');
      const first = Number(await view.getAttribute('data-unit'));
      await timed(
        'open a co-active latent',
        () => view.getByTestId('coactive-link').first().click(),
        () => page.locator(`[data-testid="latent-view"][data-busy="0"]:not([data-unit="${first}"]) [data-testid="activation-histogram"]`).waitFor({ timeout: 60_000 }),
      );

      // The table sorts by effect (filled once training is paused).
      await page.getByTestId('sort-effect').click();
      expect(Number(await page.getByTestId('latent-table').getAttribute('data-rows'))).toBe(64);

      // Your own drawing: a stroke, then another: the set of firing latents changes.
      const canvas = page.getByTestId('digit-canvas');
      await canvas.scrollIntoViewIfNeeded();
      const box = (await canvas.boundingBox())!;
      const stroke = async (x0: number, y0: number, x1: number, y1: number) => {
        await page.mouse.move(box.x + x0 * box.width, box.y + y0 * box.height);
        await page.mouse.down();
        for (let i = 1; i <= 6; i++) await page.mouse.move(box.x + (x0 + ((x1 - x0) * i) / 6) * box.width, box.y + (y0 + ((y1 - y0) * i) / 6) * box.height);
        await page.mouse.up();
      };
      let last: string | null = null;
      const strokes: [number, number, number, number][] = [
        [0.5, 0.15, 0.5, 0.85],
        [0.2, 0.5, 0.8, 0.5],
        [0.2, 0.2, 0.8, 0.8],
      ];
      const seen = new Set<string>();
      for (const s of strokes) {
        const before = last;
        await timed(
          'stroke → firing latents',
          () => stroke(...s),
          () => expect.poll(() => firing(page), { timeout: 60_000 }).not.toBe(before),
        );
        last = await firing(page);
        seen.add(last!);
      }
      expect(seen.size).toBeGreaterThan(1);
      expect(await page.getByTestId('own-summary').innerText()).toMatch(/predicts \d/);
      await screenshot(page, 'inspect-digits-own-input');
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });

  test('fourier: placed observations, firing atoms, ISTA encoding with the atoms', async () => {
    const { page, errors } = await openPage('#task=fourier&training.steps=20');
    try {
      await timed(
        'build + 1 step',
        () => page.getByTestId('step').click(),
        () => settled(page, 1),
      );
      await page.getByTestId('adapted-output').waitFor({ timeout: 60_000 });
      await page.getByTestId('metric-l0').waitFor({ timeout: 60_000 });
      await timed(
        'load observations → outputs',
        () => page.getByTestId('placer-load').click(),
        () => page.getByTestId('own-firing').waitFor({ timeout: 60_000 }),
      );
      const placer = page.getByTestId('fourier-placer');
      const n0 = Number(await placer.getAttribute('data-points'));
      expect(n0).toBeGreaterThan(0);
      const box = (await placer.boundingBox())!;
      const before = await firing(page);
      await timed(
        'place a point → outputs',
        () => page.mouse.click(box.x + box.width * 0.37, box.y + box.height * 0.2),
        () => expect.poll(() => firing(page), { timeout: 60_000 }).not.toBe(before),
      );
      // All observations are placed, so the click moved the nearest one: the count stays what the model takes.
      expect(Number(await placer.getAttribute('data-points'))).toBe(n0);
      expect(Number(await page.getByTestId('placer-need').getAttribute('data-need'))).toBe(n0);
      for (const lambda of ['0.05', '0.5']) {
        await page.getByTestId('encode-lambda').fill(lambda);
        await timed(
          'encode with the atoms',
          () => page.getByTestId('encode-button').click(),
          () => page.locator('[data-testid="encode-result"]').waitFor({ timeout: 60_000 }).then(() => expect.poll(() => page.getByTestId('encode-button').isEnabled(), { timeout: 60_000 }).toBe(true)),
        );
      }
      expect(Number(await page.getByTestId('encode-result').getAttribute('data-active'))).toBeGreaterThan(0);
      await page.getByTestId('encode-code').waitFor();
      await page.getByTestId('encode-reconstruction').waitFor();
      await screenshot(page, 'inspect-fourier-encode');
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
