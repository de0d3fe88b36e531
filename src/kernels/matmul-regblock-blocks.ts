/**
 * The regblock matmul's blocks, one place for both sides: scripts/gen-matmul-regblock.ts writes
 * one entry point per block into shaders/matmul_regblock.wgsl, and src/kernels/matmul.ts
 * dispatches it with the same tile. No imports, so the Node generator can load it directly.
 * A workgroup is 4 × 4 invocations; each owns 16 rows × 4·vec4Cols columns of C (column groups
 * of 4, strided by 4 across the 4 invocations of a workgroup row).
 */
export const REGBLOCK_BLOCKS = {
  /** 16 × 8 per invocation. */
  narrow: { entry: 'main', label: 'matmul_regblock', vec4Cols: 2 },
  /** 16 × 16 per invocation. */
  wide: { entry: 'main_wide', label: 'matmul_regblock_wide', vec4Cols: 4 },
} as const;

export type RegblockBlock = keyof typeof REGBLOCK_BLOCKS;

/** Rows × columns of C per workgroup for a block. */
export function regblockTile(b: { vec4Cols: number }): { rows: number; cols: number } {
  return { rows: 64, cols: 16 * b.vec4Cols };
}
