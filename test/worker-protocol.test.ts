/**
 * The page ↔ worker protocol without a browser: the client against a fake worker, the worker's
 * dispatch (`answer`) against a handler table, error replies, what tsc checks of the protocol
 * map, and the UI's boundary.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, test } from 'vitest';
import { ConfigError, GpuUnavailableError, WEBGPU_ADVICE } from '../src/engine/errors';
import { EngineClient, WorkerError, type WorkerLike } from '../src/worker/client';
import type { Handlers, ReplyMessage, ReplyOf, UiToWorker, WorkerEvent, WorkerToUi } from '../src/worker/protocol';
import { answer, toErrorReply, WorkerFailure } from '../src/worker/replies';

class FakeWorker implements WorkerLike {
  sent: UiToWorker[] = [];
  terminated = false;
  private onMessage: ((ev: MessageEvent) => void)[] = [];
  private onError: ((ev: ErrorEvent) => void)[] = [];
  postMessage(message: unknown): void {
    this.sent.push(structuredClone(message) as UiToWorker);
  }
  addEventListener(type: 'message' | 'error', listener: ((ev: MessageEvent) => void) | ((ev: ErrorEvent) => void)): void {
    if (type === 'message') this.onMessage.push(listener as (ev: MessageEvent) => void);
    else this.onError.push(listener as (ev: ErrorEvent) => void);
  }
  terminate(): void {
    this.terminated = true;
  }
  reply(msg: WorkerToUi): void {
    for (const l of this.onMessage) l({ data: structuredClone(msg) } as MessageEvent);
  }
  crash(message: string): void {
    for (const l of this.onError) l({ message } as ErrorEvent);
  }
}

const readyInfo = (vendor: string): ReplyOf<'init'> => ({
  adapter: { vendor, architecture: 'a', description: 'd', device: '', isSwiftShader: false },
  limits: {
    maxStorageBufferBindingSize: 1 << 27,
    maxBufferSize: 1 << 28,
    maxStorageBuffersPerShaderStage: 8,
    maxComputeWorkgroupStorageSize: 16384,
    maxComputeInvocationsPerWorkgroup: 256,
  },
  features: [],
});
const ready = (id: number, vendor = 'v'): ReplyMessage<'init'> => ({ type: 'init', id, reply: readyInfo(vendor) });

describe('EngineClient', () => {
  test('numbers requests and resolves each with the reply that carries its id, in any order', async () => {
    const w = new FakeWorker();
    const client = new EngineClient(w);
    const a = client.request({ type: 'init' });
    const b = client.request({ type: 'init', powerPreference: 'low-power' });
    expect(w.sent).toEqual([
      { type: 'init', id: 1 },
      { type: 'init', id: 2, powerPreference: 'low-power' },
    ]);
    w.reply(ready(2, 'second'));
    w.reply(ready(1, 'first'));
    expect(await a).toEqual(readyInfo('first'));
    expect(await b).toEqual(readyInfo('second'));
  });

  test('an error reply rejects with a WorkerError carrying code and advice; other requests are unaffected', async () => {
    const w = new FakeWorker();
    const client = new EngineClient(w);
    const a = client.request({ type: 'init' });
    const b = client.request({ type: 'init' });
    w.reply({ type: 'error', id: 1, code: 'no-adapter', message: 'none', advice: 'use flags' });
    await expect(a).rejects.toMatchObject({ name: 'WorkerError', code: 'no-adapter', message: 'none', advice: 'use flags' });
    w.reply(ready(2));
    await expect(b).resolves.toEqual(readyInfo('v'));
  });

  test('events reach listeners, not requests; unsubscribe works', async () => {
    const w = new FakeWorker();
    const client = new EngineClient(w);
    const seen: WorkerEvent[] = [];
    const off = client.onEvent((e) => seen.push(e));
    const pending = client.request({ type: 'init' });
    w.reply({ type: 'device-lost', reason: 'unknown', message: 'gone' });
    off();
    w.reply({ type: 'device-lost', reason: 'destroyed', message: 'again' });
    expect(seen).toEqual([{ type: 'device-lost', reason: 'unknown', message: 'gone' }]);
    w.reply(ready(1));
    await expect(pending).resolves.toEqual(readyInfo('v'));
  });

  test('a worker that fails to load rejects what is pending and every later request with worker-failed', async () => {
    const w = new FakeWorker();
    const client = new EngineClient(w);
    const pending = client.request({ type: 'init' });
    w.crash('SyntaxError: bad bundle');
    await expect(pending).rejects.toBeInstanceOf(WorkerError);
    await expect(pending).rejects.toMatchObject({ code: 'worker-failed' });
    await expect(client.request({ type: 'init' })).rejects.toMatchObject({ code: 'worker-failed' });
    expect(w.sent).toHaveLength(1);
  });
});

/** A handler table with only some handlers (the rest answer bad-request, as an unknown type would). */
const someHandlers = (h: Partial<Handlers>): Handlers => h as Handlers;

/** The worker side in-process: every message is structured-cloned both ways and answered by `answer`. */
class LoopbackWorker implements WorkerLike {
  private onMessage: ((ev: MessageEvent) => void)[] = [];
  constructor(private readonly handlers: Handlers) {}
  postMessage(message: unknown): void {
    void answer(this.handlers, structuredClone(message)).then((reply) => this.emit(reply));
  }
  emit(msg: WorkerToUi): void {
    for (const l of this.onMessage) l({ data: structuredClone(msg) } as MessageEvent);
  }
  addEventListener(type: 'message' | 'error', listener: ((ev: MessageEvent) => void) | ((ev: ErrorEvent) => void)): void {
    if (type === 'message') this.onMessage.push(listener as (ev: MessageEvent) => void);
  }
  terminate(): void {}
}

describe('answer (the worker\'s dispatch)', () => {
  test("routes a request to its type's handler and answers { type, id, reply } as plain data", async () => {
    const seen: UiToWorker[] = [];
    const handlers = someHandlers({
      'set-k': (msg) => {
        seen.push(msg);
        return { step: 3, overrides: { k: { [msg.group]: msg.k ?? 0 } }, view: { kind: 'none' } as never };
      },
      'import-session': async (msg) => {
        seen.push(msg);
        return { session: { step: msg.bytes.length } as never, history: { train: [], validation: [] } };
      },
    });
    const r = await answer(handlers, { type: 'set-k', id: 5, group: 1, k: 4 });
    expect(r).toEqual({ type: 'set-k', id: 5, reply: { step: 3, overrides: { k: { 1: 4 } }, view: { kind: 'none' } } });
    expect(structuredClone(r)).toEqual(r);
    const bytes = new Uint8Array([1, 2, 3]);
    expect(await answer(handlers, { type: 'import-session', id: 6, bytes })).toEqual({ type: 'import-session', id: 6, reply: { session: { step: 3 }, history: { train: [], validation: [] } } });
    expect(seen).toEqual([
      { type: 'set-k', id: 5, group: 1, k: 4 },
      { type: 'import-session', id: 6, bytes },
    ]);
  });

  test("a handler's failure becomes the error reply of that request, with its code (and field)", async () => {
    const handlers = someHandlers({
      pause: () => {
        throw new WorkerFailure('not-configured', 'No session.', 'Configure first.');
      },
      configure: async () => {
        throw new ConfigError('adapter.stan.k', 'must be ≥ 1');
      },
      stats: async () => {
        throw new RangeError('boom');
      },
    });
    expect(await answer(handlers, { type: 'pause', id: 1 })).toEqual({ type: 'error', id: 1, code: 'not-configured', message: 'No session.', advice: 'Configure first.' });
    expect(await answer(handlers, { type: 'configure', id: 2, config: {} })).toMatchObject({ type: 'error', id: 2, code: 'bad-config', field: 'adapter.stan.k' });
    expect(await answer(handlers, { type: 'stats', id: 3 })).toMatchObject({ type: 'error', id: 3, code: 'internal', message: 'RangeError: boom' });
  });

  test('malformed messages and unknown types (including Object.prototype names) answer bad-request', async () => {
    const handlers = someHandlers({ pause: () => ({ step: 0 }) });
    for (const bad of [null, 7, 'pause', { type: 'pause' }, { id: 1 }, { type: 3, id: 1 }, { type: 'pause', id: '1' }]) {
      expect(await answer(handlers, bad), JSON.stringify(bad)).toMatchObject({ type: 'error', id: null, code: 'bad-request' });
    }
    for (const type of ['nope', 'stats', 'toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      const r = await answer(handlers, { type, id: 9 });
      expect(r, type).toMatchObject({ type: 'error', id: 9, code: 'bad-request' });
      expect((r as { message: string }).message, type).toContain(`Unknown request type ${JSON.stringify(type)}`);
    }
  });

  test('client and dispatch together: typed replies, error codes and events over structured clones', async () => {
    const handlers = someHandlers({
      init: (msg) => readyInfo(msg.powerPreference ?? 'default'),
      'export-adapter': () => ({ config: '{"peft_type":"STAN"}', model: new Uint8Array([9, 8]) }),
      identifiability: (msg) => {
        throw new WorkerFailure('not-configured', `no group ${msg.group}`, 'Configure first.');
      },
    });
    const w = new LoopbackWorker(handlers);
    const client = new EngineClient(w);
    const events: WorkerEvent[] = [];
    client.onEvent((e) => events.push(e));
    const [a, b, files] = await Promise.all([client.request({ type: 'init' }), client.request({ type: 'init', powerPreference: 'low-power' }), client.request({ type: 'export-adapter' })]);
    expect(a.adapter.vendor).toBe('default');
    expect(b.adapter.vendor).toBe('low-power');
    expect(files.model).toBeInstanceOf(Uint8Array);
    expect([...files.model]).toEqual([9, 8]);
    await expect(client.request({ type: 'identifiability', group: 2 })).rejects.toMatchObject({ name: 'WorkerError', code: 'not-configured', message: 'no group 2' });
    await expect(client.request({ type: 'stats' })).rejects.toMatchObject({ code: 'bad-request' });
    w.emit({ type: 'training-stopped', step: 4, reason: 'done' });
    w.emit({ type: 'autosave', ok: true, step: 4, message: null, code: null, summary: null });
    expect(events.map((e) => e.type)).toEqual(['training-stopped', 'autosave']);
  });
});

describe('the protocol map, as tsc sees it', () => {
  // CI runs vitest, not tsc: this compiles a few lines against the real protocol with the project's
  // compiler options and checks that tsc rejects exactly the broken ones.
  test('a handler table missing a handler, with a wrong reply or an unknown handler, and a request with a wrong body, do not compile', () => {
    const root = join(import.meta.dirname, '..');
    const parsed = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.json'), {}, {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    })!;
    const file = join(root, 'test', '__protocol-check.ts').replaceAll('\\', '/');
    const lines = [
      "import type { Handlers } from '../src/worker/protocol';",
      "import type { EngineClient } from '../src/worker/client';",
      'declare const all: Handlers;',
      'declare const client: EngineClient;',
      'const { pause: _, ...noPause } = all;',
      'export const missing: Handlers = noPause; // ERROR pause',
      "export const wrongReply: Handlers = { ...all, pause: () => ({ step: 'x' }) }; // ERROR",
      "export const wrongAsync: Handlers = { ...all, cancel: async () => ({ cancelled: 1 }) }; // ERROR",
      'export const unknown: Handlers = { ...all, bogus: () => ({}) }; // ERROR bogus',
      'export const right: Handlers = { ...all, pause: async () => ({ step: 1 }), cancel: () => ({ cancelled: true }) };',
      "export const missingField = client.request({ type: 'set-k', group: 1 }); // ERROR k",
      "export const unknownType = client.request({ type: 'nope' }); // ERROR",
      "export const fine = client.request({ type: 'set-k', group: 1, k: null }).then((r) => r.view);",
    ];
    const host = ts.createCompilerHost(parsed.options);
    const getSourceFile = host.getSourceFile.bind(host);
    const fileExists = host.fileExists.bind(host);
    host.getSourceFile = (f, lang, ...rest) => (f === file ? ts.createSourceFile(f, lines.join('\n'), lang) : getSourceFile(f, lang, ...rest));
    host.fileExists = (f) => f === file || fileExists(f);
    const program = ts.createProgram([file], { ...parsed.options, noEmit: true }, host);
    const source = program.getSourceFile(file)!;
    const errors = new Map<number, string>();
    for (const d of ts.getPreEmitDiagnostics(program, source)) {
      const line = source.getLineAndCharacterOfPosition(d.start ?? 0).line;
      errors.set(line, `${errors.get(line) ?? ''}${ts.flattenDiagnosticMessageText(d.messageText, '\n')}\n`);
    }
    lines.forEach((text, i) => {
      const expected = /\/\/ ERROR ?(\w*)$/.exec(text);
      if (!expected) expect(errors.get(i), `line ${i + 1} should compile: ${text}`).toBeUndefined();
      else {
        expect(errors.get(i), `tsc should reject line ${i + 1}: ${text}`).toBeDefined();
        expect(errors.get(i)).toContain(expected[1]);
      }
    });
  }, 60_000);
});

describe('toErrorReply', () => {
  test('keeps a GpuUnavailableError code and separates its message from its advice', () => {
    const e = new GpuUnavailableError('no-webgpu', 'WebGPU is not available in this browser or context.', WEBGPU_ADVICE);
    expect(toErrorReply(7, e)).toEqual({
      type: 'error',
      id: 7,
      code: 'no-webgpu',
      message: 'WebGPU is not available in this browser or context.',
      advice: WEBGPU_ADVICE,
    });
  });
  test('passes WorkerFailure through and turns anything else into internal', () => {
    expect(toErrorReply(1, new WorkerFailure('not-initialized', 'm', 'a'))).toMatchObject({ code: 'not-initialized', message: 'm', advice: 'a' });
    const r = toErrorReply(null, new TypeError('boom'));
    expect(r).toMatchObject({ id: null, code: 'internal', message: 'TypeError: boom' });
    expect(r.advice).not.toBe('');
  });
});

describe('UI boundary', () => {
  const uiDir = join(import.meta.dirname, '..', 'src', 'ui');
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? files(join(dir, d.name)) : /\.tsx?$/.test(d.name) ? [join(dir, d.name)] : []));

  test('src/ui never touches WebGPU: no navigator.gpu, no engine values, only types from the engine', () => {
    const uiFiles = files(uiDir);
    expect(uiFiles.length).toBeGreaterThan(3);
    for (const f of uiFiles) {
      const src = readFileSync(f, 'utf8');
      expect(src, f).not.toMatch(/navigator\s*\.\s*gpu|requestAdapter|requestDevice|GPUBufferUsage/);
      for (const m of src.matchAll(/^import\s+(type\s+)?[^;]*?from\s+'([^']+)'/gms)) {
        if (/\/engine\//.test(m[2]!)) expect(m[1], `${f} imports a value from ${m[2]}`).toBe('type ');
      }
    }
  });
});
