import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { ArbiterError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { BucketRecord } from './bucket-schema.js';
import type { BucketStatusStore } from './bucket-status.js';
import type { BucketStore } from './bucket-store.js';
import type { AwsClients } from './clients.js';
import type { EventIntake } from './event-intake.js';

/**
 * S3 event intake from SQS, in the worker role. Every worker process long-polls every queue
 * registered with a bucket (SQS hands each message to one receiver at a time):
 *
 * - ReceiveMessage with WaitTimeSeconds (ARBITER_SQS_WAIT_SECONDS, default 20) and up to 10
 *   messages, with VisibilityTimeout ARBITER_SQS_VISIBILITY_SECONDS; while a batch is being
 *   handled, its messages' visibility is extended every half of that.
 * - A message is deleted only after the scan jobs of its objects are in Redis (BullMQ), or when
 *   it has nothing to scan (test events, folder markers, other event types).
 * - A poison message (not an S3 notification; a bucket the tenant has not registered) is left in
 *   the queue: it comes back after the visibility timeout, and the queue's RedrivePolicy moves it
 *   to the dead-letter queue after `maxReceiveCount` receives. Without a redrive policy it would
 *   come back until the queue's retention period ends: configure one (docs/s3.md).
 * - If Redis is away the message is not deleted either, and is received again later.
 * - On SIGTERM the long polls are aborted, batches being handled are finished, then it stops.
 *
 * Queues are grouped by tenant, URL and endpoint: several buckets of one tenant may share a
 * queue. The set of queues is re-read from Redis every ARBITER_SQS_REFRESH_MS.
 */
export interface PollerSettings {
  waitSeconds: number;
  visibilitySeconds: number;
  refreshMs: number;
}

export interface QueuePollerDeps {
  buckets: Pick<BucketStore, 'withQueues'>;
  clients: Pick<AwsClients, 'sqs'>;
  intake: Pick<EventIntake, 'accept'>;
  /** Where each receive is recorded, so the console shows whether a bucket's queue is polled. */
  status?: Pick<BucketStatusStore, 'recordPoll'>;
  settings: PollerSettings;
  logger: Logger;
}

/** The shortest time between two records of successful receives (s3/bucket-status.ts). */
const POLL_RECORD_EVERY_MS = 5_000;

export class QueuePollers {
  private readonly pollers = new Map<string, QueuePoller>();
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly deps: QueuePollerDeps) {}

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.refreshing = this.refresh()
        .catch((error: unknown) =>
          this.deps.logger.warn({ err: error }, 'could not read the registered SQS queues'),
        )
        .finally(() => {
          this.refreshing = undefined;
          if (!this.stopped) this.timer = setTimeout(tick, this.deps.settings.refreshMs);
        });
    };
    tick();
  }

  /** Starts pollers for new queues, restarts changed ones, stops those no longer registered. */
  async refresh(): Promise<void> {
    const wanted = new Map<string, { bucket: BucketRecord; version: string }>();
    // The oldest registration of a shared queue drives its poller, so registering another
    // bucket on the same queue does not restart it (a restart while a receive is in flight
    // leaves those messages invisible until their visibility timeout).
    const buckets = (await this.deps.buckets.withQueues()).sort(
      (a, b) => a.createdAt.localeCompare(b.createdAt) || a.name.localeCompare(b.name),
    );
    const sharing = new Map<string, string[]>();
    for (const bucket of buckets) {
      const queue = bucket.queue!;
      const key = [bucket.tenantId, queue.url, queue.endpoint ?? '', queue.region].join('\n');
      if (!wanted.has(key))
        wanted.set(key, { bucket, version: `${bucket.name}@${bucket.updatedAt}` });
      sharing.set(key, [...(sharing.get(key) ?? []), bucket.name]);
    }
    if (this.stopped) return;
    for (const [key, poller] of this.pollers) {
      if (wanted.get(key)?.version !== poller.version) {
        this.pollers.delete(key);
        await poller.stop();
      }
    }
    for (const [key, { bucket, version }] of wanted) {
      const running = this.pollers.get(key);
      if (running) running.bucketNames = sharing.get(key) ?? [bucket.name];
      if (running || this.stopped) continue;
      const poller = new QueuePoller(this.deps, bucket, version);
      poller.bucketNames = sharing.get(key) ?? [bucket.name];
      this.pollers.set(key, poller);
      poller.start();
    }
  }

  /** The queues being polled (for tests and diagnostics). */
  active(): Array<{ tenantId: string; queueUrl: string }> {
    return [...this.pollers.values()].map((poller) => ({
      tenantId: poller.bucket.tenantId,
      queueUrl: poller.bucket.queue!.url,
    }));
  }

  /** Stops receiving; messages being handled are finished (deleted or left) first. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.refreshing;
    await Promise.all([...this.pollers.values()].map((poller) => poller.stop()));
    this.pollers.clear();
  }
}

class QueuePoller {
  private readonly abort = new AbortController();
  private stopping = false;
  private loop: Promise<void> = Promise.resolve();
  /** Every bucket registered on this queue (several may share one): whose status it writes. */
  bucketNames: string[] = [];
  private lastRecordedAt = 0;

  constructor(
    private readonly deps: QueuePollerDeps,
    readonly bucket: BucketRecord,
    readonly version: string,
  ) {}

  start(): void {
    this.loop = this.run().catch((error: unknown) =>
      this.deps.logger.error({ err: error, queue: this.queueUrl }, 'SQS poller stopped'),
    );
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.abort.abort();
    await this.loop;
  }

  private get queueUrl(): string {
    return this.bucket.queue!.url;
  }

  private async run(): Promise<void> {
    const { settings, logger } = this.deps;
    let sqs: SQSClient;
    try {
      sqs = this.deps.clients.sqs(this.bucket);
    } catch (error) {
      logger.error(
        { err: error, queue: this.queueUrl, tenantId: this.bucket.tenantId },
        'cannot build the SQS client of a registered queue',
      );
      return;
    }
    logger.info(
      { queue: this.queueUrl, tenantId: this.bucket.tenantId },
      'polling SQS for S3 events',
    );
    let failures = 0;
    while (!this.stopping) {
      let messages: Message[];
      try {
        const output = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: this.queueUrl,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: settings.waitSeconds,
            VisibilityTimeout: settings.visibilitySeconds,
            MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          }),
          { abortSignal: this.abort.signal },
        );
        messages = output.Messages ?? [];
        failures = 0;
        this.recordPoll();
      } catch (error) {
        if (this.stopping) break;
        failures += 1;
        this.recordPoll(error instanceof Error ? error.message : String(error));
        if (failures === 1 || failures % 20 === 0) {
          logger.warn(
            {
              err: error instanceof Error ? error.message : String(error),
              queue: this.queueUrl,
              failures,
            },
            'SQS ReceiveMessage failed; retrying',
          );
        }
        await this.sleep(Math.min(30_000, 250 * 2 ** Math.min(failures, 7)));
        continue;
      }
      if (messages.length > 0) await this.handleBatch(sqs, messages);
    }
    logger.info({ queue: this.queueUrl }, 'stopped polling SQS');
  }

  /**
   * Notes the receive for the console. The record outlives two long polls and a refresh, so it
   * lapses (the bucket shows as not polled) only when no worker polls the queue any more.
   */
  private recordPoll(error?: string): void {
    const { status, settings, logger } = this.deps;
    if (!status) return;
    // A busy queue answers receives back to back: one record every few seconds is enough.
    const now = Date.now();
    if (!error && now - this.lastRecordedAt < POLL_RECORD_EVERY_MS) return;
    this.lastRecordedAt = error ? 0 : now;
    const ttlSeconds = 2 * settings.waitSeconds + settings.refreshMs / 1000 + 30;
    status
      .recordPoll(this.bucket.tenantId, this.bucketNames, ttlSeconds, error)
      .catch((failure: unknown) =>
        logger.debug({ err: failure, queue: this.queueUrl }, 'could not record an SQS poll'),
      );
  }

  private async handleBatch(sqs: SQSClient, messages: Message[]): Promise<void> {
    const { settings, logger, intake } = this.deps;
    const pending = new Set(messages.filter((message) => message.ReceiptHandle));
    // Keep the batch invisible to other receivers for as long as it is being handled.
    const heartbeat = setInterval(
      () => {
        const entries = [...pending].map((message, index) => ({
          Id: String(index),
          ReceiptHandle: message.ReceiptHandle!,
          VisibilityTimeout: settings.visibilitySeconds,
        }));
        if (entries.length === 0) return;
        sqs
          .send(
            new ChangeMessageVisibilityBatchCommand({ QueueUrl: this.queueUrl, Entries: entries }),
          )
          .catch((error: unknown) =>
            logger.warn(
              { err: error instanceof Error ? error.message : String(error), queue: this.queueUrl },
              'could not extend message visibility',
            ),
          );
      },
      (settings.visibilitySeconds * 1000) / 2,
    );

    const handled: Message[] = [];
    try {
      await Promise.all(
        messages.map(async (message) => {
          try {
            const report = await intake.accept(this.bucket.tenantId, message.Body ?? '');
            handled.push(message);
            logger.debug(
              {
                messageId: message.MessageId,
                shape: report.shape,
                queued: report.queued.length,
                duplicates: report.duplicates.length,
                skipped: report.skipped.length,
              },
              'S3 event message handled',
            );
          } catch (error) {
            // Not retryable (unreadable, or naming a bucket that is not registered): every
            // delivery of the message would fail the same way.
            const poison = error instanceof ArbiterError && !error.retryable;
            logger.warn(
              {
                messageId: message.MessageId,
                queue: this.queueUrl,
                receiveCount: message.Attributes?.ApproximateReceiveCount,
                err: error instanceof Error ? error.message : String(error),
              },
              poison
                ? 'poison S3 event message left in the queue (its redrive policy moves it to the dead-letter queue after maxReceiveCount receives)'
                : 'S3 event message not handled; it will be received again',
            );
          } finally {
            pending.delete(message);
          }
        }),
      );
    } finally {
      clearInterval(heartbeat);
    }
    await this.deleteMessages(sqs, handled);
  }

  private async deleteMessages(sqs: SQSClient, messages: Message[]): Promise<void> {
    const entries = messages
      .filter((m) => m.ReceiptHandle)
      .map((m, index) => ({ Id: String(index), ReceiptHandle: m.ReceiptHandle! }));
    if (entries.length === 0) return;
    try {
      const output = await sqs.send(
        new DeleteMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: entries }),
      );
      for (const failure of output.Failed ?? []) {
        this.deps.logger.warn(
          { queue: this.queueUrl, code: failure.Code, reason: failure.Message },
          'could not delete a handled S3 event message; it will be received again (its scan is not repeated while in flight)',
        );
      }
    } catch (error) {
      this.deps.logger.warn(
        { err: error instanceof Error ? error.message : String(error), queue: this.queueUrl },
        'could not delete handled S3 event messages; they will be received again',
      );
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.abort.signal.addEventListener('abort', done, { once: true });
    });
  }
}
