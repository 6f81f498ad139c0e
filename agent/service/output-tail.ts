import { StringDecoder } from "node:string_decoder";

/**
 * The last few lines of a stream, in bounded memory: a child may write
 * gigabytes to stderr, and only its end says why it failed. At most `lines`
 * complete lines are kept, each cut to `maxLineChars`, plus the line being
 * written (also cut), so the buffer never holds more than
 * (lines + 1) x maxLineChars characters whatever the stream's size.
 */
export class OutputTail {
  private readonly decoder = new StringDecoder("utf8");
  private readonly kept: string[] = [];
  private partial = "";
  private partialCut = false;

  constructor(
    private readonly lines = 10,
    private readonly maxLineChars = 400,
  ) {}

  push(chunk: Buffer | string): void {
    const text = typeof chunk === "string" ? chunk : this.decoder.write(chunk);
    let start = 0;
    for (let nl = text.indexOf("\n", start); nl >= 0; nl = text.indexOf("\n", start)) {
      this.append(text.slice(start, nl));
      this.endLine();
      start = nl + 1;
    }
    this.append(text.slice(start));
  }

  /** The kept lines, oldest first; an unfinished last line counts as one. */
  get(): string[] {
    const tail = this.partial === "" ? [...this.kept] : [...this.kept, this.shown()].slice(-this.lines);
    return tail.map((line) => line.replace(/\r$/, ""));
  }

  private append(piece: string): void {
    if (piece === "" || this.partialCut) return;
    const room = this.maxLineChars - this.partial.length;
    if (piece.length > room) {
      this.partial += piece.slice(0, room);
      this.partialCut = true;
    } else {
      this.partial += piece;
    }
  }

  private endLine(): void {
    this.kept.push(this.shown());
    if (this.kept.length > this.lines) this.kept.shift();
    this.partial = "";
    this.partialCut = false;
  }

  private shown(): string {
    return this.partialCut ? `${this.partial}…` : this.partial;
  }
}
