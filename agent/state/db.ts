import Database from "better-sqlite3";
import { EdgeError } from "../../shared/errors.js";
import { MIGRATIONS } from "./migrations.js";

export type Db = Database.Database;

/**
 * Opens the journal. WAL lets the field CLI read while the daemon writes;
 * synchronous=FULL makes every committed phase survive a power cut.
 */
export function openDb(path: string): Db {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  migrate(db);
  return db;
}

/** Read-only access for the CLI: never creates or migrates anything. */
export function openDbReadOnly(path: string): Db {
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    db.pragma("busy_timeout = 5000");
    return db;
  } catch (cause) {
    throw new EdgeError("JOURNAL_INVALID", `cannot open the journal ${path}: ${(cause as Error).message}`, { cause });
  }
}

function migrate(db: Db): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new EdgeError(
      "JOURNAL_INVALID",
      `the journal has schema ${current}, newer than this agent knows (${MIGRATIONS.length}); downgrading the agent is not supported`,
    );
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v] as string);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
