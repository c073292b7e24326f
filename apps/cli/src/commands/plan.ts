import { Option, type Command } from 'commander';
import { calibrate } from '../plan/calibrate';
import { assertSomethingFits } from '../plan/nothing-fits';
import { planConfigFrom, type PlanOptions } from '../plan/plan-config';
import { planJson, planTable } from '../plan/plan-report';
import { rankPlan } from '../plan/rank';

/** `ringtrain plan`: every strategy and hybrid degree ranked by predicted step time and memory per rank. */
export function registerPlanCommand(program: Command): void {
  program
    .command('plan')
    .description('Rank every strategy and hybrid degree by predicted step time and memory per rank (the --simulate model, calibrated on this machine or on the figures given), and say why each loser loses.')
    .requiredOption('--workers <n>', 'ranks (P)')
    .requiredOption('--seq-len <n>', 'sequence length S (K, M suffixes: 128K, 1M)')
    .option('--heads <n>', 'query heads (or --model)')
    .option('--kv-heads <n>', 'K/V heads (GQA/MQA); default: --heads')
    .option('--head-dim <n>', 'head dimension (or --model)')
    .addOption(new Option('--causal', 'causal mask (default)').default(true))
    .addOption(new Option('--no-causal', 'no mask'))
    .option('--model <spec>', 'size memory per rank as a training worker of this model (preset and/or dims, as `train --model`); its heads and head dim are the layer\'s')
    .option('--ulysses-degree <n>', 'consider hybrid at this degree only (dividing --workers and the heads)')
    .option('--link-gbps <n>', 'link per rank, gigabits/s (default: the rate `bench attention` last measured between two workers here, else the 100 GbE preset)')
    .option('--link-latency-us <n>', 'latency per message, µs (default 0, or the preset\'s)')
    .option('--tflops <n>', 'one rank\'s attention kernel, TFLOP/s (default: measured now on this machine, about a second)')
    .option('--memory-gib <n>', 'memory of one rank, GiB (default: this machine\'s)')
    .option('--json', 'print one JSON object instead of a table', false)
    .action(async (opts: PlanOptions) => {
      const cfg = planConfigFrom(opts);
      const calibration = await calibrate(cfg.problem, cfg.given);
      const input = { problem: cfg.problem, link: calibration.link, flopsPerSec: calibration.flopsPerSec, memoryPerRankBytes: cfg.memoryPerRankBytes, model: cfg.model, ulyssesDegree: cfg.ulyssesDegree };
      const plan = rankPlan(input);
      assertSomethingFits(plan, input);
      const report = { config: cfg, calibration, plan };
      process.stdout.write((cfg.json ? planJson(report) : planTable(report)) + '\n');
    });
}
