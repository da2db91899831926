/** Structured logging (pino). Secrets never reach the log: tokens, passwords and auth headers are redacted. */
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'token',
  'password',
  'secret',
  'signingSecret',
  'authorization',
  '*.token',
  '*.password',
  '*.secret',
  '*.signingSecret',
  '*.authorization',
  '*.Authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'config.users[*].user.token',
];

export interface LoggerOptions {
  level?: string;
  destination?: DestinationStream;
  name?: string;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  return pino(
    {
      name: opts.name ?? 'meshshift',
      level: opts.level ?? process.env.MESHSHIFT_LOG_LEVEL ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    opts.destination ?? pino.destination({ dest: 2, sync: true }),
  );
}

/** A logger that drops everything (library use and unit tests). */
export const silentLogger: Logger = pino({ level: 'silent' });
