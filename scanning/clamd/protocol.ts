import { createReadStream } from 'node:fs';
import net, { type Socket } from 'node:net';
import { describeClamdAddress, type ClamdAddress } from './address.js';

/**
 * clamd's wire protocol, one connection per command. Commands use the `z` form (NUL-terminated
 * command and reply); clamd answers once and closes the connection.
 *
 * INSTREAM: `zINSTREAM\0`, then chunks each prefixed by a 4-byte big-endian length, then a zero
 * length. clamd may answer before the stream ends (`INSTREAM size limit exceeded. ERROR`) and
 * close at once: writes then fail with EPIPE/ECONNRESET while the reply sits in the receive
 * buffer. So a session settles on the reply (NUL) or on close, never on a write error: a reply
 * that arrived wins, and only a close without any reply is a failure. Even so the reply is
 * sometimes lost: the kernel still holds it, but Node destroys a socket whose write failed
 * before reading what is waiting (3–5 in 100 over-limit streams here when idle, far more
 * under load). Such a failure is marked `replyLost`, and `cutShort` when clamd closed before
 * the whole stream was written, so the engine can ask again and judge what happened.
 */

export interface SessionOptions {
  address: ClamdAddress;
  /** Time allowed to establish the connection. */
  connectTimeoutMs: number;
  /** Longest silence allowed once connected (no byte read or written), e.g. while clamd scans. */
  idleTimeoutMs: number;
}

/** A failure to talk to clamd: refused, reset, timed out, closed without a reply, bad reply. */
export class ClamdProtocolError extends Error {
  override name = 'ClamdProtocolError';
  constructor(
    message: string,
    public readonly code?: string,
    /** clamd accepted the session and closed it without a reply we could read. */
    public readonly replyLost = false,
    /** …and it did so before the whole command or stream was written. */
    public readonly cutShort = false,
  ) {
    super(message);
  }
}

/** The longest reply we accept; real replies are well under 1 KiB. */
const MAX_REPLY_BYTES = 64 * 1024;

/** Writes a command; resolves true once all of it was handed to the socket, false if cut short. */
type Sender = (socket: Socket, stopped: () => boolean) => Promise<boolean>;

function session(options: SessionOptions, what: string, send: Sender): Promise<string> {
  const where = describeClamdAddress(options.address);
  return new Promise<string>((resolve, reject) => {
    const socket =
      options.address.kind === 'tcp'
        ? net.createConnection({ host: options.address.host, port: options.address.port })
        : net.createConnection({ path: options.address.path });
    const received: Buffer[] = [];
    let receivedBytes = 0;
    let connected = false;
    let sent = false;
    let settled = false;
    let socketError: NodeJS.ErrnoException | undefined;

    const settle = (outcome: { reply: string } | { error: ClamdProtocolError }) => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      socket.destroy();
      if ('reply' in outcome) resolve(outcome.reply);
      else reject(outcome.error);
    };
    const replyText = () =>
      Buffer.concat(received)
        .toString('utf8')
        .replace(/\0[\s\S]*$/, '')
        .trim();

    const connectTimer = setTimeout(() => {
      settle({
        error: new ClamdProtocolError(
          `could not connect to clamd at ${where} within ${options.connectTimeoutMs} ms`,
          'ETIMEDOUT',
        ),
      });
    }, options.connectTimeoutMs);

    socket.on('connect', () => {
      connected = true;
      clearTimeout(connectTimer);
      socket.setTimeout(options.idleTimeoutMs);
      send(socket, () => settled || socket.destroyed).then(
        (complete) => {
          sent = complete;
        },
        (error: unknown) => {
          // A local failure (the file vanished, say) ends the session; write errors do not
          // (the 'close' handler decides, since a reply may already be waiting).
          if (error instanceof LocalSendError)
            settle({ error: new ClamdProtocolError(`${what}: ${error.message}`, error.code) });
        },
      );
    });
    socket.on('data', (data: Buffer) => {
      received.push(data);
      receivedBytes += data.length;
      if (data.includes(0)) settle({ reply: replyText() });
      else if (receivedBytes > MAX_REPLY_BYTES) {
        settle({
          error: new ClamdProtocolError(
            `${what}: clamd sent more than ${MAX_REPLY_BYTES} bytes without ending its reply`,
          ),
        });
      }
    });
    socket.on('timeout', () => {
      settle({
        error: new ClamdProtocolError(
          `${what}: clamd at ${where} was silent for ${options.idleTimeoutMs} ms`,
          'ETIMEDOUT',
        ),
      });
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      socketError ??= error;
    });
    socket.on('close', () => {
      if (receivedBytes > 0) return settle({ reply: replyText() });
      if (!connected) {
        const reason = socketError ? `${socketError.code ?? socketError.message}` : 'closed';
        return settle({
          error: new ClamdProtocolError(
            `could not connect to clamd at ${where}: ${reason}`,
            socketError?.code,
          ),
        });
      }
      const reason = socketError ? ` (${socketError.code ?? socketError.message})` : '';
      settle({
        error: new ClamdProtocolError(
          `${what}: clamd at ${where} closed the connection without a reply${reason}`,
          socketError?.code ?? 'ECONNRESET',
          true,
          // Still writing when clamd closed: a write failed, or the stream was not all written.
          !sent || socketError?.syscall === 'write',
        ),
      });
    });
  });
}

/** A failure on our side of the session (reading the file), as opposed to a socket problem. */
class LocalSendError extends Error {
  constructor(
    message: string,
    public readonly code?: string,
  ) {
    super(message);
  }
}

/** Sends `z<name>\0` and returns the reply without its terminator (`PONG`, `ClamAV 1.4.6/…`). */
export function sendCommand(
  options: SessionOptions,
  name: 'PING' | 'VERSION' | 'RELOAD',
): Promise<string> {
  return session(options, name, (socket) => {
    socket.write(`z${name}\0`);
    return Promise.resolve(true);
  });
}

/**
 * Streams a file to clamd with INSTREAM, reading it from disk chunk by chunk as the socket
 * drains (the file is never held whole), and returns the raw reply (`stream: OK`, …).
 */
export function instreamFile(
  options: SessionOptions,
  filePath: string,
  chunkSize: number,
): Promise<string> {
  return session(options, 'INSTREAM', async (socket, stopped) => {
    socket.write('zINSTREAM\0');
    const file = createReadStream(filePath, { highWaterMark: chunkSize });
    try {
      try {
        for await (const chunk of file) {
          if (stopped()) return false;
          const data = chunk as Buffer;
          const header = Buffer.alloc(4);
          header.writeUInt32BE(data.length, 0);
          socket.write(header);
          if (!socket.write(data)) await drained(socket);
        }
      } catch (error) {
        const failure = error as NodeJS.ErrnoException;
        throw new LocalSendError(`could not read ${filePath}: ${failure.message}`, failure.code);
      }
      if (stopped()) return false;
      socket.write(Buffer.alloc(4));
      return true;
    } finally {
      file.destroy();
    }
  });
}

/** Resolves when the socket can take more data, or when it is gone (the caller then stops). */
function drained(socket: Socket): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}
