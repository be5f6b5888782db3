/**
 * HTML and XML character references (`&amp;`, `&#43;`, `&#x2B;`), for the readers that decode
 * markup: data URIs in HTML (archives/formats/html.ts) and the text of markup for the language
 * rules (analysis/text/markup-text.ts). The named ones are those such content uses in
 * practice, not the full HTML table.
 */
const NAMED_REFERENCES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  plus: '+',
  sol: '/',
  equals: '=',
  percnt: '%',
  comma: ',',
  colon: ':',
  semi: ';',
  nbsp: '\u00a0',
  shy: '\u00ad',
  ndash: '–',
  mdash: '—',
  hellip: '…',
  lsquo: '‘',
  rsquo: '’',
  ldquo: '“',
  rdquo: '”',
  copy: '©',
  reg: '®',
  trade: '™',
};

/** The text of a character reference (`#43`, `#x2B`, `plus`: what stands between & and ;). */
export function characterReference(reference: string): string | undefined {
  const numeric = /^#(x[0-9a-f]+|[0-9]+)$/i.exec(reference)?.[1];
  if (numeric === undefined) return NAMED_REFERENCES[reference];
  const code =
    numeric[0] === 'x' || numeric[0] === 'X' ? parseInt(numeric.slice(1), 16) : Number(numeric);
  return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : undefined;
}
