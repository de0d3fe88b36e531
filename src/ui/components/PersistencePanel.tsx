/**
 * Save, resume, export, import (the persistence layer's controls, mounted in SessionIoSlot):
 *  - "Resume previous session?" when the worker has an autosave (IndexedDB), with Resume / Discard;
 *  - the autosave status (every 25 steps and on every stop; a full quota shows here, training goes on);
 *  - export/import of the whole session (one .safetensors file) and of the adapter
 *    (adapter_config.json + adapter_model.safetensors; the .safetensors alone also imports).
 * Files go through the worker, which validates them strictly; errors name what is wrong.
 */
import { useEffect, useState } from 'react';
import { adoptSession, connectEngine, engineClient, STREAM } from '../engine-connection';
import { usePlayground } from '../store';
import type { AutosaveSummary, WorkerEvent } from '../../worker/protocol';
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

export function PersistencePanel() {
  const engineReady = usePlayground((s) => s.engine.phase === 'ready');
  const session = usePlayground((s) => s.session);
  const [offer, setOffer] = useState<AutosaveSummary | null>(null);
  const [checked, setChecked] = useState(false);
  const [autosave, setAutosave] = useState<{ ok: boolean; step: number; text: string } | null>(null);
  const [message, setMessage] = useState<{ text: string; error: boolean } | null>(null);
  const [busy, setBusy] = useState(false);
  /** After a NaN/Inf stop: the autosave is the last good state; offer it with a lower learning rate. */
  const [nanOffer, setNanOffer] = useState<{ step: number; lr: number } | null>(null);
  const hasSession = session.info !== null;
  const hasAdapter = hasSession && session.info!.config.adapter.kind !== 'none' && session.info!.groups.length > 0;

  useEffect(
    () =>
      engineClient().onEvent((e: WorkerEvent) => {
        if (e.type === 'training-stopped' && e.reason === 'non-finite') {
          setNanOffer({ step: e.step, lr: usePlayground.getState().session.info?.config.training.lr ?? usePlayground.getState().config.training.lr });
        } else if (e.type === 'autosave') {
          setAutosave(e.ok ? { ok: true, step: e.step, text: `Autosaved at step ${e.step}` } : { ok: false, step: e.step, text: e.message ?? 'autosave failed' });
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
      .then((r) => {
        setOffer(r.summary);
        if (r.unavailable) setAutosave({ ok: false, step: 0, text: r.unavailable });
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

  const resume = () =>
    run('Resume', async () => {
      const r = await engineClient().request({ type: 'resume-autosave', stream: STREAM });
      setOffer(null);
      adoptSession(r.session, r.history);
      return `Resumed at step ${r.session.step}.`;
    });
  const restoreLowerLr = (lr: number) =>
    run('Restore', async () => {
      const r = await engineClient().request({ type: 'resume-autosave', stream: STREAM, lr });
      setNanOffer(null);
      adoptSession(r.session, r.history);
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
        <div className="resume-offer" role="alertdialog" aria-labelledby="resume-heading" data-testid="resume-prompt">
          <p id="resume-heading">
            <strong>Resume previous session?</strong> {offer.task} with {offer.adapter === 'none' ? 'no adapter' : `a ${offer.adapter} adapter`}, step {offer.step}, saved {new Date(offer.savedAt).toLocaleString()}.
          </p>
          <button type="button" onClick={() => void resume()} disabled={!idle} data-testid="resume-autosave">
            Resume
          </button>
          <button type="button" onClick={() => void discard()} disabled={!idle} data-testid="discard-autosave">
            Discard
          </button>
        </div>
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
      <p className={autosave && !autosave.ok ? 'session-error' : 'note'} role={autosave && !autosave.ok ? 'alert' : undefined} data-testid="autosave-status" data-step={autosave?.ok ? autosave.step : ''} data-ok={autosave ? String(autosave.ok) : ''}>
        {autosave ? autosave.text : 'Training is autosaved in this browser every 25 steps and whenever it stops.'}
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
