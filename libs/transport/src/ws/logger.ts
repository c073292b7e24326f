import { createLogger, type Logger } from '@ringtrain/core';

let shared: Logger | null = null;

/** One `transport` logger for callers that do not pass their own. */
export function defaultTransportLogger(): Logger {
  shared ??= createLogger({ name: 'transport' });
  return shared;
}
