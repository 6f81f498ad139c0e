import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../agent/logging.js";
import { probeOnce, waitForReady } from "../../agent/service/health.js";
import { Supervisor } from "../../agent/service/supervisor.js";
import { writeExampleModel } from "../../packaging/example-service/make-model.js";
import { loadModel, predict } from "../../packaging/example-service/model.js";
import { encodeHeader, SafetensorsFile, writeSafetensors } from "../../packaging/example-service/safetensors.js";
import { EdgeError } from "../../shared/errors.js";
import { EXAMPLE_SERVICE, freePort, LoggedProcess, REPO_ROOT, waitFor } from "../helpers/processes.js";

let root: string;
const services: LoggedProcess[] = [];

beforeAll(async () => {
  // The service runs as the built JS; a stale build would test old code.
  const built = await stat(EXAMPLE_SERVICE).catch(() => undefined);
  if (!built) throw new Error(`${EXAMPLE_SERVICE} is missing: run npm run build first`);
  const srcDir = join(REPO_ROOT, "packaging", "example-service");
  for (const name of await readdir(srcDir)) {
    if (name.endsWith(".ts") && (await stat(join(srcDir, name))).mtimeMs > built.mtimeMs) {
      throw new Error(`${name} changed after ${EXAMPLE_SERVICE} was built: run npm run build`);
    }
  }
  root = await mkdtemp(join(tmpdir(), "edgepull-example-service-"));
});
afterEach(async () => {
  for (const s of services.splice(0)) await s.stop();
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function start(modelDir: string, env: Record<string, string> = {}): Promise<{ url: string; proc: LoggedProcess }> {
  const port = await freePort();
  const proc = new LoggedProcess(EXAMPLE_SERVICE, [], { PORT: String(port), EDGEPULL_MODEL_DIR: modelDir, ...env });
  services.push(proc);
  await proc.waitForLog("the service to listen", (l) => l.event === "listening", 10_000);
  return { url: `http://127.0.0.1:${port}`, proc };
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  return { status: res.status, body: await res.text() };
}

function postPredict(url: string, body: unknown): Promise<Response> {
  return fetch(`${url}/predict`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(2000),
  });
}

describe("example inference service", () => {
  it("loads a good model, becomes ready, predicts, exports metrics and exits cleanly on SIGTERM", async () => {
    const modelDir = join(root, "good");
    await writeExampleModel(modelDir, { version: "1.2.0", seed: 7 });
    const { url, proc } = await start(modelDir);

    await waitFor("ready", async () => (await get(`${url}/ready`)).status === 200, 10_000, 50);
    expect(JSON.parse((await get(`${url}/ready`)).body)).toEqual({ status: "ready", version: "1.2.0" });

    const input = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8];
    const res = await postPredict(url, { input });
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { version: string; label: string; scores: number[] };
    const expected = predict(await loadModel(modelDir), input);
    expect(answer.version).toBe("1.2.0");
    expect(answer.label).toBe(expected.label);
    expect(answer.scores).toHaveLength(4);
    for (const [i, s] of answer.scores.entries()) expect(s).toBeCloseTo(expected.scores[i] as number, 6);
    expect(answer.scores.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);

    expect((await postPredict(url, { input: [1, 2] })).status).toBe(400);
    expect((await postPredict(url, { input: [1, 2, 3, 4, 5, 6, 7, "x"] })).status).toBe(400);
    expect((await get(`${url}/predict`)).status).toBe(405);
    expect((await get(`${url}/nope`)).status).toBe(404);

    const metrics = (await get(`${url}/metrics`)).body;
    expect(metrics).toMatch(/^example_ready 1$/m);
    expect(metrics).toMatch(/^example_model_info\{version="1\.2\.0"\} 1$/m);
    expect(metrics).toMatch(/^example_model_load_seconds \d/m);
    expect(metrics).toMatch(/^example_http_requests_total\{route="\/predict",code="400"\} 2$/m);
    expect(metrics).toMatch(/^example_http_requests_total\{route="\/predict",code="200"\} 1$/m);

    expect(proc.hasLog((l) => l.event === "ready" && l.version === "1.2.0")).toBe(true);
    proc.kill("SIGTERM");
    expect(await proc.exited).toEqual({ code: 0, signal: null });
  });

  it("never becomes ready on the broken model, says why, and stays alive", async () => {
    const modelDir = join(root, "broken");
    await writeExampleModel(modelDir, { version: "3.0.0", seed: 3, broken: true });
    const { url, proc } = await start(modelDir);
    const failed = await proc.waitForLog("the load failure", (l) => l.event === "model_load_failed", 10_000);
    expect(String(failed.reason)).toContain("input_size 9");

    const ready = await get(`${url}/ready`);
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.body)).toMatchObject({ status: "failed" });
    expect(JSON.parse(ready.body).reason).toContain("classifier.weight is F32 [4, 8]");
    expect((await get(`${url}/health`)).status).toBe(200);
    expect((await postPredict(url, { input: [0, 0, 0, 0, 0, 0, 0, 0] })).status).toBe(503);
    expect((await get(`${url}/metrics`)).body).toMatch(/^example_ready 0$/m);
  });

  it("answers /ready 503 while a slow model is loading, /health 200 throughout", async () => {
    const modelDir = join(root, "slow");
    await writeExampleModel(modelDir, { version: "1.0.0", seed: 1 });
    const { url } = await start(modelDir, { EXAMPLE_LOAD_DELAY_MS: "2000" });
    const loading = await get(`${url}/ready`);
    expect(loading.status).toBe(503);
    expect(JSON.parse(loading.body)).toMatchObject({ status: "loading" });
    expect((await get(`${url}/health`)).status).toBe(200);
    await waitFor("ready", async () => (await get(`${url}/ready`)).status === 200, 15_000, 100);
  });
});

describe("example service under the supervisor", () => {
  it("is started, probed ready, detected when killed, and respawned ready again", async () => {
    const modelDir = join(root, "supervised");
    await writeExampleModel(modelDir, { version: "2.0.0", seed: 2 });
    const port = await freePort();
    const supervisor = new Supervisor({
      command: [process.execPath, EXAMPLE_SERVICE],
      cwd: root,
      env: { PORT: String(port) },
      pidFile: join(root, "supervised.pid"),
      logger: silentLogger(),
      stopTimeoutMs: 10_000,
      backoff: { baseMs: 100, capMs: 1000 },
    });
    const url = `http://127.0.0.1:${port}/ready`;
    try {
      await supervisor.restart(modelDir);
      const ready = await waitForReady({ url, timeoutMs: 10_000, intervalMs: 50, crash: supervisor.crashSignal() });
      expect(ready.probes).toBeGreaterThanOrEqual(1);
      const first = supervisor.describe().pid as number;

      process.kill(first, "SIGKILL");
      const err = await waitForReady({ url, timeoutMs: 60_000, intervalMs: 50, crash: supervisor.crashSignal() }).then(
        () => undefined,
        (e: unknown) => e,
      );
      // Either the crash was seen before the next probe, or that probe found the port closed and kept waiting until the crash.
      expect(err).toBeInstanceOf(EdgeError);
      expect((err as EdgeError).code).toBe("SERVICE_CRASHED");
      expect((err as EdgeError).message).toContain("signal SIGKILL");

      await waitFor("the respawn", () => supervisor.describe().restarts === 1, 10_000, 20);
      await waitForReady({ url, timeoutMs: 10_000, intervalMs: 50 });
      expect(supervisor.describe().pid).not.toBe(first);
    } finally {
      await supervisor.stop();
    }
    expect((await probeOnce(url, 500)).ok).toBe(false);
  });
});

describe("example model and safetensors", () => {
  it("round-trips tensors and metadata through the safetensors writer and reader", async () => {
    const path = join(root, "round-trip.safetensors");
    const big = Float32Array.from({ length: 70_000 }, (_, i) => Math.sin(i));
    await writeSafetensors(
      path,
      {
        "z.last": { dtype: "F32", shape: [2, 3], data: Float32Array.of(1, -2, 3.5, 0, Number.MAX_VALUE, -0) },
        "a.bytes": { dtype: "U8", shape: [5], data: Uint8Array.of(1, 2, 3, 4, 5) },
        "m.streamed": {
          dtype: "F32",
          shape: [70_000],
          data: async function* () {
            for (let i = 0; i < big.length; i += 16_384) yield big.subarray(i, i + 16_384);
          },
        },
        "e.empty": { dtype: "F32", shape: [0, 4], data: new Float32Array(0) },
      },
      { format: "pt", note: "round trip" },
    );
    const file = await SafetensorsFile.open(path);
    try {
      expect([...file.header.tensors.keys()]).toEqual(["a.bytes", "e.empty", "m.streamed", "z.last"]);
      expect(file.header.metadata).toEqual({ format: "pt", note: "round trip" });
      expect(file.header.dataStart % 8).toBe(0);
      expect(Array.from(await file.readF32("z.last"))).toEqual([1, -2, 3.5, 0, Math.fround(Number.MAX_VALUE), -0]);
      expect(file.info("z.last").shape).toEqual([2, 3]);
      expect([...(await file.readBytes("a.bytes"))]).toEqual([1, 2, 3, 4, 5]);
      expect(await file.readF32("m.streamed")).toEqual(big);
      expect(await file.readF32("e.empty")).toHaveLength(0);
      await expect(file.readF32("a.bytes")).rejects.toThrow(/a\.bytes is U8, expected F32/);
    } finally {
      await file.close();
    }
  });

  it("refuses a stream that gives the wrong number of bytes, leaving no file", async () => {
    const path = join(root, "short.safetensors");
    const write = writeSafetensors(path, {
      t: {
        dtype: "F32",
        shape: [10],
        data: async function* () {
          yield new Float32Array(9);
        },
      },
    });
    await expect(write).rejects.toThrow(/t: F32 \[10\] needs 40 bytes, the data gave 36/);
    await expect(stat(path)).rejects.toThrow(/ENOENT/);
  });

  it("rejects malformed files with the exact problem", async () => {
    const good = encodeHeader({ a: { dtype: "F32", shape: [2] }, b: { dtype: "F32", shape: [1] } });
    const cases: [string, Buffer, RegExp][] = [
      ["truncated data", Buffer.concat([good, Buffer.alloc(8)]), /cover 12 bytes of data but the file holds 8/],
      ["extra data", Buffer.concat([good, Buffer.alloc(16)]), /cover 12 bytes of data but the file holds 16/],
      [
        "gap",
        withHeader({ a: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, 8),
        /starts at data offset 4, expected 0 \(a gap\)/,
      ],
      [
        "overlap",
        withHeader(
          { a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [1], data_offsets: [4, 8] } },
          8,
        ),
        /tensor b starts at data offset 4, expected 8 \(an overlap\)/,
      ],
      [
        "size vs shape",
        withHeader({ a: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, 8),
        /hold 8 bytes, but F32 \[3\] needs 12/,
      ],
      ["dtype", withHeader({ a: { dtype: "F33", shape: [1], data_offsets: [0, 4] } }, 4), /unknown dtype "F33"/],
      ["shape", withHeader({ a: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, 4), /shape \[-1\] is not a list/],
      ["metadata", withHeader({ __metadata__: { n: 1 } }, 0), /__metadata__\.n is number, expected a string/],
      ["not an object", withHeader([], 0), /header is not a JSON object/],
      ["header length", Buffer.from([255, 255, 255, 255, 0, 0, 0, 0, 123]), /header length 4294967295 exceeds the file/],
      ["too short", Buffer.from([1, 2, 3]), /too short/],
    ];
    for (const [name, bytes, message] of cases) {
      const path = join(root, `bad-${name.replace(/\W/g, "-")}.safetensors`);
      await writeFile(path, bytes);
      await expect(SafetensorsFile.open(path), name).rejects.toThrow(message);
    }
  });

  it("writes the same bytes for the same seed, other weights for another, and streams padding", async () => {
    const a = join(root, "det-a");
    const b = join(root, "det-b");
    const c = join(root, "det-c");
    await writeExampleModel(a, { version: "1.0.0", seed: 5, extraBytes: 3 * 1024 * 1024 + 6 });
    await writeExampleModel(b, { version: "1.0.0", seed: 5, extraBytes: 3 * 1024 * 1024 + 6 });
    await writeExampleModel(c, { version: "1.0.0", seed: 6 });
    for (const f of ["config.json", "model.safetensors"]) {
      expect((await readFile(join(a, f))).equals(await readFile(join(b, f))), f).toBe(true);
    }
    const fa = await SafetensorsFile.open(join(a, "model.safetensors"));
    const fc = await SafetensorsFile.open(join(c, "model.safetensors"));
    try {
      expect(fa.info("backbone.padding").shape).toEqual([786_434]);
      const padding = await fa.readF32("backbone.padding");
      expect(padding.every((v) => v >= -1 && v < 1)).toBe(true);
      // Chunks are not repeated: the second 1 MiB chunk differs from the first.
      expect(padding.subarray(262_144, 262_154)).not.toEqual(padding.subarray(0, 10));
      expect(await fa.readF32("classifier.weight")).not.toEqual(await fc.readF32("classifier.weight"));
      expect(fc.header.tensors.has("backbone.padding")).toBe(false);
    } finally {
      await fa.close();
      await fc.close();
    }
    const config = JSON.parse(await readFile(join(a, "config.json"), "utf8"));
    expect(config).toEqual({
      model_type: "linear-classifier",
      version: "1.0.0",
      input_size: 8,
      output_size: 4,
      labels: ["cat", "dog", "bird", "fish"],
    });
    // The padding does not change the classifier: it comes from its own random stream.
    const plain = join(root, "det-plain");
    await writeExampleModel(plain, { version: "1.0.0", seed: 5 });
    expect((await loadModel(plain)).weight).toEqual((await loadModel(a)).weight);
  });
});

function withHeader(header: unknown, dataBytes: number): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([prefix, json, Buffer.alloc(dataBytes)]);
}
