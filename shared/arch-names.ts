/**
 * CPU architecture names as a release's `compatibility.arch` and a device's
 * `arch` use them: Node's `process.arch` names, and the Debian and uname
 * spellings devices and build machines also report.
 */
export const NODE_ARCHES = [
  "arm",
  "arm64",
  "ia32",
  "loong64",
  "mips",
  "mipsel",
  "ppc",
  "ppc64",
  "riscv64",
  "s390",
  "s390x",
  "x64",
] as const;

export const ARCH_ALIASES: Readonly<Record<string, string>> = {
  amd64: "x64",
  x86_64: "x64",
  aarch64: "arm64",
  armhf: "arm",
  armv7l: "arm",
};

export function normalizeArch(arch: string): string {
  return ARCH_ALIASES[arch] ?? arch;
}

export function isKnownArch(arch: string): boolean {
  return (NODE_ARCHES as readonly string[]).includes(normalizeArch(arch));
}
