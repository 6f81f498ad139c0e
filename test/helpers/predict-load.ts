import { Agent } from "node:http";
import { send } from "./backend-servers.js";

export interface PredictAnswer {
  status: number;
  /** The X-Model-Version the proxy set: which version answered. */
  version: unknown;
  body: string;
  sent: string;
}

/**
 * Clients posting to `/predict` through a proxy until stopped, each as soon
 * as its previous answer is in (keep-alive): every answer's status, version
 * and body with what was sent, and every request that failed outright.
 */
export function predictLoad(port: number, bodyFor: (i: number) => string, clients = 4) {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const answers: PredictAnswer[] = [];
  const failures: string[] = [];
  let running = true;
  let n = 0;
  const loop = async (): Promise<void> => {
    while (running) {
      const sent = bodyFor(n++);
      try {
        const r = await send(port, { agent, method: "POST", path: "/predict", body: sent });
        answers.push({ status: r.status, version: r.headers["x-model-version"], body: r.body, sent });
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  };
  const loops = Array.from({ length: clients }, loop);
  return {
    answers,
    failures,
    stop: async (): Promise<void> => {
      running = false;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}
