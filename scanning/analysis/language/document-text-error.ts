/**
 * A document the language reader recognises but whose text it cannot take out: damaged
 * (`corrupt`) or in a form it does not read (`unsupported-method`: encrypted, fast-saved Word 95).
 * Reported as `content.unscannable.language.<reason>`: text not read is never called clean.
 */
export class DocumentTextError extends Error {
  constructor(
    readonly reason: 'corrupt' | 'unsupported-method',
    message: string,
  ) {
    super(message);
  }
}
