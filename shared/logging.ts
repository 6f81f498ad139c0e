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

/** Each component logger's root and the bindings it adds to it, so a component made from another does not repeat the `component` key. */
const made = new WeakMap<Logger, { root: Logger; own: Record<string, unknown> }>();

/**
 * A logger for one component: every line carries one `component` key, its
 * own, whatever logger it was made from (pino's child() appends bindings, so
 * a child of the updater's logger would otherwise print `"component":"updater",
 * "component":"download"`). Other bindings of a component logger are kept.
 */
export function componentLogger(parent: Logger, component: string): Logger {
  const from = made.get(parent);
  const root = from?.root ?? parent;
  const own = { ...from?.own, component };
  const child = root.child(own);
  made.set(child, { root, own });
  return child;
}
