/** Archive unpacking for the built-in engine: zip, gzip, zstd and tar built in, other formats as handlers. */
export { walkContent, RATIO_FLOOR, MAX_REPORTED } from './walk.js';
export { sniffArchive, type ArchiveFormat } from './sniff.js';
export type {
  ArchiveLimits,
  EmbeddedImage,
  FormatHandler,
  ListedMember,
  MemberInfo,
  UnpackContext,
  UnpackInput,
  Member,
  Unscannable,
  UnscannableReason,
  Visitor,
  WalkOptions,
  WalkResult,
} from './types.js';
export { UnpackError } from './format.js';
