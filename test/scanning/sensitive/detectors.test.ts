import { describe, expect, it } from 'vitest';
import { classifyText } from '../../../scanning/sensitive/classify.js';
import { SENSITIVE_TYPES } from '../../../scanning/sensitive/types.js';
import {
  base64url,
  ibanOf,
  pemPrivateKey,
  TEST_CARDS,
  TEST_IBANS,
  TEST_PHONES,
  TEST_SSNS,
} from '../../support/sensitive-values.js';

/** Each detector on documents with a known number of values of its type, and nothing else. */

const ALL = { types: SENSITIVE_TYPES };

function matchesIn(text: string, options: Parameters<typeof classifyText>[1] = ALL) {
  return classifyText(text, options).matches;
}

/** A document of prose lines, one value per line in the given templates. */
function document(values: readonly string[], templates: readonly ((value: string) => string)[]) {
  return values
    .map((value, index) => templates[index % templates.length]!(value))
    .join('\nThe quarterly report follows the usual layout.\n');
}

const PROSE_TEMPLATES = [
  (value: string) => `Customer paid with ${value}.`,
  (value: string) => `"${value}",Berlin,2024-01-15,42.00`,
  (value: string) => `{"value": "${value}", "order": 1042}`,
  (value: string) => `<td>${value}</td>`,
  (value: string) => value,
];

describe('credit_card', () => {
  it('counts every issuer’s published test numbers, bare, spaced or dashed', () => {
    expect(matchesIn(document(TEST_CARDS, PROSE_TEMPLATES))).toEqual({
      credit_card: TEST_CARDS.length,
    });
  });

  it('tells numbers apart in a list separated by single spaces', () => {
    expect(matchesIn(`cards: ${TEST_CARDS.join(' ')}`)).toEqual({
      credit_card: TEST_CARDS.length,
    });
  });

  it('counts a card followed by its security code', () => {
    expect(matchesIn('4111 1111 1111 1111 123 exp 12/27')).toEqual({ credit_card: 1 });
  });

  it('does not count a number with a wrong check digit, an unknown issuer or mixed separators', () => {
    expect(
      matchesIn(
        [
          '4111111111111112', // Luhn fails
          '9111111111111111', // no issuer starts with 9
          '1234567812345670', // Luhn passes, no issuer
          '4111 1111-1111 1111', // mixed separators
          '411 1111 1111 11111', // not a card's grouping
          '5555555555554444000', // Mastercard's prefix at 19 digits
          '4111111111111111111111', // part of a longer run
          'ORD-4111111111111111', // part of an id
        ].join('\n'),
      ),
    ).toEqual({});
  });

  it('redacts a card to its last four digits', () => {
    expect(classifyText('4012 8888 8888 1881', ALL).samples).toEqual({ credit_card: ['…1881'] });
  });
});

describe('iban', () => {
  it('counts IBANs of ten countries, grouped or bare, a word after a grouped one left out', () => {
    const text = document(TEST_IBANS, [
      (value) => `IBAN ${value} BIC DEUTDEFF`,
      (value) => `Pay to ${value}.`,
      (value) => `${value};EUR`,
    ]);
    expect(matchesIn(text)).toEqual({ iban: TEST_IBANS.length });
  });

  it('counts two grouped IBANs separated by one space', () => {
    expect(matchesIn(`${TEST_IBANS[0]} ${TEST_IBANS[5]}`)).toEqual({ iban: 2 });
  });

  it('does not count a wrong check digit, a wrong length, an unknown country or lower case', () => {
    expect(
      matchesIn(
        [
          'DE88 3704 0044 0532 0130 00',
          'GB82WEST1234569876543',
          'GB82WEST123456987654321',
          'ZZ4512345678901234567',
          'de89370400440532013000',
          'DE89370400440532013000X',
          ibanOf('DE', '370400440532013000').replace('DE', 'AT'),
        ].join('\n'),
      ),
    ).toEqual({});
  });

  it('redacts an IBAN to its country and last four characters', () => {
    expect(classifyText('DE89 3704 0044 0532 0130 00', ALL).samples).toEqual({
      iban: ['DE…3000'],
    });
  });
});

describe('us_ssn', () => {
  it('counts dashed numbers anywhere and bare ones after a label', () => {
    const text = [
      ...TEST_SSNS.map((ssn) => `Employee ${ssn} joined`),
      'SSN: 078051120',
      '{"ssn": "219099999"}',
      'Social Security Number 123456789',
      'social_security_no=665010001',
    ].join('\n');
    expect(matchesIn(text)).toEqual({ us_ssn: TEST_SSNS.length + 4 });
  });

  it('does not count numbers the SSA never issues, nor bare ones without a label', () => {
    const text = [
      '000-12-3456',
      '666-12-3456',
      '900-12-3456',
      '999-12-3456',
      '123-00-4567',
      '123-45-0000',
      'SSN: 000123456',
      'order 123456789',
      'SSN on file. Account 123456789 opened in March, reference given on the phone',
      '123-45-67890',
      '1123-45-6789',
    ].join('\n');
    expect(matchesIn(text)).toEqual({});
  });

  it('redacts an SSN to its serial', () => {
    expect(classifyText('SSN 078-05-1120', ALL).samples).toEqual({ us_ssn: ['***-**-1120'] });
  });
});

describe('email', () => {
  it('counts addresses in prose, markup and mail headers', () => {
    const text = [
      'Write to jane.doe@example.com or to "Ops" <ops+alerts@mail.example.org>.',
      '<a href="mailto:x_y@sub.domain.co.uk">mail</a>',
      'From: a@b.co',
    ].join('\n');
    expect(matchesIn(text)).toEqual({ email: 4 });
  });

  it('does not count image names, handles, or malformed addresses', () => {
    const text = [
      '<img src="logo@2x.png"> <img srcset="hero@3x.webp 3x">',
      'follow @arbiter on social media',
      'user@localhost',
      '.dot@example.com..',
      'a..b@example.com',
      'npm install pkg@1.2.3',
    ].join('\n');
    expect(matchesIn(text)).toEqual({});
  });

  it('redacts an address to its first character and domain', () => {
    expect(classifyText('jane.doe@example.com', ALL).samples).toEqual({
      email: ['j***@example.com'],
    });
  });
});

describe('phone', () => {
  it('counts formatted numbers in the default region and international ones', () => {
    expect(matchesIn(document(TEST_PHONES, PROSE_TEMPLATES))).toEqual({
      phone: TEST_PHONES.length,
    });
  });

  it('counts a number in a field of CSV, but not digits after a thousands separator', () => {
    const csv = 'name,email,phone\r\nAda,ada@example.com,(202) 555-0143\r\nAlan,,415-555-2671\r\n';
    expect(matchesIn(csv, { types: ['phone'] })).toEqual({ phone: 2 });
    expect(matchesIn('total 1,202 555 0143 units', { types: ['phone'] })).toEqual({});
  });

  it('reads national numbers in the region the caller names', () => {
    const text = 'Berlin office: 030 901820';
    expect(matchesIn(text, { types: ['phone'], defaultRegion: 'DE' })).toEqual({ phone: 1 });
    expect(matchesIn(text, { types: ['phone'], defaultRegion: 'US' })).toEqual({});
  });

  it('does not count bare digit runs, numbers no plan allows, or other types’ digits', () => {
    const text = [
      'order 2025550143 placed at 1700000000',
      '(123) 456-7890',
      '+1 123 456 7890',
      '4012 8888 8888 1881',
      '123-45-6789',
    ].join('\n');
    expect(matchesIn(text, { types: ['phone'] })).toEqual({});
  });

  it('redacts a number to its last two digits', () => {
    expect(classifyText('+44 20 7946 0958', ALL).samples).toEqual({ phone: ['…58'] });
  });
});

describe('cloud and service credentials', () => {
  const accessKey = 'AKIAIOSFODNN7EXAMPLE';
  const secretKey = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

  it('counts AWS key ids, and secret keys beside a key id or a label', () => {
    const text = [
      `[default]\naws_access_key_id = ${accessKey}\naws_secret_access_key = ${secretKey}`,
      `{"AccessKeyId": "ASIAY34FZKBOKMUTVV7A", "SecretAccessKey": "${secretKey.replace('w', 'q')}"}`,
      `export AWS_SECRET_ACCESS_KEY=${secretKey.replace('J', 'K')}`,
    ].join('\n');
    expect(matchesIn(text)).toEqual({ aws_access_key: 2, aws_secret_key: 3 });
  });

  it('does not count 40 characters far from any AWS key, or a hex hash beside one', () => {
    const text = [
      `checksum ${secretKey}`,
      `rails secret_key_base: ${secretKey.replace('w', 'v')}`,
      'The deployment notes continue with unrelated prose. '.repeat(6),
      `${accessKey} sha1 ${'da39a3ee5e6b4b0d3255bfef95601890afd80709'}`,
      'AKIAIOSFODNN7EXAMPL AKIAIOSFODNN7EXAMPLE1 akiaiosfodnn7example',
    ].join('\n');
    expect(matchesIn(text)).toEqual({ aws_access_key: 1 });
  });

  it('counts complete PEM private key blocks, not headers alone', () => {
    const body = 'MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu'.repeat(4);
    const text = [
      pemPrivateKey('RSA ', body),
      pemPrivateKey('', body),
      pemPrivateKey('ENCRYPTED ', body),
      pemPrivateKey('OPENSSH ', body),
      'if (pem.startsWith("-----BEGIN RSA PRIVATE KEY-----")) parse(pem);',
      '-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----',
      `-----BEGIN EC PRIVATE KEY-----\n${body}\n-----END RSA PRIVATE KEY-----`,
      `-----BEGIN PUBLIC KEY-----\n${body}\n-----END PUBLIC KEY-----`,
    ].join('\n');
    expect(matchesIn(text)).toEqual({ private_key: 4 });
    expect(classifyText(pemPrivateKey('EC ', body), ALL).samples).toEqual({
      private_key: ['-----BEGIN EC PRIVATE KEY----- (redacted)'],
    });
  });

  it('counts JWTs whose header names an algorithm, signed or not', () => {
    const payload = base64url({ sub: '1234567890', name: 'John Doe' });
    const signed = `${base64url({ alg: 'HS256', typ: 'JWT' })}.${payload}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c`;
    const unsigned = `${base64url({ alg: 'none' })}.${payload}.`;
    const text = [
      `Authorization: Bearer ${signed}`,
      `token=${unsigned}&next=1`,
      `${base64url({ typ: 'JWT' })}.${payload}.abc`, // no alg
      `eyJub3QganNvbg.${payload}.abc`, // header not JSON
      `${base64url(['alg'])}.${payload}.abc`, // not an object
    ].join('\n');
    expect(matchesIn(text)).toEqual({ jwt: 2 });
  });

  it('counts GitHub, Slack and Stripe tokens in their formats', () => {
    const text = [
      `GITHUB_TOKEN=ghp_${'a1B2c3D4e5'.repeat(3)}f6G7h8`,
      `token: gho_${'Z9y8X7w6V5'.repeat(4)}`,
      `github_pat_${'11ABCDEFG'.repeat(2)}0123_${'abcdefghij'.repeat(5)}klmnopqrs`,
      `SLACK_BOT_TOKEN=xoxb-123456789012-1234567890123-${'AbCdEfGhIjKl'.repeat(2)}`,
      `xoxp-123456789012-123456789012-123456789012-${'0123456789abcdef'.repeat(2)}`,
      'https://hooks.slack.com/services/T0ABCDEFG/B0ABCDEFG/AbCdEfGhIjKlMnOpQrStUvWx',
      `STRIPE_SECRET_KEY=sk_live_${'4eC39HqLyjWDarjtT1zdp7dc'}`,
      `rk_test_${'51H8xYzAbCdEfGhIjKlMnOpQr'}`,
    ].join('\n');
    expect(matchesIn(text)).toEqual({ github_token: 3, slack_token: 3, stripe_key: 2 });
  });

  it('does not count publishable keys, short or misspelled tokens', () => {
    const text = [
      `pk_live_${'4eC39HqLyjWDarjtT1zdp7dc'}`,
      'sk_live_short',
      `ghp_${'a'.repeat(20)}`,
      `ghx_${'a'.repeat(36)}`,
      'xoxb-not-a-token',
      'https://hooks.slack.com/services/',
    ].join('\n');
    expect(matchesIn(text)).toEqual({});
  });

  it('redacts keys and tokens to their first four characters', () => {
    const result = classifyText(`${accessKey} secret_key: ${secretKey}`, ALL);
    expect(result.samples).toEqual({ aws_access_key: ['AKIA…'], aws_secret_key: ['wJal…'] });
  });
});

describe('a document holding every type', () => {
  it('counts each type exactly, samples at most three distinct per type', () => {
    const text = [
      document(TEST_CARDS, PROSE_TEMPLATES),
      document(TEST_IBANS, PROSE_TEMPLATES),
      document(TEST_SSNS, PROSE_TEMPLATES),
      document(TEST_PHONES, PROSE_TEMPLATES),
      'contact: jane.doe@example.com, john@example.org',
      'AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      pemPrivateKey('RSA ', 'A'.repeat(200)),
      `${base64url({ alg: 'HS256' })}.${base64url({ sub: 'x' })}.c2lnbmF0dXJl`,
      `ghp_${'a'.repeat(36)} xoxb-123456789012-${'a'.repeat(24)} sk_test_${'a'.repeat(24)}`,
    ].join('\n\n');
    const result = classifyText(text, ALL);
    expect(result.matches).toEqual({
      credit_card: TEST_CARDS.length,
      iban: TEST_IBANS.length,
      us_ssn: TEST_SSNS.length,
      phone: TEST_PHONES.length,
      email: 2,
      aws_access_key: 1,
      aws_secret_key: 1,
      private_key: 1,
      jwt: 1,
      github_token: 1,
      slack_token: 1,
      stripe_key: 1,
    });
    expect(result.samples.credit_card).toEqual(['…1111', '…1881', '…2222']);
    expect(result.limits).toEqual({ textTruncated: false, cappedTypes: [] });
  });

  it('counts only the types asked for', () => {
    const text = `${TEST_CARDS[0]} jane@example.com ${TEST_SSNS[0]}`;
    expect(matchesIn(text, { types: ['email', 'us_ssn'] })).toEqual({ email: 1, us_ssn: 1 });
  });
});
