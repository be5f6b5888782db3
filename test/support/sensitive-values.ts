import fc from 'fast-check';

/**
 * Valid sensitive values, built the way issuers build them (check digits computed), for the
 * classifier's tests: published test numbers, and fast-check arbitraries of many more.
 */

/** The issuers' published test card numbers, as printed. */
export const TEST_CARDS = [
  '4111111111111111', // Visa
  '4012 8888 8888 1881', // Visa
  '4222222222222', // Visa, 13 digits
  '5555-5555-5555-4444', // Mastercard
  '5105105105105100', // Mastercard
  '2223003122003222', // Mastercard, 2-series
  '3782 822463 10005', // American Express
  '371449635398431', // American Express
  '6011111111111117', // Discover
  '6011 0009 9013 9424', // Discover
  '3530111333300000', // JCB
  '3566-0020-2036-0505', // JCB
  '30569309025904', // Diners Club, 14 digits
  '3852 000002 3237', // Diners Club, 4-6-4
  '6200000000000005', // UnionPay
  '6205500000000000004', // UnionPay, 19 digits
];

/** IBANs of several countries, as their banks print them or bare. */
export const TEST_IBANS = [
  'DE89 3704 0044 0532 0130 00',
  'GB82WEST12345698765432',
  'FR14 2004 1010 0505 0001 3M02 606',
  'NL91ABNA0417164300',
  'ES9121000418450200051332',
  'IT60 X054 2811 1010 0000 0123 456',
  'BE68539007547034',
  'CH93 0076 2011 6238 5295 7',
  'NO9386011117947',
  'PL61109010140000071219812874',
];

export const TEST_SSNS = ['123-45-6789', '078-05-1120', '219-09-9999', '665-01-0001'];

export function luhnCheckDigit(body: string): string {
  let sum = 0;
  for (let index = 0; index < body.length; index += 1) {
    let digit = Number(body[body.length - 1 - index]);
    if (index % 2 === 0) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return String((10 - (sum % 10)) % 10);
}

const ISSUER_SHAPES: readonly { prefix: string; length: number }[] = [
  { prefix: '4', length: 16 },
  { prefix: '4', length: 13 },
  { prefix: '51', length: 16 },
  { prefix: '2720', length: 16 },
  { prefix: '34', length: 15 },
  { prefix: '6011', length: 16 },
  { prefix: '65', length: 19 },
  { prefix: '3530', length: 16 },
  { prefix: '36', length: 14 },
  { prefix: '62', length: 17 },
];

const digitString = (length: number) =>
  fc
    .array(fc.integer({ min: 0, max: 9 }), { minLength: length, maxLength: length })
    .map((digits) => digits.join(''));

/** Card numbers of every issuer, Luhn-valid, bare. */
export const cardNumbers = fc.constantFrom(...ISSUER_SHAPES).chain(({ prefix, length }) =>
  digitString(length - prefix.length - 1).map((middle) => {
    const body = prefix + middle;
    return body + luhnCheckDigit(body);
  }),
);

/** A 16-digit card printed in fours with the given separator. */
export function groupedInFours(card: string, separator: ' ' | '-'): string {
  return card.match(/.{1,4}/g)!.join(separator);
}

function mod97(text: string): number {
  let remainder = 0;
  for (const character of text) {
    const code = character.charCodeAt(0);
    const value = code >= 65 ? code - 55 : code - 48;
    remainder = value >= 10 ? (remainder * 100 + value) % 97 : (remainder * 10 + value) % 97;
  }
  return remainder;
}

/** An IBAN of the country whose account part is `bban`, with its check digits computed. */
export function ibanOf(country: string, bban: string): string {
  const check = 98 - mod97(`${bban}${country}00`);
  return `${country}${String(check).padStart(2, '0')}${bban}`;
}

const IBAN_SHAPES = [
  { country: 'DE', bban: 18 },
  { country: 'GB', bban: 18 },
  { country: 'FR', bban: 23 },
  { country: 'NO', bban: 11 },
  { country: 'MT', bban: 27 },
];

export const ibans = fc
  .constantFrom(...IBAN_SHAPES)
  .chain(({ country, bban }) => digitString(bban).map((account) => ibanOf(country, account)));

export const ssns = fc
  .tuple(
    fc.integer({ min: 1, max: 899 }).filter((area) => area !== 666),
    fc.integer({ min: 1, max: 99 }),
    fc.integer({ min: 1, max: 9999 }),
  )
  .map(
    ([area, group, serial]) =>
      `${String(area).padStart(3, '0')}-${String(group).padStart(2, '0')}-${String(serial).padStart(4, '0')}`,
  );

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const UPPER_AND_DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export const charsOf = (alphabet: string, length: number) =>
  fc
    .array(fc.constantFrom(...alphabet), { minLength: length, maxLength: length })
    .map((characters) => characters.join(''));

export const awsAccessKeys = fc
  .tuple(fc.constantFrom('AKIA', 'ASIA'), charsOf(UPPER_AND_DIGITS, 16))
  .map(([prefix, rest]) => prefix + rest);

/** Secret keys mixing cases and digits, as AWS generates them. */
export const awsSecretKeys = charsOf(`${ALPHANUMERIC}/+`, 37).map((rest) => `aB3${rest}`);

export const githubTokens = fc.oneof(
  fc
    .tuple(fc.constantFrom('ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_'), charsOf(ALPHANUMERIC, 36))
    .map(([prefix, rest]) => prefix + rest),
  fc
    .tuple(charsOf(ALPHANUMERIC, 22), charsOf(ALPHANUMERIC, 59))
    .map(([first, second]) => `github_pat_${first}_${second}`),
);

export const slackTokens = fc.oneof(
  fc
    .tuple(
      fc.constantFrom('xoxb', 'xoxp', 'xoxa', 'xoxr', 'xoxs'),
      digitString(12),
      charsOf(ALPHANUMERIC, 24),
    )
    .map(([prefix, id, secret]) => `${prefix}-${id}-${secret}`),
  fc
    .tuple(charsOf(UPPER_AND_DIGITS, 8), charsOf(UPPER_AND_DIGITS, 8), charsOf(ALPHANUMERIC, 24))
    .map(([team, bot, secret]) => `https://hooks.slack.com/services/T${team}/B${bot}/${secret}`),
);

export const stripeKeys = fc
  .tuple(fc.constantFrom('sk_live_', 'rk_live_', 'sk_test_', 'rk_test_'), charsOf(ALPHANUMERIC, 24))
  .map(([prefix, rest]) => prefix + rest);

export function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export const jwts = fc
  .tuple(
    fc.constantFrom('HS256', 'RS256', 'ES384', 'none'),
    fc.string({ minLength: 1, maxLength: 20 }),
    charsOf(ALPHANUMERIC, 43),
  )
  .map(
    ([alg, subject, signature]) =>
      `${base64url({ alg, typ: 'JWT' })}.${base64url({ sub: subject })}.${alg === 'none' ? '' : signature}`,
  );

/** A PEM block of the given kind around base64 that looks like key material. */
export function pemPrivateKey(kind: string, body: string): string {
  const lines = body.match(/.{1,64}/g)!.join('\n');
  return `-----BEGIN ${kind}PRIVATE KEY-----\n${lines}\n-----END ${kind}PRIVATE KEY-----`;
}

export const privateKeys = fc
  .tuple(fc.constantFrom('RSA ', 'EC ', 'OPENSSH ', ''), charsOf(`${ALPHANUMERIC}+/`, 600))
  .map(([kind, body]) => pemPrivateKey(kind, body));

export const emails = fc
  .tuple(
    charsOf('abcdefghijklmnopqrstuvwxyz0123456789', 8),
    fc.constantFrom('example.com', 'mail.example.org', 'b.co'),
  )
  .map(([local, domain]) => `${local}@${domain}`);

/** US numbers in the 555-01xx range kept for fiction, and other regions' formatted numbers. */
export const TEST_PHONES = [
  '(202) 555-0143',
  '+1 650 253 0000',
  '415-555-2671',
  '+44 20 7946 0958',
  '+49 30 901820',
  '+33 1 42 68 53 00',
];
