import { useApi } from '../api/use-api';
import { useConsole } from '../session';
import { ErrorBanner } from './ErrorBanner';

/** The names ticked in a BucketPicker of a submitted form. */
export function chosenBuckets(form: FormData): string[] {
  return form.getAll('bucket').filter((value): value is string => typeof value === 'string');
}

/** Checkboxes of the tenant's registered buckets (named `bucket` in the form). */
export function BucketPicker({ legend }: { legend: string }) {
  const { api } = useConsole();
  const buckets = useApi(() => api.GET('/v1/buckets'), []);
  const names = buckets.data?.buckets.map((bucket) => bucket.name) ?? [];
  return (
    <fieldset class="bucket-picker">
      <legend>{legend}</legend>
      <ErrorBanner message={buckets.error} />
      {buckets.data && names.length === 0 ? (
        <p class="status-line">No bucket is registered yet (PUT /v1/buckets/&#123;name&#125;).</p>
      ) : null}
      {names.map((name) => (
        <label class="check" key={name}>
          <input type="checkbox" name="bucket" value={name} /> {name}
        </label>
      ))}
    </fieldset>
  );
}
