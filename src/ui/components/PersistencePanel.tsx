/**
 * Save, resume, export, import (the persistence layer's controls, mounted in SessionIoSlot):
 *  - "Resume this tab's previous session?" when this tab's slot has an autosave (IndexedDB), with
 *    Resume / Discard; other tabs' autosaves listed as theirs ("Open a copy here");
 *  - the autosave status (every 25 steps, after Step / +10, on every stop, and with every unit /
 *    k change; a full quota shows here, training goes on);
 *  - export/import of the whole session (one .safetensors file) and of the adapter
 *    (adapter_config.json + adapter_model.safetensors; the .safetensors alone also imports).
 * Files go through the worker, which validates them strictly; errors name what is wrong.
 */
import { useEffect, useState } from 'react';
import { adoptSession, connectEngine, engineClient, STREAM } from '../engine-connection';
import { usePlayground } from '../store';
import type { AutosaveSummary, InferenceOverrides, WorkerEvent } from '../../worker/protocol';
import { openTabIds } from '../tab-id';
import { WorkerError } from '../../worker/client';

function download(name: string, data: Uint8Array | string, type: string): void {
  const blob = new Blob([data as BlobPart], { type });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function describeError(e: unknown): string {
  if (e instanceof WorkerError) return `${e.message}${e.advice ? ` — ${e.advice}` : ''}`;
  return e instanceof Error ? e.message : String(e);
}

function savedAt(iso: string): string {
  return new Date(iso).toLocaleString();
}

/** "fourier · adapter atoms · step 30" */
function describeSave(a: AutosaveSummary): string {
  return `${a.task} · adapter ${a.adapter} · step ${a.step}`;
}

/** "Autosaved at step 11", with what the overrides keep. */
function overridesText(o: InferenceOverrides): string {
  const off = Object.values(o.masks ?? {}).reduce((n, m) => n + (m ? m.filter((x) => x === 0).length : 0), 0);
  const ks = Object.values(o.k ?? {}).filter((k): k is number => k !== null && k !== undefined);
  const parts = [...(off ? [`${off} unit${off === 1 ? '' : 's'} off`] : []), ...ks.map((k) => `k = ${k}`)];
  return parts.length ? ` (with ${parts.join(', ')})` : '';
}

export function PersistencePanel() {
  const engineReady = usePlayground((s) => s.engine.phase === 'ready');
  const session = usePlayground((s) => s.session);
  const overrides = usePlayground((s) => s.inspection.overrides);
  const [offer, setOffer] = useState<AutosaveSummary | null>(null);
  const [others, setOthers] = useState<AutosaveSummary[]>([]);
  const [openTabs, setOpenTabs] = useState<Set<string> | null>(null);
  const [checked, setChecked] = useState(false);
  const [autosave, setAutosave] = useState<{ ok: boolean; step: number; text: string; overrides: boolean } | null>(null);
  const [message, setMessage] = useState<{ text: string; error: boolean } | null>(null);
  const [busy, setBusy] = useState(false);
  /** After a NaN/Inf stop: the autosave is the last good state; offer it with a lower learning rate. */
  const [nanOffer, setNanOffer] = useState<{ step: number; lr: number } | null>(null);
  const hasSession = session.info !== null;
  const hasAdapter = hasSession && session.info!.config.adapter.kind !== 'none' && session.info!.groups.length > 0;

  // The autosave status is the session's: a new session starts without one.
  useEffect(() => setAutosave(null), [session.builtFrom]);

  useEffect(
    () =>
      engineClient().onEvent((e: WorkerEvent) => {
        if (e.type === 'training-stopped' && e.reason === 'non-finite') {
          setNanOffer({ step: e.step, lr: usePlayground.getState().session.info?.config.training.lr ?? usePlayground.getState().config.training.lr });
        } else if (e.type === 'autosave') {
          const cur = usePlayground.getState().session.info?.config;
          // A save of the session before this one (it finished after the rebuild) is not this session's.
          if (e.summary && cur && (e.summary.task !== cur.task || e.summary.adapter !== cur.adapter.kind)) return;
          const extra = e.ok ? overridesText(usePlayground.getState().inspection.overrides) : '';
          setAutosave(e.ok ? { ok: true, step: e.step, text: `Autosaved in this tab at step ${e.step}${extra}`, overrides: e.summary?.overrides ?? false } : { ok: false, step: e.step, text: e.message ?? 'autosave failed', overrides: false });
        } else if (e.type === 'device-recovered') {
          void connectEngine().then(() => {
            adoptSession(e.session, e.history);
            if (e.playing) usePlayground.getState().setSession({ phase: 'training' });
            setMessage({ text: `The GPU device was lost; restored the last autosave (step ${e.session.step}) on a new device${e.playing ? ' and resumed training' : ''}.`, error: false });
          });
        }
      }),
    [],
  );

  useEffect(() => {
    if (!engineReady || checked) return;
    setChecked(true);
    engineClient()
      .request({ type: 'autosave-info' })
      .then(async (r) => {
        setOffer(r.summary);
        setOthers(r.others);
        setOpenTabs(await openTabIds().catch(() => null));
        if (r.unavailable) setAutosave({ ok: false, step: 0, text: r.unavailable, overrides: false });
      })
      .catch(() => {});
  }, [engineReady, checked]);

  async function run(label: string, f: () => Promise<string | void>): Promise<void> {
    setBusy(true);
    setMessage(null);
    try {
      const done = await f();
      if (done) setMessage({ text: done, error: false });
    } catch (e) {
      setMessage({ text: `${label}: ${describeError(e)}`, error: true });
    } finally {
      setBusy(false);
    }
  }

  const resume = (slot?: string) =>
    run('Resume', async () => {
      const r = await engineClient().request({ type: 'resume-autosave', stream: STREAM, ...(slot ? { slot } : {}) });
      if (slot) setOthers((o) => o.filter((x) => x.slot !== slot));
      else setOffer(null);
      adoptSession(r.session, r.history, r.view);
      return slot ? `Opened a copy of another tab's run at step ${r.session.step}; it is autosaved in this tab from now on (that tab's save is unchanged).` : `Resumed at step ${r.session.step}.`;
    });
  const restoreLowerLr = (lr: number) =>
    run('Restore', async () => {
      const r = await engineClient().request({ type: 'resume-autosave', stream: STREAM, lr });
      setNanOffer(null);
      adoptSession(r.session, r.history, r.view);
      return `Restored the last good state (step ${r.session.step}) with learning rate ${lr}.`;
    });
  const discard = () =>
    run('Discard', async () => {
      await engineClient().request({ type: 'discard-autosave' });
      setOffer(null);
    });
  const exportSession = () =>
    run('Export session', async () => {
      const r = await engineClient().request({ type: 'export-session' });
      download(r.fileName, r.bytes, 'application/octet-stream');
      return `Exported ${r.fileName} (${(r.bytes.length / 1024).toFixed(0)} KB).`;
    });
  const exportAdapter = () =>
    run('Export adapter', async () => {
      const r = await engineClient().request({ type: 'export-adapter' });
      download('adapter_config.json', r.config, 'application/json');
      download('adapter_model.safetensors', r.model, 'application/octet-stream');
      return `Exported adapter_config.json + adapter_model.safetensors (${(r.model.length / 1024).toFixed(0)} KB).`;
    });
  const importSession = (files: FileList | null) =>
    run('Import session', async () => {
      const f = files?.[0];
      if (!f) return;
      const r = await engineClient().request({ type: 'import-session', bytes: new Uint8Array(await f.arrayBuffer()), stream: STREAM });
      adoptSession(r.session, r.history);
      return `Imported ${f.name}: step ${r.session.step}.`;
    });
  const importAdapter = (files: FileList | null) =>
    run('Import adapter', async () => {
      const list = [...(files ?? [])];
      const model = list.find((f) => f.name.endsWith('.safetensors'));
      const cfg = list.find((f) => f.name.endsWith('.json'));
      if (!model) throw new Error('choose adapter_model.safetensors (and, optionally, its adapter_config.json)');
      const body = { type: 'import-adapter' as const, model: new Uint8Array(await model.arrayBuffer()), stream: STREAM, ...(cfg ? { config: await cfg.text() } : {}) };
      const r = await engineClient().request(body);
      adoptSession(r.session, r.history);
      return `Imported the ${r.session.config.adapter.kind} adapter from ${model.name}${cfg ? ` + ${cfg.name}` : ''} into a fresh session.`;
    });

  const idle = engineReady && !busy && session.phase !== 'training' && session.phase !== 'configuring' && session.phase !== 'stepping';
  return (
    <div className="persistence" data-testid="persistence-panel">
      {offer && (
        <div className="resume-offer" role="alertdialog" aria-labelledby="resume-heading" data-testid="resume-prompt" data-task={offer.task} data-step={offer.step}>
          <p id="resume-heading">
            <strong>Resume this tab's previous session?</strong> {describeSave(offer)}
            {offer.overrides ? ' (with its unit / k changes)' : ''}, saved {savedAt(offer.savedAt)}.
          </p>
          <button type="button" onClick={() => void resume()} disabled={!idle} data-testid="resume-autosave">
            Resume
          </button>
          <button type="button" onClick={() => void discard()} disabled={!idle} data-testid="discard-autosave">
            Discard
          </button>
        </div>
      )}
      {others.length > 0 && (
        <details className="other-autosaves" open={!offer && !hasSession} data-testid="other-autosaves">
          <summary>
            Runs autosaved by other tabs ({others.length}) — not this tab's
          </summary>
          <ul>
            {others.slice(0, 5).map((o) => {
              const open = openTabs?.has(o.slot) ?? null;
              return (
                <li key={o.slot} data-testid="other-autosave" data-slot={o.slot} data-task={o.task} data-step={o.step}>
                  {describeSave(o)}, saved {savedAt(o.savedAt)}
                  {open === null ? '' : open ? ' · that tab is open' : ' · its tab is closed'}{' '}
                  <button type="button" onClick={() => void resume(o.slot)} disabled={!idle} data-testid="resume-other" title="build this run here; it is then autosaved in this tab, and the other tab's save stays as it is">
                    Open a copy here
                  </button>
                </li>
              );
            })}
          </ul>
        </details>
      )}
      {nanOffer && (
        <div className="resume-offer" role="alert" data-testid="nan-offer">
          <p>
            Training stopped: the loss or a gradient became NaN/Inf (step {nanOffer.step}; that update was skipped).{' '}
            {autosave?.ok ? `The last good state is the autosave at step ${autosave.step}.` : 'The last good state is the last autosave.'}
          </p>
          <button type="button" onClick={() => void restoreLowerLr(Number((nanOffer.lr / 10).toPrecision(2)))} disabled={!idle} data-testid="restore-lower-lr">
            Restore it with learning rate {Number((nanOffer.lr / 10).toPrecision(2))}
          </button>
          <button type="button" onClick={() => setNanOffer(null)} data-testid="dismiss-nan-offer">
            Dismiss
          </button>
        </div>
      )}
      <p
        className={autosave && !autosave.ok ? 'session-error' : 'note'}
        role={autosave && !autosave.ok ? 'alert' : undefined}
        data-testid="autosave-status"
        data-step={autosave?.ok ? autosave.step : ''}
        data-ok={autosave ? String(autosave.ok) : ''}
        data-overrides={autosave?.ok ? String(autosave.overrides) : ''}
      >
        {autosave ? autosave.text : `Training is autosaved in this tab every 25 steps, after every Step / +10 and whenever it stops, with the units you switch off and the k you set${hasSession ? overridesText(overrides) : ''}.`}
      </p>
      <div className="controls">
        <button type="button" onClick={() => void exportSession()} disabled={!idle || !hasSession} data-testid="export-session" title="config, base reference, parameters, optimizer state, step and metric history as one .safetensors file">
          Export session
        </button>
        <label className="file-button">
          Import session
          <input type="file" accept=".safetensors" disabled={!idle} onChange={(e) => void importSession(e.currentTarget.files).then(() => (e.target.value = ''))} data-testid="import-session-file" />
        </label>
      </div>
      <div className="controls">
        <button type="button" onClick={() => void exportAdapter()} disabled={!idle || !hasAdapter} data-testid="export-adapter" title="PEFT-like adapter_config.json + adapter_model.safetensors">
          Export adapter
        </button>
        <label className="file-button">
          Import adapter
          <input type="file" accept=".safetensors,.json" multiple disabled={!idle} onChange={(e) => void importAdapter(e.currentTarget.files).then(() => (e.target.value = ''))} data-testid="import-adapter-files" />
        </label>
      </div>
      {message && (
        <p className={message.error ? 'session-error' : 'note'} role={message.error ? 'alert' : 'status'} data-testid="persistence-message" data-error={String(message.error)}>
          {message.text}
        </p>
      )}
    </div>
  );
}
