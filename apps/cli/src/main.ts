import { Command, CommanderError } from 'commander';
import { isRingtrainError } from '@ringtrain/core';
import { registerBenchCommand } from './commands/bench';
import { registerCheckCommand } from './commands/check';
import { registerWorkerCommand } from './commands/worker';
import { registerTrainCommand } from './commands/train';
import { registerCoordinatorCommand } from './commands/coordinator';
import { registerEvalCommand } from './commands/eval';
import { registerCheckpointCommand } from './commands/checkpoint';
import { EXIT, exitCodeOf } from './exit-codes';
import { registerLaunchCommand } from './commands/launch';
import { registerDashboardCommand } from './commands/dashboard';
import { registerPlanCommand } from './commands/plan';

/**
 * `ringtrain` entry point. Coded errors (RingtrainError) print their message and hint with no
 * stack trace and exit 2 when refused before anything started, 3 when the command failed after
 * starting (exit-codes.ts, README "Exit codes"); anything else is a bug: exit 1 with its stack.
 */
async function main(argv: string[]): Promise<number> {
  // A reader that went away (the `train` that started this coordinator or worker was killed, or
  // `| head`) must not take the process down with it: the coordinator still has to stop in order.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
  }
  const program = new Command('ringtrain')
    .description('Train transformers on sequences too long for one device: ring, striped, zigzag, Ulysses and RSA attention across worker processes.')
    .showSuggestionAfterError(true)
    .exitOverride();
  registerCheckCommand(program);
  registerBenchCommand(program);
  registerPlanCommand(program);
  registerWorkerCommand(program);
  registerTrainCommand(program);
  registerCoordinatorCommand(program);
  registerEvalCommand(program);
  registerCheckpointCommand(program);
  registerLaunchCommand(program);
  registerDashboardCommand(program);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.refused; // commander printed it
    if (isRingtrainError(err)) process.stderr.write(`ringtrain: ${err.toUserString()}\n`);
    else process.stderr.write(`ringtrain: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    return exitCodeOf(err);
  }
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`ringtrain: ${String(err)}\n`);
    process.exitCode = EXIT.internal;
  },
);
