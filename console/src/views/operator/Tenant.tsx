import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { useApi, type ApiAnswer } from '../../api/use-api';
import { ErrorBanner } from '../../components/ErrorBanner';
import { formText } from '../../components/format';
import { Link } from '../../components/Link';
import { SENSITIVE_TYPES, sensitiveTypeLabel } from '../../components/sensitive-types';
import { useConsole } from '../../session';
import { attempt } from './shared';
import type { TenantLimits, TenantSettings } from './types';

const LIMIT_FIELDS = [
  { name: 'requestsPerSecond', label: 'Requests per second' },
  { name: 'burst', label: 'Burst' },
  { name: 'bytesPerDay', label: 'Bytes per day' },
] as const;

type LimitName = (typeof LIMIT_FIELDS)[number]['name'];

const CATEGORIES = [
  { name: 'malware', label: 'Malware' },
  { name: 'unsafe_image', label: 'Unsafe images' },
  { name: 'unsafe_language', label: 'Unsafe language' },
  { name: 'sensitive_data', label: 'Sensitive data' },
  { name: 'file_type', label: 'True file type' },
] as const;

/**
 * One tenant's rate-limit overrides (`GET/PUT /admin/tenants/{id}/limits`) and scanning settings
 * (`GET/PUT /admin/tenants/{id}/settings`).
 */
export function TenantView({ params }: { params: Record<string, string> }) {
  const id = params.id ?? '';
  const { api } = useConsole();
  const path = { params: { path: { id } } };
  const limits = useApi(() => api.GET('/admin/tenants/{id}/limits', path), [id]);
  const settings = useApi(() => api.GET('/admin/tenants/{id}/settings', path), [id]);
  // The name is only in the list (there is no single-tenant route): a heading, nothing more.
  const tenants = useApi(() => api.GET('/admin/tenants'), []);
  const name = tenants.data?.find((tenant) => tenant.id === id)?.name;
  return (
    <section>
      <p>
        <Link to="/tenants">← Tenants</Link>
      </p>
      <h1>{name === undefined ? 'Tenant' : `Tenant ${name}`}</h1>
      <p class="status-line">
        <code>{id}</code>
      </p>
      <h2>Rate limit and quota</h2>
      <ErrorBanner message={limits.error} />
      {limits.data ? <LimitsForm id={id} limits={limits.data} onSaved={limits.reload} /> : null}
      <h2>Scanning settings</h2>
      <ErrorBanner message={settings.error} />
      {settings.data ? (
        <SettingsForm id={id} settings={settings.data} onSaved={settings.reload} />
      ) : null}
    </section>
  );
}

/** The most values of a type `classification.min_matches` may ask for (the API's bound). */
const MAX_MIN_MATCHES = 10_000;

/**
 * The allowed content types typed in the form: one media range a line (commas also separate);
 * none is null, any type. The API judges each range and says what is wrong with one.
 */
function allowedTypesValue(text: string): string[] | null {
  const ranges = text
    .split(/[\n,]/)
    .map((range) => range.trim())
    .filter((range) => range !== '');
  return ranges.length > 0 ? ranges : null;
}

/** A whole number, or null for an empty field (the default); NaN for anything else. */
function limitValue(text: string): number | null {
  const trimmed = text.trim();
  if (trimmed === '') return null;
  return /^\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
}

/**
 * A form saved by one PUT: its fields, a Save button, "saved" said politely, and in a banner the
 * form's own refusal or the API's message. `request` reads the form: a message when a field is
 * wrong, else the call to make.
 */
function SaveForm({
  label,
  what,
  request,
  onSaved,
  children,
}: {
  label: string;
  what: 'Limits' | 'Settings';
  request: (form: FormData) => string | (() => Promise<ApiAnswer<unknown>>);
  onSaved: () => void;
  children: ComponentChildren;
}) {
  const [error, setError] = useState<string | undefined>();
  const [saved, setSaved] = useState(false);
  const save = async (event: SubmitEvent) => {
    event.preventDefault();
    const call = request(new FormData(event.currentTarget as HTMLFormElement));
    if (typeof call === 'string') return setError(call);
    setSaved(false);
    const failure = await attempt(call, () => {
      setSaved(true);
      onSaved();
    });
    setError(failure);
  };
  return (
    <form aria-label={label} onSubmit={(event) => void save(event)}>
      {children}
      <p>
        <button type="submit" class="primary">
          Save {what.toLowerCase()}
        </button>{' '}
        <span aria-live="polite" class="status-line">
          {saved ? `${what} saved.` : ''}
        </span>
      </p>
      <ErrorBanner message={error} />
    </form>
  );
}

function LimitsForm({
  id,
  limits,
  onSaved,
}: {
  id: string;
  limits: TenantLimits;
  onSaved: () => void;
}) {
  const { api } = useConsole();
  const request = (form: FormData) => {
    const body = {} as Record<LimitName, number | null>;
    for (const field of LIMIT_FIELDS) {
      const value = limitValue(formText(form, field.name));
      if (Number.isNaN(value))
        return `${field.label}: a whole number (0 = no limit), or empty for the default.`;
      body[field.name] = value;
    }
    return () => api.PUT('/admin/tenants/{id}/limits', { params: { path: { id } }, body });
  };
  return (
    <SaveForm label="Rate limit and quota" what="Limits" request={request} onSaved={onSaved}>
      <p class="status-line">
        Empty = the default; 0 = no limit. Bytes scanned today: {limits.bytesUsedToday}.
      </p>
      <div class="inline-form">
        {LIMIT_FIELDS.map((field) => (
          <div class="field" key={field.name}>
            <label for={`limit-${field.name}`}>{field.label}</label>
            <input
              id={`limit-${field.name}`}
              name={field.name}
              inputMode="numeric"
              defaultValue={limits.overrides[field.name]?.toString() ?? ''}
              placeholder={`default ${limits.defaults[field.name]}`}
              aria-describedby={`limit-${field.name}-now`}
            />
            <span id={`limit-${field.name}-now`} class="status-line">
              In force: {limits[field.name] === 0 ? 'no limit' : limits[field.name]}
            </span>
          </div>
        ))}
      </div>
    </SaveForm>
  );
}

function SettingsForm({
  id,
  settings,
  onSaved,
}: {
  id: string;
  settings: TenantSettings;
  onSaved: () => void;
}) {
  const { api } = useConsole();
  const request = (form: FormData) => {
    const categories = CATEGORIES.filter((c) => form.get(`category-${c.name}`) !== null).map(
      (c) => c.name,
    );
    const threshold = Number(formText(form, 'image_threshold'));
    const types = SENSITIVE_TYPES.filter((type) => form.get(`sensitive-${type}`) !== null);
    const minMatches = Number(formText(form, 'min_matches'));
    if (categories.length === 0) return 'Choose at least one detection category.';
    if (!(threshold >= 0 && threshold <= 1)) return 'The image threshold is a number from 0 to 1.';
    if (types.length === 0) return 'Choose at least one type of sensitive data.';
    if (!(Number.isInteger(minMatches) && minMatches >= 1 && minMatches <= MAX_MIN_MATCHES))
      return `Sensitive values of a type: a whole number from 1 to ${MAX_MIN_MATCHES}.`;
    return () =>
      api.PUT('/admin/tenants/{id}/settings', {
        params: { path: { id } },
        body: {
          report_unscannable: form.get('report_unscannable') !== null,
          sanitize: form.get('sanitize') !== null,
          detection_categories: categories,
          image_threshold: threshold,
          classification: { types, min_matches: minMatches },
          allowed_content_types: allowedTypesValue(formText(form, 'allowed_content_types')),
        },
      });
  };
  return (
    <SaveForm label="Scanning settings" what="Settings" request={request} onSaved={onSaved}>
      <div class="checkbox-row">
        <input
          id="report-unscannable"
          type="checkbox"
          name="report_unscannable"
          defaultChecked={settings.report_unscannable}
        />
        <label for="report-unscannable">
          Report content that could not be fully scanned (content.unscannable.*)
        </label>
      </div>
      <div class="checkbox-row">
        <input id="sanitize" type="checkbox" name="sanitize" defaultChecked={settings.sanitize} />
        <label for="sanitize">
          Make a sanitized copy of every upload and download without findings, unless the request or
          the key says otherwise (sanitize)
        </label>
      </div>
      <fieldset>
        <legend>Detection categories</legend>
        {CATEGORIES.map((category) => (
          <div class="checkbox-row" key={category.name}>
            <input
              id={`category-${category.name}`}
              type="checkbox"
              name={`category-${category.name}`}
              defaultChecked={settings.detection_categories.includes(category.name)}
            />
            <label for={`category-${category.name}`}>{category.label}</label>
          </div>
        ))}
      </fieldset>
      <div class="inline-form">
        <div class="field">
          <label for="image-threshold">Image threshold (0 to 1)</label>
          <input
            id="image-threshold"
            name="image_threshold"
            type="number"
            min={0}
            max={1}
            step={0.01}
            defaultValue={String(settings.image_threshold)}
          />
        </div>
      </div>
      <fieldset>
        <legend>Sensitive data: the types counted</legend>
        <p class="status-line">With the Sensitive data category on.</p>
        {SENSITIVE_TYPES.map((type) => (
          <div class="checkbox-row" key={type}>
            <input
              id={`sensitive-${type}`}
              type="checkbox"
              name={`sensitive-${type}`}
              defaultChecked={settings.classification.types.includes(type)}
            />
            <label for={`sensitive-${type}`}>
              {sensitiveTypeLabel(type)} <code>{type}</code>
            </label>
          </div>
        ))}
        <div class="field">
          <label for="min-matches">Reported from this many values of a type (1 to 10,000)</label>
          <input
            id="min-matches"
            name="min_matches"
            type="number"
            min={1}
            max={MAX_MIN_MATCHES}
            step={1}
            defaultValue={String(settings.classification.min_matches)}
          />
        </div>
      </fieldset>
      <div class="field">
        <label for="allowed-types">
          Allowed content types, one a line (<code>image/*</code>, <code>application/pdf</code>);
          empty: any type
        </label>
        <textarea
          id="allowed-types"
          name="allowed_content_types"
          rows={4}
          spellcheck={false}
          aria-describedby="allowed-types-now"
          defaultValue={settings.allowed_content_types?.join('\n') ?? ''}
        />
        <p id="allowed-types-now" class="status-line">
          With the True file type category on; other types get content.type.disallowed. In force:{' '}
          {settings.allowed_content_types?.join(', ') ?? 'any type'}.
        </p>
      </div>
    </SaveForm>
  );
}
