import { cpus, loadavg, totalmem } from 'node:os';

/** What the bench reports say they ran on. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  /** 1-minute load average when the bench started: other work on a shared machine skews timings. */
  loadAvg1m: number;
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    loadAvg1m: Math.round(loadavg()[0] * 100) / 100,
  };
}

export function describeMachine(m: MachineInfo): string {
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}; load average ${m.loadAvg1m} at start`;
}
