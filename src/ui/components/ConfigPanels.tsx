/**
 * The configuration panels: Task, Adapter (kind, hyperparameters, injection sites, parameter
 * counts) and the Training hyperparameters. Every control edits the one config in the store;
 * schema issues show next to the field.
 */
import { adapterModule, adapterModules, NO_ADAPTER } from '../../adapters/registry';
import { effectiveTargets } from '../../config/resolve';
import { offeredAdapters, taskModule, taskModules } from '../../playground/tasks/registry';
import { TRAINING_SETTINGS } from '../../train/settings';
import { usePlayground } from '../store';
import { SettingsFields, TextListField } from './fields';

/** What 'none' means, under the adapter choices. */
const NO_ADAPTER_TEXT = {
  name: 'No adapter',
  formula: 'h = W₀·x',
  sentences: ["No adapter is added: what trains is the task's own choice (its settings say which), and the base-vs-adapted views compare against the frozen base."],
};

export function TaskPanel({ disabled }: { disabled?: boolean }) {
  const task = usePlayground((s) => s.config.task);
  const settings = usePlayground((s) => s.config.tasks[s.config.task] ?? {});
  const updateConfig = usePlayground((s) => s.updateConfig);
  const module = taskModule(task);
  const chooseTask = (id: string) =>
    updateConfig((c) => {
      c.task = id;
      // An adapter the new task does not offer gives way to 'none' (its settings are kept for later).
      if (!offeredAdapters(taskModule(id)).includes(c.adapter.kind)) c.adapter.kind = NO_ADAPTER;
      c.adapter.targets = [];
    });
  return (
    <section className="panel" aria-labelledby="task-heading" data-testid="task-panel">
      <h2 id="task-heading">Task</h2>
      <div role="radiogroup" aria-labelledby="task-heading" className="choices">
        {taskModules().map((m) => (
          <label key={m.id} className={`choice${m.id === task ? ' selected' : ''}`}>
            <input type="radio" name="task" value={m.id} checked={m.id === task} disabled={disabled} data-testid={`task-${m.id}`} onChange={() => chooseTask(m.id)} />
            {m.description.name}
          </label>
        ))}
      </div>
      <p className="note">{module.description.what}</p>
      {Object.keys(module.settings.fields).length > 0 && (
        <div className="fields" data-testid="task-settings">
          <SettingsFields path={`tasks.${task}`} fields={module.settings.fields} values={settings} disabled={disabled} onChange={(k, v) => updateConfig((c) => void ((c.tasks[c.task] ??= {})[k] = v))} />
        </div>
      )}
    </section>
  );
}

function fmtCount(n: number | null | undefined): string {
  return n === null || n === undefined ? '—' : n.toLocaleString('en-US');
}

export function AdapterConfigPanel({ disabled, trainable, base }: { disabled?: boolean; trainable: number | null; base: number | null }) {
  const config = usePlayground((s) => s.config);
  const updateConfig = usePlayground((s) => s.updateConfig);
  const adapter = config.adapter;
  const kind = adapter.kind;
  const task = taskModule(config.task);
  const offered = offeredAdapters(task);
  const module = kind === NO_ADAPTER ? null : adapterModule(kind);
  const ex = module ? { name: module.title, formula: module.formula, sentences: module.explanation } : NO_ADAPTER_TEXT;
  const chooseKind = (k: string) =>
    updateConfig((c) => {
      c.adapter.kind = k;
      c.adapter.targets = []; // the task's default sites for this adapter
    });
  return (
    <section className="panel" aria-labelledby="adapter-config-heading" data-testid="adapter-config-panel" data-offered={offered.join(',')}>
      <h2 id="adapter-config-heading">Adapter</h2>
      <div role="radiogroup" aria-labelledby="adapter-config-heading" className="choices">
        {[NO_ADAPTER, ...adapterModules().map((m) => m.kind)].map((k) => (
          <label key={k} className={`choice${k === kind ? ' selected' : ''}${offered.includes(k) ? '' : ' unavailable'}`} title={offered.includes(k) ? undefined : `the ${task.description.name} task has no site this adapter attaches to`}>
            <input type="radio" name="adapter-kind" value={k} checked={k === kind} disabled={disabled || !offered.includes(k)} data-testid={`adapter-${k}`} onChange={() => chooseKind(k)} />
            {k === NO_ADAPTER ? 'none' : adapterModule(k).label}
          </label>
        ))}
      </div>
      {offered.length === 1 && <p className="note">{task.description.name}: its model offers no site for an added adapter — fine-tuning is set in the Task panel.</p>}
      <p className="formula" data-testid="adapter-formula">
        <strong>{ex.name}</strong>: <code>{ex.formula}</code>
      </p>
      <div className="fields">
        {module && (
          <SettingsFields path={`adapter.${kind}`} fields={module.settings.fields} values={(adapter[kind] ?? {}) as Record<string, unknown>} disabled={disabled} onChange={(k, v) => updateConfig((c) => void ((c.adapter[c.adapter.kind] as Record<string, unknown>)[k] = v))} />
        )}
        {module && (
          <TextListField
            field="adapter.targets"
            label="injection sites"
            value={adapter.targets}
            hint={`comma-separated site patterns; empty = this task's default for ${module.label}: ${effectiveTargets({ ...config, adapter: { ...adapter, targets: [] } }).join(', ')}; ** = every site ${module.label} can take`}
            onChange={(v) => updateConfig((c) => void (c.adapter.targets = v))}
          />
        )}
      </div>
      <p className="param-counts" data-testid="param-counts">
        trainable <strong data-testid="trainable-params">{fmtCount(trainable)}</strong> parameters · frozen base <strong data-testid="base-params">{fmtCount(base)}</strong>
        {trainable !== null && base ? ` (${((100 * trainable) / base).toFixed(2)} %)` : ''}
      </p>
      {ex.sentences.map((s, i) => (
        <p key={i} className="note">
          {s}
        </p>
      ))}
    </section>
  );
}

export function TrainingFields({ disabled }: { disabled?: boolean }) {
  const t = usePlayground((s) => s.config.training);
  const updateConfig = usePlayground((s) => s.updateConfig);
  return (
    <div className="fields">
      <SettingsFields path="training" fields={TRAINING_SETTINGS.fields} values={t as unknown as Record<string, unknown>} disabled={disabled} onChange={(k, v) => updateConfig((c) => void ((c.training as unknown as Record<string, unknown>)[k] = v))} />
    </div>
  );
}

export function UrlIssuesBanner() {
  const issues = usePlayground((s) => s.urlIssues);
  const setUrlIssues = usePlayground((s) => s.setUrlIssues);
  if (!issues.length) return null;
  return (
    <section className="panel warning" role="alert" data-testid="url-issues" aria-labelledby="url-issues-heading">
      <h2 id="url-issues-heading">This link's settings could not be used</h2>
      <p>The page opened with the default configuration instead. What was wrong:</p>
      <ul>
        {issues.slice(0, 20).map((i, n) => (
          <li key={n}>
            <code>{i.field}</code>: {i.message}
          </li>
        ))}
        {issues.length > 20 && <li>… and {issues.length - 20} more</li>}
      </ul>
      <button type="button" onClick={() => setUrlIssues([])}>
        Dismiss
      </button>
    </section>
  );
}

export function ExplainPanel() {
  const task = usePlayground((s) => s.config.task);
  const t = taskModule(task).description;
  return (
    <section className="panel explain" aria-labelledby="explain-heading" data-testid="explain-panel">
      <h2 id="explain-heading">{t.name}: what to look for</h2>
      <p>
        <strong>The paper's claim.</strong> {t.claim}
      </p>
      <ul>
        {t.lookFor.map((s, i) => (
          <li key={i}>{s}</li>
        ))}
      </ul>
      <p>
        <strong>What we measured</strong> (REPRODUCTION.md):
      </p>
      <ul>
        {t.measured.map((s, i) => (
          <li key={i}>{s}</li>
        ))}
      </ul>
    </section>
  );
}
