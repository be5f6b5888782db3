import type { components, paths } from '../api/schema';

/** A type of sensitive value the `sensitive_data` category counts (typed from the API). */
export type SensitiveType =
  paths['/admin/tenants/{id}/settings']['get']['responses'][200]['content']['application/json']['classification']['types'][number];

export type Classification = components['schemas']['Classification'];

/**
 * What each type is called on screen, in the order the API lists them. A Record, so a type the
 * API gains breaks the console's type check until it has a name here.
 */
const LABELS: Record<SensitiveType, string> = {
  credit_card: 'Payment card numbers',
  iban: 'IBANs',
  us_ssn: 'US Social Security numbers',
  email: 'E-mail addresses',
  phone: 'Phone numbers',
  aws_access_key: 'AWS access key ids',
  aws_secret_key: 'AWS secret access keys',
  private_key: 'Private keys (PEM)',
  jwt: 'JSON Web Tokens',
  github_token: 'GitHub tokens',
  slack_token: 'Slack tokens',
  stripe_key: 'Stripe secret keys',
};

export const SENSITIVE_TYPES = Object.keys(LABELS) as SensitiveType[];

/** A type's name on screen; a name the console does not know is shown as the API sent it. */
export function sensitiveTypeLabel(type: string): string {
  return (LABELS as Record<string, string | undefined>)[type] ?? type;
}
