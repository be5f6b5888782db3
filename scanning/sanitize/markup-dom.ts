import { createRequire } from 'node:module';
import createDOMPurify from 'dompurify';

/**
 * The part of jsdom's window and of DOMPurify the markup sanitizers use, typed here: the
 * project compiles without the DOM library (it runs on Node), so neither jsdom's window nor
 * DOMPurify's DOM-typed signatures would otherwise have types.
 */

export interface MarkupAttr {
  readonly name: string;
  readonly value: string;
}

export interface MarkupElement {
  readonly localName: string;
  readonly namespaceURI: string | null;
  readonly children: Iterable<MarkupElement>;
  readonly outerHTML: string;
  textContent: string | null;
  hasAttribute(name: string): boolean;
  setAttribute(name: string, value: string): void;
  getElementsByTagNameNS(namespace: string, localName: string): Iterable<MarkupElement>;
  prepend(node: MarkupElement): void;
}

export interface MarkupDocument {
  readonly documentElement: MarkupElement;
  readonly head: MarkupElement;
  createElement(name: string): MarkupElement;
}

export interface MarkupWindow {
  readonly DOMParser: new () => { parseFromString(text: string, type: string): MarkupDocument };
  readonly XMLSerializer: new () => { serializeToString(node: MarkupDocument): string };
  close(): void;
}

/** A window of jsdom's, with its defaults: no script runs and no resource loads in it. */
export function createMarkupWindow(): MarkupWindow {
  const { JSDOM } = createRequire(import.meta.url)('jsdom') as {
    JSDOM: new (html: string) => { window: MarkupWindow };
  };
  return new JSDOM('').window;
}

/** DOMPurify's options the sanitizers set (see DOMPurify's documentation). */
export interface PurifyConfig {
  USE_PROFILES?: { svg?: boolean; svgFilters?: boolean; html?: boolean };
  ADD_TAGS?: string[];
  FORBID_TAGS?: string[];
  FORBID_ATTR?: string[];
  NAMESPACE?: string;
  WHOLE_DOCUMENT?: boolean;
  IN_PLACE?: boolean;
}

export interface AttributeHookEvent {
  readonly attrName: string;
  attrValue: string;
  keepAttr: boolean;
}

export interface Purify {
  sanitize(root: MarkupElement, config: PurifyConfig): unknown;
  addHook(
    entryPoint: 'uponSanitizeAttribute',
    hook: (node: MarkupElement, event: AttributeHookEvent) => void,
  ): void;
  /** What the last `sanitize` removed. */
  readonly removed: readonly {
    element?: MarkupElement;
    attribute?: MarkupAttr | null;
    from?: MarkupElement;
  }[];
}

/** DOMPurify bound to the window. */
export function createPurify(window: MarkupWindow): Purify {
  return (createDOMPurify as unknown as (window: MarkupWindow) => Purify)(window);
}
