export { startDashboard, SECRET_HEADER, READ_ONLY_MESSAGE, type Dashboard, type DashboardActions, type DashboardOptions } from './server';
export { RunState, RUN_FILES, traceHeaderOf, type RunStateOptions } from './run-state';
export { JsonlTail, type JsonlTailOptions, type TailSink } from './jsonl-tail';
export { Decimated } from './decimate';
export { trainStepFlops, flopsCounter } from './flops';
export * from './types';
