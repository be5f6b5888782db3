import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createFormatSet } from '../../scanning/archives/formats/index.js';
import { DEFAULT_LIMITS, Workspace, zip } from '../support/archives.js';
import { eicar } from '../support/content.js';
import { emlMessage, mboxFile, mpackMessage } from '../support/mail-formats.js';

// Mail in the archive walker: a MIME message's parts and an mbox's messages are members,
// decoded, named by their file names, counted against the limits like any archive member.

const ws = new Workspace();
const formats = createFormatSet().handlers;
afterAll(() => ws.remove());
afterEach(() => expect(ws.scratchFiles()).toEqual([]));

const walk = (content: Buffer, name: string, limits = DEFAULT_LIMITS) =>
  ws.walk(content, name, limits, formats);

const binary = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 31) % 256));

describe('MIME messages', () => {
  it('hands over every part decoded: the text body, base64 and quoted-printable attachments', async () => {
    const message = emlMessage({
      attachments: [
        { name: 'eicar.com', data: eicar() },
        { name: 'data.bin', data: binary, encoding: 'quoted-printable' },
      ],
    });
    const result = await walk(message, 'mail.eml');
    expect(result.unscannable).toEqual([]);
    const members = result.visited.filter((v) => v.depth === 1);
    expect(members.map((v) => [v.path, v.container])).toEqual([
      ['mail.eml/(headers)', 'mime'],
      ['mail.eml/part-1.txt', 'mime'],
      ['mail.eml/eicar.com', 'mime'],
      ['mail.eml/data.bin', 'mime'],
    ]);
    // The fields a reader shows, one a line, for the analyzers that read text.
    expect(members[0]?.data?.toString()).toBe(
      '\ntest message\nSender <sender@example.com>\nrecipient@example.com\n',
    );
    expect(members[1]?.data?.toString()).toBe('Hello,\nplease find attached.\n');
    expect(members[2]?.data).toEqual(eicar());
    expect(members[3]?.data).toEqual(binary);
  });

  it('opens an attached message (message/rfc822) and a zip attachment in turn', async () => {
    const inner = emlMessage({ attachments: [{ name: 'eicar.com', data: eicar() }] });
    const attachedZip = await zip([{ name: 'in-zip.com', data: eicar() }]);
    const message = emlMessage({
      attachments: [{ name: 'bundle.zip', data: attachedZip }],
      attachedMessages: [{ attachments: [{ name: 'deeper.bin', data: inner }] }],
    });
    const result = await walk(message, 'outer.eml');
    expect(result.unscannable).toEqual([]);
    const eicars = result.visited.filter((v) => v.data?.equals(eicar())).map((v) => v.path);
    expect(eicars).toEqual([
      'outer.eml/bundle.zip/in-zip.com',
      'outer.eml/forwarded-1.eml/deeper.bin/eicar.com',
    ]);
  });

  it('reads a message mpack wrote', async () => {
    const result = await walk(mpackMessage('eicar.com', eicar()), 'mpack.eml');
    expect(result.unscannable).toEqual([]);
    expect(result.visited.find((v) => v.path === 'mpack.eml/eicar.com')?.data).toEqual(eicar());
  });

  it('takes a message without MIME structure as its text body', async () => {
    const result = await walk(emlMessage({ plain: true, text: 'just words\n' }), 'old.eml');
    expect(result.visited.map((v) => [v.path, v.data?.toString()])).toContainEqual([
      'old.eml/part-1.txt',
      'just words\n',
    ]);
  });

  it('counts parts against the member limit and attached messages against the depth limit', async () => {
    const many = emlMessage({
      attachments: Array.from({ length: 8 }, (_, i) => ({ name: `f${i}.bin`, data: binary })),
    });
    const limited = await walk(many, 'many.eml', { ...DEFAULT_LIMITS, maxMembers: 3 });
    expect(limited.unscannable).toMatchObject([
      { reason: 'limits-exceeded', path: ['many.eml'], detail: 'more than 3 archive members' },
    ]);
    // The message, its header fields (a second reading of its bytes, not counted) and 3 parts.
    expect(limited.visited).toHaveLength(5);

    let nested = emlMessage({ attachments: [{ name: 'eicar.com', data: eicar() }] });
    for (let level = 0; level < 4; level++) {
      nested = emlMessage({ attachments: [{ name: `level${level}.eml`, data: nested }] });
    }
    const shallow = await walk(nested, 'deep.eml', { ...DEFAULT_LIMITS, maxDepth: 3 });
    expect(shallow.unscannable).toMatchObject([
      { reason: 'limits-exceeded', detail: 'mime nested deeper than 3 levels' },
    ]);
  });

  it('stops at the expanded-bytes limit', async () => {
    const big = Buffer.alloc(300_000, 0x41);
    const message = emlMessage({
      attachments: [
        { name: 'one.bin', data: big },
        { name: 'two.bin', data: big },
        { name: 'three.bin', data: big },
      ],
    });
    const result = await walk(message, 'big.eml', { ...DEFAULT_LIMITS, maxExpandedBytes: 500_000 });
    expect(result.unscannable).toMatchObject([{ reason: 'limits-exceeded' }]);
    expect(result.visited.map((v) => v.path)).not.toContain('big.eml/three.bin');
  });

  it('reports a header block past 1 MiB as limits-exceeded, not as clean', async () => {
    const header = `From: a@example.com\nMIME-Version: 1.0\n${'X-Filler: xxxxxxxxxxxxxxxx\n'.repeat(50_000)}\nbody\n`;
    const result = await walk(Buffer.from(header), 'huge-header.eml');
    expect(result.unscannable).toMatchObject([
      { reason: 'limits-exceeded', path: ['huge-header.eml'] },
    ]);
  });

  it('reads a truncated message as far as it goes', async () => {
    const message = emlMessage({ attachments: [{ name: 'data.bin', data: binary }] });
    const cut = message.subarray(0, message.length - 1500);
    const result = await walk(cut, 'cut.eml');
    expect(result.unscannable).toEqual([]);
    const part = result.visited.find((v) => v.path === 'cut.eml/data.bin');
    expect(part?.data && binary.subarray(0, part.data.length).equals(part.data)).toBe(true);
  });
});

describe('mbox files', () => {
  it('hands over each message, and the parts of each message', async () => {
    const box = mboxFile([
      { subject: 'first', text: 'From here on, all is well.\n\nFrom the start of a line.\n' },
      { subject: 'second', attachments: [{ name: 'eicar.com', data: eicar() }] },
      { subject: 'third', plain: true, text: 'plain\n' },
    ]);
    expect(box.toString('latin1')).toContain('>From the start of a line.');
    const result = await walk(box, 'inbox.mbox');
    expect(result.unscannable).toEqual([]);
    expect(result.visited.filter((v) => v.depth === 1).map((v) => [v.path, v.container])).toEqual([
      ['inbox.mbox/message-1.eml', 'mbox'],
      ['inbox.mbox/message-2.eml', 'mbox'],
      ['inbox.mbox/message-3.eml', 'mbox'],
    ]);
    const found = result.visited.find((v) => v.data?.equals(eicar()));
    expect(found?.path).toBe('inbox.mbox/message-2.eml/eicar.com');
  });

  it('does not split on "From " lines that are no separator', async () => {
    const box = Buffer.from(
      [
        'From sender@example.com Thu Jul 31 13:49:50 2008',
        'From: sender@example.com',
        'Subject: one',
        'Date: Thu, 31 Jul 2008 13:49:50 +0000',
        '',
        'From the desk of the sender: a line that is no separator.',
        '',
        'From Paris with love',
        'end',
        '',
      ].join('\n'),
    );
    const result = await walk(box, 'one.mbox');
    expect(result.visited.filter((v) => v.depth === 1).map((v) => v.path)).toEqual([
      'one.mbox/message-1.eml',
    ]);
  });
});

describe('what is not mail', () => {
  const notMail: Record<string, string> = {
    'a text mentioning headers': 'Notes\nFrom: someone\nSubject: something\n',
    'a YAML file': 'from: here\nto: there\nsubject: travel\n\nmore: yes\n',
    'prose starting with From': 'From the beginning, this was a story.\nIt went on.\n',
    'an HTTP response': 'HTTP/1.1 200 OK\nContent-Type: text/html\n\n<html></html>\n',
    'a CSV file': 'From,To,Subject\na,b,c\n',
    'one field only': 'Subject: hello\n\nbody\n',
  };
  for (const [what, text] of Object.entries(notMail)) {
    it(`leaves ${what} alone`, async () => {
      const result = await walk(Buffer.from(text), 'file.txt');
      expect(result.visited.map((v) => v.path)).toEqual(['file.txt']);
      expect(result.unscannable).toEqual([]);
    });
  }
});
