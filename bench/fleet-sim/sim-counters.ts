/** What a simulated fleet did, summed over its devices, and how many downloads the repository had at once. */
export class SimCounters {
  bytes = 0;
  bundleDownloads = 0;
  deltaDownloads = 0;
  metadataRequests = 0;
  succeeded = 0;
  rolledBack = 0;
  private inFlight = 0;
  private peak = 0;

  downloadStarted(): void {
    this.inFlight++;
    this.peak = Math.max(this.peak, this.inFlight);
  }

  downloadEnded(): void {
    this.inFlight--;
  }

  /** The most downloads in flight at once since the last reset: the repository's concurrency. */
  get peakConcurrentDownloads(): number {
    return this.peak;
  }

  reset(): void {
    this.bytes = this.bundleDownloads = this.deltaDownloads = this.metadataRequests = 0;
    this.succeeded = this.rolledBack = 0;
    this.peak = this.inFlight;
  }
}
