import { useState } from 'preact/hooks';
import { errorMessage } from '../api/client';
import type { components } from '../api/schema';
import { useConsole } from '../session';
import { Badge } from './Badge';
import { ErrorBanner } from './ErrorBanner';
import { formatBytes } from './format';
import { DefinitionTable } from './Table';

type Sanitized = NonNullable<components['schemas']['ScanResult']['sanitized']>;

/**
 * How long a saved copy's object URL is kept. The browser reads the blob once the download has
 * started, which is not signalled to the page; revoking the URL at once can cancel it in some
 * browsers, and the blob only lives as long as the page anyway.
 */
const OBJECT_URL_LIFETIME_MS = 40_000;

/**
 * A result's `sanitized`: what the copy is and a button that downloads it (with the session,
 * like every call of the console), or why there is none.
 */
export function SanitizedCopy({ id, copy }: { id: string; copy: Sanitized }) {
  return (
    <>
      <h2>Sanitized copy</h2>
      {copy.available ? (
        <AvailableCopy id={id} copy={copy} />
      ) : (
        <p>
          <Badge tone="warn">not available</Badge> {`No copy was made: ${copy.reason}.`}
        </p>
      )}
    </>
  );
}

function AvailableCopy({
  id,
  copy,
}: {
  id: string;
  copy: Extract<Sanitized, { available: true }>;
}) {
  const { api } = useConsole();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const download = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const {
        data,
        error: failure,
        response,
      } = await api.GET('/v2.2/files/{id}/sanitized', {
        params: { path: { id } },
        parseAs: 'blob',
      });
      if (data) saveFile(data, attachmentName(response.headers.get('content-disposition')) ?? id);
      else setError(errorMessage(failure, response.status));
    } catch (failure) {
      setError(`The API could not be reached: ${String(failure)}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <p>
        <Badge tone="good">available</Badge> The content rebuilt without its active parts, kept as
        long as this result.
      </p>
      <DefinitionTable
        caption="Sanitized copy"
        entries={[
          ['Removed', copy.removed.length > 0 ? copy.removed.join(', ') : 'nothing'],
          ['Type', <code>{copy.content_type}</code>],
          ['Size', `${formatBytes(copy.size)} (${copy.size} bytes)`],
          ['Checksum (SHA-1)', <code>{copy.checksum}</code>],
        ]}
      />
      <p>
        <button type="button" class="primary" disabled={busy} onClick={() => void download()}>
          {busy ? 'Downloading…' : 'Download the sanitized copy'}
        </button>
      </p>
      <ErrorBanner message={error} />
    </>
  );
}

/** The file name of an `attachment; filename="…"` answer (the API keeps it to safe characters). */
function attachmentName(disposition: string | null): string | undefined {
  const name = /filename="([^"]+)"/.exec(disposition ?? '')?.[1];
  return name === undefined || name === '' ? undefined : name;
}

/** Hands a downloaded body to the browser to save, under `name`. */
function saveFile(body: Blob, name: string): void {
  const url = URL.createObjectURL(body);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), OBJECT_URL_LIFETIME_MS);
}
