import { type Logger, pino } from "pino";

export type { Logger };

/**
 * JSON lines, written synchronously: after a power cut or a crash the journal
 * must hold the lines that explain it, not lose them in a buffer. Both binaries'
 * long-running commands log this one shape (fields first, message second).
 */
export function createRootLogger(level: string = "info", destination: number = 1): Logger {
  return pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: destination, sync: true }),
  );
}

/** A logger that drops everything, for library use and tests that do not read logs. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
