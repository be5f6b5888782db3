import { useState } from 'preact/hooks';
import { errorMessage } from '../api/client';
import type { components } from '../api/schema';
import { useApi } from '../api/use-api';
import { ConfirmButton } from '../components/ConfirmButton';
import { EmptyState } from '../components/EmptyState';
import { ErrorBanner } from '../components/ErrorBanner';
import { formatBytes, formatDate } from '../components/format';
import { sensitiveTypeLabel } from '../components/sensitive-types';
import { DefinitionTable, Table, type Column } from '../components/Table';
import { useConsole } from '../session';

type RuleFile = components['schemas']['RuleFile'];
interface RuleMessage {
  code: string;
  line?: number;
  column?: number;
  message: string;
  file?: string;
}

/**
 * The account's scanning settings, as the API lets a tenant see them (the operator changes them,
 * so they are read-only here), and the account's own YARA rule files (view, edit, delete).
 */
export function SettingsView() {
  return (
    <section>
      <h1>Settings</h1>
      <ScanningSettings />
      <Rules />
    </section>
  );
}

function ScanningSettings() {
  const { api } = useConsole();
  const account = useApi(() => api.GET('/v2.2/account.json'), []);
  const settings = account.data?.settings;
  return (
    <>
      <h2>Scanning</h2>
      <p class="status-line">
        Set by the operator (the admin API): shown here read-only. A key may have its own detection
        categories (see Keys and tokens).
      </p>
      <ErrorBanner message={account.error} />
      {settings ? (
        <DefinitionTable
          caption="Scanning settings"
          entries={[
            ['Detection categories', settings.detection_categories.join(', ') || 'none'],
            ['Unsafe image threshold', String(settings.image_threshold)],
            [
              'Unscannable content',
              settings.report_unscannable
                ? 'Reported as a finding (content.unscannable)'
                : 'Not reported (opted out)',
            ],
            [
              'Sensitive data counted',
              settings.classification.types.map(sensitiveTypeLabel).join(', '),
            ],
            [
              'Sensitive data threshold',
              settings.classification.min_matches === 1
                ? 'Reported from one value of a type'
                : `Reported from ${settings.classification.min_matches} values of a type`,
            ],
            [
              'Sanitized copies',
              settings.sanitize
                ? 'Made of every upload and download without findings (a key or a request may say otherwise)'
                : 'Made when a request asks (sanitize=true) or a key is set to',
            ],
            [
              'Allowed content types',
              settings.allowed_content_types?.join(', ') ??
                'Any type (a key may have its own list)',
            ],
          ]}
        />
      ) : account.data ? (
        <EmptyState title="The server does not report settings." />
      ) : null}
    </>
  );
}

interface Editing {
  /** The file's name when it exists; undefined for a new file. */
  existing?: string;
  name: string;
  source: string;
}

function Rules() {
  const { api } = useConsole();
  const rules = useApi(() => api.GET('/v1/rules'), []);
  const [editing, setEditing] = useState<Editing | undefined>();
  const [loadError, setLoadError] = useState<string | undefined>();

  const open = async (name: string) => {
    setLoadError(undefined);
    const { data, error, response } = await api.GET('/v1/rules/{name}', {
      params: { path: { name } },
    });
    if (data) setEditing({ existing: name, name, source: data.source });
    else setLoadError(errorMessage(error, response.status));
  };

  const columns: Column<RuleFile>[] = [
    { header: 'File', cell: (file) => <code>{file.name}</code> },
    { header: 'Rules', cell: (file) => `${file.rule_count} (${file.rules.join(', ') || '—'})` },
    { header: 'Size', cell: (file) => formatBytes(file.size), wide: true },
    { header: 'Changed', cell: (file) => formatDate(file.modified_at), wide: true },
    {
      header: 'Actions',
      cell: (file) => (
        <span class="actions">
          <button type="button" onClick={() => void open(file.name)}>
            Edit
          </button>{' '}
          <ConfirmButton
            label="Delete"
            question={`Delete the rule file ${file.name}?`}
            danger
            run={async () => {
              const { error, response } = await api.DELETE('/v1/rules/{name}', {
                params: { path: { name: file.name } },
              });
              if (response.ok) {
                if (editing?.existing === file.name) setEditing(undefined);
                rules.reload();
              }
              return response.ok ? undefined : errorMessage(error, response.status);
            }}
          />
        </span>
      ),
    },
  ];
  const list = rules.data?.rules ?? [];
  return (
    <>
      <h2>YARA rules</h2>
      <p class="status-line">The account’s own rules, run on every scan beside the engines.</p>
      <ErrorBanner message={rules.error ?? loadError} />
      {list.length > 0 ? (
        <Table caption="Rule files" columns={columns} rows={list} rowKey={(file) => file.name} />
      ) : rules.data ? (
        <EmptyState title="No rule file yet." />
      ) : null}
      {editing ? (
        <RuleEditor
          key={editing.existing ?? 'new'}
          editing={editing}
          onClose={() => setEditing(undefined)}
          onSaved={() => rules.reload()}
        />
      ) : (
        <button type="button" onClick={() => setEditing({ name: '', source: '' })}>
          New rule file
        </button>
      )}
    </>
  );
}

function RuleEditor({
  editing,
  onClose,
  onSaved,
}: {
  editing: Editing;
  onClose: () => void;
  onSaved: () => void;
}) {
  const { api } = useConsole();
  const [name, setName] = useState(editing.name);
  const [source, setSource] = useState(editing.source);
  const [error, setError] = useState<string | undefined>();
  const [messages, setMessages] = useState<RuleMessage[]>([]);
  const [saved, setSaved] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  const save = async (event: SubmitEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    setMessages([]);
    setSaved(undefined);
    try {
      const {
        data,
        error: failure,
        response,
      } = await api.PUT('/v1/rules/{name}', {
        params: { path: { name } },
        body: source,
        bodySerializer: (body: string) => body,
        headers: { 'Content-Type': 'text/plain' },
      });
      if (data) {
        setSaved(
          `Saved: ${data.rule_count} rule${data.rule_count === 1 ? '' : 's'} (version ${data.version}).`,
        );
        onSaved();
      } else {
        setError(errorMessage(failure, response.status));
        setMessages(compilerMessages(failure));
      }
    } catch (failure) {
      setError(`The API could not be reached: ${String(failure)}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="panel" onSubmit={(event) => void save(event)} aria-labelledby="rule-editor">
      <h3 id="rule-editor">{editing.existing ? `Edit ${editing.existing}` : 'New rule file'}</h3>
      <label for="rule-name">File name</label>
      <input
        id="rule-name"
        value={name}
        readOnly={editing.existing !== undefined}
        required
        maxLength={128}
        placeholder="my-rules.yar"
        onInput={(event) => setName(event.currentTarget.value)}
      />
      <label for="rule-source">Source</label>
      <textarea
        id="rule-source"
        class="code-editor"
        rows={14}
        spellcheck={false}
        value={source}
        onInput={(event) => setSource(event.currentTarget.value)}
      />
      <ErrorBanner message={error} />
      {messages.length > 0 ? (
        <ul class="compiler-messages" aria-label="Compiler errors">
          {messages.map((message, index) => (
            <li key={index}>
              {message.file ? `${message.file}: ` : ''}
              {message.line !== undefined ? `line ${message.line}: ` : ''}
              {message.message} <code>{message.code}</code>
            </li>
          ))}
        </ul>
      ) : null}
      {saved ? (
        <p class="notice" role="status">
          {saved}
        </p>
      ) : null}
      <button type="submit" class="primary" disabled={busy || name.trim() === ''}>
        {busy ? 'Saving…' : 'Save'}
      </button>{' '}
      <button type="button" onClick={onClose}>
        Close
      </button>
    </form>
  );
}

/** The compiler's errors of a 400 (`errors`: code, line, message). */
function compilerMessages(body: unknown): RuleMessage[] {
  if (!body || typeof body !== 'object' || !('errors' in body) || !Array.isArray(body.errors))
    return [];
  return (body.errors as unknown[]).filter(
    (entry): entry is RuleMessage =>
      typeof entry === 'object' &&
      entry !== null &&
      typeof (entry as RuleMessage).message === 'string',
  );
}
