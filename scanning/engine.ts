/** What every scan engine implements; the pipeline runs several and unites their findings. */
export interface ScanTarget {
  /** A local file holding the complete content. */
  path: string;
  size: number;
}

export interface EngineVerdict {
  engine: string;
  /** Engine and signature database version, recorded with each result. */
  version: string;
  /** Finding names in Arbiter's form (`content.malicious.…`). */
  findings: string[];
}

export interface Engine {
  readonly name: string;
  scan(target: ScanTarget): Promise<EngineVerdict>;
  /** Throws when the engine cannot scan right now (used by `/readyz`). */
  ping(): Promise<void>;
  /** Re-reads the signature database without dropping scans in flight. */
  reload?(): Promise<void>;
  close(): Promise<void>;
}

export class EngineError extends Error {
  constructor(
    public readonly engine: string,
    message: string,
  ) {
    super(`${engine}: ${message}`);
    this.name = 'EngineError';
  }
}
