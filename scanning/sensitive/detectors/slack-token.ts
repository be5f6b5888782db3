import { acceptedMatches, redactToPrefix, wholeMatch } from '../patterns.js';
import type { Detector, Span } from '../types.js';

/**
 * Slack tokens: bot, user, app-level-legacy, refresh and session tokens (`xoxb-`, `xoxp-`,
 * `xoxa-`, `xoxr-`, `xoxs-`, then a numeric id and at least one more dash-separated part), and
 * incoming webhook URLs (`https://hooks.slack.com/services/T…/B…/secret`), which post to a
 * channel with no other credential.
 */
const TOKEN =
  /(?<![A-Za-z0-9-])xox[bpars]-\d{6,20}-[A-Za-z0-9-]{8,230}(?![A-Za-z0-9-])|https:\/\/hooks\.slack\.com\/services\/T[A-Z0-9]{6,12}\/B[A-Z0-9]{6,12}\/[A-Za-z0-9]{20,32}(?![A-Za-z0-9])/g;

function* findSlackTokens(text: string): Generator<Span> {
  yield* acceptedMatches(TOKEN, text, wholeMatch);
}

export const slackToken: Detector = {
  type: 'slack_token',
  maxLength: 255,
  find: findSlackTokens,
  redact: redactToPrefix,
};
