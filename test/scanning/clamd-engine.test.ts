import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net, { type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { ClamdEngine } from '../../scanning/clamd-engine.js';
import { parseClamdAddress } from '../../scanning/clamd/address.js';
import { clamdFinding, parseScanReply } from '../../scanning/clamd/replies.js';
import { EICAR } from '../../scanning/eicar.js';
import { EngineError } from '../../scanning/engine.js';
import { EICAR_FINDING } from '../../scanning/findings.js';
import { startTestClamd, type TestClamd } from '../support/clamd.js';
import {
  BODY_SIGNATURES,
  HASH_SAMPLES,
  MIB,
  SeededRandom,
  generateCorpus,
  hashSample,
  matchBytes,
  verdictClass,
  writeCorpus,
  type BodySignature,
} from '../support/corpus.js';

const logger = createLogger('silent');
const finding = (signatureName: string) =>
  /eicar/i.test(signatureName) ? EICAR_FINDING : `content.malicious.${signatureName.toLowerCase()}`;

/** A file holding one instance of `signature`, placed where its offset says. */
function instanceOf(signature: BodySignature, rng: SeededRandom): Buffer {
  const match = matchBytes(signature.tokens, rng);
  const { offset } = signature;
  if (offset === '*') return Buffer.concat([rng.bytes(777), match, rng.bytes(555)]);
  if (typeof offset === 'number') return Buffer.concat([rng.bytes(offset), match, rng.bytes(100)]);
  return Buffer.concat([rng.bytes(1000), match, rng.bytes(offset.eof - match.length)]);
}

describe('the clamd engine against a real clamd', () => {
  let clamd: TestClamd;
  let dir: string;
  const engines: ClamdEngine[] = [];
  const files = new Map<string, { path: string; size: number }>();

  const engineFor = async (
    address: string,
    options: { poolSize?: number; timeoutMs?: number } = {},
  ) => {
    const engine = await ClamdEngine.create(
      { address, timeoutMs: options.timeoutMs ?? 10_000, poolSize: options.poolSize ?? 4 },
      logger,
    );
    engines.push(engine);
    return engine;
  };
  const put = async (name: string, content: Buffer) => {
    const file = path.join(dir, name.replace(/[^A-Za-z0-9.-]/g, '_'));
    await writeFile(file, content);
    const target = { path: file, size: content.length };
    files.set(name, target);
    return target;
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-clamd-test-'));
    clamd = await startTestClamd({ tcp: true, streamMaxLength: '8M' });
    const rng = new SeededRandom('clamd-engine-test');
    await put('clean', rng.bytes(200_000));
    await put('empty', Buffer.alloc(0));
    await put('eicar', Buffer.from(EICAR));
    await put('too-large', rng.bytes(12 * MIB));
    for (const signature of BODY_SIGNATURES) await put(signature.name, instanceOf(signature, rng));
    for (const sample of HASH_SAMPLES) await put(sample.name, hashSample(sample.id));
  });
  afterAll(async () => {
    await Promise.all(engines.map((engine) => engine.close()));
    await clamd?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe.each([
    ['a unix socket', () => clamd.unixAddress],
    ['TCP', () => clamd.tcpAddress ?? ''],
  ])('over %s', (_transport, address) => {
    let engine: ClamdEngine;
    beforeAll(async () => {
      engine = await engineFor(address());
    });

    it('answers PING and records the clamd version with each verdict', async () => {
      await engine.ping();
      const verdict = await engine.scan(files.get('clean')!);
      expect(verdict.engine).toBe('clamd');
      expect(verdict.version).toMatch(/^ClamAV \d+\.\d+\.\d+/);
      expect(verdict.findings).toEqual([]);
      expect(engine.currentVersion).toBe(verdict.version);
    });

    it('scans an empty file as clean', async () => {
      expect((await engine.scan(files.get('empty')!)).findings).toEqual([]);
    });

    it('detects every signature of the fixture folder under its Arbiter finding name', async () => {
      for (const signature of BODY_SIGNATURES) {
        const verdict = await engine.scan(files.get(signature.name)!);
        expect(verdict.findings, `${signature.name} (${signature.exercises})`).toEqual([
          finding(signature.name),
        ]);
      }
      for (const sample of HASH_SAMPLES) {
        const verdict = await engine.scan(files.get(sample.name)!);
        const expected = sample.sizeField === 'wrong' ? [] : [finding(sample.name)];
        expect(verdict.findings, `${sample.name} (${sample.exercises})`).toEqual(expected);
      }
      expect((await engine.scan(files.get('eicar')!)).findings).toEqual([EICAR_FINDING]);
    });

    it('reports a stream over StreamMaxLength as a permanent engine error, never as clean', async () => {
      // clamd answers and closes while the stream is still arriving, so its reply can be lost
      // to the failed write (a few times in a hundred): every attempt must still name the limit.
      for (let attempt = 0; attempt < 40; attempt++) {
        const outcome = await engine.scan(files.get('too-large')!).then(
          (verdict) => verdict,
          (error: unknown) => error,
        );
        expect(outcome).toBeInstanceOf(EngineError);
        // clamd's reply, or (when it was lost three times) the same conclusion drawn from clamd
        // closing mid-stream each time.
        expect((outcome as EngineError).message).toMatch(/size limit exceeded/);
        expect((outcome as EngineError).retryable).toBe(false);
      }
      // The engine is still usable afterwards.
      expect((await engine.scan(files.get('eicar')!)).findings).toEqual([EICAR_FINDING]);
    });
  });

  it('gives every corpus item its labelled verdict class', async () => {
    const engine = await engineFor(clamd.unixAddress, { poolSize: 4 });
    const corpusDir = path.join(dir, 'corpus');
    const items = await writeCorpus(corpusDir, await generateCorpus());
    const outcomes = await Promise.all(
      items.map(async (item) => {
        const verdict = await engine.scan({ path: item.path, size: item.content.length });
        return { item, findings: verdict.findings };
      }),
    );
    const wrong = outcomes
      .filter(
        ({ item, findings }) => verdictClass(findings) !== (item.clamdExpected ?? item.expected),
      )
      .map(
        ({ item, findings }) =>
          `${item.name}: expected ${item.clamdExpected ?? item.expected}, got [${findings.join(', ')}]`,
      );
    expect(wrong).toEqual([]);
    for (const { item, findings } of outcomes) {
      // clamd reports one name per file; when the item says which, it must be one of them.
      if (item.findings && item.expected === 'infected')
        expect(item.findings, item.name).toContain(findings[0]);
    }
    const byName = new Map(outcomes.map(({ item, findings }) => [item.name, findings]));
    expect(byName.get('unscannable/encrypted.zip')).toEqual(['content.unscannable.encrypted']);
    expect(byName.get('unscannable/zip-bomb.zip')).toEqual(['content.unscannable.limits-exceeded']);
    expect(byName.get('unscannable/clean-depth-20.zip')).toEqual([
      'content.unscannable.limits-exceeded',
    ]);
  });

  it('queues scans beyond the pool size instead of failing them', async () => {
    const engine = await engineFor(clamd.unixAddress, { poolSize: 2 });
    const names = ['clean', 'eicar', ...BODY_SIGNATURES.map((s) => s.name)];
    const verdicts = await Promise.all(names.map((name) => engine.scan(files.get(name)!)));
    expect(verdicts.map((v) => v.findings)).toEqual(
      names.map((name) => (name === 'clean' ? [] : [finding(name === 'eicar' ? 'EICAR' : name)])),
    );
  });

  it('picks up new signatures on reload', async () => {
    const engine = await engineFor(clamd.unixAddress);
    const marker = Buffer.from('ARBITER-RELOAD-TEST-MARKER-7f3a', 'latin1');
    const target = await put('reload-marker', Buffer.concat([Buffer.alloc(100, 0x20), marker]));
    expect((await engine.scan(target)).findings).toEqual([]);
    await writeFile(
      path.join(clamd.databaseDir, 'extra.ndb'),
      `Arbiter.Test.Reloaded-NDB:0:*:${marker.toString('hex')}\n`,
    );
    await engine.reload();
    const deadline = Date.now() + 10_000;
    let findings: string[] = [];
    while (Date.now() < deadline) {
      findings = (await engine.scan(target)).findings;
      if (findings.length > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(findings).toEqual(['content.malicious.arbiter.test.reloaded-ndb']);
    expect(engine.currentVersion).toMatch(/^ClamAV /);
  });

  it('fails PING and scans while clamd is down, and recovers when it is back', async () => {
    const unix = await engineFor(clamd.unixAddress);
    const tcp = await engineFor(clamd.tcpAddress ?? '');
    await clamd.kill();
    for (const engine of [unix, tcp]) {
      await expect(engine.ping()).rejects.toBeInstanceOf(EngineError);
      await expect(engine.scan(files.get('eicar')!)).rejects.toBeInstanceOf(EngineError);
      await expect(engine.scan(files.get('clean')!)).rejects.toThrow(/could not connect to clamd/);
    }
    await clamd.start();
    for (const engine of [unix, tcp]) {
      await engine.ping();
      expect((await engine.scan(files.get('eicar')!)).findings).toEqual([EICAR_FINDING]);
    }
  });

  it('survives a clamd restart between scans', async () => {
    const engine = await engineFor(clamd.unixAddress);
    expect((await engine.scan(files.get('clean')!)).findings).toEqual([]);
    await clamd.restart();
    expect((await engine.scan(files.get('eicar')!)).findings).toEqual([EICAR_FINDING]);
  });
});

describe('the clamd engine against misbehaving servers', () => {
  let dir: string;
  let big: { path: string; size: number };
  let small: { path: string; size: number };
  const servers: Server[] = [];

  /** A loopback server whose connections `onConnection` handles; returns its tcp:// address. */
  const fakeClamd = async (onConnection: (socket: Socket) => void) => {
    const sockets = new Set<Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
      onConnection(socket);
    });
    server.on('close', () => sockets.forEach((s) => s.destroy()));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    servers.push(server);
    (server as Server & { sockets?: Set<Socket> }).sockets = sockets;
    return `tcp://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const engineAt = (address: string, timeoutMs = 300, poolSize = 2) =>
    ClamdEngine.create({ address, timeoutMs, poolSize }, logger);

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-fake-clamd-'));
    big = { path: path.join(dir, 'big'), size: 8 * MIB };
    small = { path: path.join(dir, 'small'), size: 1000 };
    await writeFile(big.path, new SeededRandom('big').bytes(big.size));
    await writeFile(small.path, new SeededRandom('small').bytes(small.size));
  });
  afterAll(async () => {
    for (const server of servers) {
      for (const socket of (server as Server & { sockets?: Set<Socket> }).sockets ?? [])
        socket.destroy();
      server.close();
    }
    await rm(dir, { recursive: true, force: true });
  });

  /** Calls `done` once the INSTREAM framing (starting with `initial`) reaches its zero-length terminator. */
  const onStreamEnd = (socket: Socket, initial: Buffer, done: () => void) => {
    let buffered = initial;
    const consume = () => {
      while (buffered.length >= 4) {
        const length = buffered.readUInt32BE(0);
        if (length === 0) return done();
        if (buffered.length < 4 + length) return;
        buffered = buffered.subarray(4 + length);
      }
    };
    socket.on('data', (data: Buffer) => {
      buffered = Buffer.concat([buffered, data]);
      consume();
    });
    consume();
  };

  /** Answers VERSION and PING like clamd; INSTREAM per `onStream` (given the bytes after the command). */
  const scripted = (onStream: (socket: Socket, rest: Buffer) => void) =>
    fakeClamd((socket) => {
      let seen = Buffer.alloc(0);
      const listener = (data: Buffer) => {
        seen = Buffer.concat([seen, data]);
        const text = seen.toString('latin1');
        if (text.startsWith('zVERSION\0')) socket.end('ClamAV 1.4.6/27000/Fake\0');
        else if (text.startsWith('zPING\0')) socket.end('PONG\0');
        else if (text.startsWith('zINSTREAM\0')) {
          socket.off('data', listener);
          onStream(socket, seen.subarray('zINSTREAM\0'.length));
        }
      };
      socket.on('data', listener);
    });

  it('times out on a server that accepts and never answers', async () => {
    const address = await fakeClamd(() => undefined);
    const engine = await engineAt(address);
    const started = Date.now();
    await expect(engine.scan(small)).rejects.toThrow(/silent for 300 ms/);
    await expect(engine.ping()).rejects.toBeInstanceOf(EngineError);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('times out when the server stops reading the stream (backpressure, no reply)', async () => {
    const address = await scripted((socket) => socket.pause());
    const engine = await engineAt(address);
    const started = Date.now();
    await expect(engine.scan(big)).rejects.toThrow(EngineError);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('reads a reply sent before the stream ended, even though clamd then closes', async () => {
    const address = await scripted((socket) => {
      socket.end('INSTREAM size limit exceeded. ERROR\0');
    });
    const engine = await engineAt(address, 5000);
    await expect(engine.scan(big)).rejects.toThrow(
      /clamd could not scan the content: INSTREAM size limit exceeded|closed the connection without a reply/,
    );
  });

  it('treats a dropped connection without a reply as a transient error, after asking twice more', async () => {
    // The whole stream arrives, then the connection drops: clamd died while scanning.
    let sessions = 0;
    const address = await scripted((socket, rest) => {
      sessions += 1;
      onStreamEnd(socket, rest, () => socket.destroy());
    });
    const engine = await engineAt(address, 5000);
    const outcome = await engine.scan(big).catch((error: unknown) => error);
    expect(outcome).toBeInstanceOf(EngineError);
    expect((outcome as EngineError).message).toMatch(/closed the connection without a reply/);
    expect((outcome as EngineError).retryable).toBe(true);
    expect(sessions).toBe(3);
  });

  it('reads a stream cut off midway three times as over StreamMaxLength: a permanent error', async () => {
    // What clamd does past its limit, with the reply lost each time to the failed write.
    let sessions = 0;
    const address = await scripted((socket, rest) => {
      sessions += 1;
      let taken = rest.length;
      socket.on('data', (data: Buffer) => {
        taken += data.length;
        if (taken >= MIB) socket.destroy();
      });
    });
    const engine = await engineAt(address, 5000);
    const outcome = await engine.scan(big).catch((error: unknown) => error);
    expect(outcome).toBeInstanceOf(EngineError);
    expect((outcome as EngineError).message).toMatch(
      /stopped reading the stream before its end 3 times in a row.*StreamMaxLength/,
    );
    expect((outcome as EngineError).retryable).toBe(false);
    expect(sessions).toBe(3);
  });

  it('asks again when a reply was lost, and records the answer of the next session', async () => {
    // The first session is cut while the stream is still being written, as when clamd's
    // over-limit answer goes unread; the second answers as clamd does.
    let sessions = 0;
    const address = await scripted((socket, rest) => {
      sessions += 1;
      if (sessions === 1) return socket.destroy();
      onStreamEnd(socket, rest, () => socket.end('INSTREAM size limit exceeded. ERROR\0'));
    });
    const engine = await engineAt(address, 5000);
    const outcome = await engine.scan(big).catch((error: unknown) => error);
    expect(outcome).toBeInstanceOf(EngineError);
    expect((outcome as EngineError).message).toMatch(/INSTREAM size limit exceeded/);
    expect((outcome as EngineError).retryable).toBe(false);
    expect(sessions).toBe(2);
  });

  it('treats an unexpected reply as an error', async () => {
    const address = await scripted((socket) => socket.end('stream: something odd\0'));
    const engine = await engineAt(address, 5000);
    await expect(engine.scan(small)).rejects.toThrow(/unexpected reply/);
  });

  it('maps heuristic names to unscannable findings and records the version', async () => {
    const replies = [
      'stream: Heuristics.Encrypted.Zip FOUND',
      'stream: Heuristics.Limits.Exceeded.MaxScanSize FOUND',
      'stream: Heuristics.Broken.Executable FOUND',
      'stream: Win.Test.EICAR_HDB-1 FOUND',
      'stream: Some.Bad_Thing.UNOFFICIAL FOUND',
    ];
    let next = 0;
    const address = await scripted((socket, rest) => {
      const reply = replies[next++ % replies.length] ?? '';
      onStreamEnd(socket, rest, () => socket.end(`${reply}\0`));
    });
    const engine = await engineAt(address, 5000, 1);
    const findings = [];
    for (let i = 0; i < replies.length; i++) {
      const verdict = await engine.scan(small);
      expect(verdict.version).toBe('ClamAV 1.4.6/27000/Fake');
      findings.push(...verdict.findings);
    }
    expect(findings).toEqual([
      'content.unscannable.encrypted',
      'content.unscannable.limits-exceeded',
      'content.unscannable.corrupt',
      EICAR_FINDING,
      'content.malicious.some.bad-thing',
    ]);
  });

  it('never runs more INSTREAM sessions at once than the pool size', async () => {
    let active = 0;
    let peak = 0;
    const address = await scripted((socket, rest) => {
      active += 1;
      peak = Math.max(peak, active);
      onStreamEnd(socket, rest, () =>
        setTimeout(() => {
          active -= 1;
          socket.end('stream: OK\0');
        }, 40),
      );
    });
    const engine = await engineAt(address, 5000, 3);
    const verdicts = await Promise.all(Array.from({ length: 12 }, () => engine.scan(small)));
    expect(verdicts.every((v) => v.findings.length === 0)).toBe(true);
    expect(peak).toBe(3);
  });

  it('fails to connect to a socket path nobody listens on', async () => {
    const engine = await engineAt(`unix://${path.join(dir, 'nobody.sock')}`);
    await expect(engine.ping()).rejects.toThrow(/could not connect to clamd at unix:.*ENOENT/);
    await expect(engine.scan(small)).rejects.toBeInstanceOf(EngineError);
  });
});

describe('clamd replies and addresses', () => {
  it('parses scan replies', () => {
    expect(parseScanReply('stream: OK')).toEqual({ kind: 'clean' });
    expect(parseScanReply('stream: Eicar-Signature FOUND')).toEqual({
      kind: 'found',
      name: 'Eicar-Signature',
    });
    expect(parseScanReply('3: stream: OK')).toEqual({ kind: 'clean' });
    expect(parseScanReply('INSTREAM size limit exceeded. ERROR')).toEqual({
      kind: 'error',
      message: 'INSTREAM size limit exceeded.',
    });
    expect(parseScanReply("stream: Can't allocate memory ERROR").kind).toBe('error');
    expect(parseScanReply('UNKNOWN COMMAND').kind).toBe('error');
  });

  it('maps names: .UNOFFICIAL dropped, EICAR unified, heuristics unscannable', () => {
    expect(clamdFinding('Arbiter.Test.Range-NDB.UNOFFICIAL')).toBe(
      'content.malicious.arbiter.test.range-ndb',
    );
    expect(clamdFinding('Arbiter.Test.EICAR-NDB.UNOFFICIAL')).toBe(EICAR_FINDING);
    expect(clamdFinding('Heuristics.Encrypted.PDF')).toBe('content.unscannable.encrypted');
    expect(clamdFinding('Heuristics.Limits.Exceeded.MaxRecursion')).toBe(
      'content.unscannable.limits-exceeded',
    );
    expect(clamdFinding('Heuristics.Broken.Media.PNG.EOFReadingChunk')).toBe(
      'content.unscannable.corrupt',
    );
    expect(clamdFinding('Heuristics.Phishing.Email.SpoofedDomain')).toBe(
      'content.malicious.heuristics.phishing.email.spoofeddomain',
    );
  });

  it('parses the three address forms', () => {
    expect(parseClamdAddress('tcp://clamav:3310')).toEqual({
      kind: 'tcp',
      host: 'clamav',
      port: 3310,
    });
    expect(parseClamdAddress('unix:///run/clamav/clamd.ctl')).toEqual({
      kind: 'unix',
      path: '/run/clamav/clamd.ctl',
    });
    expect(parseClamdAddress('/run/clamav/clamd.ctl')).toEqual({
      kind: 'unix',
      path: '/run/clamav/clamd.ctl',
    });
    expect(() => parseClamdAddress('clamav:3310')).toThrow();
  });
});
