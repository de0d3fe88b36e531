/**
 * What the e2e files that drive the built page share: the page served and one Chromium with
 * WebGPU for the whole file (started in beforeAll, closed in afterAll), and opening the page and
 * waiting until its engine worker reports ready.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, inject } from 'vitest';
import { launchChromium, serveStatic, watchPage, type LaunchOptions, type StaticServer } from './browser';

/** SwiftShader device creation in a cold browser can take a while on 2 cores. */
export const READY_MS = 90_000;
export const ENGINE_READY = '[data-testid="engine-phase"][data-phase="ready"]';

export interface ServedPage {
  /** The built page (dist/), served on 127.0.0.1; set in beforeAll. */
  readonly server: StaticServer;
  /** One headless Chromium for the file; set in beforeAll. */
  readonly browser: Browser;
}

/** Registers beforeAll/afterAll that serve the built page and launch Chromium (WebGPU on unless told otherwise). */
export function useServedPage(options: LaunchOptions = { webgpu: true }): ServedPage {
  const env = {} as { server: StaticServer; browser: Browser };
  beforeAll(async () => {
    env.server = await serveStatic(inject('distDir'));
    env.browser = await launchChromium(options);
  });
  afterAll(async () => {
    await env.browser?.close();
    await env.server?.close();
  });
  return env;
}

/** Navigates to `url` and waits until the engine reports ready. */
export async function gotoReady(page: Page, url: string, timeout = READY_MS): Promise<void> {
  await page.goto(url, { timeout });
  await page.locator(ENGINE_READY).waitFor({ timeout });
}

/** A new page of `browser` at `url` with its errors collected (watchPage), once the engine is ready. */
export async function openReadyPage(browser: Browser, url: string, viewport = { width: 1400, height: 1000 }): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport });
  const { errors } = watchPage(page);
  await gotoReady(page, url);
  return { page, errors };
}
