import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vite';

/**
 * Content-Security-Policy of the built page. Everything comes from our own origin; nothing is
 * evaluated from strings; the engine worker is a separate same-origin file. style-src needs
 * 'unsafe-inline': React `style` props and plotly.js both set inline styles, and plotly
 * injects a <style> element at load. plotly.js-dist-min's 2-D
 * (SVG) traces need no eval; its map traces would (globalThis.eval in maplibre's worker
 * loader) — use plotly.js-strict-dist-min if those are ever wanted.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "worker-src 'self'",
  "connect-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self' data:",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
].join('; ');

/**
 * Adds the CSP <meta> to the built index.html only (right after <meta charset>, before any
 * script): the dev server needs an inline script (React Fast Refresh preamble) that a strict
 * policy would block.
 */
function contentSecurityPolicy(): Plugin {
  const anchor = /<meta charset="UTF-8"\s*\/?>/i;
  return {
    name: 'sap-content-security-policy',
    apply: 'build',
    transformIndexHtml: {
      order: 'post',
      handler(html) {
        if (!anchor.test(html)) throw new Error('index.html: <meta charset="UTF-8" /> not found; the CSP meta goes right after it');
        return html.replace(anchor, (m) => `${m}\n    <meta http-equiv="Content-Security-Policy" content="${CONTENT_SECURITY_POLICY}" />`);
      },
    },
  };
}

export default defineConfig({
  plugins: [react(), contentSecurityPolicy()],
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    outDir: 'dist',
    // plotly.js alone is ~4.8 MB; a warning per build about it is noise.
    chunkSizeWarningLimit: 6000,
  },
  server: { host: '127.0.0.1', port: 5173, strictPort: true },
  preview: { host: '127.0.0.1', port: 4173, strictPort: true },
});
