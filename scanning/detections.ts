import type { Detection } from './engine.js';

/**
 * One detection per place and finding (two signatures naming EICAR make one), and none for a
 * container when a member inside it has the same finding: a stored member's bytes are also the
 * container's bytes, and the member is the place to name. Sorted: shallow paths first, then by
 * path, finding and signature.
 */
export function innermost(detections: Detection[]): Detection[] {
  const key = (finding: string, path: string[]) => JSON.stringify([finding, ...path]);
  const enclosing = new Set<string>();
  for (const { finding, path } of detections) {
    for (let length = 1; length < path.length; length++) {
      enclosing.add(key(finding, path.slice(0, length)));
    }
  }
  const seen = new Set<string>();
  return detections.sort(compareDetections).filter(({ finding, path }) => {
    const at = key(finding, path);
    if (enclosing.has(at) || seen.has(at)) return false;
    seen.add(at);
    return true;
  });
}

/** Shallow paths first, then by path and finding: a stable order for traces and tests. */
function compareDetections(a: Detection, b: Detection): number {
  if (a.path.length !== b.path.length) return a.path.length - b.path.length;
  const left = `${a.path.join('/')}\0${a.finding}\0${a.signature}`;
  const right = `${b.path.join('/')}\0${b.finding}\0${b.signature}`;
  return left < right ? -1 : left > right ? 1 : 0;
}
