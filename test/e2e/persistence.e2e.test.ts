/**
 * Persistence through the real page (built, headless Chromium, SwiftShader WebGPU):
 *  - Step and +10 autosave; reload → "Resume this tab's previous session?" → resume continues at
 *    the autosaved step, and the next step's loss equals the one the uninterrupted run produced;
 *  - two tabs training different tasks each resume their own run after reload, with their
 *    masks and k; the other tab's run is offered as the other tab's;
 *  - export adapter (adapter_config.json + adapter_model.safetensors) → reset → import adapter
 *    reproduces the adapted outputs; export session → reset → import session restores step and outputs.
 */
import { readFile } from 'node:fs/promises';
import type { Download, Page } from 'playwright-core';
import { expect, test } from 'vitest';
import { screenshot, watchPage } from './helpers/browser';
import { useServedPage } from './helpers/page';

const env = useServedPage();

const HASH = '#task=regression&adapter.kind=stan&adapter.targets=q_proj%2Cv_proj&adapter.stan.k=4&training.batch=2&training.steps=30&training.warmup=0';

async function ready(page: Page): Promise<void> {
  const phase = page.locator('[data-testid="engine-phase"][data-phase="ready"], [data-testid="engine-phase"][data-phase="error"]');
  await phase.waitFor({ timeout: 180_000 });
  if ((await phase.getAttribute('data-phase')) === 'error') {
    await screenshot(page, 'persistence-engine-error');
    throw new Error(`the engine failed to start: ${await page.locator('.app').innerText()}`);
  }
}

async function waitStep(page: Page, step: number): Promise<void> {
  await page.locator(`[data-testid="session-status"][data-phase="ready"][data-step="${step}"]`).waitFor({ timeout: 240_000 });
}

/** The live run's train losses by step, from the plotly chart (the last train trace). */
async function liveLosses(page: Page): Promise<Map<number, number>> {
  const pairs: [number, number][] = await page.evaluate(() => {
    const el = document.querySelector('[data-testid="runs-chart"]') as unknown as { data?: { x: number[]; y: number[]; name: string }[] };
    const train = (el.data ?? []).filter((t) => t.name.endsWith('(train)'));
    const last = train[train.length - 1];
    return last ? last.x.map((x, i) => [x, last.y[i]!] as [number, number]) : [];
  });
  return new Map(pairs);
}

async function lossAt(page: Page, step: number): Promise<number> {
  let v: number | undefined;
  await expect.poll(async () => (v = (await liveLosses(page)).get(step)), { timeout: 60_000 }).toBeDefined();
  return v!;
}

/** The view's adapted outputs as drawn (metric text + SVG paths). */
async function outputs(page: Page): Promise<string> {
  const metric = await page.getByTestId('view-metric').innerText();
  const paths = await page.locator('[data-testid="adapted-output"] svg').evaluateAll((svgs) => svgs.map((s) => s.innerHTML).join('\n'));
  return `${metric}\n${paths}`;
}

/** Waits until the drawn outputs stop changing (the view refresh after a step/import has landed). */
async function settledOutputs(page: Page, not?: string): Promise<string> {
  let prev = '';
  let same = 0;
  for (let i = 0; i < 120 && same < 3; i++) {
    await page.waitForTimeout(500);
    const cur = await outputs(page).catch(() => '');
    same = cur && cur === prev && cur !== not && cur.includes('adapted') ? same + 1 : 0;
    prev = cur;
  }
  return prev;
}

test('Step and +10 autosave; reload → resume: the autosaved step, and the next loss equals the uninterrupted run (rebuilt with Reset)', async () => {
  const page = await env.browser.newPage({ viewport: { width: 1200, height: 1400 } });
  const { errors } = watchPage(page);
  await page.goto(`${env.server.url}${HASH}`);
  await ready(page);
  await page.getByTestId('play').click();
  await waitStep(page, 30);
  // The stop autosaves (IndexedDB, from the worker)…
  await page.locator('[data-testid="autosave-status"][data-ok="true"][data-step="30"]').waitFor({ timeout: 60_000 });
  // …and so does Step.
  await page.getByTestId('step').click();
  await waitStep(page, 31);
  await page.locator('[data-testid="autosave-status"][data-ok="true"][data-step="31"]').waitFor({ timeout: 60_000 });

  await page.reload();
  await ready(page);
  const prompt = page.getByTestId('resume-prompt');
  await prompt.waitFor({ timeout: 60_000 });
  expect(await prompt.innerText()).toMatch(/Resume this tab's previous session\?.*regression.*stan.*step 31/s);
  await page.getByTestId('resume-autosave').click();
  await waitStep(page, 31);
  expect(await page.getByTestId('persistence-message').innerText()).toMatch(/Resumed at step 31/);
  // The restored history is on the chart.
  await expect.poll(async () => (await liveLosses(page)).size, { timeout: 30_000 }).toBe(31); // charts draw on a later frame
  await page.getByTestId('step').click();
  await waitStep(page, 32);
  const resumed = await lossAt(page, 31);

  // The uninterrupted run, rebuilt with the same seed: +10 autosaves too.
  await page.getByTestId('reset').click();
  await waitStep(page, 0);
  await page.getByTestId('step-10').click();
  await waitStep(page, 10);
  await page.locator('[data-testid="autosave-status"][data-ok="true"][data-step="10"]').waitFor({ timeout: 60_000 });
  for (const next of [20, 30]) {
    await page.getByTestId('step-10').click();
    await waitStep(page, next);
  }
  for (const next of [31, 32]) {
    await page.getByTestId('step').click();
    await waitStep(page, next);
  }
  const uninterrupted = await lossAt(page, 31);
  console.log(`e2e resume: loss at step 31 uninterrupted ${uninterrupted}, after reload + resume ${resumed}`);
  expect(Number.isFinite(resumed)).toBe(true);
  expect(resumed).toBe(uninterrupted);
  await screenshot(page, 'resume-after-reload');
  expect(errors).toEqual([]);
  await page.close();
});

test('two tabs training different tasks each resume their own run after reload, with the units switched off and the k set; the other tab\'s run is offered as theirs', async () => {
  // One browser context: the tabs share IndexedDB, as tabs of one browser do.
  const context = await env.browser.newContext({ viewport: { width: 1200, height: 1400 } });
  const a = await context.newPage();
  const b = await context.newPage();
  const watched = [watchPage(a), watchPage(b)];
  const t0 = Date.now();
  const mark = (what: string) => console.log(`e2e two tabs: ${what} at ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  await a.goto(`${env.server.url}${HASH}`);
  await b.goto(`${env.server.url}#task=fourier`);
  await Promise.all([ready(a), ready(b)]);
  // A: Step, +10, then a unit off and a lower k — each saved with its run.
  await a.getByTestId('step').click();
  await waitStep(a, 1);
  await a.getByTestId('step-10').click();
  await waitStep(a, 11);
  await a.locator('[data-testid="autosave-status"][data-ok="true"][data-step="11"]').waitFor({ timeout: 60_000 });
  await a.getByTestId('unit-toggle-0').click();
  await a.locator('[data-testid="autosave-status"][data-overrides="true"]').waitFor({ timeout: 60_000 });
  const slider = a.getByTestId('k-slider');
  await slider.focus();
  await a.keyboard.press('ArrowLeft');
  await a.keyboard.press('ArrowLeft');
  await expect.poll(async () => a.getByTestId('k-value').getAttribute('data-applied'), { timeout: 30_000 }).toBe('2');
  await expect.poll(() => a.getByTestId('autosave-status').innerText(), { timeout: 30_000 }).toMatch(/1 unit off, k = 2/);
  mark('A stepped 11, unit off, k = 2, all saved');
  // B: another task, one step.
  await b.getByTestId('step').click();
  await waitStep(b, 1);
  await b.locator('[data-testid="autosave-status"][data-ok="true"][data-step="1"]').waitFor({ timeout: 60_000 });

  mark('B stepped 1, saved');
  await a.reload();
  await ready(a);
  const promptA = a.getByTestId('resume-prompt');
  await promptA.waitFor({ timeout: 60_000 });
  expect([await promptA.getAttribute('data-task'), await promptA.getAttribute('data-step')]).toEqual(['regression', '11']);
  // B's run is listed as another tab's (and B is open), never as this tab's.
  const other = a.locator('[data-testid="other-autosave"][data-task="fourier"]');
  expect(await other.count()).toBe(1);
  expect(await other.textContent()).toMatch(/step 1.*that tab is open/s);
  expect(await a.getByTestId('other-autosaves').innerText()).toMatch(/other tabs.*not this tab's/s);
  await a.getByTestId('resume-autosave').click();
  await waitStep(a, 11);
  // The views come back with the session, in the same update: no "press Play" in between.
  const atResume = await a.evaluate(() => ({
    output: document.querySelector('[data-testid="adapted-output"]') !== null,
    placeholder: document.querySelector('[data-testid="view-placeholder"]') !== null,
  }));
  expect(atResume).toEqual({ output: true, placeholder: false });
  expect(await a.getByTestId('unit-toggle-0').isChecked()).toBe(false);
  expect(await a.getByTestId('unit-toggle-1').isChecked()).toBe(true);
  expect(await a.getByTestId('k-value').getAttribute('data-applied')).toBe('2');
  expect(await a.getByTestId('score-all-on').count()).toBe(1);

  mark('A resumed its own run');
  await b.reload();
  await ready(b);
  const promptB = b.getByTestId('resume-prompt');
  await promptB.waitFor({ timeout: 60_000 });
  expect([await promptB.getAttribute('data-task'), await promptB.getAttribute('data-step')]).toEqual(['fourier', '1']);
  await b.getByTestId('resume-autosave').click();
  await waitStep(b, 1);
  expect(await b.getByTestId('task-fourier').isChecked()).toBe(true);
  await b.getByTestId('adapted-output').waitFor({ timeout: 30_000 });
  mark('B resumed its own run');
  await screenshot(a, 'two-tabs-a-resumed');
  expect(watched.flatMap((w) => w.errors)).toEqual([]);
  await context.close();
}, 360_000); // two tabs on SwiftShader, each built twice

test('export adapter → reset → import adapter, and export session → reset → import session, reproduce the outputs', async () => {
  const page = await env.browser.newPage({ viewport: { width: 1200, height: 1400 }, acceptDownloads: true });
  const { errors } = watchPage(page);
  await page.goto(`${env.server.url}${HASH.replace('training.steps=30', 'training.steps=20')}`);
  await ready(page);
  const offer = page.getByTestId('discard-autosave');
  if (await offer.isVisible().catch(() => false)) await offer.click();
  await page.getByTestId('play').click();
  await waitStep(page, 20);
  const trained = await settledOutputs(page);

  const downloads: Download[] = [];
  page.on('download', (d) => downloads.push(d));
  await page.getByTestId('export-adapter').click();
  await expect.poll(() => downloads.length, { timeout: 60_000 }).toBe(2);
  const files = await Promise.all(downloads.map(async (d) => ({ name: d.suggestedFilename(), path: (await d.path())! })));
  expect(files.map((f) => f.name).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
  const cfg = JSON.parse(await readFile(files.find((f) => f.name.endsWith('.json'))!.path, 'utf8')) as Record<string, unknown>;
  expect(cfg.peft_type).toBe('STAN');
  expect(cfg.target_modules).toEqual(['blocks.0.attn.q_proj', 'blocks.0.attn.v_proj']);
  await page.getByTestId('export-session').click();
  await expect.poll(() => downloads.length, { timeout: 60_000 }).toBe(3);
  const sessionFile = { name: downloads[2]!.suggestedFilename(), path: (await downloads[2]!.path())! };
  expect(sessionFile.name).toMatch(/^session-regression-stan-step20\.safetensors$/);

  // A fresh model: the outputs change back to the untrained adapter's.
  await page.getByTestId('reset').click();
  await waitStep(page, 0);
  const fresh = await settledOutputs(page, trained);
  expect(fresh).not.toBe(trained);

  // Downloads land under random names: hand the files back under their real names.
  await page.getByTestId('import-adapter-files').setInputFiles(await Promise.all(files.map(async (f) => ({ name: f.name, mimeType: 'application/octet-stream', buffer: await readFile(f.path) }))));
  await page.locator('[data-testid="persistence-message"][data-error="false"]').filter({ hasText: 'Imported the stan adapter' }).waitFor({ timeout: 120_000 });
  const imported = await settledOutputs(page, fresh);
  expect(imported).toBe(trained);

  await page.getByTestId('reset').click();
  await waitStep(page, 0);
  await settledOutputs(page, trained);
  await page.getByTestId('import-session-file').setInputFiles({ name: sessionFile.name, mimeType: 'application/octet-stream', buffer: await readFile(sessionFile.path) });
  await page.locator('[data-testid="persistence-message"][data-error="false"]').filter({ hasText: 'step 20' }).waitFor({ timeout: 120_000 });
  await waitStep(page, 20);
  expect(await settledOutputs(page)).toBe(trained);
  await screenshot(page, 'adapter-import');
  expect(errors).toEqual([]);
  await page.close();
});
