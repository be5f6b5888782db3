/**
 * The documented test image: any image the classifier decodes whose metadata carries this text
 * is reported `content.image.nsfw.nudity` (signature `test trigger`) when `unsafe_image` is on,
 * so a client can check the category end to end without real nudity. The image still goes the
 * whole way (sniffed, read out of archives, decoded, classified): only the verdict is forced.
 * Where the text may be: a PNG text chunk (`tEXt`, `zTXt`, `iTXt`, any keyword), a JPEG comment
 * (`COM` segment), the XMP packet of any format that has one (JPEG, PNG, WebP, TIFF, AVIF), or
 * anywhere in an SVG's text.
 */
export const IMAGE_TEST_TRIGGER = 'ARBITER-TEST-NUDITY-035C92E4-A21B-4953-8BFA-A00BFABF85C9';

export const TEST_TRIGGER_SIGNATURE = 'test trigger';

/** What sharp's `metadata()` says that the trigger may be in. */
export interface ImageTextMetadata {
  format?: string | undefined;
  comments?: readonly { keyword: string; text: string }[] | undefined;
  xmp?: Buffer | undefined;
}

export function carriesTestTrigger(metadata: ImageTextMetadata, bytes: Uint8Array): boolean {
  // An SVG is text: the trigger may be anywhere in it (a comment, its `<metadata>`).
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (metadata.format === 'svg') return buffer.includes(IMAGE_TEST_TRIGGER);
  if (metadata.comments?.some((comment) => comment.text.includes(IMAGE_TEST_TRIGGER))) return true;
  if (metadata.xmp?.includes(IMAGE_TEST_TRIGGER)) return true;
  return (
    metadata.format === 'jpeg' &&
    jpegComments(buffer).some((text) => text.includes(IMAGE_TEST_TRIGGER))
  );
}

/** The `COM` segments of a JPEG before its image data (sharp does not report them). */
export function jpegComments(jpeg: Buffer): string[] {
  const comments: string[] = [];
  let offset = 2;
  while (offset + 4 <= jpeg.length && jpeg[offset] === 0xff) {
    const marker = jpeg[offset + 1]!;
    if (marker === 0xff) {
      offset += 1; // fill byte before a marker
      continue;
    }
    // Start of scan (the image data follows) or end of image: no more metadata.
    if (marker === 0xda || marker === 0xd9) break;
    const length = jpeg.readUInt16BE(offset + 2);
    if (length < 2) break;
    if (marker === 0xfe)
      comments.push(
        jpeg.toString('latin1', offset + 4, Math.min(jpeg.length, offset + 2 + length)),
      );
    offset += 2 + length;
  }
  return comments;
}
