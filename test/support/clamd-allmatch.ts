import net from 'node:net';

/**
 * Every signature a test clamd names for a file (`ALLMATCHSCAN`, so each matching signature is
 * named, not only the first), without the `.UNOFFICIAL` suffix, sorted.
 */
export function clamdAllMatches(socketPath: string, file: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(socketPath);
    let reply = '';
    socket.setEncoding('utf8');
    socket.on('data', (data: string) => (reply += data));
    socket.on('error', reject);
    socket.on('end', () => {
      const names: string[] = [];
      for (const line of reply.split('\n')) {
        const match = / (\S+) FOUND$/.exec(line.trim());
        if (match) names.push(match[1]!.replace(/\.UNOFFICIAL$/, ''));
        else if (line.includes('ERROR')) reject(new Error(line));
      }
      resolve([...new Set(names)].sort());
    });
    socket.write(`nALLMATCHSCAN ${file}\n`);
  });
}
