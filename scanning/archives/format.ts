import type { UnscannableReason } from './types.js';

// The handler interfaces live in types.ts (WalkOptions names them); format handlers import them
// from here, beside the error they throw.
export type {
  EmbeddedImage,
  FormatHandler,
  MemberInfo,
  UnpackContext,
  UnpackInput,
} from './types.js';

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
