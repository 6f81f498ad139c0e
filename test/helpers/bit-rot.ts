import { chmod, open } from "node:fs/promises";

/**
 * Flips one bit `fromEnd` bytes before the end of a staged (read-only) file,
 * as bit rot would: a model's backbone changes, its size does not.
 */
export async function flipBitNearEnd(path: string, fromEnd = 100): Promise<void> {
  await chmod(path, 0o644);
  const handle = await open(path, "r+");
  try {
    const { size } = await handle.stat();
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, size - fromEnd);
    byte[0] = (byte[0] as number) ^ 0x01;
    await handle.write(byte, 0, 1, size - fromEnd);
  } finally {
    await handle.close();
  }
}
