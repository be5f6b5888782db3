/** Bytes read as Windows-1252 (Latin-1 with printable characters in 0x80–0x9F). */
export function cp1252(bytes: Buffer): string {
  return new TextDecoder('windows-1252').decode(bytes);
}
