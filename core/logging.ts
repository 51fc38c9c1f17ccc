import { pino, type Logger } from 'pino';

export type { Logger };

/** The process logger: structured JSON (pino); roles pass `LCM_LOG_LEVEL` from their parsed configuration. */
export function createLogger(name: string, level: string): Logger {
  return pino({ name, level, base: { role: name }, timestamp: pino.stdTimeFunctions.isoTime });
}

/** A logger that writes nothing: tests and embedded simulators use it by default. */
export const silentLogger: Logger = pino({ level: 'silent' });
