import { describe, expect, it } from "vitest";
import { isLoopbackHost, parseDashboardListen } from "../../publisher/dashboard/dashboard-options.js";
import { EdgeError } from "../../shared/errors.js";

function refusal(flags: Parameters<typeof parseDashboardListen>[0]): string {
  try {
    parseDashboardListen(flags);
  } catch (err) {
    expect(err).toBeInstanceOf(EdgeError);
    expect((err as EdgeError).code).toBe("USAGE");
    return (err as Error).message;
  }
  throw new Error("not refused");
}

describe("edge-publish dashboard's --host, --port, --token, --basic-auth", () => {
  it.each([
    ["127.0.0.1", true],
    ["127.8.9.10", true],
    ["localhost", true],
    ["::1", true],
    ["0.0.0.0", false],
    ["::", false],
    ["192.168.1.20", false],
    ["dashboard.example", false],
    ["128.0.0.1", false],
  ])("%s is loopback: %s", (host, loopback) => {
    expect(isLoopbackHost(host)).toBe(loopback);
  });

  it("listens on 127.0.0.1:8080 with no secret by default", () => {
    expect(parseDashboardListen({})).toEqual({ host: "127.0.0.1", port: 8080, auth: { kind: "none" } });
  });

  it("binds another host only with a token or basic auth", () => {
    expect(refusal({ host: "0.0.0.0" })).toMatch(
      /--host 0\.0\.0\.0 is not a loopback address.*--token T or --basic-auth USER:PASS/,
    );
    expect(parseDashboardListen({ host: "0.0.0.0", port: 0, token: "0123456789abcdef" })).toEqual({
      host: "0.0.0.0",
      port: 0,
      auth: { kind: "token", token: "0123456789abcdef" },
    });
    expect(parseDashboardListen({ host: "::", basicAuth: "ops:a:b" }).auth).toEqual({
      kind: "basic",
      user: "ops",
      password: "a:b",
    });
  });

  it.each([
    [{ token: "short" }, "--token must be at least 16 characters (found 5)"],
    [{ token: "0123456789abcdef", basicAuth: "a:b" }, "dashboard takes --token or --basic-auth, not both"],
    [{ basicAuth: "nopassword" }, "--basic-auth takes USER:PASS"],
    [{ basicAuth: ":pass" }, "--basic-auth takes USER:PASS"],
    [{ basicAuth: "user:" }, "--basic-auth takes USER:PASS"],
    [{ host: "" }, "--host must not be empty"],
  ])("refuses %j", (flags, message) => {
    expect(refusal(flags)).toContain(message);
  });
});
