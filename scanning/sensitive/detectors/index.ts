import type { Detector, SensitiveType } from '../types.js';
import { awsAccessKey } from './aws-access-key.js';
import { awsSecretKey } from './aws-secret-key.js';
import { creditCard } from './credit-card.js';
import { email } from './email.js';
import { githubToken } from './github-token.js';
import { iban } from './iban.js';
import { jwt } from './jwt.js';
import { phone } from './phone.js';
import { privateKey } from './private-key.js';
import { slackToken } from './slack-token.js';
import { stripeKey } from './stripe-key.js';
import { usSsn } from './us-ssn.js';

/** Every type's detector. */
export const DETECTORS: Readonly<Record<SensitiveType, Detector>> = {
  credit_card: creditCard,
  iban,
  us_ssn: usSsn,
  email,
  phone,
  aws_access_key: awsAccessKey,
  aws_secret_key: awsSecretKey,
  private_key: privateKey,
  jwt,
  github_token: githubToken,
  slack_token: slackToken,
  stripe_key: stripeKey,
};
