/**
 * SemVer 2.0.0 without build metadata, exactly as written: what
 * `semver.valid(v) === v` accepts (the semver package, strict mode), without
 * loading that package's 47 modules into the agent daemon for one check.
 * The publisher, which sorts and compares versions, still uses semver.
 */
const NUMBER = "(0|[1-9]\\d*)";
const IDENTIFIER = "(?:0|[1-9]\\d*|\\d*[a-zA-Z-][a-zA-Z0-9-]*)";
const EXACT_VERSION = new RegExp(`^${NUMBER}\\.${NUMBER}\\.${NUMBER}(?:-${IDENTIFIER}(?:\\.${IDENTIFIER})*)?$`);
/** semver refuses longer strings before parsing them. */
const MAX_LENGTH = 256;

export function isExactSemanticVersion(value: string): boolean {
  if (value.length > MAX_LENGTH) return false;
  const match = EXACT_VERSION.exec(value);
  if (!match) return false;
  // semver refuses a major, minor or patch beyond the integers a double holds exactly.
  return match.slice(1, 4).every((part) => Number(part) <= Number.MAX_SAFE_INTEGER);
}
