/**
 * The URL hash mirrors the configuration (src/config/url.ts): opening a shared link reproduces the
 * setup; a link with garbage gives the defaults plus a list of what was wrong (shown by
 * UrlIssuesBanner). Only valid configurations are written, with replaceState (no history entry per
 * keystroke).
 */
import { configFromHash, configToHash } from '../config/url';
import { usePlayground } from './store';

/** Reads the current hash into the store. */
export function loadConfigFromUrl(): void {
  const { config, issues } = configFromHash(window.location.hash);
  const s = usePlayground.getState();
  s.setConfig(config);
  s.setUrlIssues(issues);
}

function writeHash(): void {
  const { config, configIssues } = usePlayground.getState();
  if (configIssues.length) return;
  const hash = configToHash(config);
  if (hash === window.location.hash || (hash === '' && window.location.hash === '')) return;
  const url = `${window.location.pathname}${window.location.search}${hash}`;
  window.history.replaceState(null, '', url);
}

/** Starts mirroring; returns a function that stops it. */
export function startUrlSync(): () => void {
  loadConfigFromUrl();
  const unsubscribe = usePlayground.subscribe((s, prev) => {
    if (s.config !== prev.config) writeHash();
  });
  // A pasted link (hash change without a reload) applies too.
  const onHashChange = () => {
    if (window.location.hash !== configToHash(usePlayground.getState().config)) loadConfigFromUrl();
  };
  window.addEventListener('hashchange', onHashChange);
  return () => {
    unsubscribe();
    window.removeEventListener('hashchange', onHashChange);
  };
}
