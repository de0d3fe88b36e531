/** The page ↔ worker protocol without a browser: the client against a fake worker, error replies, and the UI's boundary. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { GpuUnavailableError, WEBGPU_ADVICE } from '../src/engine/errors';
import { EngineClient, WorkerError, type WorkerLike } from '../src/worker/client';
import type { ReadyReply, UiToWorker, WorkerEvent, WorkerToUi } from '../src/worker/protocol';
import { toErrorReply, WorkerFailure } from '../src/worker/replies';

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

const ready = (id: number): ReadyReply => ({
  type: 'ready',
  id,
  adapter: { vendor: 'v', architecture: 'a', description: 'd', device: '', isSwiftShader: false },
  limits: {
    maxStorageBufferBindingSize: 1 << 27,
    maxBufferSize: 1 << 28,
    maxStorageBuffersPerShaderStage: 8,
    maxComputeWorkgroupStorageSize: 16384,
    maxComputeInvocationsPerWorkgroup: 256,
  },
  features: [],
});

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
    w.reply(ready(2));
    w.reply(ready(1));
    expect((await a).id).toBe(1);
    expect((await b).id).toBe(2);
  });

  test('an error reply rejects with a WorkerError carrying code and advice; other requests are unaffected', async () => {
    const w = new FakeWorker();
    const client = new EngineClient(w);
    const a = client.request({ type: 'init' });
    const b = client.request({ type: 'init' });
    w.reply({ type: 'error', id: 1, code: 'no-adapter', message: 'none', advice: 'use flags' });
    await expect(a).rejects.toMatchObject({ name: 'WorkerError', code: 'no-adapter', message: 'none', advice: 'use flags' });
    w.reply(ready(2));
    await expect(b).resolves.toMatchObject({ type: 'ready', id: 2 });
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
    await expect(pending).resolves.toMatchObject({ id: 1 });
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
