/**
 * Schema migrations, applied in order by PRAGMA user_version. Append only: a
 * device in the field may upgrade from any earlier agent version.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  CREATE TABLE attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('update', 'rollback')),
    source TEXT NOT NULL,
    from_version TEXT,
    to_version TEXT NOT NULL,
    release_json TEXT,
    release_digest TEXT,
    phase TEXT NOT NULL,
    result TEXT CHECK (result IS NULL OR result IN ('succeeded', 'rolled_back', 'failed', 'superseded')),
    error_code TEXT,
    error_message TEXT,
    rollback_error_code TEXT,
    rollback_error_message TEXT,
    bytes_downloaded INTEGER NOT NULL DEFAULT 0,
    started_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    finished_at TEXT
  );
  CREATE INDEX attempts_open ON attempts (finished_at) WHERE finished_at IS NULL;
  CREATE TABLE phase_log (
    attempt_id INTEGER NOT NULL REFERENCES attempts (id),
    phase TEXT NOT NULL,
    at TEXT NOT NULL
  );
  CREATE INDEX phase_log_attempt ON phase_log (attempt_id);
  CREATE TABLE versions (
    version TEXT PRIMARY KEY,
    release_json TEXT NOT NULL,
    release_digest TEXT NOT NULL,
    staged_at TEXT NOT NULL
  );
  CREATE TABLE denied (
    version TEXT PRIMARY KEY,
    release_digest TEXT,
    error_code TEXT NOT NULL,
    reason TEXT NOT NULL,
    denied_at TEXT NOT NULL
  );
  `,
  // 2: how the update arrived. delivery is 'bundle' or 'delta' (NULL until chosen, and for rollbacks).
  `
  ALTER TABLE attempts ADD COLUMN delivery TEXT CHECK (delivery IS NULL OR delivery IN ('bundle', 'delta'));
  ALTER TABLE attempts ADD COLUMN delta_from TEXT;
  ALTER TABLE attempts ADD COLUMN delta_fallback_code TEXT;
  ALTER TABLE attempts ADD COLUMN delta_fallback_message TEXT;
  ALTER TABLE attempts ADD COLUMN bytes_saved INTEGER NOT NULL DEFAULT 0;
  `,
  // 3: the last withdrawal list accepted per model (its exact signed text), so a lower sequence is refused.
  `
  CREATE TABLE withdrawals (
    name TEXT PRIMARY KEY,
    sequence INTEGER NOT NULL,
    list_text TEXT NOT NULL,
    accepted_at TEXT NOT NULL
  );
  `,
  // 4: time each version spent serving while the daemon watched it (agent/telemetry/serving-accountant.ts):
  // milliseconds with every probe ready (healthy) and with any probe not (unhealthy).
  `
  CREATE TABLE serving_time (
    version TEXT PRIMARY KEY,
    healthy_ms INTEGER NOT NULL DEFAULT 0 CHECK (healthy_ms >= 0),
    unhealthy_ms INTEGER NOT NULL DEFAULT 0 CHECK (unhealthy_ms >= 0),
    first_at TEXT NOT NULL,
    last_at TEXT NOT NULL
  );
  `,
  // 5: hand-over mode: how the new version took over (service/controller.ts RestartOutcome), and why not beside.
  `
  ALTER TABLE attempts ADD COLUMN handover TEXT
    CHECK (handover IS NULL OR handover IN ('switched', 'switched-back', 'kept', 'cold', 'skipped'));
  ALTER TABLE attempts ADD COLUMN handover_reason TEXT;
  ALTER TABLE attempts ADD COLUMN handover_detail TEXT;
  `,
];
