/** Where clamd listens: `tcp://host:port`, `unix:///path/clamd.sock` or `/path/clamd.sock`. */
export type ClamdAddress =
  { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

export function parseClamdAddress(address: string): ClamdAddress {
  const tcp = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d{1,5})\/?$/.exec(address);
  if (tcp) {
    const port = Number(tcp[2]);
    if (port < 1 || port > 65535)
      throw new Error(`clamd address ${address}: the port must be 1-65535`);
    return { kind: 'tcp', host: (tcp[1] ?? '').replace(/^\[(.*)\]$/, '$1'), port };
  }
  if (address.startsWith('unix://')) {
    const path = address.slice('unix://'.length);
    if (!path.startsWith('/'))
      throw new Error(`clamd address ${address}: use unix:///absolute/path/to/clamd.sock`);
    return { kind: 'unix', path };
  }
  if (address.startsWith('/')) return { kind: 'unix', path: address };
  throw new Error(
    `clamd address ${address}: use tcp://host:port, unix:///path/to/clamd.sock or an absolute socket path`,
  );
}

export function describeClamdAddress(address: ClamdAddress): string {
  return address.kind === 'tcp'
    ? `tcp://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`
    : `unix://${address.path}`;
}
