import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    reporters: ["default", "./test/helpers/summary-reporter.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // e2e tests spawn real agents and services; two cores are shared between them.
    pool: "forks",
    maxWorkers: 2,
  },
});
