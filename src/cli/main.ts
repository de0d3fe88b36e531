/** The Node CLI: `npm run cli -- <command> [options]`. One entry per command. */
import { trainCommand, TRAIN_USAGE } from './train';
import { inspectCommand } from './inspect';
import { interopCommand, INTEROP_USAGE } from './interop';
import { reproCommand, REPRO_USAGE } from './repro';
import { pretrainCommand, PRETRAIN_USAGE } from './pretrain';
import { latentsCommand, LATENTS_USAGE } from './latents';

const commands: Record<string, { usage: string; run: (argv: string[]) => Promise<number> }> = {
  train: { usage: TRAIN_USAGE, run: trainCommand },
  inspect: { usage: 'inspect <file.safetensors>\n    Print a safetensors file\'s tensors (name, dtype, shape, values, checksum) and metadata.', run: inspectCommand },
  interop: { usage: INTEROP_USAGE, run: interopCommand },
  repro: { usage: REPRO_USAGE, run: reproCommand },
  pretrain: { usage: PRETRAIN_USAGE, run: pretrainCommand },
  latents: { usage: LATENTS_USAGE, run: latentsCommand },
};

function usage(): string {
  return `usage: npm run cli -- <command> [options]\n\n${Object.entries(commands)
    .map(([, c]) => `  ${c.usage}`)
    .join('\n')}\n`;
}

async function main(): Promise<number> {
  const [name, ...rest] = process.argv.slice(2);
  if (!name || name === '--help' || name === '-h') {
    process.stdout.write(usage());
    return name ? 0 : 1;
  }
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`error: unknown command '${name}'\n\n${usage()}`);
    return 1;
  }
  return cmd.run(rest);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
