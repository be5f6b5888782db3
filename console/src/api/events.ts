import { useEffect, useRef, useState } from 'preact/hooks';

/**
 * The console's live updates: the API's server-sent event streams (`GET /v1/events` for a
 * tenant, `GET /admin/events` for an operator), read with the browser's EventSource, which
 * sends the session cookie (same origin) and reconnects by itself after the `retry:` the server
 * gives. A stream never replays what was missed while it was down: a view reloads its data when
 * the stream (re)opens, through `onOpen`.
 */

/** `scan`: a scan of the tenant completed (docs/api.md, "Live events"). */
export interface ScanEvent {
  id: string;
  outcome: 'clean' | 'findings' | 'error';
  findings: string[];
  completed_at: string;
}

/** `job`: a retro job's state or counters changed. */
export interface JobEvent {
  id: string;
  state: 'crawling' | 'scanning' | 'completed' | 'failed' | 'cancelled';
  listed: number;
  matched: number;
  scanned: number;
  findings: number;
  eta_seconds: number | null;
  [field: string]: unknown;
}

/** The event names of each stream, with their data. */
export interface TenantEvents {
  scan: ScanEvent;
  job: JobEvent;
}
export interface OperatorEvents {
  queues: { queues: Array<Record<string, unknown>> };
  workers: { workers: Array<Record<string, unknown>> };
}

export type StreamPath = '/v1/events' | '/admin/events';
type EventsOf<P extends StreamPath> = P extends '/v1/events' ? TenantEvents : OperatorEvents;

export type Handlers<P extends StreamPath> = {
  [Name in keyof EventsOf<P>]?: (data: EventsOf<P>[Name]) => void;
} & {
  /** The stream is (again) open: reload what may have been missed. */
  onOpen?: () => void;
};

export type StreamState = 'connecting' | 'open' | 'reconnecting';

/**
 * Listens to `path` while the component shows. Handlers may change on every render: the latest
 * ones are called, without reconnecting. Returns the stream's state, for a "live" indicator.
 */
export function useEvents<P extends StreamPath>(path: P, handlers: Handlers<P>): StreamState {
  const latest = useRef(handlers);
  latest.current = handlers;
  const [state, setState] = useState<StreamState>('connecting');
  useEffect(() => {
    const source = new EventSource(path);
    const names = path === '/v1/events' ? ['scan', 'job'] : ['queues', 'workers'];
    for (const name of names) {
      source.addEventListener(name, (event: MessageEvent<string>) => {
        const handler = (latest.current as Record<string, ((data: unknown) => void) | undefined>)[
          name
        ];
        handler?.(JSON.parse(event.data) as unknown);
      });
    }
    source.onopen = () => {
      setState('open');
      latest.current.onOpen?.();
    };
    // EventSource retries by itself; CLOSED means the server refused (the session ended).
    source.onerror = () =>
      setState(source.readyState === EventSource.CLOSED ? 'connecting' : 'reconnecting');
    return () => source.close();
  }, [path]);
  return state;
}
