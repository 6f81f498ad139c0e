import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { EdgeError } from "../../shared/errors.js";

/** A file the page loads, read once at start: the page works with no network but this server. */
export interface StaticFile {
  body: Buffer;
  contentType: string;
}

const PAGE_FILES: Record<string, [file: string, contentType: string]> = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/dashboard.js": ["dashboard.js", "text/javascript; charset=utf-8"],
  "/dom.js": ["dom.js", "text/javascript; charset=utf-8"],
  "/rollout-chart.js": ["rollout-chart.js", "text/javascript; charset=utf-8"],
  "/device-detail.js": ["device-detail.js", "text/javascript; charset=utf-8"],
  "/dashboard.css": ["dashboard.css", "text/css; charset=utf-8"],
};

/** uPlot from node_modules (a production dependency), never from a CDN. */
const VENDOR_FILES: Record<string, [file: string, contentType: string]> = {
  "/vendor/uPlot.iife.min.js": ["uplot/dist/uPlot.iife.min.js", "text/javascript; charset=utf-8"],
  "/vendor/uPlot.min.css": ["uplot/dist/uPlot.min.css", "text/css; charset=utf-8"],
};

/**
 * The page's own files: beside the compiled module in the installed tree
 * (packaging/build-tree.sh copies them there), else in the source folder of
 * a checkout (dist/ holds only what tsc writes).
 */
function pageDir(): string {
  const candidates = [
    fileURLToPath(new URL("./static/", import.meta.url)),
    fileURLToPath(new URL("../../../publisher/dashboard/static/", import.meta.url)),
  ];
  const found = candidates.find((dir) => existsSync(join(dir, "index.html")));
  if (!found) throw new EdgeError("INTERNAL", `the dashboard page is missing (looked in ${candidates.join(" and ")})`);
  return found;
}

export async function loadStaticFiles(): Promise<Map<string, StaticFile>> {
  const dir = pageDir();
  const require = createRequire(import.meta.url);
  const files = new Map<string, StaticFile>();
  for (const [path, [file, contentType]] of Object.entries(PAGE_FILES)) {
    files.set(path, { body: await readFile(join(dir, file)), contentType });
  }
  for (const [path, [file, contentType]] of Object.entries(VENDOR_FILES)) {
    files.set(path, { body: await readFile(require.resolve(file)), contentType });
  }
  return files;
}
