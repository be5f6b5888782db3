import type { UnscannableReason } from './types.js';

/** Thrown by a handler for a precise `content.unscannable.<reason>`. */
export class UnpackError extends Error {
  constructor(
    readonly reason: UnscannableReason,
    message: string,
    readonly method?: string,
  ) {
    super(message);
    this.name = 'UnpackError';
  }
}
