import { createServer, type Server } from "node:http";
import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { EventStreams } from "../../publisher/dashboard/event-stream.js";
import { waitFor } from "../helpers/processes.js";

let server: Server | undefined;
let streams: EventStreams | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  streams?.close();
  if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
  server = undefined;
});

/** A raw client: sends the request, then reads (or, paused, never reads) what comes. */
function client(port: number, reading: boolean): { socket: Socket; received: () => number } {
  const socket = connect(port, "127.0.0.1");
  sockets.push(socket);
  let received = 0;
  socket.write("GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  if (reading) socket.on("data", (b: Buffer) => (received += b.length));
  else socket.pause();
  return { socket, received: () => received };
}

describe("the dashboard's event streams", () => {
  it("end a stream that stopped reading once too much is unsent, and keep serving the others", async () => {
    streams = new EventStreams(60_000, 256 * 1024);
    const s = streams;
    server = createServer((_req, res) => s.open(res, { event: "snapshot", data: {} }));
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    const reader = client(port, true);
    client(port, false);
    await waitFor("both streams open", () => s.size === 2);
    const big = { blob: "x".repeat(100_000) };
    // The kernel's socket buffers take some megabytes first; then the unsent bytes pile up in the server.
    for (let i = 0; i < 2000 && s.size === 2; i++) {
      s.broadcast("update", big);
      await new Promise((r) => setImmediate(r));
    }
    expect(s.size).toBe(1);
    s.broadcast("update", { after: true });
    await waitFor("the reading page got the update after the drop", () => reader.received() > 200_000);
    expect(reader.socket.destroyed).toBe(false);
  });
});
