/**
 * Errors the engine raises on purpose. Each carries a machine-readable `code` so the UI can
 * show an actionable message, and a human sentence saying what to do about it.
 */
export type GpuErrorCode =
  | 'no-webgpu' // navigator.gpu missing: old browser, flag off, insecure context
  | 'no-adapter' // requestAdapter() returned null: blocklisted GPU, no driver
  | 'device-failed' // requestDevice() threw
  | 'limits-too-small' // the chosen sizes need more than the adapter offers
  | 'device-lost'; // the device went away mid-run

export class GpuUnavailableError extends Error {
  readonly code: GpuErrorCode;
  readonly advice: string;
  constructor(code: GpuErrorCode, message: string, advice: string) {
    super(`${message} ${advice}`);
    this.name = 'GpuUnavailableError';
    this.code = code;
    this.advice = advice;
  }
}

export const WEBGPU_ADVICE =
  'Use a browser with WebGPU: Chrome or Edge 113+, Safari 26+, or Firefox 141+ (Windows). ' +
  'On Linux Chrome/Chromium, start it with --enable-unsafe-webgpu (and --enable-features=Vulkan). ' +
  'WebGPU also needs a secure context (https:// or http://localhost).';

/** A shape or hyperparameter that cannot work; names the field and the allowed range. */
export class ConfigError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'ConfigError';
    this.field = field;
  }
}

export function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(message);
}
