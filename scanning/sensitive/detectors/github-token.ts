import { acceptedMatches, redactToPrefix, wholeMatch } from '../patterns.js';
import type { Detector, Span } from '../types.js';

/**
 * GitHub tokens: classic personal access tokens and OAuth, user-to-server, server-to-server and
 * refresh tokens (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, then 36 or more letters and digits;
 * GitHub allows them to grow to 255 characters) and fine-grained personal access tokens
 * (`github_pat_`, 22 characters, `_`, 59 characters).
 */
const TOKEN =
  /(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})(?![A-Za-z0-9_])/g;

function* findGithubTokens(text: string): Generator<Span> {
  yield* acceptedMatches(TOKEN, text, wholeMatch);
}

export const githubToken: Detector = {
  type: 'github_token',
  maxLength: 255,
  find: findGithubTokens,
  redact: redactToPrefix,
};
