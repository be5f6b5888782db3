import type { CompilerOptions } from '@litko/yara-x';

/**
 * How every YARA source is compiled here, the project's language rules and tenants' own alike.
 * `include` reads files from the scanning host (and a compile error would quote them), so it is
 * off; modules that reach outside the scanned bytes are refused; slow patterns and loops are
 * errors, because one rule may run over every file of every scan of its tenant.
 */
export const COMPILE_OPTIONS: CompilerOptions = {
  enableIncludes: false,
  errorOnSlowPattern: true,
  errorOnSlowLoop: true,
  bannedModules: [
    refused('console', 'writes to the service log'),
    refused('cuckoo', 'reads a sandbox report, not the scanned content'),
    refused('magic', 'reads the host file system (libmagic database)'),
    refused('vt', 'describes VirusTotal data this service does not have'),
  ],
};

function refused(
  name: string,
  why: string,
): {
  name: string;
  errorTitle: string;
  errorMessage: string;
} {
  return {
    name,
    errorTitle: `module "${name}" is not allowed`,
    errorMessage: `the ${name} module ${why}`,
  };
}

/** One compiler error or warning, as the rules API reports it. */
export interface CompilerMessage {
  code: string;
  /** 1-based, in the source as given; absent when the compiler does not say. */
  line?: number;
  column?: number;
  /** The first line of the compiler's message, without the code prefix. */
  message: string;
  /** The compiler's full text, with the quoted source and the marker under the problem. */
  detail: string;
}

/**
 * YARA-X reports the place inside its message text (`--> line:3:12`) rather than in fields:
 * read it from there.
 */
export function describeCompilerMessage(raw: {
  code: string;
  message: string;
  line?: number | undefined;
  column?: number | undefined;
}): CompilerMessage {
  const place = /-->\s*line:(\d+):(\d+)/.exec(raw.message);
  const line = raw.line ?? (place ? Number(place[1]) : undefined);
  const column = raw.column ?? (place ? Number(place[2]) : undefined);
  const first = raw.message.split('\n')[0] ?? raw.message;
  const message = first.replace(/^(error|warning)\[[^\]]*\]:\s*/, '');
  return {
    code: raw.code,
    ...(line === undefined ? {} : { line }),
    ...(column === undefined ? {} : { column }),
    message,
    detail: raw.message,
  };
}
