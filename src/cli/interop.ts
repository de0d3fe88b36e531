/**
 * `interop <in.safetensors> <out.safetensors>`: run one adapted layer's forward and backward on
 * the GPU with weights, an input batch and an upstream gradient from a file (written by PyTorch,
 * JAX, …), and write the output and every gradient back — to check our numbers against another
 * framework. The layout is documented in README.md ("Interop: checking our numbers against
 * another framework").
 *
 * Any registered adapter works: one that attaches to Linear sites gets a frozen Linear
 * (`base.weight` [m, n], optional `base.bias` [m]); one that attaches only to attention outputs
 * (atoms) gets a frozen multi-head attention (`base.{q,k,v,o}_proj.weight` [d, d], optional
 * biases, metadata `heads`, optional `causal`). Adapter tensors use the adapter's own parameter
 * names with module path `layer` (e.g. `layer.lora_A.weight`). The base is frozen: there is no
 * `grad.base.*` in the output.
 *
 * Exit codes: 0 ok; 1 usage error, unreadable input or unwritable output; 2 the input is not a
 * valid problem (malformed safetensors, missing/unexpected tensors, shape mismatches, unknown
 * adapter, bad config); 3 the GPU reported an error while running it.
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { AdapterModule, AdapterSite } from '../adapters/adapter';
import { resolveConfig } from '../adapters/attach';
import { adapterKinds, adapterModules } from '../adapters/registry';
import { ConfigError } from '../engine/errors';
import { acquireNodeGpu } from '../engine/node-gpu';
import { ParamPack, type ParamRef } from '../engine/param-pack';
import { Rng } from '../engine/rng';
import { CommandList, GpuRuntime } from '../engine/runtime';
import { serializeSafetensors, parseSafetensors, SafetensorsError, toFloat32, type SafetensorsFile, type TensorEntry, type TensorInput } from '../io/safetensors';
import { MAX_ATTENTION_SEQ } from '../kernels/attention';
import { MultiHeadAttention } from '../nn/attention';
import { Linear } from '../nn/linear';
import type { Activation, BuildContext } from '../nn/module';

export const INTEROP_USAGE = `interop <in.safetensors> <out.safetensors>
    Run one adapter layer's forward and backward on the GPU from a file (metadata adapter, config;
    tensors base.*, layer.<adapter params>, x, grad_y) and write y, grad_x and grad.<param> for every
    trainable adapter parameter. See README "Interop". Exit 0 ok, 1 usage/IO, 2 bad input, 3 GPU error.`;

const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);
/** Module path of the adapted layer; adapter parameters are named `layer.…`. */
const PATH = 'layer';

/** The input is not a valid interop problem (exit code 2). */
export class InteropError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InteropError';
  }
}

/** WebGPU reported a validation error while building or running the problem (exit code 3). */
export class InteropGpuError extends Error {
  constructor(message: string) {
    super(`GPU error: ${message}`);
    this.name = 'InteropGpuError';
  }
}

function shapeStr(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

function floatTensor(file: SafetensorsFile, name: string, required: true): TensorEntry;
function floatTensor(file: SafetensorsFile, name: string, required: false): TensorEntry | null;
function floatTensor(file: SafetensorsFile, name: string, required: boolean): TensorEntry | null;
function floatTensor(file: SafetensorsFile, name: string, required: boolean): TensorEntry | null {
  const t = file.tensors.get(name);
  if (!t) {
    if (required) throw new InteropError(`missing tensor '${name}'`);
    return null;
  }
  if (!FLOAT_DTYPES.has(t.dtype)) throw new InteropError(`tensor '${name}' is ${t.dtype}; expected a float dtype (F32, F16, BF16 or F64)`);
  return t;
}

function expectShape(name: string, t: TensorEntry, shape: readonly number[]): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new InteropError(`tensor '${name}' has shape ${shapeStr(t.shape)}, expected ${shapeStr(shape)}`);
  }
}

/** The adapter kind and its factory from metadata `adapter`. */
function factoryFrom(file: SafetensorsFile): AdapterModule<object> {
  const kind = file.metadata['adapter'];
  if (kind === undefined) throw new InteropError(`metadata 'adapter' is missing; set it to one of: ${adapterKinds().join(', ')}`);
  const f = adapterModules().find((m) => m.kind === kind);
  if (!f) throw new InteropError(`unknown adapter '${kind}' (metadata 'adapter'); registered: ${adapterKinds().join(', ')}`);
  return f;
}

function configFrom(file: SafetensorsFile, factory: AdapterModule<object>): object {
  const text = file.metadata['config'];
  let raw: unknown = undefined;
  if (text !== undefined) {
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new InteropError(`metadata 'config' is not valid JSON (${(e as Error).message})`);
    }
  }
  try {
    return resolveConfig(factory, raw);
  } catch (e) {
    if (e instanceof ConfigError) throw new InteropError(`${factory.kind} config: ${e.message}`);
    throw e;
  }
}

interface Built {
  site: AdapterSite;
  /** The frozen base layer's parameters, by their name in the file. */
  base: Map<string, ParamRef>;
  input: Activation;
  output: Activation;
  /** Output shape written to the file (x's leading dims + out features). */
  yShape: number[];
  recordForward(list: CommandList): void;
  recordBackward(list: CommandList): void;
}

/** A frozen Linear from base.weight [m, n] / base.bias [m]; x [..., n]. */
function buildLinear(ctx: BuildContext, file: SafetensorsFile): Built {
  const w = floatTensor(file, 'base.weight', true);
  if (w.shape.length !== 2 || w.shape[0]! < 1 || w.shape[1]! < 1) throw new InteropError(`tensor 'base.weight' must be [out, in] with both ≥ 1, got ${shapeStr(w.shape)}`);
  const [m, n] = w.shape as [number, number];
  const b = floatTensor(file, 'base.bias', false);
  if (b) expectShape('base.bias', b, [m]);
  const x = floatTensor(file, 'x', true);
  if (x.shape.length < 2 || x.shape[x.shape.length - 1] !== n) {
    throw new InteropError(`tensor 'x' has shape ${shapeStr(x.shape)}, expected [rows, ${n}] (or [..., ${n}]) to match base.weight ${shapeStr(w.shape)}`);
  }
  const rows = x.shape.slice(0, -1).reduce((a, d) => a * d, 1);
  if (rows < 1) throw new InteropError(`tensor 'x' has no rows (shape ${shapeStr(x.shape)})`);
  const yShape = [...x.shape.slice(0, -1), m];
  const rt = ctx.rt;
  const input: Activation = { value: rt.tensor([rows, n], 'x'), grad: rt.tensor([rows, n], 'grad_x') };
  const layer = new Linear(ctx, PATH, { inDim: n, outDim: m, bias: !!b, frozen: true }, input, rows);
  const base = new Map<string, ParamRef>([['base.weight', layer.weight]]);
  if (layer.bias) base.set('base.bias', layer.bias);
  return {
    site: { kind: 'linear', path: PATH, layer, rows },
    base,
    input,
    output: layer.out,
    yShape,
    recordForward: (l) => layer.recordForward(l),
    recordBackward: (l) => layer.recordBackward(l),
  };
}

/** A frozen multi-head attention from base.{q,k,v,o}_proj.*; x [batch, seq, d]; metadata heads, causal. */
function buildAttention(ctx: BuildContext, file: SafetensorsFile): Built {
  const x = floatTensor(file, 'x', true);
  if (x.shape.length !== 3 || x.shape.some((d) => d < 1)) throw new InteropError(`tensor 'x' must be [batch, seq, dim] for an attention-output adapter, got ${shapeStr(x.shape)}`);
  const [batch, seq, dim] = x.shape as [number, number, number];
  const headsText = file.metadata['heads'];
  const heads = Number(headsText);
  if (headsText === undefined || !Number.isInteger(heads) || heads < 1 || dim % heads !== 0) {
    throw new InteropError(`metadata 'heads' must be a positive integer dividing dim ${dim}, got ${headsText === undefined ? 'nothing' : JSON.stringify(headsText)}`);
  }
  if (seq > MAX_ATTENTION_SEQ) throw new InteropError(`tensor 'x': seq ${seq} exceeds the attention kernels' maximum of ${MAX_ATTENTION_SEQ}`);
  const causalText = file.metadata['causal'] ?? 'false';
  if (causalText !== 'true' && causalText !== 'false') throw new InteropError(`metadata 'causal' must be "true" or "false", got ${JSON.stringify(causalText)}`);
  const projections = ['q_proj', 'k_proj', 'v_proj', 'o_proj'];
  for (const p of projections) expectShape(`base.${p}.weight`, floatTensor(file, `base.${p}.weight`, true), [dim, dim]);
  const rows = batch * seq;
  const rt = ctx.rt;
  const input: Activation = { value: rt.tensor([rows, dim], 'x'), grad: rt.tensor([rows, dim], 'grad_x') };
  const layer = new MultiHeadAttention(ctx, PATH, { dim, heads, batch, seq, causal: causalText === 'true', frozen: true }, input);
  const base = new Map<string, ParamRef>();
  const lins = [layer.q, layer.k, layer.v, layer.o];
  projections.forEach((p, i) => {
    base.set(`base.${p}.weight`, lins[i]!.weight);
    base.set(`base.${p}.bias`, lins[i]!.bias!);
  });
  return {
    site: { kind: 'attention-output', path: PATH, layer, batch, seq, heads, dim },
    base,
    input,
    output: layer.out,
    yShape: [batch, seq, dim],
    recordForward: (l) => layer.recordForward(l),
    recordBackward: (l) => layer.recordBackward(l),
  };
}

export interface InteropResult {
  /** Output tensors in file order: y, grad_x, grad.<name>… */
  tensors: TensorInput[];
  metadata: Record<string, string>;
}

/**
 * Runs the problem a parsed file describes. Throws InteropError for an invalid problem and
 * InteropGpuError when WebGPU reports a validation error (captured in an error scope).
 */
export async function runInterop(rt: GpuRuntime, file: SafetensorsFile): Promise<InteropResult> {
  rt.device.pushErrorScope('validation');
  let result: InteropResult | null = null;
  try {
    result = await run(rt, file);
  } finally {
    const gpuError = await rt.device.popErrorScope();
    // A GPU error explains any failure after it; otherwise the original exception propagates.
    if (gpuError) throw new InteropGpuError(gpuError.message);
  }
  return result;
}

async function run(rt: GpuRuntime, file: SafetensorsFile): Promise<InteropResult> {
  const factory = factoryFrom(file);
  const config = configFrom(file, factory);
  const mode = factory.sites.includes('linear') ? 'linear' : factory.sites.includes('attention-output') ? 'attention-output' : null;
  if (!mode) throw new InteropError(`adapter '${factory.kind}' attaches to ${factory.sites.join(', ')} sites; interop supports linear and attention-output sites`);

  const { value, scope } = rt.scoped('interop', () => {
    const trainable = new ParamPack(rt, 'interop.adapter', true);
    const frozen = new ParamPack(rt, 'interop.base', false);
    const ctx: BuildContext = { rt, trainable, frozen, rng: new Rng(0) };
    const built = mode === 'linear' ? buildLinear(ctx, file) : buildAttention(ctx, file);
    try {
      factory.validate(config, built.site);
    } catch (e) {
      if (e instanceof ConfigError) throw new InteropError(`${factory.kind} config: ${e.message}`);
      throw e;
    }
    const adapter = factory.attach(ctx, built.site, config);
    trainable.finalize();
    frozen.finalize();
    return { built, adapter, trainable, frozen };
  });
  const { built, adapter, trainable, frozen } = value;
  try {
    // Every parameter (base and adapter, frozen or not) comes from the file, by its file name.
    const baseNames = new Map<ParamRef, string>([...built.base].map(([name, p]) => [p, name]));
    const expected = new Map<string, ParamRef>();
    for (const p of [...frozen.params, ...trainable.params]) expected.set(baseNames.get(p) ?? p.name, p);
    const optionalBias = (name: string) => mode === 'attention-output' && /^base\.[qkvo]_proj\.bias$/.test(name);
    const known = new Set([...expected.keys(), 'x', 'grad_y']);
    const unexpected = [...file.tensors.keys()].filter((n) => !known.has(n));
    if (unexpected.length > 0) {
      throw new InteropError(`unexpected tensor${unexpected.length > 1 ? 's' : ''} ${unexpected.map((n) => `'${n}'`).join(', ')}; a ${factory.kind} problem with this config has: ${[...known].join(', ')}`);
    }
    for (const [name, p] of expected) {
      const t = floatTensor(file, name, !optionalBias(name));
      if (!t) continue; // attention biases default to 0 (the pack starts them at their init: zero them)
      expectShape(name, t, p.shape);
      rt.write(p.value, toFloat32(t));
    }
    if (mode === 'attention-output') {
      for (const [name, p] of expected) if (optionalBias(name) && !file.tensors.has(name)) rt.write(p.value, new Float32Array(p.size));
    }
    const x = floatTensor(file, 'x', true);
    const gy = floatTensor(file, 'grad_y', true);
    expectShape('grad_y', gy, built.yShape);
    rt.write(built.input.value, toFloat32(x));
    rt.write(built.output.grad!, toFloat32(gy));

    const forward = new CommandList('interop.forward');
    const backward = new CommandList('interop.backward');
    built.recordForward(forward);
    backward.push(trainable.zeroGradOp());
    built.recordBackward(backward);
    rt.submit([forward, backward]);

    const tensors: TensorInput[] = [
      { name: 'y', shape: built.yShape, data: await rt.read(built.output.value) },
      { name: 'grad_x', shape: file.tensors.get('x')!.shape, data: await rt.read(built.input.grad!) },
    ];
    for (const p of trainable.params) tensors.push({ name: `grad.${p.name}`, shape: [...p.shape], data: await rt.read(p.grad) });
    return {
      tensors,
      metadata: {
        adapter: factory.kind,
        config: JSON.stringify(config),
        producer: 'sparse-adapter-playground interop (WebGPU, f32)',
        base: 'frozen: no grad.base.* tensors',
      },
    };
  } finally {
    adapter.destroy();
    scope.dispose();
  }
}

function oneLine(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `interop <in> <out>`; resolves to the exit code. `opts.rt` reuses a runtime (tests); otherwise a Node GPU is acquired and released. */
export async function interopCommand(argv: string[], opts: { rt?: GpuRuntime } = {}): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(`${INTEROP_USAGE}\n`);
    return 0;
  }
  const args = argv[0] === '--' ? argv.slice(1) : argv;
  const options = args.filter((a) => a.startsWith('-') && a !== '-');
  if (options.length > 0 || args.length !== 2) {
    const why = options.length > 0 ? `unknown option ${JSON.stringify(options[0])}` : `expected 2 files, got ${args.length}`;
    process.stderr.write(`error: ${why}\nusage: ${INTEROP_USAGE}\n`);
    return 1;
  }
  const [inPath, outPath] = args as [string, string];
  let bytes: Uint8Array;
  try {
    bytes = await readFile(inPath);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    process.stderr.write(`error: ${oneLine(inPath)}: ${err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory' : err.message}\n`);
    return 1;
  }
  let file: SafetensorsFile;
  try {
    file = parseSafetensors(bytes);
  } catch (e) {
    if (!(e instanceof SafetensorsError)) throw e;
    process.stderr.write(`error: ${oneLine(inPath)}: ${oneLine(e.message)}\n`);
    return 2;
  }
  const rt = opts.rt ?? new GpuRuntime(await acquireNodeGpu());
  let result: InteropResult;
  try {
    result = await runInterop(rt, file);
  } catch (e) {
    if (e instanceof InteropError) {
      process.stderr.write(`error: ${oneLine(inPath)}: ${oneLine(e.message)}\n`);
      return 2;
    }
    if (e instanceof InteropGpuError) {
      process.stderr.write(`error: ${oneLine(inPath)}: ${oneLine(e.message)}\n`);
      return 3;
    }
    throw e;
  } finally {
    if (!opts.rt) {
      rt.destroy();
      rt.device.destroy();
    }
  }
  try {
    await writeFile(outPath, serializeSafetensors(result.tensors, result.metadata));
  } catch (e) {
    process.stderr.write(`error: ${oneLine(outPath)}: ${oneLine((e as Error).message)}\n`);
    return 1;
  }
  process.stdout.write(`${outPath}: ${result.tensors.map((t) => `${t.name} [${t.shape.join(',')}]`).join(', ')}\n`);
  return 0;
}
