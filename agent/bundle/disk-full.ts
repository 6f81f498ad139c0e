import { rm } from "node:fs/promises";
import { EdgeError } from "../../shared/errors.js";
import type { Logger } from "../logging.js";

/**
 * Runs a download or copy into `partPath`. If the disk fills up under it
 * (something else wrote to the disk after the space check), the part file is
 * what this attempt holds there, so it goes: that leaves room for the journal
 * to record why and for the service to keep writing, and resuming it would
 * need that room anyway. The failure becomes DISK_SPACE_LOW.
 */
export async function removePartIfDiskFull<T>(partPath: string, logger: Logger, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if ((err as NodeJS.ErrnoException)?.code !== "ENOSPC") throw err;
    await rm(partPath, { force: true });
    logger.warn({ partPath, err }, "no space left while downloading; the partial download was removed");
    throw new EdgeError("DISK_SPACE_LOW", `no space left on the data folder's disk while writing ${partPath}`, { cause: err });
  }
}
