import { readFile } from "node:fs/promises";

/** What a process's resident memory is made of, from the kernel's view (/proc). */
export interface ResidentMemory {
  rssKiB: number;
  /** Anonymous pages (heaps, stacks, V8's spaces) and file-backed ones (node's binary, the addons, libraries). */
  rssAnonKiB: number;
  rssFileKiB: number;
  /** Of the anonymous pages: the brk heap, where glibc's main arena (the only one with MALLOC_ARENA_MAX=1) keeps small allocations. */
  brkHeapKiB: number;
  /** Of the anonymous pages: nameless mappings, V8's heap pages and malloc's large (mmap'd) blocks among them. */
  anonMappingsKiB: number;
}

const kib = (text: string | undefined): number => (text === undefined ? Number.NaN : Number(text));

/** /proc/<pid>/status for the totals, /proc/<pid>/smaps for the brk heap against the other anonymous mappings. */
export async function residentMemory(pid: number): Promise<ResidentMemory> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const field = (name: string): number => kib(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
  const smaps = await readFile(`/proc/${pid}/smaps`, "utf8");
  let brkHeapKiB = 0;
  let anonMappingsKiB = 0;
  let mapping: "brk" | "anon" | "other" = "other";
  for (const line of smaps.split("\n")) {
    // A mapping's header: address range, perms, offset, device, inode, then the path if any.
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (header) {
      const path = header[2] ?? "";
      mapping = path === "[heap]" ? "brk" : header[1] === "0" && path === "" ? "anon" : "other";
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (!rss) continue;
    if (mapping === "brk") brkHeapKiB += Number(rss[1]);
    else if (mapping === "anon") anonMappingsKiB += Number(rss[1]);
  }
  return {
    rssKiB: field("VmRSS"),
    rssAnonKiB: field("RssAnon"),
    rssFileKiB: field("RssFile"),
    brkHeapKiB,
    anonMappingsKiB,
  };
}
