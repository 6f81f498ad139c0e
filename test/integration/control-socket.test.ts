import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { callDaemon } from "../../agent/control/control-client.js";
import { ControlServer } from "../../agent/control/control-server.js";
import { type ControlCall, noRequest, type RequestParsers } from "../../agent/control/envelope.js";
import { EdgeError } from "../../shared/errors.js";
import { silentLogger } from "../../shared/logging.js";

/** A route table of the same shape as the daemon's, on a real socket in a temp folder. */
type Routes = {
  "/echo": ControlCall<{ word: string }, { heard: string }>;
  "/fail": ControlCall<Record<string, never>, never>;
};
const PARSERS: RequestParsers<Routes> = {
  "/echo": (body) => {
    if (typeof body.word !== "string") throw new Error("echo needs a word");
    return { word: body.word };
  },
  "/fail": noRequest,
};

let dir: string;
let socket: string;
let server: ControlServer<Routes>;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "edgepull-control-"));
  socket = join(dir, "agent.sock");
  server = new ControlServer<Routes>(
    socket,
    PARSERS,
    {
      "/echo": async (r) => ({ heard: r.word }),
      "/fail": async () => {
        throw new EdgeError("AGENT_BUSY", "an attempt is running");
      },
    },
    silentLogger(),
  );
  await server.start();
});

afterEach(async () => {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A raw POST, for bodies the typed client cannot send. */
function post(path: string, body: string): Promise<{ status: number | undefined; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method: "POST", path }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, json: JSON.parse(Buffer.concat(chunks).toString("utf8")) }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("control socket", () => {
  it("carries a typed request to its route and the reply back", async () => {
    await expect(callDaemon<Routes, "/echo">(socket, "/echo", { word: "hello" })).resolves.toEqual({ heard: "hello" });
  });

  it("answers the route's error with its code, thrown again on the CLI's side", async () => {
    const err = await callDaemon<Routes, "/fail">(socket, "/fail", {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EdgeError);
    expect(err).toMatchObject({ code: "AGENT_BUSY", message: "an attempt is running" });
  });

  it("refuses a request its route's parser rejects with USAGE, and keeps serving", async () => {
    expect(await post("/echo", JSON.stringify({ word: 3 }))).toEqual({
      status: 400,
      json: { error: { code: "USAGE", message: "bad control request: echo needs a word" } },
    });
    expect(await post("/echo", "[1]")).toMatchObject({ status: 400, json: { error: { code: "USAGE" } } });
    expect(await post("/nope", "{}")).toMatchObject({ status: 404, json: { error: { code: "USAGE" } } });
    await expect(callDaemon<Routes, "/echo">(socket, "/echo", { word: "still here" })).resolves.toEqual({ heard: "still here" });
  });

  it("resolves undefined when no daemon listens, so the CLI acts itself", async () => {
    await expect(callDaemon<Routes, "/echo">(join(dir, "none.sock"), "/echo", { word: "x" })).resolves.toBeUndefined();
  });
});
