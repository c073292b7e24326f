import winston from 'winston';

/**
 * winston loggers: human-readable lines on the terminal (stderr, so stdout stays free for
 * `--json` output), JSON lines when a file is given.
 */
export interface LoggerOptions {
  /** Component name shown on every line, e.g. `worker-2`. */
  name: string;
  level?: string;
  /** When set, JSON lines are appended to this file as well. */
  file?: string;
}

export type Logger = winston.Logger;

export function createLogger(opts: LoggerOptions): Logger {
  const level = opts.level ?? process.env.RINGTRAIN_LOG_LEVEL ?? 'info';
  const transports: winston.transport[] = [
    new winston.transports.Console({
      stderrLevels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'],
      format: winston.format.combine(
        winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
        winston.format.printf(({ timestamp, level: lvl, message, component, ...rest }) => {
          const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
          return `${timestamp} ${lvl.padEnd(5)} [${component}] ${message}${extra}`;
        }),
      ),
    }),
  ];
  if (opts.file) {
    transports.push(
      new winston.transports.File({
        filename: opts.file,
        format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
      }),
    );
  }
  return winston.createLogger({ level, defaultMeta: { component: opts.name }, transports });
}
