/**
 * Arbiter's webhook receiver kit: verify a callback delivery in one call, or with an express
 * middleware. See docs/webhooks.md, and webhooks/examples/cms for a whole receiving app.
 */
export {
  MemoryReplayStore,
  WebhookVerificationError,
  arbiterWebhook,
  verifyDelivery,
  verifyDeliveryDetails,
  type ArbiterResult,
  type ArbiterWebhookOptions,
  type HeaderSource,
  type ReplayStore,
  type VerifiedDelivery,
  type VerifyOptions,
  type WebhookFailureReason,
} from './receiver.js';
export { signWebhook, webhookIdFor, type WebhookHeaders } from './signing.js';
