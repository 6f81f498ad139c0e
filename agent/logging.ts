import { type Logger, pino } from "pino";

export type { Logger };

/**
 * JSON logs to stdout, written synchronously: after a power cut the journal must
 * hold the lines that explain it, not lose them in a buffer.
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
