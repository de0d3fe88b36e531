import type { AdapterSummary, LimitsSummary } from '../../worker/protocol';

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(0)} MiB`;
}

function orUnreported(value: string): string {
  return value === '' ? '(not reported by the browser)' : value;
}

export function AdapterPanel({ adapter, limits, features }: { adapter: AdapterSummary; limits: LimitsSummary; features: string[] }) {
  return (
    <section className="panel" aria-labelledby="adapter-heading" data-testid="adapter-panel">
      <h2 id="adapter-heading">GPU adapter</h2>
      <dl className="facts">
        <dt>Vendor</dt>
        <dd data-testid="adapter-vendor">{orUnreported(adapter.vendor)}</dd>
        <dt>Architecture</dt>
        <dd data-testid="adapter-architecture">{orUnreported(adapter.architecture)}</dd>
        <dt>Description</dt>
        <dd data-testid="adapter-description">{orUnreported(adapter.description)}</dd>
        <dt>Max storage binding</dt>
        <dd data-testid="limit-max-storage-binding">{mib(limits.maxStorageBufferBindingSize)}</dd>
        <dt>Storage buffers / stage</dt>
        <dd data-testid="limit-storage-buffers">{limits.maxStorageBuffersPerShaderStage}</dd>
        <dt>Workgroup storage</dt>
        <dd>{(limits.maxComputeWorkgroupStorageSize / 1024).toFixed(0)} KiB</dd>
        <dt>Device features</dt>
        <dd data-testid="adapter-features">{features.length ? features.join(', ') : 'none'}</dd>
      </dl>
      {adapter.isSwiftShader && (
        <p className="note" data-testid="swiftshader-note">
          This is SwiftShader, a software (CPU) implementation of WebGPU: everything works, slowly.
        </p>
      )}
    </section>
  );
}
