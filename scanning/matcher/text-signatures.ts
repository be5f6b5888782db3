import type { LogicalSignature } from '../signatures/ldb.js';
import type { BodySignature, HexElement, PatternByte } from '../signatures/ndb.js';
import { NORMALISED_TEXT_TARGET } from '../file-type.js';
import { normalisedByte } from './text-normalise.js';

/**
 * The signatures worth matching against the normalised copy of text: target 0 and 7 signatures
 * every fixed byte of which can occur in it (normalised text has no upper-case letters, control
 * characters, NULs or bytes from 0x80 up). Most of a real database is binary and can never match
 * there, so the copy is matched by a much smaller matcher, or not made at all.
 */
export function bodiesForText(bodies: BodySignature[]): BodySignature[] {
  return bodies.filter(
    (body) =>
      (body.targetType === 0 || body.targetType === NORMALISED_TEXT_TARGET) &&
      elementsFitText(body.elements),
  );
}

/**
 * Logical signatures of target 0 or 7 that could hold on normalised text: one with a
 * subsignature that could match there, or whose expression holds with none matched (`0=0`).
 */
export function logicalForText(
  signatures: LogicalSignature[],
  holdsWithoutMatches: (signature: LogicalSignature) => boolean,
): LogicalSignature[] {
  return signatures.filter(
    (signature) =>
      (signature.target === 0 || signature.target === NORMALISED_TEXT_TARGET) &&
      (holdsWithoutMatches(signature) ||
        signature.subsignatures.some((sub) =>
          sub.forms.some((form) => elementsFitText(form.elements)),
        )),
  );
}

const FITS = Uint8Array.from({ length: 256 }, (_, byte) => (normalisedByte(byte) ? 1 : 0));

function byteFits({ value, mask }: PatternByte): boolean {
  if (mask === 0xff) return FITS[value] === 1;
  for (let byte = 0; byte < 256; byte += 1) {
    if ((byte & mask) === value && FITS[byte] === 1) return true;
  }
  return false;
}

function elementsFitText(elements: HexElement[]): boolean {
  return elements.every((element) => {
    if (element.kind === 'gap') return true;
    if (element.kind === 'byte') return byteFits(element);
    // A negated set matches bytes it does not list: some of them fit.
    if (element.negated) return true;
    return element.alternatives.some((choice) => choice.every(byteFits));
  });
}
