import { detectFileKind, isText, type FileKind } from './file-type.js';

/**
 * The media type of content that the `file-type` package does not recognise, from the engine's
 * own sniffer (file-type.ts: ClamAV's typing, which finds programs, HTML, mail and PDFs where
 * file-type does not look) and from the first line of scripts (`#!/bin/sh`, `@echo off`,
 * `<?php`). Undefined when none of them knows it either (plain text, unknown binary data).
 */
export function typeBeyondFileType(head: Uint8Array): string | undefined {
  const kind = detectFileKind(head);
  const program = PROGRAM_KINDS[kind];
  if (program) return program;
  if (!isText(head.subarray(0, TEXT_HEAD))) return kind === 'pdf' ? PDF : undefined;
  const text = Buffer.from(head.buffer, head.byteOffset, head.length)
    .toString('latin1')
    .replace(/^\xef\xbb\xbf/, '');
  return scriptType(text) ?? markupType(text, kind) ?? (kind === 'pdf' ? PDF : undefined);
}

/** The part of the head tested for text (ClamAV's own limit, as detectFileKind). */
const TEXT_HEAD = 1024;
const PDF = 'application/pdf';

/** Binary kinds the engine tells apart that file-type may miss (a Mach-O fat binary, a stub). */
const PROGRAM_KINDS: Partial<Record<FileKind, string>> = {
  pe: 'application/x-msdownload',
  elf: 'application/x-elf',
  macho: 'application/x-mach-binary',
  java: 'application/java-vm',
  swf: 'application/x-shockwave-flash',
  ole2: 'application/x-cfb',
};

/** Interpreters named on a `#!` line, by their name without a version (`python3.12` → python). */
const INTERPRETERS: Record<string, string> = {
  sh: 'text/x-shellscript',
  bash: 'text/x-shellscript',
  dash: 'text/x-shellscript',
  ash: 'text/x-shellscript',
  zsh: 'text/x-shellscript',
  ksh: 'text/x-shellscript',
  csh: 'text/x-shellscript',
  tcsh: 'text/x-shellscript',
  fish: 'text/x-shellscript',
  busybox: 'text/x-shellscript',
  python: 'text/x-python',
  perl: 'text/x-perl',
  ruby: 'text/x-ruby',
  node: 'text/javascript',
  nodejs: 'text/javascript',
  deno: 'text/javascript',
  bun: 'text/javascript',
  php: 'application/x-httpd-php',
  pwsh: 'text/x-powershell',
  powershell: 'text/x-powershell',
};

/** `#!/usr/bin/env python3 -u`: the program, and its first argument (what `env` runs). */
const SHEBANG = /^#![ \t]*(\/[^\s]*)(?:[ \t]+(?:-\S*[ \t]+)*([^\s-][^\s]*))?/;

function scriptType(text: string): string | undefined {
  const shebang = SHEBANG.exec(text);
  if (shebang) {
    const program = baseName(shebang[1] ?? '');
    const named = program === 'env' ? baseName(shebang[2] ?? '') : program;
    // An interpreter not listed is still a script: the kernel runs whatever the line names.
    return INTERPRETERS[named.replace(/[\d.]+$/, '')] ?? 'text/x-shellscript';
  }
  if (/^\s*<\?php\b/i.test(text)) return 'application/x-httpd-php';
  if (/^\s*@\s*echo\s+off\b/i.test(text)) return 'text/x-msdos-batch';
  return undefined;
}

function baseName(program: string): string {
  return program.split('/').pop() ?? '';
}

/** SVG (an image written as XML) and HTML: ClamAV's HTML markers, or a doctype that says so. */
function markupType(text: string, kind: FileKind): string | undefined {
  if (/<svg[\s>]/i.test(text.slice(0, 4096)) && /^\s*<(?:\?xml|!--|!doctype svg|svg)/i.test(text))
    return 'image/svg+xml';
  if (kind === 'html' || /^\s*<!doctype\s+html/i.test(text)) return 'text/html';
  return undefined;
}

/**
 * file-type's answer made more precise where the engine knows better: it calls every XML
 * document `application/xml`, SVG images included.
 */
export function refineFileType(mime: string, head: Uint8Array): string {
  if (mime !== 'application/xml') return mime;
  const text = Buffer.from(head.buffer, head.byteOffset, head.length).toString('latin1');
  return markupType(text, 'other') === 'image/svg+xml' ? 'image/svg+xml' : mime;
}
