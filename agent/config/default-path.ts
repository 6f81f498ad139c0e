/** Where the agent reads its config without --config; its own module so the CLI's help needs none of the schema. */
export const DEFAULT_CONFIG_PATH = "/etc/edgepull/agent.json";
