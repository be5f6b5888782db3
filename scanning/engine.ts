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

/** What an engine says about itself after loading or reloading (for the admin API). */
export interface EngineDescription {
  name: string;
  version: string;
  /** Signatures loaded, and database lines skipped or loaded with a caveat, when known. */
  signatures?: number;
  problems?: number;
  warnings?: number;
  loadMs?: number;
}

export interface Engine {
  readonly name: string;
  scan(target: ScanTarget): Promise<EngineVerdict>;
  /** Throws when the engine cannot scan right now (used by `/readyz`). */
  ping(): Promise<void>;
  /** Re-reads the signature database without dropping scans in flight. */
  reload?(): Promise<void>;
  describe?(): EngineDescription;
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
