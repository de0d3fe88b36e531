/**
 * Training controls (play / pause / step / reset with the same seed) and the session's status and
 * errors; the training settings; the base model; the runs chart.
 */
import { useMemo } from 'react';
import { cancelPreparation, configureSession, pause, play, reset, step } from '../engine-connection';
import { fieldLabel, stripFieldPrefix } from '../field-labels';
import { formatMetadata } from '../format';
import { useFreshness, usePlayground } from '../store';
import { TrainingFields } from './ConfigPanels';
import { Icon } from './Icon';
import { RunsChart } from './RunsChart';

export function TrainingPanel() {
  const session = usePlayground((s) => s.session);
  const configIssues = usePlayground((s) => s.configIssues);
  const engineReady = usePlayground((s) => s.engine.phase === 'ready');
  const fresh = useFreshness();
  const busy = session.phase === 'configuring' || session.phase === 'stepping';
  const training = session.phase === 'training';
  const invalid = configIssues.length > 0;
  const current = fresh === 'current';
  return (
    <section className="panel training" aria-labelledby="training-heading" data-testid="training-panel">
      <h2 id="training-heading">Training</h2>
      <div className="controls" role="toolbar" aria-label="training controls">
        {training ? (
          <button type="button" className="primary" onClick={() => void pause()} data-testid="pause-session">
            <Icon name="pause" /> Pause
          </button>
        ) : (
          <button type="button" className="primary" onClick={() => void play()} disabled={!engineReady || busy || invalid} data-testid="play">
            <Icon name="play" /> Play
          </button>
        )}
        <button type="button" onClick={() => void step(1)} disabled={!engineReady || busy || training || invalid} data-testid="step" title="one training step, then the views refresh">
          <Icon name="step" /> Step
        </button>
        <button type="button" onClick={() => void step(10)} disabled={!engineReady || busy || training || invalid} data-testid="step-10" title="ten training steps, then the views refresh">
          +10
        </button>
        <button type="button" onClick={() => void reset()} disabled={!engineReady || busy || training || invalid} data-testid="reset" title="rebuild the model and adapter with the same seed: the next run repeats this one">
          <Icon name="reset" /> Reset
        </button>
      </div>
      <p className="status" data-testid="session-status" data-phase={session.phase} data-step={session.step} aria-live="polite">
        {session.phase === 'none' && 'Not built yet: Play builds the task, loads the base and attaches the adapter.'}
        {session.phase === 'configuring' && 'Building the session…'}
        {session.phase !== 'none' && session.phase !== 'configuring' && `step ${session.step}`}
        {training && ' · training'}
        {session.phase === 'stepping' && ' · stepping'}
        {session.msPerStep !== null && current && (training || session.phase === 'ready') && ` · ${session.msPerStep.toFixed(1)} ms/step`}
      </p>
      {session.progress && (
        <div className="progress" data-testid="progress">
          <label>
            {session.progress.label}: {session.progress.done} / {session.progress.total}
            <progress max={session.progress.total} value={session.progress.done} />
          </label>
          <button type="button" onClick={() => void cancelPreparation()} data-testid="cancel">
            Cancel
          </button>
        </div>
      )}
      {fresh === 'stale' && !training && (
        <p className="note" data-testid="stale-note">
          The settings changed since this session was built: Play, Step or Reset starts a new run with them (the old curve stays for comparison).
        </p>
      )}
      {invalid && <p className="field-error">Fix the highlighted settings to train: {configIssues.map((i) => fieldLabel(i.field)).join(', ')}.</p>}
      {session.message && (
        <div className={session.errorCode ? 'session-error' : 'note'} role={session.errorCode ? 'alert' : undefined} data-testid="session-message" data-code={session.errorCode ?? ''} data-field={session.errorField ?? ''}>
          <p>
            {session.errorField && <strong className="error-field">{fieldLabel(session.errorField)}: </strong>}
            {session.errorField ? stripFieldPrefix(session.errorField, session.message) : session.message}
          </p>
          {session.advice && <p>{session.errorField ? session.advice.split(session.errorField).join(fieldLabel(session.errorField)) : session.advice}</p>}
          {session.errorCode === 'limits-too-small' && <p>Lower the adapter size (expansion, atoms M, rank) or the batch, then press Play again.</p>}
          {session.errorCode && session.phase === 'error' && (
            <button type="button" onClick={() => void configureSession()}>
              Try again
            </button>
          )}
        </div>
      )}
    </section>
  );
}

/** The training hyperparameters (learning rate, batch, steps, seed, schedule, warm-up). */
export function TrainingSettingsPanel() {
  const training = usePlayground((s) => s.session.phase === 'training');
  return (
    <section className="panel" aria-labelledby="training-settings-heading" data-testid="training-settings">
      <h2 id="training-settings-heading">Training settings</h2>
      <TrainingFields disabled={training} />
    </section>
  );
}

/** The loss of this task's runs (another task's losses are not comparable; its runs come back with it). */
export function LossPanel() {
  const allRuns = usePlayground((s) => s.runs);
  const task = usePlayground((s) => s.config.task);
  const liveRunId = usePlayground((s) => s.liveRunId);
  const clearRuns = usePlayground((s) => s.clearRuns);
  const runs = useMemo(() => allRuns.filter((r) => r.config.task === task), [allRuns, task]);
  return (
    <section className="panel loss" aria-labelledby="loss-heading">
      <h2 id="loss-heading" className="visually-hidden">
        Loss curves
      </h2>
      <RunsChart runs={runs} liveRunId={liveRunId} onClear={clearRuns} />
    </section>
  );
}

/** What the base checkpoint's metadata keys mean, in the order shown. */
const BASE_FACTS: { key: string; label: string; unit?: string }[] = [
  { key: 'steps', label: 'pre-training steps' },
  { key: 'seconds', label: 'pre-training time', unit: 's' },
  { key: 'parameters', label: 'parameters' },
  { key: 'train_final', label: 'at the end of pre-training' },
  { key: 'test', label: 'on its test set' },
];

export function BaseModelPanel() {
  const info = usePlayground((s) => s.session.info);
  const fresh = useFreshness();
  // Another task's base is not this task's: shown only for the task on screen.
  const shown = info && (fresh === 'current' || fresh === 'stale') ? info : null;
  return (
    <section className="panel" aria-labelledby="base-heading" data-testid="base-panel">
      <h2 id="base-heading">Base model</h2>
      {!shown && <p className="note">The frozen base is loaded from the task's shipped checkpoint (or built in the page) when the session is built.</p>}
      {shown && (
        <>
          <p>
            {shown.base ? (
              <>
                Frozen base from <code data-testid="base-source">{shown.base.source}</code>
              </>
            ) : shown.task.baseCheckpoint === null ? (
              'This task builds its base in the page (no checkpoint to load).'
            ) : (
              'No base checkpoint was loaded.'
            )}{' '}
            · {shown.parameters.base.toLocaleString('en-US')} parameters, {shown.dispatchesPerStep} GPU dispatches per training step.
          </p>
          {shown.base && (
            <dl className="facts small" data-testid="base-facts">
              {BASE_FACTS.filter((f) => shown.base!.metadata[f.key] !== undefined).map((f) => (
                <div key={f.key} className="fact">
                  <dt>{f.label}</dt>
                  <dd>{formatMetadata(shown.base!.metadata[f.key]!, f.unit)}</dd>
                </div>
              ))}
            </dl>
          )}
        </>
      )}
    </section>
  );
}

/**
 * Save / resume, export / import: the persistence layer (src/io) mounts its controls here
 * (autosave status, resume offer, adapter/session export and import).
 */
export function SessionIoSlot({ children }: { children?: React.ReactNode }) {
  if (!children) return null;
  return (
    <section className="panel" aria-labelledby="io-heading" data-testid="session-io">
      <h2 id="io-heading">Save, resume, export</h2>
      {children}
    </section>
  );
}
