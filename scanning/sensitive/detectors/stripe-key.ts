import { acceptedMatches, redactToPrefix, wholeMatch } from '../patterns.js';
import type { Detector, Span } from '../types.js';

/**
 * Stripe secret and restricted keys, live or test (`sk_live_`, `rk_live_`, `sk_test_`,
 * `rk_test_`), then at least 24 letters and digits. Publishable keys (`pk_`) are meant to be
 * public and are not counted.
 */
const KEY = /(?<![A-Za-z0-9_])[sr]k_(?:live|test)_[A-Za-z0-9]{24,247}(?![A-Za-z0-9_])/g;

function* findStripeKeys(text: string): Generator<Span> {
  yield* acceptedMatches(KEY, text, wholeMatch);
}

export const stripeKey: Detector = {
  type: 'stripe_key',
  maxLength: 255,
  find: findStripeKeys,
  redact: redactToPrefix,
};
