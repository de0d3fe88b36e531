import type { WorkerErrorCode } from '../../worker/protocol';

const TITLES: Partial<Record<WorkerErrorCode, string>> = {
  'no-webgpu': 'WebGPU is not available here',
  'no-adapter': 'No GPU adapter found',
  'device-failed': 'The GPU device could not be created',
  'device-lost': 'The GPU device was lost',
  'limits-too-small': 'This GPU is too small for these settings',
  'worker-failed': 'The engine worker did not start',
};

export function GpuErrorPanel({
  code,
  message,
  advice,
  secureContext,
  onRetry,
}: {
  code: WorkerErrorCode;
  message: string;
  advice: string;
  secureContext: boolean;
  onRetry(): void;
}) {
  return (
    <section className="panel error" role="alert" aria-labelledby="gpu-error-heading" data-testid="gpu-error" data-code={code}>
      <h2 id="gpu-error-heading">{TITLES[code] ?? 'The engine reported an error'}</h2>
      <p data-testid="gpu-error-message">{message}</p>
      <p data-testid="gpu-error-advice">{advice}</p>
      <ul className="checklist">
        {!/Chrome or Edge/.test(advice) && <li>Browsers with WebGPU: Chrome or Edge 113+, Safari 26+, Firefox 141+ (Windows).</li>}
        <li>
          Linux Chrome/Chromium: start it with <code>--enable-unsafe-webgpu --enable-features=Vulkan</code>; without a GPU,{' '}
          <code>--enable-unsafe-webgpu</code> gives the SwiftShader software adapter.
        </li>
        <li data-testid="secure-context">
          {secureContext
            ? 'This page is a secure context (good).'
            : 'This page is NOT a secure context: open it via https:// or http://localhost (or 127.0.0.1), not a LAN address over http.'}
        </li>
      </ul>
      <p>
        Error code: <code data-testid="gpu-error-code">{code}</code>{' '}
        <button type="button" onClick={onRetry}>
          Retry
        </button>
      </p>
    </section>
  );
}
