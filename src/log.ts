/**
 * The one root logger. Everything logs through children of it (`logger.child({ stream })` per aggregate), as
 * structured JSON; pino-pretty is for humans only (`kuke daemon logs` pipes through it when on a terminal).
 */
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** pino level; default from KUKEON_LOG_LEVEL, else 'info'. */
  level?: string;
  /** Service name put on every line (`kukeond`, `kuke`). */
  svc?: string;
  /** Where lines go; default stderr. */
  destination?: DestinationStream;
}

/** Creates a root logger: JSON lines, ISO time, secrets redacted. */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.KUKEON_LOG_LEVEL ?? 'info',
      base: { svc: options.svc ?? 'kukeon' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['*.password', '*.token', 'env[*]', '*.env[*]'], censor: '[redacted]' },
      serializers: { err: pino.stdSerializers.err },
    },
    options.destination ?? pino.destination({ dest: 2, sync: true }),
  );
}

/** A logger that drops everything (tests, property runs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
