import { craftedZip, localRecord, localRecords, rawEntry, rawZip } from './archives.js';
import { executableStub } from './container-generators.js';
import { randomContent } from './content.js';

/**
 * Zips that hide a member from a reader trusting one of a zip's two views (central directory,
 * local headers), or that real tools write and a strict reader refuses: each built around
 * `payload`, so a test can check the payload is found and the same shape around clean bytes is
 * clean.
 */

/** The shapes, each built around `payload`; `listed` is a clean member the directory lists. */
export const ZIP_SHAPES: Record<string, (payload: Buffer) => Buffer> = {
  // Deflated data under a directory-looking name, the directory declaring 0 bytes.
  'directory name holding data, sizes 0 in the directory': (payload) => {
    const entry = rawEntry('x/', payload);
    return craftedZip(localRecord(entry), [
      { name: 'x/', method: 8, crc: 0, size: 0, compressedSize: 0, offset: 0 },
    ]);
  },
  'directory name holding data in a streamed entry, sizes 0 in the directory': (payload) => {
    const entry = rawEntry('x/', payload);
    return craftedZip(localRecord(entry, { descriptor: true }), [
      { name: 'x/', method: 8, crc: 0, size: 0, compressedSize: 0, offset: 0 },
    ]);
  },
  'an unlisted local entry in front of a listed one': (payload) => {
    const hidden = rawEntry('hidden.com', payload);
    const listed = rawEntry('readme.txt', Buffer.from('nothing to see here'));
    const { bytes, offsets } = localRecords([hidden, listed]);
    return craftedZip(bytes, [{ ...listed, offset: offsets[1] ?? 0 }]);
  },
  'the directory names it x/, the local header ab': (payload) => {
    const entry = rawEntry('ab', payload);
    return craftedZip(localRecord(entry), [
      { name: 'x/', method: 8, crc: 0, size: 0, compressedSize: 0, offset: 0 },
    ]);
  },
  'behind an executable stub (offsets not adjusted)': (payload) =>
    Buffer.concat([executableStub(), rawZip([rawEntry('a.com', payload)])]),
  'two zips back to back, the payload in the first': (payload) =>
    Buffer.concat([
      rawZip([rawEntry('a.com', payload)]),
      rawZip([rawEntry('b.txt', Buffer.from('second'))]),
    ]),
  'two zips back to back, the payload in the second': (payload) =>
    Buffer.concat([
      rawZip([rawEntry('b.txt', Buffer.from('first'))]),
      rawZip([rawEntry('a.com', payload)]),
    ]),
  'trailing junk past 64 KiB': (payload) =>
    Buffer.concat([rawZip([rawEntry('a.com', payload)]), randomContent(100_000)]),
  'text in front': (payload) =>
    Buffer.concat([
      Buffer.from('Here is your file:\r\n\r\n'),
      rawZip([rawEntry('a.com', payload)]),
    ]),
  'a mail message in front': (payload) =>
    Buffer.concat([
      Buffer.from(
        'From: a@example.com\r\nTo: b@example.com\r\nSubject: files\r\n\r\nsee below\r\n',
      ),
      rawZip([rawEntry('a.com', payload)]),
    ]),
  'an HTML page in front': (payload) =>
    Buffer.concat([
      Buffer.from('<!DOCTYPE html><html><body><p>download</p></body></html>\n'),
      rawZip([rawEntry('a.com', payload)]),
    ]),
  'stored in the local header, deflated in the directory': (payload) => {
    const entry = rawEntry('a.com', payload, 0);
    return craftedZip(localRecord(entry), [{ ...entry, method: 8, offset: 0 }]);
  },
  'deflated in the local header, stored in the directory': (payload) => {
    const entry = rawEntry('a.com', payload);
    return craftedZip(localRecord(entry), [{ ...entry, method: 0, offset: 0 }]);
  },
  // What some tools write: one file listed twice (ziplinter's same-names.zip). Read once.
  'the same entry listed three times in the central directory': (payload) => {
    const entry = rawEntry('a.com', payload);
    const listed = { ...entry, offset: 0 };
    return craftedZip(localRecord(entry), [listed, listed, listed]);
  },
  // ziplinter's test_mismatched_compression_central.zip: unzip reads the local header's method.
  'deflated in the local header, bzip2 in the directory': (payload) => {
    const entry = rawEntry('a.com', payload);
    return craftedZip(localRecord(entry), [{ ...entry, method: 12, offset: 0 }]);
  },
  // ziplinter's test_mismatched_compression_local.zip: Python reads the directory's method.
  'deflated in the directory, bzip2 in the local header': (payload) => {
    const entry = rawEntry('a.com', payload);
    const local = localRecord(entry);
    local.writeUInt16LE(12, 8);
    return craftedZip(local, [{ ...entry, offset: 0 }]);
  },
  'a local entry after the end record': (payload) =>
    Buffer.concat([
      rawZip([rawEntry('b.txt', Buffer.from('listed'))]),
      localRecord(rawEntry('a.com', payload)),
    ]),
};
