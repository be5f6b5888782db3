import type { MemberInfo, UnpackContext } from '../format.js';

/**
 * A member whose bytes a handler produces while it is still reading its own input (an RTF
 * object's hex, an HTML data URI): the member is handed to the walker at once and fed chunk by
 * chunk, each `write` waiting until the walker took the chunk, so nothing piles up in memory.
 */
export class MemberPipe {
  private readonly queue: Buffer[] = [];
  private ended = false;
  private closed = false;
  private wakeReader: (() => void) | undefined;
  private wakeWriter: (() => void) | undefined;
  /** Resolves with `context.member`'s answer: false when the walk is over for the container. */
  readonly done: Promise<boolean>;

  constructor(context: UnpackContext, name: string, info?: MemberInfo) {
    this.done = context.member(name, this.chunks(), info).finally(() => this.close());
  }

  /** Hands over `chunk` once the walker took it; false when it reads no more (a limit). */
  async write(chunk: Buffer): Promise<boolean> {
    if (this.closed || this.ended) return false;
    if (chunk.length === 0) return true;
    this.queue.push(chunk);
    this.wakeReader?.();
    await new Promise<void>((resolve) => {
      this.wakeWriter = resolve;
      if (this.queue.length === 0 || this.closed) resolve();
    });
    return !this.closed;
  }

  /** No more bytes: resolves with `done`'s answer once the member was scanned. */
  end(): Promise<boolean> {
    this.ended = true;
    this.wakeReader?.();
    return this.done;
  }

  private close(): void {
    this.closed = true;
    this.queue.length = 0;
    this.wakeWriter?.();
    this.wakeReader?.();
  }

  private async *chunks(): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        const chunk = this.queue.shift();
        if (chunk) {
          yield chunk;
          continue;
        }
        this.wakeWriter?.();
        if (this.ended || this.closed) return;
        await new Promise<void>((resolve) => (this.wakeReader = resolve));
      }
    } finally {
      this.close();
    }
  }
}
