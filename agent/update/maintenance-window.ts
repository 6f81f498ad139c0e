import { DAYS, type Day, parseClock } from "../config/clock.js";

/**
 * Maintenance windows: days of the week and a local time range. Outside them
 * the agent may download and stage, but it swaps versions only inside one.
 * A window whose end is before its start runs past midnight (22:00-02:00).
 */
export interface MaintenanceWindow {
  days: Day[];
  /** "HH:MM", local time. */
  start: string;
  end: string;
}

/** True when `now` (local time) falls in any window; no windows means always. */
export function insideWindow(windows: MaintenanceWindow[], now: Date): boolean {
  if (windows.length === 0) return true;
  const minute = now.getHours() * 60 + now.getMinutes();
  const today = DAYS[now.getDay()] as Day;
  const yesterday = DAYS[(now.getDay() + 6) % 7] as Day;
  return windows.some((w) => {
    const start = parseClock(w.start) ?? 0;
    const end = parseClock(w.end) ?? 0;
    if (start < end) return w.days.includes(today) && minute >= start && minute < end;
    // Past midnight: the part after `start` belongs to its day, the part before `end` to the day after.
    return (w.days.includes(today) && minute >= start) || (w.days.includes(yesterday) && minute < end);
  });
}
