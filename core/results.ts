/**
 * The processing result, in the Scanii v2.2 wire shape. Field names are the protocol's and must
 * never be renamed or dropped; new fields may be added (clients ignore unknown fields).
 */
export interface ScanResult {
  id: string;
  checksum: string | null;
  content_length: number | null;
  findings: string[];
  creation_date: string;
  content_type: string | null;
  metadata: Record<string, string>;
  /** Present only when processing failed (e.g. the location could not be downloaded). */
  error?: string;
  /** Which engines looked at the content, with their database versions. */
  engines?: Array<{ name: string; version: string }>;
}

/** What the client asked for; stored with the scan so that jobs carry only ids. */
export interface ScanRequest {
  id: string;
  tenantId: string;
  source: 'upload' | 'location';
  location?: string;
  callback?: string;
  metadata: Record<string, string>;
  creationDate: string;
  /** The client's file name for uploads, for the trace. */
  fileName?: string;
}

export type ScanState = 'pending' | 'done' | 'deleted';

export interface ScanRecord {
  request: ScanRequest;
  state: ScanState;
  result?: ScanResult;
}

export interface TraceEvent {
  timestamp: string;
  message: string;
}

export function errorResult(request: ScanRequest, message: string): ScanResult {
  return {
    id: request.id,
    checksum: null,
    content_length: null,
    findings: [],
    creation_date: request.creationDate,
    content_type: null,
    metadata: request.metadata,
    error: message,
  };
}
