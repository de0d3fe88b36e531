/** TaskAssets for the page: files under public/ fetched relative to the page (the worker's base URL). */
import type { TaskAssets } from './tasks/task';

export function fetchAssets(baseUrl: string): TaskAssets {
  const cache = new Map<string, Promise<Uint8Array>>();
  return {
    bytes(path: string): Promise<Uint8Array> {
      let p = cache.get(path);
      if (!p) {
        p = fetch(new URL(path, baseUrl)).then(async (res) => {
          if (!res.ok) throw new Error(`fetching ${path} failed with HTTP ${res.status}; the page's public/ files must be served next to it`);
          return new Uint8Array(await res.arrayBuffer());
        });
        p.catch(() => cache.delete(path));
        cache.set(path, p);
      }
      return p;
    },
  };
}
