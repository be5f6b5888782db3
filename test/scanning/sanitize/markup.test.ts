import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSanitizerSet } from '../../../scanning/sanitize/index.js';
import { python, sanitizeBench, type SanitizeBench } from '../../support/sanitize.js';

/**
 * SVG and HTML cleaned by DOMPurify: the copies are read back by Python (xml.etree for SVG,
 * html.parser for HTML) to prove the removed parts gone and the rest kept. The sanitizer is
 * given the type sniffing gives text (`text/plain`, `application/xml`) and tells the markup.
 */

const set = createSanitizerSet();
let bench: SanitizeBench;
beforeAll(async () => {
  bench = await sanitizeBench(set);
});
afterAll(async () => {
  await bench.dispose();
  set.close();
});

/** Every element of an SVG (namespace-qualified tag), its attributes and its text. */
const SVG_READER = `
import sys, json
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
print(json.dumps({'root': root.tag, 'elements': [{'tag': e.tag, 'attributes': e.attrib, 'text': (e.text or '').strip()} for e in root.iter()]}))
`;

/** Every start tag of an HTML page, with its attributes, and the page's text. */
const HTML_READER = `
import sys, json
from html.parser import HTMLParser
class Reader(HTMLParser):
    def __init__(self):
        super().__init__(); self.tags = []; self.text = []
    def handle_starttag(self, tag, attrs): self.tags.append({'tag': tag, 'attributes': dict(attrs)})
    def handle_data(self, data):
        if data.strip(): self.text.append(data.strip())
r = Reader(); r.feed(open(sys.argv[1], encoding='utf-8').read())
print(json.dumps({'tags': r.tags, 'text': r.text}))
`;

interface SvgReport {
  root: string;
  elements: { tag: string; attributes: Record<string, string>; text: string }[];
}

interface HtmlReport {
  tags: { tag: string; attributes: Record<string, string> }[];
  text: string[];
}

const SVG = '{http://www.w3.org/2000/svg}';
const XLINK = '{http://www.w3.org/1999/xlink}';

const HOSTILE_SVG = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="120" height="80" onload="alert('load')">
  <script type="text/javascript">alert('script')</script>
  <style>@import url(https://styles.example/x.css); .label { fill: url(#grad); } rect { background: url('https://tracker.example/bg.png') }</style>
  <defs><linearGradient id="grad"><stop offset="0" stop-color="#336699"/></linearGradient></defs>
  <rect id="box" width="100" height="50" fill="url(#grad)" onclick="steal()"/>
  <use xlink:href="#box" x="5"/>
  <use href="https://evil.example/sprites.svg#icon"/>
  <image href="https://tracker.example/pixel.png" width="1" height="1"/>
  <foreignObject width="10" height="10"><div xmlns="http://www.w3.org/1999/xhtml">inside</div></foreignObject>
  <a xlink:href="javascript:alert('link')"><text class="label" x="10" y="70">Chart title</text></a>
  <a href="https://example.com/report"><text x="60" y="70">Source</text></a>
</svg>`;

describe('SVG', () => {
  it('takes out scripts, event attributes, foreignObject, script URLs and remote references; stays an SVG with its drawing', async () => {
    const { outcome, copyPath, copy } = await bench.run(HOSTILE_SVG, 'application/xml');

    expect(outcome).toEqual({
      available: true,
      contentType: 'image/svg+xml',
      removed: [
        'embedded-content',
        'event-attributes',
        'external-references',
        'javascript-urls',
        'scripts',
      ],
    });
    const report = JSON.parse(python(SVG_READER, copyPath!)) as SvgReport;
    expect(report.root).toBe(`${SVG}svg`);
    const tags = report.elements.map((e) => e.tag.replace(SVG, ''));
    expect(tags).not.toContain('script');
    expect(tags).not.toContain('foreignObject');
    expect(tags).toEqual(
      expect.arrayContaining(['rect', 'linearGradient', 'stop', 'use', 'text', 'a']),
    );
    for (const element of report.elements) {
      expect(Object.keys(element.attributes).filter((name) => /^on/i.test(name))).toEqual([]);
      for (const value of Object.values(element.attributes))
        expect(value).not.toMatch(/javascript:|https?:\/\/(?!example\.com)(?!www\.w3\.org)/);
    }
    const rect = report.elements.find((e) => e.tag === `${SVG}rect`)!;
    expect(rect.attributes).toEqual({ id: 'box', width: '100', height: '50', fill: 'url(#grad)' });
    expect(report.elements.find((e) => e.attributes[`${XLINK}href`] === '#box')).toBeDefined();
    expect(report.elements.filter((e) => e.tag === `${SVG}text`).map((e) => e.text)).toEqual([
      'Chart title',
      'Source',
    ]);
    const style = report.elements.find((e) => e.tag === `${SVG}style`)!;
    expect(style.text).toContain('fill: url(#grad)');
    expect(style.text).not.toMatch(/@import|example/);
    expect(copy!.toString()).not.toMatch(/alert|steal|tracker|evil|inside/);
  });

  it('lists nothing removed from a plain drawing', async () => {
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><circle cx="5" cy="5" r="4" fill="red"/></svg>';
    const { outcome } = await bench.run(svg, 'text/plain');
    expect(outcome).toEqual({ available: true, contentType: 'image/svg+xml', removed: [] });
  });

  it('refuses SVG and HTML nested deeper than the limit (without parsing them), and an SVG whose entities would expand', async () => {
    const depth = 5000;
    const nested = `<svg xmlns="http://www.w3.org/2000/svg">${'<g>'.repeat(depth)}${'</g>'.repeat(depth)}</svg>`;
    expect((await bench.run(nested, 'text/plain')).outcome).toEqual({
      available: false,
      reason: 'markup nested deeper than 512 elements',
    });
    const html = `<html><body>${'<div><span>'.repeat(depth)}</body></html>`;
    expect((await bench.run(html, 'text/plain')).outcome).toEqual({
      available: false,
      reason: 'markup nested deeper than 512 elements',
    });
    // Hundreds of paragraphs and list items left open are not nesting.
    const open = `<html><body><ul>${'<li><p>item'.repeat(2000)}</ul></body></html>`;
    expect((await bench.run(open, 'text/plain')).outcome).toMatchObject({ available: true });
    const laughs =
      '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>' +
      '<svg xmlns="http://www.w3.org/2000/svg"><text>&b;&b;&b;</text></svg>';
    const { outcome, leftovers } = await bench.run(laughs, 'application/xml');
    expect(outcome).toEqual({
      available: false,
      reason: 'not an SVG document (it does not parse, or its root is not <svg>)',
    });
    expect(leftovers).toEqual([]);
  });
});

const HOSTILE_HTML = `<!DOCTYPE html>
<html><head>
<meta charset="utf-8"><meta http-equiv="refresh" content="0;url=https://evil.example/">
<title>Invoice</title>
<base href="https://evil.example/">
<link rel="stylesheet" href="https://styles.example/site.css">
<script src="https://cdn.example/lib.js"></script>
<style>@import "https://styles.example/more.css"; body { background: url(https://tracker.example/bg.png); color: #333 }</style>
</head>
<body onload="init()">
<h1 style="color: navy; background-image: url('https://tracker.example/h.png')">Invoice 1042</h1>
<p>Amount due: <b>120.00</b></p>
<img src="https://tracker.example/pixel.gif" alt="pixel"><img src="data:image/png;base64,iVBORw0KGgo=" alt="inline">
<a href="javascript:alert(1)">Pay now</a> <a href="https://example.com/terms">Terms</a>
<form action="https://collector.example/post" method="post"><label>Card <input name="card"></label><button formaction="https://collector.example/alt">Send</button></form>
<iframe src="https://evil.example/frame"></iframe><object data="https://evil.example/x.swf"></object><embed src="x.swf">
<svg><script>alert(2)</script><circle r="3" onmouseover="alert(3)"/></svg>
</body></html>`;

describe('HTML', () => {
  it('takes out scripts, handlers, script URLs, remote resources, frames, objects and forms; keeps a whole document with its text and links', async () => {
    const { outcome, copyPath, copy } = await bench.run(HOSTILE_HTML, 'text/plain');

    expect(outcome).toEqual({
      available: true,
      contentType: 'text/html',
      removed: [
        'embedded-content',
        'event-attributes',
        'external-references',
        'forms',
        'javascript-urls',
        'scripts',
      ],
    });
    const text = copy!.toString();
    expect(text.startsWith('<!DOCTYPE html>\n<html><head><meta charset="utf-8">')).toBe(true);
    const report = JSON.parse(python(HTML_READER, copyPath!)) as HtmlReport;
    const tags = report.tags.map((t) => t.tag);
    for (const gone of ['script', 'iframe', 'object', 'embed', 'form', 'base', 'link'])
      expect(tags).not.toContain(gone);
    expect(tags).toEqual(
      expect.arrayContaining([
        'html',
        'head',
        'title',
        'body',
        'h1',
        'p',
        'b',
        'a',
        'input',
        'button',
      ]),
    );
    for (const tag of report.tags) {
      expect(
        Object.keys(tag.attributes).filter((name) => /^on|^(form)?action$/i.test(name)),
      ).toEqual([]);
    }
    expect(report.tags.filter((t) => t.tag === 'img').map((t) => t.attributes.src)).toEqual([
      undefined,
      'data:image/png;base64,iVBORw0KGgo=',
    ]);
    expect(report.tags.filter((t) => t.tag === 'a').map((t) => t.attributes.href)).toEqual([
      undefined,
      'https://example.com/terms',
    ]);
    expect(report.tags.find((t) => t.tag === 'h1')!.attributes.style).toMatch(
      /^color: navy; background-image: none;?$/,
    );
    expect(report.text).toEqual(
      expect.arrayContaining([
        'Invoice',
        'Invoice 1042',
        'Amount due:',
        '120.00',
        'Pay now',
        'Terms',
        'Card',
        'Send',
      ]),
    );
    expect(text).not.toMatch(/evil|tracker|collector|styles\.example|cdn\.example|alert|init\(/);
  });

  it('reads a page in its declared encoding and writes it in UTF-8', async () => {
    const latin1 = Buffer.from(
      '<html><head><meta charset="iso-8859-1"><title>Caf\xe9</title></head><body><p>Cr\xe8me br\xfbl\xe9e</p></body></html>',
      'latin1',
    );
    const { outcome, copyPath } = await bench.run(latin1, 'text/plain');
    expect(outcome).toEqual({ available: true, contentType: 'text/html', removed: [] });
    expect((JSON.parse(python(HTML_READER, copyPath!)) as HtmlReport).text).toEqual([
      'Café',
      'Crème brûlée',
    ]);
  });

  it('leaves plain text to no sanitizer', async () => {
    const { outcome } = await bench.run('Just a note <b>with</b> a tag in it', 'text/plain');
    expect(outcome).toEqual({ available: false, reason: 'no sanitizer for text/plain' });
  });
});
