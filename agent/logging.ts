// The agent's modules import their logger from here; the factory is shared with the publisher.
export { componentLogger, createRootLogger, type Logger, silentLogger } from "../shared/logging.js";
