import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface ProxiedRequest {
  path: string;
  range: string | undefined;
  status: number;
}

/**
 * A loopback proxy in front of a repository server that can misbehave per path:
 * `hold` sends the first half of a matching body and then nothing until
 * `releaseHeld()` (a download that stays in progress as long as a test needs,
 * without timing); `drop` sends the first half and cuts the connection.
 */
export interface HoldingProxy {
  url: string;
  requests: ProxiedRequest[];
  /** Responses currently held after their first half. */
  held(): number;
  hold(pathSuffix: string): void;
  drop(pathSuffix: string): void;
  /** Sends the rest of every held body and stops holding. */
  releaseHeld(): void;
  close(): Promise<void>;
}

export async function startHoldingProxy(upstream: string): Promise<HoldingProxy> {
  const requests: ProxiedRequest[] = [];
  const rules = new Map<string, "hold" | "drop">();
  let waiting: Array<() => void> = [];
  let holding = 0;
  const ruleFor = (path: string) => [...rules].find(([suffix]) => path.endsWith(suffix))?.[1];

  async function forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = req.url ?? "/";
    const headers = Object.fromEntries(
      Object.entries(req.headers).filter((e): e is [string, string] => typeof e[1] === "string"),
    );
    const up = await fetch(upstream + path, { headers });
    const body = Buffer.from(await up.arrayBuffer());
    requests.push({ path, range: req.headers.range, status: up.status });
    res.writeHead(up.status, Object.fromEntries(up.headers));
    const rule = up.ok ? ruleFor(path) : undefined;
    if (!rule) {
      res.end(body);
      return;
    }
    const half = Math.floor(body.length / 2);
    res.write(body.subarray(0, half));
    if (rule === "drop") {
      // Let the first half reach the client before the cut.
      setTimeout(() => res.destroy(), 50);
      return;
    }
    holding++;
    await new Promise<void>((resolve) => {
      waiting.push(resolve);
      res.on("close", resolve);
    });
    holding--;
    if (!res.destroyed) res.end(body.subarray(half));
  }

  const server = createServer((req, res) => {
    forward(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    held: () => holding,
    hold: (suffix) => rules.set(suffix, "hold"),
    drop: (suffix) => rules.set(suffix, "drop"),
    releaseHeld: () => {
      rules.clear();
      for (const resolve of waiting) resolve();
      waiting = [];
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
