import { useRef, useState } from 'preact/hooks';
import { errorMessage } from '../api/client';
import type { components } from '../api/schema';
import { ErrorBanner } from '../components/ErrorBanner';
import { formatBytes } from '../components/format';
import { Link } from '../components/Link';
import { useConsole } from '../session';
import { OutcomeBadge } from './Scans';

type ScanResult = components['schemas']['ScanResult'];

interface MetadataRow {
  /** Stable across edits, so an input keeps its focus while rows are added or removed. */
  id: number;
  key: string;
  value: string;
}

type Outcome =
  { kind: 'result'; result: ScanResult } | { kind: 'failed'; message: string; id?: string };

/**
 * Scan a file now (`POST /v2.2/files`): dropped onto the zone or chosen with the file picker
 * (the keyboard's way), with optional metadata and a callback URL, and a sanitized copy if asked
 * for. Shows the result with a link to the scan's page; a refusal (too large, a bad field) shows the API's own message.
 */
export function ScanUpload() {
  const { api } = useConsole();
  const [file, setFile] = useState<File | undefined>();
  const [dragging, setDragging] = useState(false);
  const [metadata, setMetadata] = useState<MetadataRow[]>([]);
  const [callback, setCallback] = useState('');
  const [sanitize, setSanitize] = useState(false);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | undefined>();
  const nextRow = useRef(1);

  const choose = (chosen: File | undefined) => {
    setFile(chosen);
    setOutcome(undefined);
  };
  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setDragging(false);
    const dropped = event.dataTransfer?.files[0];
    if (dropped) choose(dropped);
  };
  const onDragOver = (event: DragEvent) => {
    // Without this the browser would open the file in place of the console.
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = 'copy';
    setDragging(true);
  };

  const scan = async (event: SubmitEvent) => {
    event.preventDefault();
    if (!file) return;
    setBusy(true);
    setOutcome(undefined);
    try {
      setOutcome(await upload(api, file, { metadata, callback: callback.trim(), sanitize }));
    } catch (failure) {
      setOutcome({ kind: 'failed', message: `The API could not be reached: ${String(failure)}` });
    } finally {
      setBusy(false);
    }
  };

  const updateRow = (id: number, change: Partial<MetadataRow>) =>
    setMetadata((rows) => rows.map((row) => (row.id === id ? { ...row, ...change } : row)));

  return (
    <section class="scan-upload" aria-labelledby="scan-upload-title">
      <h2 id="scan-upload-title">Scan a file</h2>
      <form onSubmit={(event) => void scan(event)}>
        <div
          class={`drop-zone${dragging ? ' dragging' : ''}`}
          data-testid="drop-zone"
          onDragOver={onDragOver}
          onDragEnter={onDragOver}
          onDragLeave={() => setDragging(false)}
          onDrop={onDrop}
        >
          <p>Drop a file here, or choose one.</p>
          <label for="scan-file">File to scan</label>
          <input
            id="scan-file"
            type="file"
            onChange={(event) => choose(event.currentTarget.files?.[0])}
          />
          <p class="status-line" aria-live="polite">
            {file ? `Selected: ${file.name} (${formatBytes(file.size)})` : 'No file selected.'}
          </p>
        </div>
        <details>
          <summary>Metadata and callback (optional)</summary>
          <fieldset class="metadata-rows">
            <legend>Metadata</legend>
            {metadata.length === 0 ? <p class="status-line">No metadata.</p> : null}
            {metadata.map((row, index) => (
              <div class="metadata-row" key={row.id}>
                <div class="field">
                  <label for={`metadata-key-${row.id}`}>Key {index + 1}</label>
                  <input
                    id={`metadata-key-${row.id}`}
                    value={row.key}
                    maxLength={128}
                    onInput={(event) => updateRow(row.id, { key: event.currentTarget.value })}
                  />
                </div>
                <div class="field">
                  <label for={`metadata-value-${row.id}`}>Value {index + 1}</label>
                  <input
                    id={`metadata-value-${row.id}`}
                    value={row.value}
                    maxLength={4096}
                    onInput={(event) => updateRow(row.id, { value: event.currentTarget.value })}
                  />
                </div>
                <button
                  type="button"
                  aria-label={`Remove metadata ${index + 1}`}
                  onClick={() => setMetadata((rows) => rows.filter((other) => other.id !== row.id))}
                >
                  Remove
                </button>
              </div>
            ))}
            <button
              type="button"
              onClick={() =>
                setMetadata((rows) => [...rows, { id: nextRow.current++, key: '', value: '' }])
              }
            >
              Add metadata
            </button>
          </fieldset>
          <label for="scan-callback">Callback URL</label>
          <input
            id="scan-callback"
            type="url"
            placeholder="https://hooks.example.com/arbiter"
            value={callback}
            onInput={(event) => setCallback(event.currentTarget.value)}
          />
        </details>
        <label class="check">
          <input
            type="checkbox"
            checked={sanitize}
            onChange={(event) => setSanitize(event.currentTarget.checked)}
          />
          Sanitize: also make a copy without active content (scripts, macros, metadata), if the file
          has no findings
        </label>
        <button type="submit" class="primary" disabled={!file || busy}>
          {busy ? 'Scanning…' : 'Scan'}
        </button>
      </form>
      <div aria-live="polite">{outcome ? <UploadOutcome outcome={outcome} /> : null}</div>
    </section>
  );
}

interface UploadFields {
  metadata: MetadataRow[];
  callback: string;
  /** Asks for a sanitized copy (`sanitize=true`). */
  sanitize: boolean;
}

async function upload(
  api: ReturnType<typeof useConsole>['api'],
  file: File,
  { metadata, callback, sanitize }: UploadFields,
): Promise<Outcome> {
  const form = new FormData();
  for (const row of metadata)
    if (row.key.trim() !== '') form.append(`metadata[${row.key.trim()}]`, row.value);
  if (callback !== '') form.append('callback', callback);
  if (sanitize) form.append('sanitize', 'true');
  // The file last: the API reads the fields as they stream in, before the content.
  form.append('file', file, file.name);
  // The typed client sends a FormData as it is (the browser sets the multipart boundary) and
  // adds the CSRF header like on every change; the body's type stands for the form's fields.
  const { data, error, response } = await api.POST('/v2.2/files', {
    body: {},
    bodySerializer: () => form,
  });
  if (data) return { kind: 'result', result: data };
  const id =
    error && typeof error === 'object' && 'id' in error && typeof error.id === 'string'
      ? error.id
      : undefined;
  return { kind: 'failed', message: errorMessage(error, response.status), id };
}

function UploadOutcome({ outcome }: { outcome: Outcome }) {
  if (outcome.kind === 'failed')
    return (
      <>
        <ErrorBanner message={outcome.message} />
        {outcome.id ? (
          <p>
            <Link to={`/scans/${encodeURIComponent(outcome.id)}`}>Open the scan</Link>
          </p>
        ) : null}
      </>
    );
  const { result } = outcome;
  return (
    <div class="upload-result">
      <p>
        <OutcomeBadge scan={result} />{' '}
        {result.findings.length > 0
          ? `Findings: ${result.findings.join(', ')}`
          : result.error !== undefined
            ? `Error: ${result.error}`
            : 'No findings.'}
      </p>
      {result.sanitized ? (
        <p>
          {result.sanitized.available
            ? 'A sanitized copy was made: download it from the scan’s page.'
            : `No sanitized copy: ${result.sanitized.reason}.`}
        </p>
      ) : null}
      <p>
        <Link to={`/scans/${encodeURIComponent(result.id)}`}>
          Open the scan <code>{result.id}</code>
        </Link>
      </p>
    </div>
  );
}
