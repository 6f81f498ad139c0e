/**
 * The day names and "HH:MM" times maintenance windows are written in: the
 * config checks them, the update core's window test reads them.
 */
export const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;
export type Day = (typeof DAYS)[number];

/** Minutes after midnight of an "HH:MM" (24 h) time, or undefined when it is not one. */
export function parseClock(value: string): number | undefined {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(value);
  return m ? Number(m[1]) * 60 + Number(m[2]) : undefined;
}
