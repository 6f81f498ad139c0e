// The progress bar is shared with the agent's CLI; the publisher's modules import it from here.
export {
  cliProgress,
  createProgress,
  formatProgress,
  PLAIN_PROGRESS_MS,
  type Progress,
  type ProgressStream,
} from "../shared/progress.js";
