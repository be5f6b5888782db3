import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  HtmlScanner,
  htmlFormat,
  isMarkup,
  type HtmlEvent,
} from '../../scanning/archives/formats/html.js';
import { DEFAULT_LIMITS, Workspace } from '../support/archives.js';
import { eicar } from '../support/content.js';
import { CLAMAV_TESTFILES_DIR, TEST_EXECUTABLE } from '../support/test-executable-corpus.js';

// The HTML handler (scanning/archives/formats/html.ts) through the walker: data URIs and script
// base64 literals become members; everything else in a page is left to the page's own scan.

const ws = new Workspace();
afterAll(() => ws.remove());
afterEach(() => expect(ws.scratchFiles()).toEqual([]));

const clamExe = readFileSync(TEST_EXECUTABLE);
const b64 = clamExe.toString('base64');
const sha1 = (data: Buffer) => createHash('sha1').update(data).digest('hex');
const percent = (data: Buffer) =>
  [...data].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');

async function members(content: string | Buffer, limits = DEFAULT_LIMITS) {
  const result = await ws.walk(Buffer.from(content), 'page.html', limits, [htmlFormat]);
  const found = new Map(
    result.visited.filter((v) => v.depth === 1).map((v) => [v.path.slice('page.html/'.length), v]),
  );
  return { result, found };
}

describe('HTML documents', () => {
  it('decodes the data URI of ClamAV’s own clam.exe.html', async () => {
    const { result, found } = await members(readFileSync(`${CLAMAV_TESTFILES_DIR}/clam.exe.html`));
    expect(result.unscannable).toEqual([]);
    expect(found.get('data-uri-1.bin')).toMatchObject({ sha1: sha1(clamExe), container: 'html' });
  });

  it('decodes data URIs in attributes, CSS and script, base64 or percent-encoded', async () => {
    const page = [
      '<!DOCTYPE html>\n<html><head><style>',
      `body { background: url(data:application/octet-stream;base64,${b64}) }`,
      '</style></head><body>',
      `<img src='data:application/x-msdownload;base64,${b64.replace(/(.{76})/g, '$1\n')}'>`,
      `<iframe src="data:application/octet-stream,${percent(clamExe)}"></iframe>`,
      `<a href=data:;base64,${eicar().toString('base64')}>unquoted</a>`,
      '<iframe src="data:text/html,<script>alert(1)</script> <b>x</b>"></iframe>',
      `<script>fetch('data:application/pdf;base64,${b64}')</script>`,
      '<p>The metadata: it says data:text/plain without a comma, and data: alone.</p>',
      '</body></html>',
    ].join('\n');
    const { result, found } = await members(page);
    expect(result.unscannable).toEqual([]);
    expect([...found.keys()]).toEqual([
      'data-uri-1.bin',
      'data-uri-2.exe',
      'data-uri-3.bin',
      'data-uri-4.txt',
      'data-uri-5.html',
      'data-uri-6.pdf',
    ]);
    for (const name of ['data-uri-1.bin', 'data-uri-2.exe', 'data-uri-3.bin', 'data-uri-6.pdf'])
      expect(found.get(name)?.sha1, name).toBe(sha1(clamExe));
    expect(found.get('data-uri-4.txt')?.data).toEqual(eicar());
    expect(found.get('data-uri-5.html')?.data?.toString()).toBe(
      '<script>alert(1)</script> <b>x</b>',
    );
  });

  it('decodes character references in attribute data URIs, as browsers do', async () => {
    const referenced = b64.replace(/\+/g, '&plus;').replace(/A/g, '&#65;').replace(/B/g, '&#x42;');
    const page = `<html><body><iframe src="data:application/octet-stream;base64,${referenced}"></iframe>\n<a href="data:,a&amp;b&bogus;&#;&">x</a></body></html>`;
    const { found } = await members(page);
    expect(found.get('data-uri-1.bin')?.sha1).toBe(sha1(clamExe));
    expect(found.get('data-uri-2.txt')?.data?.toString()).toBe('a&b&bogus;&#;&');
  });

  it('decodes long base64 literals in scripts, in HTML and SVG', async () => {
    const html = `<html><script>\n// don't trip on this quote\nvar x = atob("${b64}");\nvar y = 'TVqQ';\nvar digest = '${'ab12'.repeat(32)}';\n</script>\n<p>"${b64}"</p></html>`;
    const { found } = await members(html);
    expect([...found.keys()]).toEqual(['base64-1.bin']);
    expect(found.get('base64-1.bin')?.sha1).toBe(sha1(clamExe));

    const svg = `<?xml version="1.0"?>\n<!-- drawn by hand -->\n<svg xmlns="http://www.w3.org/2000/svg"><script>const p = \`${b64}\`;</script></svg>`;
    expect((await members(svg)).found.get('base64-1.bin')?.sha1).toBe(sha1(clamExe));
  });

  it('finds the same things whatever the chunks the page arrives in', () => {
    const page = `<html><script>var a = "${b64}";</script><img src="data:image/png;base64,${b64}"><a href="data:,a%20b%2"></a></html>`;
    const whole = summarize(scanAll(Buffer.from(page), page.length));
    expect(summarize(scanAll(Buffer.from(page), 1))).toEqual(whole);
    expect(summarize(scanAll(Buffer.from(page), 7))).toEqual(whole);
    expect(whole).toEqual([
      { name: 'base64-1.bin', data: clamExe.toString('hex') },
      { name: 'data-uri-1.png', data: clamExe.toString('hex') },
      { name: 'data-uri-2.txt', data: Buffer.from('a b%2').toString('hex') },
    ]);
  });

  it('cuts a data URI at the expanded-bytes limit and reports it', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024, 0x41).toString('base64');
    const { result } = await members(`<html><img src="data:image/png;base64,${big}"></html>`, {
      ...DEFAULT_LIMITS,
      maxExpandedBytes: 1024 * 1024,
    });
    expect(result.unscannable).toMatchObject([{ reason: 'limits-exceeded' }]);
    const many = `<html>${'<img src="data:,x">'.repeat(20)}</html>`;
    const limited = await members(many, { ...DEFAULT_LIMITS, maxMembers: 5 });
    expect(limited.found.size).toBe(5);
    expect(limited.result.unscannable).toMatchObject([{ reason: 'limits-exceeded' }]);
  });

  it('survives hostile pages: unterminated URIs, endless literals, no markup at all', async () => {
    const unterminated = await members(`<html><img src="data:;base64,${b64}`);
    expect(unterminated.found.get('data-uri-1.txt')?.sha1).toBe(sha1(clamExe));
    const endless = await members(
      Buffer.concat([Buffer.from('<script>var s = `'), Buffer.alloc(8 * 1024 * 1024, 0x41)]),
    );
    expect(endless.found.get('base64-1.bin')?.length).toBe(6 * 1024 * 1024);
    expect(endless.result.unscannable).toEqual([]);
  });

  it('recognises markup from its first tag, and leaves other text alone', () => {
    for (const page of [
      '<!doctype html><title>x</title>',
      '\xef\xbb\xbf\n  <!-- saved from url=(0014)about:internet -->\n<HTML>',
      '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN">',
      '<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml">',
      '<script>alert(1)</script>',
      '<a href="data:,x">x</a>',
    ])
      expect(isMarkup(Buffer.from(page, 'latin1')), page).toBe(true);
    for (const text of [
      'Hello <html> is a tag.',
      '{"html": "<html>"}',
      'From: someone@example.com\nContent-Type: text/html\n\n<html>',
      '<?xml version="1.0"?><project><html/></project>',
      '<!-- a comment that never ends <html>',
      '<htmlx>',
    ])
      expect(isMarkup(Buffer.from(text)), text).toBe(false);
  });
});

function scanAll(page: Buffer, chunk: number): HtmlEvent[] {
  const scanner = new HtmlScanner();
  const events: HtmlEvent[] = [];
  for (let at = 0; at < page.length; at += chunk)
    events.push(...scanner.read(page.subarray(at, at + chunk)));
  events.push(...scanner.finish());
  return events;
}

function summarize(events: HtmlEvent[]): Array<{ name: string; data: string }> {
  const out: Array<{ name: string; data: string }> = [];
  for (const event of events) {
    if (event.kind === 'start') out.push({ name: event.name, data: '' });
    else if (event.kind === 'data') out.at(-1)!.data += event.data.toString('hex');
  }
  return out;
}
