/** Archive unpacking for the built-in engine: zip, gzip and tar (and their nestings). */
export { walkContent, RATIO_FLOOR, MAX_REPORTED } from './walk.js';
export { sniffArchive, type ArchiveFormat } from './sniff.js';
export type {
  ArchiveLimits,
  Member,
  Unscannable,
  UnscannableReason,
  Visitor,
  WalkOptions,
  WalkResult,
} from './types.js';
