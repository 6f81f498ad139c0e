import { type CliIo, type Flags, mqttFlags, report, str } from "../cli-run.js";
import { positiveNumberFlag, required } from "../cli-spec.js";
import { withdraw } from "../commands/withdraw.js";

/** `edge-publish withdraw`: flags in, one report out, with what the operator still has to do. */
export async function runWithdraw(flags: Flags, io: CliIo): Promise<number> {
  const repoDir = required(str(flags, "repo"), "repo", "withdraw");
  const name = required(str(flags, "name"), "name", "withdraw");
  const r = await withdraw({
    repoDir,
    name,
    version: required(str(flags, "version"), "version", "withdraw"),
    reason: required(str(flags, "reason"), "reason", "withdraw"),
    keyPath: required(str(flags, "key"), "key", "withdraw"),
    keepRunning: flags["keep-running"] === true,
    expiresInDays: positiveNumberFlag(str(flags, "expires-days"), "expires-days"),
    mqtt: mqttFlags(flags, "withdraw", false),
  });
  const e = r.entry;
  const what =
    e.action === "stay"
      ? "devices running it keep it and report WITHDRAWN"
      : "devices running it move to their channel's release";
  const lines = [
    `${r.changed ? "withdrew" : "already withdrawn (nothing written)"}: ${name} ${e.version} (${e.reason}); ${what}`,
    `${r.changed ? "wrote" : "unchanged"} ${r.path} (sequence ${r.sequence}, expires ${r.expiresAt})`,
  ];
  if (r.mqtt) lines.push(`published to ${r.mqtt.topic} (retained, acknowledged)`);
  for (const channel of r.channelsStillPointing) {
    lines.push(
      `channel ${channel} still points at ${e.version} (devices refuse it); move it with: edge-publish rollout --repo ${repoDir} --name ${name} --channel ${channel} --key KEY --abort`,
    );
  }
  report(io, r, `${lines.join("\n")}\n`);
  return 0;
}
