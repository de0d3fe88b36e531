/** Workgroup grids that respect the 65535-per-dimension dispatch limit. */
export const MAX_GRID_DIM = 65535;

/** A 1-D job of `n` items in workgroups of `wgSize`, laid out as x × y. Kernels rebuild the flat index as (y·x_extent + x)·wgSize + lid. */
export function grid1d(n: number, wgSize = 256): { x: number; y: number } {
  const groups = Math.max(1, Math.ceil(n / wgSize));
  if (groups <= MAX_GRID_DIM) return { x: groups, y: 1 };
  const y = Math.ceil(groups / MAX_GRID_DIM);
  return { x: Math.ceil(groups / y), y };
}
