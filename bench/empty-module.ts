// Loaded by bench/module-cost.ts as the baseline: the cost of the ES module loader itself.
export {};
