import { describe, expect, it } from "vitest";
import { insideWindow, type MaintenanceWindow } from "../../agent/update/maintenance-window.js";

// Local-time dates: 2026-11-23 is a Monday.
const at = (day: number, hh: number, mm = 0) => new Date(2026, 10, 22 + day, hh, mm);
const nightly: MaintenanceWindow[] = [{ days: ["mon", "tue"], start: "02:00", end: "04:00" }];
const overMidnight: MaintenanceWindow[] = [{ days: ["fri"], start: "22:00", end: "02:00" }];

describe("insideWindow", () => {
  it.each([
    [nightly, at(1, 2, 0), true],
    [nightly, at(1, 3, 59), true],
    [nightly, at(1, 4, 0), false],
    [nightly, at(1, 1, 59), false],
    [nightly, at(3, 2, 30), false], // Wednesday
    [overMidnight, at(5, 23, 0), true], // Friday night
    [overMidnight, at(6, 1, 30), true], // Saturday early morning, still Friday's window
    [overMidnight, at(6, 2, 0), false],
    [overMidnight, at(4, 23, 0), false], // Thursday
    [[], at(3, 12, 0), true],
  ] as [MaintenanceWindow[], Date, boolean][])("%j at %s -> %s", (windows, now, expected) => {
    expect(insideWindow(windows, now)).toBe(expected);
  });
});
