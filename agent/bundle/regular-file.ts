import { constants, type Stats } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { IO_CHUNK } from "../../shared/digest.js";
import { EdgeError, type ErrorCode } from "../../shared/errors.js";

/** What a non-regular file is, for the refusal message. */
function kindOf(st: Stats): string {
  if (st.isFIFO()) return "a FIFO";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  if (st.isDirectory()) return "a folder";
  return "not a regular file";
}

/**
 * Opens a local file offered from outside (a USB stick, the inbox, a sideload
 * being resumed) for reading, without ever blocking on it: O_NONBLOCK, so a
 * FIFO with no writer or a device opens at once instead of hanging the agent,
 * and O_NOCTTY, so a terminal never becomes ours. The handle is then fstat'ed
 * and anything but a regular file refused (FILE_NOT_REGULAR). Callers read
 * from this handle, so what was checked is what is read: swapping the path
 * after the check changes nothing. `openFailed` is the code for a path that
 * cannot be opened at all (missing, no permission).
 */
export async function openRegularFile(path: string, openFailed: ErrorCode): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (cause) {
    throw new EdgeError(openFailed, `cannot open ${path}: ${(cause as Error).message}`, { cause });
  }
  let st: Stats;
  try {
    st = await handle.stat();
  } catch (cause) {
    await handle.close();
    throw new EdgeError(openFailed, `cannot stat ${path}: ${(cause as Error).message}`, { cause });
  }
  if (!st.isFile()) {
    await handle.close();
    throw new EdgeError("FILE_NOT_REGULAR", `${path} is ${kindOf(st)}; only a regular file can be installed`);
  }
  return handle;
}

/**
 * The file's bytes from the start, read from the handle by position, and no
 * more than `limit` of them (a file that grows while it is copied must not fill
 * the data folder). Not a stream made from the handle: destroying one of those
 * closes the descriptor, and the handle is read more than once (the manifest,
 * then the hash).
 */
export async function* readChunks(handle: FileHandle, limit = Number.POSITIVE_INFINITY): AsyncGenerator<Buffer> {
  let position = 0;
  while (position < limit) {
    const want = Math.min(IO_CHUNK, limit - position);
    const buffer = Buffer.allocUnsafe(want);
    const { bytesRead } = await handle.read(buffer, 0, want, position);
    if (bytesRead === 0) return;
    position += bytesRead;
    yield buffer.subarray(0, bytesRead);
  }
}
