import { pino, type Logger } from 'pino';

export type { Logger };

/** The process logger: structured JSON (pino), level from LCM_LOG_LEVEL. */
export function createLogger(name: string, level = process.env.LCM_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { role: name }, timestamp: pino.stdTimeFunctions.isoTime });
}

/** A logger that writes nothing: tests and embedded simulators use it by default. */
export const silentLogger: Logger = pino({ level: 'silent' });
