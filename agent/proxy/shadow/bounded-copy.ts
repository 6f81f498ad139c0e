/**
 * A copy of a stream's bytes up to a limit, taken beside the stream's own
 * consumer (a pipe to the client or backend), never instead of it: past the
 * limit the copy is given up and its memory freed, and the stream flows on.
 */
export class BoundedCopy {
  private chunks: Buffer[] = [];
  private size = 0;
  private over = false;

  constructor(private readonly limitBytes: number) {}

  add(chunk: Buffer): void {
    if (this.over) return;
    this.size += chunk.length;
    if (this.size > this.limitBytes) {
      this.over = true;
      this.chunks = [];
      return;
    }
    this.chunks.push(chunk);
  }

  get overflowed(): boolean {
    return this.over;
  }

  body(): Buffer {
    return Buffer.concat(this.chunks);
  }
}
