import { describe, expect, it } from 'vitest';
import { isMediaRange, matchesMediaRange, parseMediaType } from '../../core/media-type.js';
import { sniffHeadType } from '../../scanning/content-type.js';
import { fileExtension, shortenFileName } from '../../scanning/file-extension.js';
import {
  isAllowedType,
  MISMATCHES,
  typeMismatch,
} from '../../scanning/analysis/true-type/type-rule.js';

/**
 * The file type rule's parts on their own (docs/file-type.md): the sniffing of what file-type
 * does not know, the rule table, allowed types, extensions and declared media types. The
 * service-level behaviour is in test/api/file-type.test.ts.
 */
describe('true file type, piece by piece', () => {
  const text = (value: string) => Buffer.from(value, 'utf8');

  it('types scripts, pages and SVG images that file-type leaves as text', async () => {
    const cases: Array<[string, string]> = [
      ['#!/bin/bash\necho hi\n', 'text/x-shellscript'],
      ['#!/usr/bin/env python3.12 -u\nprint(1)\n', 'text/x-python'],
      ['#! /usr/bin/perl -w\nprint 1;\n', 'text/x-perl'],
      ['#!/usr/bin/env node\nconsole.log(1)\n', 'text/javascript'],
      ['#!/opt/tools/frobnicate\n', 'text/x-shellscript'],
      ['\ufeff@ECHO OFF\r\ndel C:\\x\r\n', 'text/x-msdos-batch'],
      ['  <?php system($_GET["c"]); ?>', 'application/x-httpd-php'],
      ['<!doctype html><title>x</title>', 'text/html'],
      ['<p>a table: <table><tr><td>1</td></tr></table></p>', 'text/html'],
      ['<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>', 'image/svg+xml'],
      ['<svg width="1" height="1"></svg>', 'image/svg+xml'],
      ['<?xml version="1.0"?><note>svg is a word here</note>', 'application/xml'],
      ['# A heading\n#!not a shebang\n', 'text/plain'],
      ['id,name\n1,a\n', 'text/plain'],
    ];
    for (const [content, type] of cases)
      expect(await sniffHeadType(text(content)), content).toBe(type);
    expect(await sniffHeadType(Buffer.alloc(0))).toBe('application/octet-stream');
    expect(await sniffHeadType(Buffer.from([0, 1, 2, 3, 254, 255]))).toBe(
      'application/octet-stream',
    );
  });

  it('flags only programs, scripts, archives and pages presented as documents, images or media', () => {
    expect(typeMismatch('application/x-msdownload', { extension: 'jpg' })).toBe(
      'a program (application/x-msdownload) presented as .jpg (image)',
    );
    expect(typeMismatch('application/zip', { extension: 'png', declaredType: 'image/png' })).toBe(
      'an archive (application/zip) presented as .png (image) and image/png (image)',
    );
    expect(typeMismatch('text/html', { declaredType: 'application/pdf' })).toBe(
      'a web page (text/html) presented as application/pdf (document)',
    );
    expect(typeMismatch('application/x-elf', { extension: 'mp4' })).toMatch(/recording|media/);
    expect(typeMismatch('application/java-archive', { extension: 'docx' })).toMatch(/program/);
    const harmless: Array<[string, { extension?: string; declaredType?: string }]> = [
      ['image/png', { extension: 'jpg', declaredType: 'image/jpeg' }],
      ['text/plain', { extension: 'csv', declaredType: 'text/csv' }],
      ['text/x-shellscript', { extension: 'txt' }],
      ['text/html', { extension: 'htm', declaredType: 'text/html' }],
      ['text/html', { extension: 'txt' }],
      ['application/zip', { extension: 'docx' }],
      [
        'application/zip',
        { extension: 'xlsx', declaredType: 'application/vnd.oasis.opendocument.text' },
      ],
      ['application/zip', { extension: 'zip', declaredType: 'application/zip' }],
      ['application/x-msdownload', { extension: 'exe', declaredType: 'application/octet-stream' }],
      ['application/x-msdownload', {}],
      ['application/x-msdownload', { extension: 'dat' }],
      ['application/pdf', { extension: 'docx' }],
      ['application/octet-stream', { extension: 'jpg' }],
    ];
    for (const [type, claims] of harmless)
      expect(typeMismatch(type, claims), `${type} ${JSON.stringify(claims)}`).toBeUndefined();
    // The table's rows: only the dangerous groups flag anything.
    expect(
      Object.entries(MISMATCHES)
        .filter(([, claims]) => claims.length > 0)
        .map(([g]) => g),
    ).toEqual(['executable', 'script', 'archive', 'markup']);
  });

  it('matches allowed types with subtype wildcards, and text by the type its name gives', () => {
    expect(isAllowedType('image/png', ['image/*'], {})).toBe(true);
    expect(isAllowedType('imagex/png', ['image/*'], {})).toBe(false);
    expect(isAllowedType('application/pdf', ['image/*', 'application/pdf'], {})).toBe(true);
    expect(isAllowedType('application/pdfx', ['application/pdf'], {})).toBe(false);
    expect(isAllowedType('text/plain', ['text/csv'], { extension: 'csv' })).toBe(true);
    expect(isAllowedType('text/plain', ['text/csv'], { declaredType: 'text/csv' })).toBe(true);
    expect(isAllowedType('text/plain', ['text/csv'], { extension: 'txt' })).toBe(false);
    // A declared type counts only for text: an image cannot be declared into a PDF.
    expect(
      isAllowedType('image/png', ['application/pdf'], { declaredType: 'application/pdf' }),
    ).toBe(false);
    expect(matchesMediaRange('text/csv', 'text/*')).toBe(true);
    for (const good of ['image/*', 'application/vnd.ms-excel', 'text/x-c++'])
      expect(isMediaRange(good)).toBe(true);
    for (const bad of [
      '*/*',
      '*/png',
      'image',
      'image/',
      'image/*x',
      'Image/png',
      ` image/png`,
      `image/${'a'.repeat(70)}`,
    ])
      expect(isMediaRange(bad), bad).toBe(false);
  });

  it('reads extensions and declared types, ignoring what is neither', () => {
    expect(fileExtension('Invoice.PDF')).toBe('pdf');
    expect(fileExtension('dir/a.tar.gz')).toBe('gz');
    expect(fileExtension('C:\\Users\\x\\setup.EXE')).toBe('exe');
    expect(fileExtension('invoice.pdf. ')).toBe('pdf');
    for (const none of [
      undefined,
      '',
      'README',
      '.bashrc',
      'a.',
      `a.${'b'.repeat(17)}`,
      'a.b c',
      'a.é',
    ])
      expect(fileExtension(none), String(none)).toBeUndefined();
    const long = shortenFileName(`${'x'.repeat(1000)}.jpeg`, 255);
    expect(long).toHaveLength(255);
    expect(fileExtension(long)).toBe('jpeg');

    expect(parseMediaType('Image/JPEG; charset=binary')).toBe('image/jpeg');
    expect(parseMediaType(' application/pdf ')).toBe('application/pdf');
    for (const garbage of [
      undefined,
      '',
      'jpeg',
      'image/',
      '/x',
      'a/b/c',
      'image/*',
      `image/${'x'.repeat(9000)}`,
      42,
      ['image/png'],
    ])
      expect(parseMediaType(garbage), String(garbage).slice(0, 20)).toBeUndefined();
  });
});
