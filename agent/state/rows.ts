import { EdgeError, ERROR_CODES, type ErrorCode } from "../../shared/errors.js";
import { isPhase, type Phase } from "./phases.js";

/**
 * Reads journal rows as checked values instead of trusting SQLite's answer.
 * A row that does not hold what this agent wrote (a damaged file, a hand
 * edit, an agent of another version) becomes JOURNAL_INVALID naming the
 * table, the row and the column, not a wrong value deep in the update core.
 */
export class RowReader {
  private readonly row: Record<string, unknown>;

  constructor(
    private readonly table: string,
    raw: unknown,
  ) {
    if (typeof raw !== "object" || raw === null) throw this.invalid("row", raw, "a row");
    this.row = raw as Record<string, unknown>;
  }

  text(column: string): string {
    const v = this.row[column];
    if (typeof v !== "string") throw this.invalid(column, v, "text");
    return v;
  }

  textOrNull(column: string): string | null {
    return this.row[column] === null ? null : this.text(column);
  }

  integer(column: string): number {
    const v = this.row[column];
    if (typeof v !== "number" || !Number.isSafeInteger(v)) throw this.invalid(column, v, "an integer");
    return v;
  }

  oneOf<T extends string>(column: string, allowed: readonly T[]): T {
    const v = this.text(column);
    if (!(allowed as readonly string[]).includes(v)) throw this.invalid(column, v, `one of ${allowed.join(", ")}`);
    return v as T;
  }

  oneOfOrNull<T extends string>(column: string, allowed: readonly T[]): T | null {
    return this.row[column] === null ? null : this.oneOf(column, allowed);
  }

  /** `read()` when the object has `column`; undefined when it is absent (JSON objects leave optional keys out). */
  optional<T>(column: string, read: () => T): T | undefined {
    return this.row[column] === undefined ? undefined : read();
  }

  phase(column: string): Phase {
    const v = this.text(column);
    if (!isPhase(v)) throw this.invalid(column, v, "a phase this agent knows");
    return v;
  }

  errorCode(column: string): ErrorCode {
    return this.oneOf(column, ERROR_CODES);
  }

  errorCodeOrNull(column: string): ErrorCode | null {
    return this.oneOfOrNull(column, ERROR_CODES);
  }

  /** The error for a column whose type is right but whose value is not, for checks the caller makes. */
  invalidValue(column: string, expected: string): EdgeError {
    return this.invalid(column, this.row[column], expected);
  }

  private invalid(column: string, value: unknown, expected: string): EdgeError {
    const id = this.row?.id ?? this.row?.version ?? this.row?.key;
    const where = id === undefined ? this.table : `${this.table} row ${String(id)}`;
    const shown = JSON.stringify(value)?.slice(0, 80) ?? String(value);
    return new EdgeError("JOURNAL_INVALID", `the journal's ${where}: ${column} is ${shown}, expected ${expected}`);
  }
}

/** Parses a JSON value kept in the journal's key-value table. */
export function parseStoredJson(key: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new EdgeError("JOURNAL_INVALID", `the journal's value ${key} is not JSON: ${text.slice(0, 80)}`);
  }
}
