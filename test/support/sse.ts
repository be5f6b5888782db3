import { waitFor } from './wait.js';

export interface SseEvent {
  event: string;
  data: unknown;
}

export interface SseStream {
  status: number;
  headers: Headers;
  /** Every event received so far, and the raw text (comments and `retry:` included). */
  events: SseEvent[];
  raw(): string;
  /** Waits for an event matching `match`; returns it. */
  next(match: (event: SseEvent) => boolean, what: string, timeoutMs?: number): Promise<SseEvent>;
  /** Resolves when the server ended the stream. */
  ended: Promise<void>;
  close(): void;
}

/** Opens a server-sent event stream with a real HTTP client and parses what arrives. */
export async function openSse(url: string, headers: Record<string, string>): Promise<SseStream> {
  const abort = new AbortController();
  const response = await fetch(url, { headers, signal: abort.signal });
  const events: SseEvent[] = [];
  let text = '';
  let pending = '';
  const ended = (async () => {
    if (!response.body || response.status !== 200) return;
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body) {
        const piece = decoder.decode(chunk as Uint8Array, { stream: true });
        text += piece;
        pending += piece;
        let end: number;
        while ((end = pending.indexOf('\n\n')) >= 0) {
          const block = pending.slice(0, end);
          pending = pending.slice(end + 2);
          const lines = block.split('\n');
          const name = lines.find((line) => line.startsWith('event: '))?.slice(7);
          const data = lines.find((line) => line.startsWith('data: '))?.slice(6);
          if (name && data !== undefined) events.push({ event: name, data: JSON.parse(data) });
        }
      }
    } catch {
      // aborted by close()
    }
  })();
  return {
    status: response.status,
    headers: response.headers,
    events,
    raw: () => text,
    next: (match, what, timeoutMs = 15_000) =>
      waitFor(() => events.find(match), { what, timeoutMs, intervalMs: 20 }),
    ended,
    close: () => abort.abort(),
  };
}
