import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';

/**
 * s3rver in its own process, for benchmarks that page ListObjectsV2: its continuation tokens use
 * DES, which Node 20's OpenSSL keeps in the legacy provider, so this process is started with
 * `--openssl-legacy-provider` (see startS3rverProcess in s3-retro.ts). Listens on 127.0.0.1 only;
 * reports `{type:'ready', port}`, answers `{type:'cpu'}` with its CPU time, exits on `{type:'stop'}`
 * or when the parent goes away, and removes its directory.
 */

type Message = { type: 'cpu' } | { type: 'stop' };

const directory = await mkdtemp(path.join(tmpdir(), 'arbiter-bench-s3rver-'));
await mkdir(directory, { recursive: true });
const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory });
const address = await server.run();

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await server.close().catch(() => undefined);
  await rm(directory, { recursive: true, force: true });
  process.exit(0);
};
process.on('message', (message: Message) => {
  if (message.type === 'stop') void stop();
  if (message.type === 'cpu') {
    const cpu = process.cpuUsage();
    process.send?.({ type: 'cpu', seconds: (cpu.user + cpu.system) / 1e6 });
  }
});
process.on('disconnect', () => void stop());
process.send?.({ type: 'ready', port: address.port });
