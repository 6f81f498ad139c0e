import type { World } from "./world.js";

/**
 * A `health` section whose probation is judged by the example service's own
 * /metrics: at most 5 % of /predict answers may be 5xx, over 10 samples at
 * least, with no data inconclusive (extended up to 20 s), evaluated each second.
 */
export function gatedHealth(w: World, probationSeconds: number): Record<string, unknown> {
  return {
    url: `http://127.0.0.1:${w.servicePort}/ready`,
    timeoutSeconds: 6,
    probationSeconds,
    intervalMs: 100,
    rollbackTimeoutSeconds: 20,
    gateIntervalSeconds: 1,
    gates: [
      {
        type: "ratio",
        name: "predict-errors",
        numerator: 'example_http_requests_total{route="/predict",code=~"5.."}',
        denominator: 'example_http_requests_total{route="/predict"}',
        max: 0.05,
        minSamples: 10,
        onNoData: "inconclusive",
        maxExtensionSeconds: 20,
      },
    ],
  };
}
