/**
 * The file name a download offers (`Content-Disposition: attachment; filename="…"`): the
 * original name cut down to letters, digits, `.`, `_` and `-` (nothing a header, a shell or a
 * file system reads specially; no path, no leading dot), with the extension of the download's
 * type (a `.docm` whose sanitized copy is a DOCX is offered as `.docx`); the original's extension
 * is kept when it is one of that type's, or the type has none here. A name with nothing usable
 * left becomes `fallback` (the scan's id).
 */
export function downloadName(original: string, fallback: string, contentType: string): string {
  const extension = /\.[A-Za-z0-9]{1,8}$/.exec(original)?.[0];
  const stem = (extension ? original.slice(0, -extension.length) : original)
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/_{2,}/g, '_')
    .replace(/^[._-]+|[._-]+$/g, '')
    .slice(0, MAX_STEM);
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  const extensions = EXTENSIONS[type];
  const kept =
    extension && (!extensions || extensions.includes(extension.toLowerCase()))
      ? extension
      : extensions?.[0];
  return `${stem || fallback}${kept ?? ''}`;
}

const MAX_STEM = 120;

/** The extensions of each type a sanitized copy can have (docs/sanitizing.md), usual one first. */
const EXTENSIONS: Record<string, readonly string[]> = {
  'image/jpeg': ['.jpg', '.jpeg', '.jpe', '.jfif'],
  'image/png': ['.png'],
  'image/gif': ['.gif'],
  'image/webp': ['.webp'],
  'image/tiff': ['.tiff', '.tif'],
  'image/svg+xml': ['.svg'],
  'text/html': ['.html', '.htm'],
  'application/pdf': ['.pdf'],
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': ['.docx'],
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': ['.xlsx'],
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': ['.pptx'],
};
