/**
 * Builds the page once per e2e run (vite build → dist/) and hands its location to the tests.
 * Every e2e file serves that same build.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

const ROOT = join(import.meta.dirname, '..', '..');
export const DIST_DIR = join(ROOT, 'dist');

declare module 'vitest' {
  export interface ProvidedContext {
    distDir: string;
  }
}

export default function setup(project: TestProject): void {
  const vite = join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js');
  const started = Date.now();
  const r = spawnSync(process.execPath, [vite, 'build', '--logLevel', 'warn', '--outDir', DIST_DIR, '--emptyOutDir'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  if (r.status !== 0) throw new Error(`vite build failed (exit ${r.status ?? r.signal}); the e2e tests need the built page`);
  if (!existsSync(join(DIST_DIR, 'index.html'))) throw new Error(`vite build wrote no ${DIST_DIR}/index.html`);
  console.log(`e2e: built the page into ${DIST_DIR} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  project.provide('distDir', DIST_DIR);
}
