/**
 * A TCP socket bound to a loopback port and held open without ever accepting,
 * as systemd's socket unit holds `ListenStream=`: the agent it is handed to
 * (fd 3) listens on it; while no agent runs, connections wait in the kernel's
 * queue instead of being refused. Node has no public API for a bound socket
 * that is not accepted on, hence the internal TCP handle (test code only).
 */
interface TcpHandle {
  bind(address: string, port: number): number;
  getsockname(out: { port?: number }): number;
  fd: number;
  close(): void;
}

export interface HeldSocket {
  fd: number;
  port: number;
  close(): void;
}

export function holdSocket(port = 0): HeldSocket {
  const binding = (process as unknown as { binding(name: string): unknown }).binding("tcp_wrap") as {
    TCP: new (type: number) => TcpHandle;
    constants: { SERVER: number };
  };
  const handle = new binding.TCP(binding.constants.SERVER);
  const err = handle.bind("127.0.0.1", port);
  if (err !== 0) throw new Error(`cannot bind 127.0.0.1:${port} (libuv error ${err})`);
  const address: { port?: number } = {};
  handle.getsockname(address);
  if (!address.port) throw new Error("the held socket has no port");
  return { fd: handle.fd, port: address.port, close: () => handle.close() };
}
