/**
 * The built page in Debian's headless Chromium: with WebGPU it acquires an adapter in the
 * engine worker and shows it; without WebGPU it shows an actionable error (role="alert").
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, inject, test } from 'vitest';
import { launchChromium, screenshot, serveStatic, watchPage, type StaticServer } from './helpers/browser';

const NOT_REPORTED = '(not reported by the browser)';
const SETTLE_MS = 90_000; // SwiftShader device creation in a cold browser can take a while on 2 cores

let server: StaticServer;
let browser: Browser | null = null;

beforeAll(async () => {
  server = await serveStatic(inject('distDir'));
});
afterEach(async () => {
  await browser?.close();
  browser = null;
});
afterAll(async () => {
  await server?.close();
});

/**
 * Runs before any page script: counts WebGPU adapter requests made by the page's main thread
 * (the UI must make none: the worker owns the GPU) and records CSP violations.
 */
async function instrument(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const w = window as unknown as { __mainThreadAdapterRequests: number; __cspViolations: string[] };
    w.__mainThreadAdapterRequests = 0;
    w.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => w.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
    const proto = (globalThis as { GPU?: { prototype: { requestAdapter: (...a: unknown[]) => unknown } } }).GPU?.prototype;
    if (proto) {
      const original = proto.requestAdapter;
      proto.requestAdapter = function (this: unknown, ...args: unknown[]) {
        w.__mainThreadAdapterRequests++;
        return original.apply(this, args);
      };
    }
  });
}

async function openPage(b: Browser, url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await b.newPage({ viewport: { width: 1000, height: 800 } });
  const { errors } = watchPage(page);
  await instrument(page);
  await page.goto(url);
  // The engine reports ready or error; anything else after SETTLE_MS is a hang.
  await page.locator('[data-testid="engine-phase"][data-phase="ready"], [data-testid="engine-phase"][data-phase="error"]').waitFor({ timeout: SETTLE_MS });
  return { page, errors };
}

async function pageState(page: Page): Promise<{ adapterRequests: number; cspViolations: string[] }> {
  return page.evaluate(() => {
    const w = window as unknown as { __mainThreadAdapterRequests: number; __cspViolations: string[] };
    return { adapterRequests: w.__mainThreadAdapterRequests, cspViolations: w.__cspViolations };
  });
}

function cspOf(html: string): string {
  const m = /<meta\s+http-equiv="Content-Security-Policy"\s+content="([^"]*)"/i.exec(html);
  if (!m) throw new Error('no <meta http-equiv="Content-Security-Policy"> in the built index.html');
  return m[1]!;
}

describe('built page', () => {
  test('index.html carries a strict Content-Security-Policy, and the browser enforces it', async () => {
    const html = await readFile(join(inject('distDir'), 'index.html'), 'utf8');
    const csp = cspOf(html);
    const directives = new Map(
      csp
        .split(';')
        .map((d) => d.trim().split(/\s+/))
        .filter((parts) => parts[0])
        .map((parts) => [parts[0]!, parts.slice(1)]),
    );
    expect(csp).not.toContain('unsafe-eval');
    expect(directives.get('default-src')).toEqual(["'self'"]);
    expect(directives.get('script-src')).toEqual(["'self'"]);
    expect(directives.get('object-src')).toEqual(["'none'"]);
    // No remote origins anywhere: every source is a keyword or data:/blob:.
    for (const [name, sources] of directives) {
      for (const s of sources) expect(s, `${name} ${s}`).toMatch(/^('self'|'none'|'unsafe-inline'|data:|blob:)$/);
    }
    // The meta precedes every script in the document.
    expect(html.indexOf('Content-Security-Policy')).toBeLessThan(html.indexOf('<script'));

    browser = await launchChromium();
    const { page, errors } = await openPage(browser, server.url);
    // Probes that a strict policy blocks: an inline <script> and a string timer (eval-like).
    // (page.evaluate itself runs through DevTools, which CSP does not govern.)
    const probes = await page.evaluate(async () => {
      const w = window as unknown as { __inlineRan?: boolean; __stringTimerRan?: boolean };
      const s = document.createElement('script');
      s.textContent = 'window.__inlineRan = true;';
      document.head.appendChild(s);
      (setTimeout as unknown as (code: string, ms: number) => number)('window.__stringTimerRan = true;', 0);
      await new Promise((ok) => setTimeout(ok, 100));
      return { inlineRan: w.__inlineRan === true, stringTimerRan: w.__stringTimerRan === true };
    });
    expect(probes).toEqual({ inlineRan: false, stringTimerRan: false });
    const state = await pageState(page);
    expect(state.cspViolations.map((v) => v.split(' ')[0]).sort()).toEqual(['script-src', 'script-src-elem']);
    expect(errors.filter((e) => !/Content Security Policy/.test(e))).toEqual([]);
  });

  test('with WebGPU: the worker acquires an adapter and the page shows what the adapter reports', async () => {
    browser = await launchChromium({ webgpu: true });
    const { page, errors } = await openPage(browser, server.url);
    const phase = await page.getByTestId('engine-phase').getAttribute('data-phase');
    if (phase !== 'ready') {
      const text = await page.getByRole('alert').innerText().catch(() => '(no alert)');
      throw new Error(`expected the engine to be ready, got "${phase}": ${text}`);
    }
    // Only after the UI settled: the page's own view of the adapter, read by this test.
    const before = await pageState(page);
    const reported = await page.evaluate(async () => {
      const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
      if (!adapter) return null;
      const { vendor, architecture, description } = adapter.info;
      return { vendor, architecture, description, storageBuffers: adapter.limits.maxStorageBuffersPerShaderStage };
    });
    expect(reported, 'this launch has --enable-unsafe-webgpu, so the page itself must see an adapter').not.toBeNull();
    const shown = {
      vendor: await page.getByTestId('adapter-vendor').innerText(),
      architecture: await page.getByTestId('adapter-architecture').innerText(),
      description: await page.getByTestId('adapter-description').innerText(),
      storageBuffers: Number(await page.getByTestId('limit-storage-buffers').innerText()),
    };
    const orNotReported = (s: string) => (s === '' ? NOT_REPORTED : s);
    expect(shown).toEqual({
      vendor: orNotReported(reported!.vendor),
      architecture: orNotReported(reported!.architecture),
      description: orNotReported(reported!.description),
      // The worker asks for the adapter's maxima, so the device has the adapter's limit.
      storageBuffers: reported!.storageBuffers,
    });
    const reportsSwiftShader = /swiftshader/i.test(`${reported!.vendor} ${reported!.architecture} ${reported!.description}`);
    expect(await page.getByTestId('swiftshader-note').count()).toBe(reportsSwiftShader ? 1 : 0);
    console.log(`e2e: adapter shown: ${JSON.stringify(shown)}`);
    expect(await page.getByRole('alert').count()).toBe(0);
    // The UI never touched WebGPU itself: no adapter request from the main thread before ours.
    expect(before.adapterRequests).toBe(0);
    expect(before.cspViolations).toEqual([]);
    expect(errors).toEqual([]);
    await screenshot(page, 'webgpu-ready');
  });

  test('with WebGPU switched off: an actionable error with role="alert" and its code', async () => {
    browser = await launchChromium({ webgpu: false, extraArgs: ['--disable-features=WebGPU'] });
    const { page, errors } = await openPage(browser, server.url);
    const probe = await page.evaluate(async () => {
      const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
      if (!gpu) return 'no-gpu-object';
      return (await gpu.requestAdapter()) === null ? 'null-adapter' : 'adapter';
    });
    expect(probe, 'this launch must have no usable WebGPU').not.toBe('adapter');
    const alert = page.getByRole('alert');
    await expect.poll(() => alert.count()).toBe(1);
    const expectedCode = probe === 'no-gpu-object' ? 'no-webgpu' : 'no-adapter';
    expect(await alert.getAttribute('data-code')).toBe(expectedCode);
    expect(await page.getByTestId('gpu-error-code').innerText()).toBe(expectedCode);
    const text = await alert.innerText();
    expect(text).toContain('--enable-unsafe-webgpu'); // which flag
    expect(text).toMatch(/Chrome or Edge 113\+/); // which browsers
    expect(await page.getByTestId('secure-context').innerText()).toContain('is a secure context');
    expect(await page.getByTestId('gpu-error-message').innerText()).not.toBe('');
    expect(await page.getByTestId('adapter-panel').count()).toBe(0);
    expect((await pageState(page)).cspViolations).toEqual([]);
    expect(errors.filter((e) => !e.startsWith('console:'))).toEqual([]);
    await screenshot(page, 'webgpu-unavailable');
  });

  test('in an insecure context (http on a non-local host name): no navigator.gpu, and the error says why', async () => {
    const host = 'sap-e2e.test';
    browser = await launchChromium({ webgpu: true, extraArgs: [`--host-resolver-rules=MAP ${host} 127.0.0.1`] });
    const url = server.url.replace('127.0.0.1', host);
    const { page } = await openPage(browser, url);
    const probe = await page.evaluate(() => ({ secure: window.isSecureContext, hasGpu: 'gpu' in navigator }));
    expect(probe).toEqual({ secure: false, hasGpu: false });
    const alert = page.getByRole('alert');
    expect(await alert.getAttribute('data-code')).toBe('no-webgpu');
    expect(await page.getByTestId('secure-context').innerText()).toContain('NOT a secure context');
    expect(await alert.innerText()).toContain('secure context');
    await screenshot(page, 'webgpu-insecure-context');
  });
});
