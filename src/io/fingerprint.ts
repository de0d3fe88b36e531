/**
 * Content hashes for base-model references: SHA-256 (WebCrypto, the same in a page, a worker and
 * Node ≥ 19) over a canonical encoding of named tensors — sorted by name; per tensor its UTF-8
 * name, a 0 byte, rank and dimensions as u32 little-endian, then the float32 bytes. Two bases
 * hash equal exactly when every parameter has the same name, shape and bits, whatever file or
 * pack layout they came from.
 */

export interface NamedTensor {
  name: string;
  shape: readonly number[];
  data: Float32Array;
}

function hex(buf: ArrayBuffer): string {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new Error('content hashes need WebCrypto (crypto.subtle): use a secure context (https or localhost)');
  return `sha256:${hex(await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>))}`;
}

/** `sha256:<hex>` of the canonical encoding of `tensors`. */
export async function tensorsFingerprint(tensors: readonly NamedTensor[]): Promise<string> {
  const enc = new TextEncoder();
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const parts: Uint8Array[] = [];
  let total = 0;
  for (const t of sorted) {
    const name = enc.encode(t.name);
    const dims = new Uint8Array(4 * (t.shape.length + 1));
    const dv = new DataView(dims.buffer);
    dv.setUint32(0, t.shape.length, true);
    t.shape.forEach((d, i) => dv.setUint32(4 * (i + 1), d, true));
    const data = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    for (const p of [name, Uint8Array.of(0), dims, data]) {
      parts.push(p);
      total += p.length;
    }
  }
  const all = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  return sha256(all);
}

/** `sha256:<hex>` of raw bytes (e.g. a shipped checkpoint file). */
export function bytesFingerprint(bytes: Uint8Array): Promise<string> {
  return sha256(bytes);
}
