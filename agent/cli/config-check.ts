import { EdgeError } from "../../shared/errors.js";
import { EXIT } from "../../shared/exit-codes.js";
import { checkConfigFile } from "../config.js";

export interface ConfigCheckInput {
  configPath: string;
  json: boolean;
  positionals: string[];
  out: (text: string) => void;
}

/**
 * `edge-agent config check`: reads and validates the config as `run` would at
 * start, and nothing more (no data folder, no journal, no service), so a
 * technician or the package's postinst can ask before starting the daemon.
 */
export async function configCommand(input: ConfigCheckInput): Promise<number> {
  const [sub, ...rest] = input.positionals;
  if (sub !== "check" || rest.length > 0) {
    throw new EdgeError("USAGE", "edge-agent config takes one subcommand: check (see edge-agent config --help)");
  }
  const checked = await checkConfigFile(input.configPath);
  const valid = checked.problems.length === 0;
  if (input.json) {
    input.out(`${JSON.stringify({ config: checked.configPath, valid, problems: checked.problems }, null, 2)}\n`);
  } else if (valid) {
    input.out(`config ${checked.configPath} is valid\n`);
  } else {
    // An unreadable or non-JSON file has one problem, which names the file itself.
    if (checked.unusable) input.out(`${checked.problems.join("\n")}\n`);
    else
      input.out(
        `config ${checked.configPath} has ${checked.problems.length} problem(s):\n${checked.problems.map((p) => `  ${p}\n`).join("")}`,
      );
  }
  return valid ? EXIT.OK : EXIT.USAGE;
}
