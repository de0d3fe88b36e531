/**
 * The glue between a frozen model and the adapters: how target patterns select a model's sites
 * (src/nn/site.ts; each model lists its own), and attaching any registered adapter kind to the
 * selected sites.
 *
 * Site paths are the module names with the model's own name stripped (PEFT-style module paths),
 * e.g. for a TinyTransformer:
 *   blocks.{i}.attn.q_proj | k_proj | v_proj | o_proj   Linear sites (query/key/value/output projections)
 *   blocks.{i}.attn                                      attention-output site of block i (atoms)
 *   blocks.{i}.mlp.fc1 | fc2                             Linear sites (MLP up/down projections)
 *   head                                                 Linear site (per-token output head)
 *
 * Target patterns (glob-ish, on those paths):
 *   `*`      any characters within one segment        blocks.*.attn.q_proj
 *   `**`     any number of whole segments             blocks.**.fc1, ** (everything)
 *   `{a,b}`  alternatives                             blocks.*.attn.{q,v}_proj
 * A pattern matches a path when it matches the whole path or a trailing run of its segments, as
 * PEFT's target_modules do: `q_proj` selects every block's q_proj, `attn` every attention site.
 */
import { ConfigError } from '../engine/errors';
import type { ParamRef } from '../engine/param-pack';
import type { CommandList } from '../engine/runtime';
import type { StepParams } from '../engine/step-params';
import type { Tensor } from '../engine/tensor';
import type { BuildContext } from '../nn/module';
import type { AdaptableModel } from '../nn/site';
import type { Adapter, AdapterKind, AdapterModule, AdapterSite } from './adapter';
import { adapterModule } from './registry';

/** What to attach where. `config` may be partial: missing fields take the factory's defaults. */
export interface AdapterSpec {
  kind: AdapterKind;
  config: unknown;
  /** Patterns on site paths, e.g. 'blocks.*.attn.q_proj' (see the file comment). */
  targets: string[];
}

/** Every site of the model, in forward order. */
export function listSites(model: AdaptableModel): AdapterSite[] {
  return model.sites();
}

const PATTERN_CHARS = /^[A-Za-z0-9_\-*{},.]+$/;

function escapeRe(s: string): string {
  return s.replace(/[\\^$+?()[\]|.]/g, '\\$&');
}

/** One segment (no dots) to a regex source: `*` → [^.]*, `{a,b}` → (?:a|b). */
function segmentRe(seg: string, pattern: string): string {
  let out = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === '*') out += '[^.]*';
    else if (c === '{') {
      const end = seg.indexOf('}', i);
      if (end < 0) throw new ConfigError('targets', `pattern '${pattern}': '{' without a closing '}'`);
      const alts = seg.slice(i + 1, end).split(',');
      if (alts.some((a) => a.includes('{'))) throw new ConfigError('targets', `pattern '${pattern}': alternatives cannot nest`);
      out += `(?:${alts.map((a) => a.split('*').map(escapeRe).join('[^.]*')).join('|')})`;
      i = end;
    } else if (c === '}' || c === ',') {
      throw new ConfigError('targets', `pattern '${pattern}': '${c}' outside {…}`);
    } else out += escapeRe(c);
  }
  return out;
}

/** The regex a target pattern stands for (anchored; suffix matches included). */
export function patternRegExp(pattern: string): RegExp {
  if (typeof pattern !== 'string' || pattern.length === 0) throw new ConfigError('targets', `patterns must be non-empty strings, got ${JSON.stringify(pattern)}`);
  if (!PATTERN_CHARS.test(pattern)) throw new ConfigError('targets', `pattern '${pattern}': only letters, digits, _ - . * { } , are allowed`);
  // Dots inside {…} would split a segment; keep alternatives within one segment.
  const segs = pattern.split('.');
  if (segs.some((s) => s.length === 0)) throw new ConfigError('targets', `pattern '${pattern}' has an empty segment`);
  let src = '';
  segs.forEach((seg, i) => {
    const last = i === segs.length - 1;
    if (seg === '**') src += last ? '[^.]+(?:\\.[^.]+)*' : '(?:[^.]+\\.)*';
    else src += segmentRe(seg, pattern) + (last ? '' : '\\.');
  });
  return new RegExp(`^(?:[^.]+\\.)*${src}$`);
}

/** Sites whose path matches any pattern, in site order; throws ConfigError for a pattern that matches nothing. */
export function selectSites(sites: readonly AdapterSite[], targets: readonly string[]): AdapterSite[] {
  if (!Array.isArray(targets) || targets.length === 0) throw new ConfigError('targets', 'give at least one target pattern, e.g. "blocks.*.attn.q_proj"');
  const res = targets.map((t) => ({ t, re: patternRegExp(t) }));
  for (const { t, re } of res) {
    if (!sites.some((s) => re.test(s.path))) {
      throw new ConfigError('targets', `'${t}' matches no site; sites are: ${sites.map((s) => s.path).join(', ')}`);
    }
  }
  return sites.filter((s) => res.some(({ re }) => re.test(s.path)));
}

/**
 * Merges `config` over the module's defaults. Unknown fields are rejected (ConfigError naming
 * the field) so a typo cannot silently fall back to a default. Ranges are the module's
 * `validate`'s job (it knows the site's shapes).
 */
export function resolveConfig<C extends object>(module: Pick<AdapterModule<C>, 'kind' | 'settings'>, config: unknown): C {
  const defaults = module.settings.defaults;
  if (config === undefined || config === null) return { ...defaults };
  if (typeof config !== 'object' || Array.isArray(config)) throw new ConfigError('config', `${module.kind} config must be an object, got ${JSON.stringify(config)}`);
  const known = Object.keys(defaults);
  for (const k of Object.keys(config)) {
    if (!known.includes(k)) throw new ConfigError(k, `unknown ${module.kind} config field; known: ${known.join(', ')}`);
  }
  return { ...defaults, ...(config as Partial<C>) };
}

/** The registered module of `kind` (ConfigError 'kind' naming the registered ones otherwise). */
export function factoryOf(kind: AdapterKind): AdapterModule<object> {
  try {
    return adapterModule(kind);
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError('kind', e.message.slice(e.field.length + 2));
    throw e;
  }
}

function occupied(site: AdapterSite): boolean {
  return site.kind === 'linear' ? site.layer.adapter !== null : site.layer.outputAdapter !== null;
}

/**
 * Validates everything (kind, config, every site) before declaring any parameter, then attaches
 * one adapter per selected site. Call before the packs are finalized.
 *
 * Only sites of a kind the adapter attaches to are candidates: `**` means "every site this
 * adapter can take". A pattern that matches only sites of another kind is an error that says so.
 */
export function attachToSites(ctx: BuildContext, sites: readonly AdapterSite[], spec: AdapterSpec): Adapter[] {
  const factory = factoryOf(spec.kind);
  const config = resolveConfig(factory, spec.config);
  const compatible = sites.filter((s) => factory.sites.includes(s.kind));
  if (compatible.length === 0) {
    throw new ConfigError('kind', `${spec.kind} attaches to ${factory.sites.join(' / ')} sites and this model has none (its sites: ${sites.map((s) => `${s.path} (${s.kind})`).join(', ') || 'none'})`);
  }
  for (const t of spec.targets ?? []) {
    const re = patternRegExp(t);
    if (compatible.some((s) => re.test(s.path))) continue;
    const other = sites.filter((s) => re.test(s.path));
    if (other.length) {
      throw new ConfigError('targets', `'${t}' matches ${other.map((s) => `${s.path} (${s.kind})`).slice(0, 4).join(', ')}${other.length > 4 ? ', …' : ''}, where ${spec.kind} cannot attach: it takes ${factory.sites.join(' / ')} sites, e.g. ${compatible.slice(0, 3).map((s) => s.path).join(', ')}`);
    }
  }
  const chosen = selectSites(compatible, spec.targets);
  for (const site of chosen) {
    if (occupied(site)) throw new ConfigError('targets', `${site.path} already has an adapter (one per site)`);
    factory.validate(config, site);
  }
  const shared = new Map<string, unknown>();
  return chosen.map((site) => factory.attach(ctx, site, config, shared));
}

/** listSites + attachToSites. Returns the adapters in site order. */
export function attachAdapters(ctx: BuildContext, model: AdaptableModel, spec: AdapterSpec): Adapter[] {
  return attachToSites(ctx, listSites(model), spec);
}

/** Σ trainable parameters of the adapters. */
export function trainableParameterCount(adapters: readonly Adapter[]): number {
  return adapters.reduce((s, a) => s + a.trainableParameterCount(), 0);
}

/** Every parameter of the base model, frozen or not. */
export function baseParameters(model: AdaptableModel): ParamRef[] {
  return model.baseParameters();
}

/** Number of scalars in the base model. */
export function baseParameterCount(model: AdaptableModel): number {
  return model.baseParameters().reduce((s, p) => s + p.size, 0);
}

/** The adapters' metrics, for TrainGraph.extraMetrics. */
export function adapterMetrics(adapters: readonly Adapter[]): { name: string; tensor: Tensor }[] {
  return adapters.flatMap((a) => a.metrics ?? []);
}

/** Records every adapter's post-optimizer work (for TrainGraph.recordAfterOptimizer). */
export function recordAdaptersAfterOptimizer(adapters: readonly Adapter[], list: CommandList, stepParams: StepParams): void {
  for (const a of adapters) a.recordAfterOptimizer?.(list, stepParams);
}
