import http from 'node:http';
import { cloudEventsHandler, type CloudEventMode } from '../../../core/events/cloudevents-http.ts';
import type { CloudEvent } from '../../../core/events/cloudevent.ts';
import { listen } from '../../../core/ops/ops-server.ts';

/**
 * A CloudEvents sink for tests (real HTTP on 127.0.0.1): records every accepted event with the mode
 * it came in, and can be told to answer the next requests with an error status (to exercise retries
 * and dead-lettering) before accepting again.
 */

export interface ReceivedEvent {
  event: CloudEvent;
  mode: CloudEventMode;
  receivedAt: number;
}

export interface TestSink {
  url: string;
  /** Accepted events, in arrival order. */
  readonly events: ReceivedEvent[];
  /** Every request that reached the sink, accepted or not. */
  readonly requestCount: number;
  /** Answer the next `count` requests with `status` (without reading them as events). */
  failNext(count: number, status: number): void;
  /** Answer every request with `status` until called with null. */
  failAll(status: number | null): void;
  /** Resolves with the accepted events once `predicate` holds for them; rejects after `timeoutMs`. */
  waitFor(predicate: (events: ReceivedEvent[]) => boolean, timeoutMs?: number): Promise<ReceivedEvent[]>;
  /** Shorthand: wait until `count` events of `type` (any type when omitted) arrived. */
  waitForCount(count: number, type?: string, timeoutMs?: number): Promise<ReceivedEvent[]>;
  close(): Promise<void>;
}

export async function startTestSink(): Promise<TestSink> {
  const events: ReceivedEvent[] = [];
  const waiters = new Set<() => void>();
  let requestCount = 0;
  let failures: Array<number> = [];
  let failStatus: number | null = null;

  const accept = cloudEventsHandler({
    onEvent(event, mode) {
      events.push({ event, mode, receivedAt: Date.now() });
      for (const wake of waiters) wake();
    },
  });
  const server = http.createServer((req, res) => {
    requestCount++;
    const status = failures.shift() ?? failStatus;
    if (status !== null && status !== undefined) {
      req.resume();
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'TEST_SINK', message: `test sink answers ${status}` } }));
      return;
    }
    accept(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  const running = await listen(server, 0);

  const waitFor = (predicate: (e: ReceivedEvent[]) => boolean, timeoutMs = 5_000): Promise<ReceivedEvent[]> =>
    new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate(events)) return false;
        cleanup();
        resolve([...events]);
        return true;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`test sink: condition not met within ${timeoutMs} ms; got ${events.map((e) => e.event.type).join(', ') || 'no events'}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(wake);
      };
      const wake = () => void check();
      waiters.add(wake);
      check();
    });

  return {
    url: running.url,
    events,
    get requestCount() {
      return requestCount;
    },
    failNext(count, status) {
      failures = [...failures, ...Array.from({ length: count }, () => status)];
    },
    failAll(status) {
      failStatus = status;
    },
    waitFor,
    waitForCount: (count, type, timeoutMs) =>
      waitFor((e) => e.filter((r) => type === undefined || r.event.type === type).length >= count, timeoutMs),
    close: () => running.close(),
  };
}
