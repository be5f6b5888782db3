/**
 * A document the text reader recognises but whose text it cannot take out: damaged
 * (`corrupt`), in a form it does not read (`unsupported-method`: encrypted, fast-saved Word 95)
 * or too large to read whole (`limits-exceeded`). Reported by the analyzer that asked, as
 * `content.unscannable.language.<reason>` or `content.unscannable.sensitive.<reason>`: text not
 * read is never called clean.
 */
export class DocumentTextError extends Error {
  constructor(
    readonly reason: 'corrupt' | 'unsupported-method' | 'limits-exceeded',
    message: string,
  ) {
    super(message);
  }
}
