import { Command, CommanderError } from 'commander';
import { RingtrainError, optionError } from '@ringtrain/core';
import { BACKENDS, DOC_MASK_MODES, POSITION_MODES } from '@ringtrain/config';
import type { TrainFlags } from './train';

/**
 * The options of a training run, shared by every command that starts one: `train`, `launch
 * local|slurm|k8s` (which pass them on) and `coordinator` (which runs it on a cluster). Parsed
 * into a TrainConfig by `resolveFromFlags` (train.ts).
 */
export function addTrainOptions(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'JSON or YAML run config; flags override it')
    .option('--workers <n>', 'worker processes (P)')
    .option('--strategy <name>', 'ring, striped, zigzag, ulysses, rsa, hybrid, or auto (the fastest that fits by `ringtrain plan`\'s model, chosen once before the run and written in config.json)')
    .option('--ulysses-degree <n>', 'hybrid: ranks per Ulysses group U, dividing the workers and the model\'s heads (× batch); the ring runs across the P/U groups (default: the largest such U below P)')
    .option('--ring-layout <name>', 'hybrid: layout of the ring across groups: ring (contiguous, the default), striped or zigzag')
    .option('--seq-len <n>', 'sequence length S')
    .option('--batch-size <n>', 'sequences per step')
    .option('--steps <n>', 'optimizer steps')
    .option('--model <spec>', 'preset (tiny, passkey, small) and/or dims, e.g. small or dModel=128,layers=2,heads=4,headDim=32 (also mlpRatio, ropeBase, initStd, prevTokenEmbed=0..4)')
    .option('--data <spec>', 'passkey, copy, or comma list of text/JSONL/.bin files or folders')
    .option('--doc-mask <mode>', `attention within each packed document: ${DOC_MASK_MODES.join(', ')} (auto: on for file data, off for passkey/copy)`)
    .option('--positions <mode>', `RoPE positions: ${POSITION_MODES.join(', ')} (per-document: restarting at each document)`)
    .option('--val-fraction <f>', 'file data: fraction of documents held out for evaluation, never trained on (default 0.01, at least one document)')
    .option('--val-data <files>', 'file data: comma list of held-out files or folders (training then reads all of --data)')
    .option('--run-dir <dir>', 'where config.json, metrics.jsonl and logs go (default runs/<timestamp>)')
    .option('--seed <n>', 'seed of the initial weights and of the data order')
    .option('--backend <name>', `compute backend of the workers: ${BACKENDS.join(', ')}`)
    .option('--lr <x>', 'peak learning rate')
    .option('--eval-every <n>', 'held-out evaluation every N steps (0 = at the end only)')
    .option('--eval-samples <n>', 'held-out samples per evaluation')
    .option('--trace-every <n>', 'record every rank\'s timeline of every N-th step in trace.jsonl and trace.json (0: never; default 10)')
    .option('--checkpoint-every <n>', 'save a checkpoint every N steps (0: not by steps; one is always saved at the end and on a stop signal)')
    .option('--checkpoint-every-minutes <m>', 'save a checkpoint when M minutes passed since the last (0: not by time; default 30)')
    .option('--keep-last <k>', 'committed checkpoints to keep (0: all; default 3)')
    .option('--max-restarts <n>', 'after a failure (a worker died or hung, a step got stuck), restart the workers from the latest checkpoint up to N times (default 0)')
    .option('--heartbeat-timeout-ms <ms>', 'a worker or the coordinator silent this long is declared dead (default 30000)')
    .option('--step-timeout-ms <ms>', 'a step slower than this on the slowest rank is declared stuck (default 1800000)')
    .option('--dashboard-host <address>', 'interface the live dashboard listens on (default 127.0.0.1: this machine only)')
    .option('--dashboard-port <n>', 'port of the live dashboard (default: any free port; its URL is printed)')
    .option('--no-dashboard', 'serve no live dashboard');
}

/** Where the live dashboard listens; null: none. */
export interface DashboardPlace {
  host: string;
  port: number;
}

export function dashboardPlace(flags: { dashboard?: boolean; dashboardHost?: string; dashboardPort?: string }): DashboardPlace | null {
  if (flags.dashboard === false) return null;
  const port = flags.dashboardPort === undefined ? 0 : Number(flags.dashboardPort);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw optionError('--dashboard-port', flags.dashboardPort, 'a port number 0-65535 (0: any free port)');
  return { host: flags.dashboardHost ?? '127.0.0.1', port };
}

/**
 * `ringtrain train` flags given as words (after `--` of `launch`), parsed as `train` parses
 * them; an unknown flag is refused naming the nearest one.
 */
export function parseTrainFlags(words: readonly string[], what: string): TrainFlags {
  const cmd = addTrainOptions(new Command(what))
    .exitOverride()
    .configureOutput({ writeErr: () => undefined, writeOut: () => undefined })
    .showSuggestionAfterError(true)
    .allowExcessArguments(false);
  try {
    cmd.parse([...words], { from: 'user' });
  } catch (err) {
    const message = err instanceof CommanderError ? err.message.replace(/^error: /, '') : String(err);
    throw new RingtrainError('BAD_OPTION', `the train flags after -- of ${what}: ${message}`, { hint: 'they are `ringtrain train` flags: see `ringtrain train --help`' });
  }
  return cmd.opts<TrainFlags>();
}
