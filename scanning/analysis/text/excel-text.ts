import { cp1252 } from './cp1252.js';
import { DocumentTextError } from './document-text-error.js';

/**
 * The text of an Excel 97–2003 workbook ([MS-XLS]) from its `Workbook` stream (`Book` for
 * Excel 5/95), a sequence of records (type and length in 2 bytes each, then the data):
 * - SST (0x00FC): the shared strings every text cell points to. A string is a character count, a
 *   flags byte (UTF-16 or 8-bit, rich-text runs, phonetic data), then the characters; the record
 *   continues in CONTINUE records (0x003C), and a string cut there resumes with a new flags
 *   byte (its remaining characters may be in the other width);
 * - LABEL (0x0204): a cell's own string, as older files and some writers store it;
 * - BOUNDSHEET (0x0085): the sheets' names;
 * - TXO (0x01B6): the text of a comment or a text box, in the CONTINUE records after it (a
 *   flags byte, then the characters; the formatting runs follow).
 * Each string is a line of its own: two cells are two words. A workbook with a FILEPASS record
 * (0x002F) is encrypted: refused as `unsupported-method`. Charts' titles are not read.
 */
export function workbookText(stream: Buffer): string {
  const records = readRecords(stream);
  let biff8 = false;
  const strings: string[] = [];
  for (let i = 0; i < records.length; i++) {
    const record = records[i];
    if (!record) continue;
    switch (record.type) {
      case BOF:
        if (record.data.length >= 2) biff8 = record.data.readUInt16LE(0) === BIFF8;
        break;
      case FILEPASS:
        throw new DocumentTextError('unsupported-method', 'encrypted Excel workbook');
      case SST: {
        const parts = [record.data];
        while (records[i + 1]?.type === CONTINUE) parts.push(records[++i]?.data ?? Buffer.alloc(0));
        // One at a time: a spread of a million strings would overflow the call stack.
        for (const text of sharedStrings(parts)) strings.push(text);
        break;
      }
      case LABEL:
        strings.push(cellString(record.data.subarray(6), biff8));
        break;
      case BOUNDSHEET:
        strings.push(sheetName(record.data.subarray(6), biff8));
        break;
      case TXO: {
        const parts: Buffer[] = [];
        while (records[i + 1]?.type === CONTINUE) parts.push(records[++i]?.data ?? Buffer.alloc(0));
        if (biff8) strings.push(objectText(record.data, parts));
        break;
      }
    }
  }
  return strings.join('\n');
}

const BOF = 0x0809;
const BIFF8 = 0x0600;
const FILEPASS = 0x002f;
const SST = 0x00fc;
const CONTINUE = 0x003c;
const LABEL = 0x0204;
const BOUNDSHEET = 0x0085;
const TXO = 0x01b6;
const HIGH_BYTE = 0x01;
const EXTENDED = 0x04;
const RICH = 0x08;

interface Record {
  type: number;
  data: Buffer;
}

function readRecords(stream: Buffer): Record[] {
  const records: Record[] = [];
  let at = 0;
  while (at + 4 <= stream.length) {
    const type = stream.readUInt16LE(at);
    const length = stream.readUInt16LE(at + 2);
    // Writers pad the stream's last sector with zeros: a zero record type ends it.
    if (type === 0 && length === 0) break;
    if (at + 4 + length > stream.length) {
      throw new DocumentTextError('corrupt', `Excel record 0x${type.toString(16)} cut short`);
    }
    records.push({ type, data: stream.subarray(at + 4, at + 4 + length) });
    at += 4 + length;
  }
  if (records[0]?.type !== BOF) throw new DocumentTextError('corrupt', 'Workbook without BOF');
  return records;
}

/** The strings of an SST record and its CONTINUE records (`parts`, in order). */
export function sharedStrings(parts: readonly Buffer[]): string[] {
  const reader = new ContinuedReader(parts);
  reader.skip(8); // cstTotal, cstUnique
  const strings: string[] = [];
  while (!reader.done()) {
    const characters = reader.uint16();
    const flags = reader.byte();
    const runs = flags & RICH ? reader.uint16() : 0;
    const extended = flags & EXTENDED ? reader.uint32() : 0;
    strings.push(reader.characters(characters, (flags & HIGH_BYTE) !== 0));
    reader.skip(runs * 4 + extended);
  }
  return strings;
}

/** An SST's bytes across record boundaries; characters resume with a flags byte after one. */
class ContinuedReader {
  private part = 0;
  private at = 0;

  constructor(private readonly parts: readonly Buffer[]) {}

  done(): boolean {
    this.settle();
    return this.part >= this.parts.length;
  }

  byte(): number {
    return this.take(1).readUInt8(0);
  }

  uint16(): number {
    return this.take(2).readUInt16LE(0);
  }

  uint32(): number {
    return this.take(4).readUInt32LE(0);
  }

  skip(bytes: number): void {
    let left = bytes;
    while (left > 0) {
      this.settle();
      const current = this.parts[this.part];
      if (!current) throw new DocumentTextError('corrupt', 'Excel string table cut short');
      const step = Math.min(left, current.length - this.at);
      this.at += step;
      left -= step;
    }
  }

  characters(count: number, wide: boolean): string {
    let text = '';
    let left = count;
    let highByte = wide;
    while (left > 0) {
      const current = this.parts[this.part];
      if (!current) throw new DocumentTextError('corrupt', 'Excel string cut short');
      const width = highByte ? 2 : 1;
      const fit = Math.min(left, Math.floor((current.length - this.at) / width));
      const bytes = current.subarray(this.at, this.at + fit * width);
      text += highByte ? bytes.toString('utf16le') : bytes.toString('latin1');
      this.at += fit * width;
      left -= fit;
      if (left > 0) {
        // Characters cut by a record boundary: the next record starts with its own flags byte.
        this.next();
        highByte = (this.byte() & HIGH_BYTE) !== 0;
      }
    }
    return text;
  }

  private next(): void {
    this.part += 1;
    this.at = 0;
    if (this.part >= this.parts.length) {
      throw new DocumentTextError('corrupt', 'Excel string cut short');
    }
  }

  /** Moves past the end of finished parts (a field never straddles one, but a string may). */
  private settle(): void {
    while (this.part < this.parts.length && this.at >= (this.parts[this.part]?.length ?? 0)) {
      this.part += 1;
      this.at = 0;
    }
  }

  private take(bytes: number): Buffer {
    this.settle();
    const current = this.parts[this.part];
    if (!current || this.at + bytes > current.length) {
      throw new DocumentTextError('corrupt', 'Excel string table cut short');
    }
    const value = current.subarray(this.at, this.at + bytes);
    this.at += bytes;
    return value;
  }
}

/** A TXO's text: cchText at offset 10, the characters in the CONTINUE records that follow. */
function objectText(txo: Buffer, continues: readonly Buffer[]): string {
  if (txo.length < 12) throw new DocumentTextError('corrupt', 'Excel TXO cut short');
  const characters = txo.readUInt16LE(10);
  if (characters === 0) return '';
  const reader = new ContinuedReader(continues);
  return reader.characters(characters, (reader.byte() & HIGH_BYTE) !== 0);
}

/** A LABEL's string: XLUnicodeString in BIFF8 (count, flags, characters), else 8-bit. */
function cellString(data: Buffer, biff8: boolean): string {
  if (data.length < 2) throw new DocumentTextError('corrupt', 'Excel LABEL cut short');
  const characters = data.readUInt16LE(0);
  if (!biff8) return cp1252(data.subarray(2, 2 + characters));
  return unicodeString(data.subarray(2), characters);
}

/** A BOUNDSHEET's name: a 1-byte count, then flags and characters in BIFF8, else 8-bit. */
function sheetName(data: Buffer, biff8: boolean): string {
  if (data.length < 1) throw new DocumentTextError('corrupt', 'Excel BOUNDSHEET cut short');
  const characters = data.readUInt8(0);
  if (!biff8) return cp1252(data.subarray(1, 1 + characters));
  return unicodeString(data.subarray(1), characters);
}

function unicodeString(flagsAndCharacters: Buffer, characters: number): string {
  const wide = ((flagsAndCharacters[0] ?? 0) & HIGH_BYTE) !== 0;
  const body = flagsAndCharacters.subarray(1, 1 + characters * (wide ? 2 : 1));
  return wide ? body.toString('utf16le') : body.toString('latin1');
}
