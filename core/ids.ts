import { randomBytes } from 'node:crypto';

/** Result, token and tenant ids: 32 lowercase hex characters, as Scanii clients expect. */
export const newId = (): string => randomBytes(16).toString('hex');

/** API keys share the id shape (Scanii keys are 32 hex characters). */
export const newApiKey = (): string => randomBytes(16).toString('hex');

/** API secrets carry 192 bits of entropy, which is what lets us store a fast hash of them. */
export const newApiSecret = (): string => randomBytes(24).toString('base64url');

/** Standard Webhooks secrets: `whsec_` + base64 of 32 random bytes. */
export const newSigningSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`;

export const isId = (value: string): boolean => /^[0-9a-f]{32}$/.test(value);
