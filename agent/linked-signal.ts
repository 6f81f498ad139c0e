/** A signal that follows others until its user is done with it. */
export interface LinkedSignal {
  /** Aborts, with that source's reason, as soon as any source does. */
  signal: AbortSignal;
  /** Lets go of the sources: call it when the work the signal guarded has ended. */
  dispose(): void;
}

/**
 * Like AbortSignal.any, but it leaves nothing behind on its sources once
 * disposed. AbortSignal.any on Node 20 keeps a WeakRef to every signal it
 * returns in each source's set of dependants for as long as the source lives
 * (nodejs/node#55351), and the daemon combines its shutdown signal, which lives
 * as long as the process, with a fresh one for every attempt, metadata fetch
 * and health probe: the heap grew with every poll.
 */
export function linkSignals(...sources: (AbortSignal | undefined)[]): LinkedSignal {
  const controller = new AbortController();
  const present = sources.filter((s): s is AbortSignal => s !== undefined);
  const already = present.find((s) => s.aborted);
  if (already) {
    controller.abort(already.reason);
    return { signal: controller.signal, dispose: () => {} };
  }
  const followed = present.map((source) => {
    const onAbort = (): void => {
      dispose();
      controller.abort(source.reason);
    };
    source.addEventListener("abort", onAbort, { once: true });
    return { source, onAbort };
  });
  function dispose(): void {
    for (const { source, onAbort } of followed.splice(0)) source.removeEventListener("abort", onAbort);
  }
  return { signal: controller.signal, dispose };
}
