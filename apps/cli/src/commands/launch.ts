import type { Command } from 'commander';
import { registerLaunchK8s } from './launch-k8s';
import { registerLaunchSlurm } from './launch-slurm';
import { parseTrainFlags } from './train-options';
import { trainWith } from './train';

/**
 * `ringtrain launch local|slurm|k8s [flags] -- TRAIN FLAGS`: one training job, on this machine
 * (the same as `ringtrain train`), submitted to Slurm, or as Kubernetes manifests.
 */
export function registerLaunchCommand(program: Command): void {
  const launch = program.command('launch').description('Launch a training job: on this machine, on Slurm, or on Kubernetes.');
  launch
    .command('local')
    .description('Train on this machine: the same as `ringtrain train TRAIN FLAGS`.')
    .argument('[train-flags...]', '`ringtrain train` flags, after --')
    .action(async (words: string[]) => {
      await trainWith(parseTrainFlags(words, 'launch local'));
    });
  registerLaunchSlurm(launch);
  registerLaunchK8s(launch);
}
