// Lets Node (CLI, bench) import WGSL the way Vite does: `import src from '…/x.wgsl?raw'`.
import { register } from 'node:module';
register('./wgsl-loader.mjs', import.meta.url);
