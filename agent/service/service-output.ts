import type { Readable } from "node:stream";
import type { Logger } from "../logging.js";

/** A line longer than this is logged in pieces (`part` counts them), so a service that never writes a newline cannot grow our memory. */
export const MAX_LINE_BYTES = 16 * 1024;
/** Up to 4 bytes a character in UTF-8: a piece this long is never over MAX_LINE_BYTES. */
const PIECE_CHARS = MAX_LINE_BYTES / 4;

export interface ServiceOutputTags {
  version: string;
  pid: number;
  stream: "stdout" | "stderr";
}

/**
 * The supervised service's output, one agent log line per line it writes,
 * tagged `source: "service"` with its version, pid (`servicePid`) and stream, so the agent's
 * log (journald's, for the unit) tells the service's lines from the agent's own
 * and which version said them. The line itself is the message, kept whole
 * (split only past MAX_LINE_BYTES); a last line without a newline is logged
 * when the stream ends.
 */
export function logServiceOutput(stream: Readable, logger: Logger, tags: ServiceOutputTags): void {
  const log = logger.child({ source: "service", version: tags.version, servicePid: tags.pid, stream: tags.stream });
  let pending = "";
  let part = 0;
  const piece = (text: string, continued: boolean): void => {
    if (continued || part > 0) log.info({ part: part + 1, continued }, text);
    else log.info(text);
    part = continued ? part + 1 : 0;
  };
  const emit = (line: string, continued: boolean): void => {
    let text = line.endsWith("\r") ? line.slice(0, -1) : line;
    for (; text.length > PIECE_CHARS; text = text.slice(PIECE_CHARS)) piece(text.slice(0, PIECE_CHARS), true);
    piece(text, continued);
  };
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    pending += chunk;
    for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
      emit(pending.slice(0, nl), false);
      pending = pending.slice(nl + 1);
    }
    if (pending.length > PIECE_CHARS) {
      const whole = pending.length - (pending.length % PIECE_CHARS);
      emit(pending.slice(0, whole), true);
      pending = pending.slice(whole);
    }
  });
  stream.on("end", () => {
    if (pending.length > 0) emit(pending, false);
    pending = "";
  });
  // The service closing its end early is its business; it must never take the agent down.
  stream.on("error", () => {});
}
