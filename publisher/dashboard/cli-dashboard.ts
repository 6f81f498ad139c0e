import type { MqttSettings } from "../../shared/mqtt-options.js";
import { type CliIo, type Flags, mqttFlags, repoFlag, report, str } from "../cli-run.js";
import { integerFlag } from "../cli-spec.js";
import { startDashboard } from "./dashboard-command.js";
import { parseDashboardListen } from "./dashboard-options.js";

/** `edge-publish dashboard`: every flag checked before the broker or the repository is touched. */
export async function runDashboard(flags: Flags, io: CliIo): Promise<number> {
  const listen = parseDashboardListen({
    host: str(flags, "host"),
    port: integerFlag(str(flags, "port"), "port", 0, 65535),
    token: str(flags, "token"),
    basicAuth: str(flags, "basic-auth"),
  });
  const settings = mqttFlags(flags, "dashboard", true) as MqttSettings;
  const repoDir = await repoFlag(flags, "dashboard");
  const dashboard = await startDashboard({
    settings,
    repoDir,
    listen,
    onWarning: (text) => io.warn(`edge-publish: warning: ${text}\n`),
  });
  report(io, { url: dashboard.url, port: dashboard.port }, `dashboard at ${dashboard.url} (Ctrl-C to stop)\n`);
  await io.stopRequested;
  await dashboard.stop();
  return 0;
}
