/** The service's Prometheus metrics, rendered in the text exposition format (0.0.4). */
export class Metrics {
  private readonly requests = new Map<string, number>();
  private loadSeconds: number | undefined;
  private ready = false;
  private version: string | undefined;

  countRequest(route: string, code: number): void {
    const key = `route="${escapeLabel(route)}",code="${code}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  modelLoaded(version: string, seconds: number): void {
    this.version = version;
    this.loadSeconds = seconds;
  }

  setReady(ready: boolean): void {
    this.ready = ready;
  }

  render(): string {
    const lines = [
      "# HELP example_http_requests_total HTTP requests answered, by route and status code.",
      "# TYPE example_http_requests_total counter",
      ...[...this.requests.entries()].sort().map(([labels, n]) => `example_http_requests_total{${labels}} ${n}`),
      "# HELP example_ready 1 once the model is loaded and warmed up, else 0.",
      "# TYPE example_ready gauge",
      `example_ready ${this.ready ? 1 : 0}`,
    ];
    if (this.loadSeconds !== undefined) {
      lines.push(
        "# HELP example_model_load_seconds Time to load and warm up the model.",
        "# TYPE example_model_load_seconds gauge",
        `example_model_load_seconds ${this.loadSeconds}`,
      );
    }
    if (this.version !== undefined) {
      lines.push(
        "# HELP example_model_info The model version being served.",
        "# TYPE example_model_info gauge",
        `example_model_info{version="${escapeLabel(this.version)}"} 1`,
      );
    }
    return `${lines.join("\n")}\n`;
  }
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
