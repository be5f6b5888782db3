import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type {
  SanitizeLimits,
  SanitizeOutcome,
  SanitizerSet,
} from '../../scanning/sanitize/index.js';

/**
 * Sanitizer tests' plumbing: files written to a private folder, a sanitizer set run on them,
 * and independent readers (Python's standard library, qpdf) to check the copies with.
 */

export const TEST_LIMITS: SanitizeLimits = { maxBytes: 64 * 1024 * 1024, timeoutMs: 60_000 };

export interface SanitizeRun {
  outcome: SanitizeOutcome;
  /** The copy's bytes, when available. */
  copy?: Buffer;
  /** The copy's path, when available. */
  copyPath?: string;
  /** Every file left in the folder of the copy besides the input, when the call returned. */
  leftovers: string[];
  /** The same, read again now (a timed-out sanitizer's partial file goes when it stops). */
  leftoversNow: () => Promise<string[]>;
}

export interface SanitizeBench {
  run(
    bytes: Buffer | string,
    contentType: string,
    limits?: Partial<SanitizeLimits>,
  ): Promise<SanitizeRun>;
  /** Writes bytes to a file of the folder and gives its path. */
  write(name: string, bytes: Buffer | string): Promise<string>;
  dispose(): Promise<void>;
}

export async function sanitizeBench(set: SanitizerSet): Promise<SanitizeBench> {
  const dir = await mkdtemp(path.join(tmpdir(), 'arbiter-sanitize-'));
  let runs = 0;
  const write = async (name: string, bytes: Buffer | string) => {
    const file = path.join(dir, name);
    await writeFile(file, bytes);
    return file;
  };
  return {
    write,
    async run(bytes, contentType, limits = {}) {
      const runDir = path.join(dir, `run-${++runs}`);
      await mkdir(runDir);
      const inputPath = path.join(runDir, 'input');
      await writeFile(inputPath, bytes);
      const outPath = path.join(runDir, 'copy');
      const outcome = await set.sanitizeFile(
        { path: inputPath, size: Buffer.byteLength(bytes), contentType, name: 'input' },
        outPath,
        { ...TEST_LIMITS, ...limits },
      );
      const leftoversNow = async () => (await readdir(runDir)).filter((name) => name !== 'input');
      const leftovers = await leftoversNow();
      if (!outcome.available) return { outcome, leftovers, leftoversNow };
      return { outcome, copy: await readFile(outPath), copyPath: outPath, leftovers, leftoversNow };
    },
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Runs a Python 3 script (standard library only) on the given arguments; gives its stdout. */
export function python(script: string, ...args: string[]): string {
  const result = spawnSync('python3', ['-c', script, ...args], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`python3 failed: ${result.stderr}`);
  return result.stdout;
}

/** Runs qpdf with the arguments; gives its exit status and output. */
export function qpdf(...args: string[]): { status: number; stdout: string; stderr: string } {
  const result = spawnSync('qpdf', args, { encoding: 'latin1', maxBuffer: 256 * 1024 * 1024 });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/**
 * An Office package as Python's zipfile and xml.etree read it: its parts, its main part's
 * content type, its relationships, the text of its `t` elements, and every way it breaks the
 * packaging rules Office checks on opening (a relationship to a missing part, a part without a
 * content type, an override of a missing part, an `r:` reference to no relationship, XML that
 * does not parse).
 */
export interface OfficePackageReport {
  parts: string[];
  mainType: string;
  relationships: { source: string; type: string; target: string; external: boolean }[];
  text: string[];
  problems: string[];
}

const OFFICE_PACKAGE_CHECK = `
import sys, json, zipfile, posixpath, urllib.parse
import xml.etree.ElementTree as ET
REL_NS = ('http://schemas.openxmlformats.org/officeDocument/2006/relationships', 'http://purl.oclc.org/ooxml/officeDocument/relationships')
z = zipfile.ZipFile(sys.argv[1])
names = [n for n in z.namelist() if not n.endswith('/')]
lower = {n.lower(): n for n in names}
problems, relationships, text = [], [], []
types = ET.fromstring(z.read('[Content_Types].xml'))
overrides, defaults = {}, {}
for e in types:
    tag = e.tag.split('}')[1]
    if tag == 'Override': overrides[e.get('PartName').lstrip('/').lower()] = e.get('ContentType')
    if tag == 'Default': defaults[e.get('Extension').lower()] = e.get('ContentType')
for part in overrides:
    if part not in lower: problems.append('override of missing part ' + part)
for n in names:
    if n == '[Content_Types].xml': continue
    base = posixpath.basename(n)
    if n.lower() not in overrides and (base.rsplit('.', 1)[-1].lower() if '.' in base else '') not in defaults:
        problems.append('no content type for ' + n)
ids = {}
for n in names:
    if not (n.endswith('.rels') and '/_rels/' in '/' + n): continue
    d = posixpath.dirname(posixpath.dirname(n)); b = posixpath.basename(n)[:-5]
    source = posixpath.join(d, b) if b else ''
    if source and source.lower() not in lower: problems.append('relationships of missing part ' + source)
    ids[source.lower()] = set()
    for r in ET.fromstring(z.read(n)):
        ids[source.lower()].add(r.get('Id'))
        external = r.get('TargetMode') == 'External'
        relationships.append({'source': source, 'type': r.get('Type').split('/')[-1], 'target': r.get('Target'), 'external': external})
        if not external:
            t = urllib.parse.unquote(r.get('Target'))
            p = posixpath.normpath(t[1:] if t.startswith('/') else posixpath.join(posixpath.dirname(source), t))
            if p.lower() not in lower: problems.append('relationship %s of %s to missing part %s' % (r.get('Id'), source, p))
main = [r for r in relationships if r['source'] == '' and r['type'] == 'officeDocument'][0]['target'].lstrip('/')
for n in names:
    if not (n.endswith('.xml') or n.endswith('.rels')): continue
    try:
        root = ET.fromstring(z.read(n))
    except ET.ParseError as e:
        problems.append('%s does not parse: %s' % (n, e)); continue
    for e in root.iter():
        for k, v in e.attrib.items():
            if k.startswith('{') and k[1:].split('}')[0] in REL_NS and v not in ids.get(n.lower(), set()):
                problems.append('%s refers to no relationship %s' % (n, v))
        if e.tag.endswith('}t') and e.text: text.append(e.text)
print(json.dumps({'parts': sorted(names), 'mainType': overrides.get(main.lower(), ''), 'relationships': relationships, 'text': text, 'problems': problems}))
`;

export function officePackage(file: string): OfficePackageReport {
  return JSON.parse(python(OFFICE_PACKAGE_CHECK, file)) as OfficePackageReport;
}
