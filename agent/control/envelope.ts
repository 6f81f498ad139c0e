import { EdgeError, ERROR_CODES, type ErrorCode } from "../../shared/errors.js";

/** One control route: the request the CLI sends and the reply the daemon answers with. */
export interface ControlCall<Request, Reply> {
  request: Request;
  reply: Reply;
}

export type RequestOf<R, K extends keyof R> = R[K] extends ControlCall<infer Q, unknown> ? Q : never;
export type ReplyOf<R, K extends keyof R> = R[K] extends ControlCall<unknown, infer P> ? P : never;

/** Reads each route's request out of the posted JSON object, throwing on a bad one. */
export type RequestParsers<R> = { [K in keyof R]: (body: Record<string, unknown>) => RequestOf<R, K> };

/** The daemon's side of each route. */
export type ControlHandlers<R> = { [K in keyof R]: (request: RequestOf<R, K>) => Promise<ReplyOf<R, K>> };

/** Every answer on the socket: the route's reply, or the error it failed with. */
export type ControlReply<T> = { result: T } | { error: { code: ErrorCode; message: string } };

/** For the routes that take nothing. */
export const noRequest = (): Record<string, never> => ({});

function isErrorCode(value: unknown): value is ErrorCode {
  return (ERROR_CODES as readonly unknown[]).includes(value);
}

/**
 * The reply envelope out of a control answer's text: its result, or the
 * daemon's error thrown as an EdgeError with the daemon's code. Anything else
 * is a daemon this CLI does not understand (INTERNAL).
 */
export function unwrapControlReply(text: string): unknown {
  let envelope: unknown;
  try {
    envelope = JSON.parse(text);
  } catch (cause) {
    throw new EdgeError("INTERNAL", "the daemon's answer was not JSON", { cause });
  }
  if (typeof envelope === "object" && envelope !== null) {
    if ("error" in envelope) {
      const error = envelope.error as { code?: unknown; message?: unknown } | null;
      if (isErrorCode(error?.code) && typeof error.message === "string") throw new EdgeError(error.code, error.message);
    } else if ("result" in envelope) {
      return envelope.result;
    }
  }
  throw new EdgeError("INTERNAL", `the daemon's answer is not a control reply: ${text.slice(0, 200)}`);
}
