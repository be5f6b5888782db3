import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classifyText } from '../../../scanning/sensitive/classify.js';
import { SENSITIVE_TYPES, type SensitiveType } from '../../../scanning/sensitive/types.js';
import {
  awsAccessKeys,
  awsSecretKeys,
  cardNumbers,
  emails,
  githubTokens,
  groupedInFours,
  ibans,
  jwts,
  privateKeys,
  slackTokens,
  ssns,
  stripeKeys,
} from '../../support/sensitive-values.js';

/**
 * Property: for generated valid values of every type, the value is found, counted once, and
 * nothing the classifier returns holds it whole (nor its digits, for the numeric types).
 */

/** How each type's generated value is embedded: the secret key needs its label. */
const CASES: readonly [SensitiveType, fc.Arbitrary<string>, (value: string) => string][] = [
  ['credit_card', cardNumbers, (value) => `Paid with ${value} today.`],
  [
    'credit_card',
    cardNumbers.filter((card) => card.length === 16),
    (value) => `Card ${groupedInFours(value, '-')} on file`,
  ],
  ['iban', ibans, (value) => `IBAN: ${value}`],
  ['us_ssn', ssns, (value) => `Employee ${value} joined`],
  ['us_ssn', ssns, (value) => `SSN: ${value.replace(/-/g, '')}`],
  ['email', emails, (value) => `Mail ${value} now`],
  ['aws_access_key', awsAccessKeys, (value) => `key id ${value}`],
  ['aws_secret_key', awsSecretKeys, (value) => `aws_secret_access_key = ${value}`],
  ['private_key', privateKeys, (value) => `key:\n${value}\n`],
  ['jwt', jwts, (value) => `Bearer ${value}`],
  ['github_token', githubTokens, (value) => `token ${value}`],
  ['slack_token', slackTokens, (value) => `slack ${value}`],
  ['stripe_key', stripeKeys, (value) => `stripe ${value}`],
];

describe('redaction', () => {
  it.each(CASES.map((entry, index) => [`${entry[0]} (${index})`, ...entry] as const))(
    'never returns a whole %s',
    (_name, type, values, embed) => {
      fc.assert(
        fc.property(values, (value) => {
          const result = classifyText(embed(value), { types: SENSITIVE_TYPES });
          expect(result.matches[type]).toBe(1);
          const returned = JSON.stringify(result);
          expect(returned).not.toContain(value);
          const digits = value.replace(/\D/g, '');
          if (['credit_card', 'iban', 'us_ssn'].includes(type)) {
            expect(returned.replace(/\D/g, '')).not.toContain(digits);
          }
        }),
        { seed: 1717, numRuns: 150 },
      );
    },
  );

  it('returns phone numbers as their last two digits only', () => {
    const result = classifyText('Call (202) 555-0143 or +44 20 7946 0958', {
      types: ['phone'],
    });
    expect(result.samples).toEqual({ phone: ['…43', '…58'] });
  });
});
