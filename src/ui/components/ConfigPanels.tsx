/**
 * The configuration panels: Task, Adapter (kind, hyperparameters, injection sites, parameter
 * counts) and the Training hyperparameters. Every control edits the one config in the store;
 * schema issues show next to the field.
 */
import { ADAPTER_KINDS, TASK_IDS, type AdapterChoice, type TaskId } from '../../config/schema';
import { ADAPTER_EXPLANATIONS, TASK_EXPLANATIONS } from '../explanations';
import { usePlayground } from '../store';
import { NumberField, SelectField, TextListField } from './fields';

export function TaskPanel({ disabled }: { disabled?: boolean }) {
  const task = usePlayground((s) => s.config.task);
  const updateConfig = usePlayground((s) => s.updateConfig);
  return (
    <section className="panel" aria-labelledby="task-heading" data-testid="task-panel">
      <h2 id="task-heading">Task</h2>
      <div role="radiogroup" aria-labelledby="task-heading" className="choices">
        {TASK_IDS.map((id) => (
          <label key={id} className={`choice${id === task ? ' selected' : ''}`}>
            <input
              type="radio"
              name="task"
              value={id}
              checked={id === task}
              disabled={disabled}
              data-testid={`task-${id}`}
              onChange={() => updateConfig((c) => void (c.task = id as TaskId))}
            />
            {TASK_EXPLANATIONS[id].name}
          </label>
        ))}
      </div>
      <p className="note">{TASK_EXPLANATIONS[task].what}</p>
    </section>
  );
}

function fmtCount(n: number | null | undefined): string {
  return n === null || n === undefined ? '—' : n.toLocaleString('en-US');
}

export function AdapterConfigPanel({ disabled, trainable, base }: { disabled?: boolean; trainable: number | null; base: number | null }) {
  const adapter = usePlayground((s) => s.config.adapter);
  const task = usePlayground((s) => s.config.task);
  const info = usePlayground((s) => s.session.info);
  const updateConfig = usePlayground((s) => s.updateConfig);
  const kind = adapter.kind;
  const ex = ADAPTER_EXPLANATIONS[kind];
  // What the task offers is known once a session of this task was built (its description).
  const described = info && info.task.id === task ? info.task : null;
  const offered = described?.adapters ?? null;
  // The Fourier task's atoms are its own model's: their count, σ and k are the base checkpoint's.
  const baseOwnsAtoms = task === 'fourier';
  const chooseKind = (k: AdapterChoice) =>
    updateConfig((c) => {
      c.adapter.kind = k;
      const targets = described?.defaultTargets[k];
      if (targets) c.adapter.targets = [...targets];
    });
  return (
    <section className="panel" aria-labelledby="adapter-config-heading" data-testid="adapter-config-panel" data-offered={offered?.join(',') ?? ''}>
      <h2 id="adapter-config-heading">Adapter</h2>
      <div role="radiogroup" aria-labelledby="adapter-config-heading" className="choices">
        {ADAPTER_KINDS.map((k) => (
          <label key={k} className={`choice${k === kind ? ' selected' : ''}`}>
            <input
              type="radio"
              name="adapter-kind"
              value={k}
              checked={k === kind}
              disabled={disabled || (offered !== null && !offered.includes(k))}
              data-testid={`adapter-${k}`}
              onChange={() => chooseKind(k)}
            />
            {k === 'none' ? 'none' : k === 'stan' ? 'STAN' : k === 'atoms' ? 'atoms' : k === 'lora' ? 'LoRA' : 'SoRA'}
          </label>
        ))}
      </div>
      <p className="formula" data-testid="adapter-formula">
        <strong>{ex.name}</strong>: <code>{ex.formula}</code>
      </p>
      <div className="fields">
        {kind === 'stan' && (
          <>
            <NumberField field="adapter.stan.expansion" label="expansion l/n" value={adapter.stan.expansion} disabled={disabled} onChange={(v) => updateConfig((c) => void (c.adapter.stan.expansion = v))} />
            <NumberField field="adapter.stan.k" label="k (active latents)" value={adapter.stan.k} disabled={disabled} onChange={(v) => updateConfig((c) => void (c.adapter.stan.k = v))} />
            <SelectField field="adapter.stan.topk" label="top-k by" value={adapter.stan.topk} options={['signed', 'abs'] as const} disabled={disabled} onChange={(v) => updateConfig((c) => void (c.adapter.stan.topk = v))} />
          </>
        )}
        {offered && !offered.includes(kind) && (
          <p className="field-error wide" role="alert">
            The {described!.title} task offers {offered.join(', ')}; choose one of those.
          </p>
        )}
        {kind === 'atoms' && baseOwnsAtoms && <p className="note wide">On the Fourier toy the atoms are the base model's own (M, σ and k come from its checkpoint); choose what fine-tuning moves.</p>}
        {kind === 'atoms' && (
          <>
            <NumberField field="adapter.atoms.atoms" label="atoms M" value={adapter.atoms.atoms} disabled={disabled || baseOwnsAtoms} onChange={(v) => updateConfig((c) => void (c.adapter.atoms.atoms = v))} />
            <SelectField field="adapter.atoms.sigma" label="σ (sparsifier)" value={adapter.atoms.sigma} options={['topk', 'soft', 'relu'] as const} disabled={disabled || baseOwnsAtoms} onChange={(v) => updateConfig((c) => void (c.adapter.atoms.sigma = v))} />
            {adapter.atoms.sigma === 'topk' ? (
              <NumberField field="adapter.atoms.k" label="k (active atoms)" value={adapter.atoms.k} disabled={disabled || baseOwnsAtoms} onChange={(v) => updateConfig((c) => void (c.adapter.atoms.k = v))} />
            ) : (
              <NumberField field="adapter.atoms.lambda" label="λ (threshold)" value={adapter.atoms.lambda} disabled={disabled || baseOwnsAtoms} onChange={(v) => updateConfig((c) => void (c.adapter.atoms.lambda = v))} />
            )}
            <SelectField field="adapter.atoms.form" label="form" value={adapter.atoms.form} options={['paper', 'simplified'] as const} disabled={disabled || baseOwnsAtoms} onChange={(v) => updateConfig((c) => void (c.adapter.atoms.form = v))} />
            <SelectField field="adapter.atoms.train" label="train" value={adapter.atoms.train} options={['both', 'atoms', 'coefficients'] as const} disabled={disabled} onChange={(v) => updateConfig((c) => void (c.adapter.atoms.train = v))} />
            <NumberField field="adapter.atoms.l1" label="L1 on codes" value={adapter.atoms.l1} disabled={disabled} onChange={(v) => updateConfig((c) => void (c.adapter.atoms.l1 = v))} />
          </>
        )}
        {kind === 'lora' && (
          <>
            <NumberField field="adapter.lora.rank" label="rank r" value={adapter.lora.rank} disabled={disabled} onChange={(v) => updateConfig((c) => void (c.adapter.lora.rank = v))} />
            <NumberField field="adapter.lora.alpha" label="α" value={adapter.lora.alpha} disabled={disabled} onChange={(v) => updateConfig((c) => void (c.adapter.lora.alpha = v))} />
          </>
        )}
        {kind === 'sora' && (
          <>
            <NumberField field="adapter.sora.rank" label="rank r" value={adapter.sora.rank} disabled={disabled} onChange={(v) => updateConfig((c) => void (c.adapter.sora.rank = v))} />
            <NumberField field="adapter.sora.alpha" label="α" value={adapter.sora.alpha} disabled={disabled} onChange={(v) => updateConfig((c) => void (c.adapter.sora.alpha = v))} />
            <NumberField field="adapter.sora.lambda" label="λ (gate L1)" value={adapter.sora.lambda} disabled={disabled} onChange={(v) => updateConfig((c) => void (c.adapter.sora.lambda = v))} />
          </>
        )}
        {kind !== 'none' && (
          <TextListField
            field="adapter.targets"
            label="injection sites"
            value={adapter.targets}
            hint="comma-separated site patterns; ** = every site the adapter supports, e.g. decoder.blocks.*.attn"
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
      <NumberField field="training.lr" label="learning rate" value={t.lr} disabled={disabled} onChange={(v) => updateConfig((c) => void (c.training.lr = v))} />
      <NumberField field="training.batch" label="batch" value={t.batch} disabled={disabled} onChange={(v) => updateConfig((c) => void (c.training.batch = v))} />
      <NumberField field="training.steps" label="steps" value={t.steps} disabled={disabled} onChange={(v) => updateConfig((c) => void (c.training.steps = v))} />
      <NumberField field="training.seed" label="seed" value={t.seed} disabled={disabled} onChange={(v) => updateConfig((c) => void (c.training.seed = v))} />
      <SelectField field="training.schedule" label="schedule" value={t.schedule} options={['cosine', 'linear', 'constant'] as const} disabled={disabled} onChange={(v) => updateConfig((c) => void (c.training.schedule = v))} />
      <NumberField field="training.warmup" label="warm-up steps" value={t.warmup} disabled={disabled} onChange={(v) => updateConfig((c) => void (c.training.warmup = v))} />
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
  const t = TASK_EXPLANATIONS[task];
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
