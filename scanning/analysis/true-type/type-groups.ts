/**
 * Media types and file-name extensions sorted into the few groups that the file type rule
 * (type-rule.ts) reasons about. A type or extension listed nowhere is `other`: it never makes a
 * finding, neither as what the bytes are nor as what the name or declared type claims.
 */
export type TypeGroup =
  | 'executable'
  | 'script'
  | 'archive'
  | 'markup'
  | 'document'
  | 'image'
  | 'media'
  | 'text'
  | 'other';

const EXECUTABLE_TYPES = [
  'application/x-msdownload',
  'application/vnd.microsoft.portable-executable',
  'application/x-dosexec',
  'application/x-elf',
  'application/x-mach-binary',
  'application/java-vm',
  'application/java-archive',
  'application/vnd.android.package-archive',
  'application/wasm',
  'application/x.ms.shortcut',
  'application/x-deb',
  'application/x-rpm',
  'application/x-msi',
  'application/x-google-chrome-extension',
  'application/x-xpinstall',
  'application/x-shockwave-flash',
];

const SCRIPT_TYPES = [
  'text/x-shellscript',
  'application/x-sh',
  'text/x-python',
  'text/x-perl',
  'text/x-ruby',
  'text/javascript',
  'application/javascript',
  'application/x-httpd-php',
  'text/x-msdos-batch',
  'application/x-bat',
  'text/x-powershell',
  'application/x-ms-regedit',
];

const ARCHIVE_TYPES = [
  'application/zip',
  'application/gzip',
  'application/x-gzip',
  'application/x-7z-compressed',
  'application/x-rar-compressed',
  'application/vnd.rar',
  'application/x-bzip2',
  'application/x-xz',
  'application/zstd',
  'application/x-tar',
  'application/vnd.ms-cab-compressed',
  'application/x-lzh-compressed',
  'application/x-arj',
  'application/x-cpio',
  'application/x-unix-archive',
  'application/x-compress',
  'application/x-lz4',
  'application/x-lzip',
  'application/x-ace-compressed',
  'application/x-apple-diskimage',
  'application/x-iso9660-image',
  'application/x-asar',
];

const MARKUP_TYPES = ['text/html', 'application/xhtml+xml'];

/** Documents, by exact type; Office and OpenDocument types also by prefix (DOCUMENT_PREFIXES). */
const DOCUMENT_TYPES = [
  'application/pdf',
  'application/x-cfb',
  'application/msword',
  'application/vnd.ms-excel',
  'application/vnd.ms-powerpoint',
  'application/vnd.ms-outlook',
  'application/rtf',
  'text/rtf',
  'application/epub+zip',
  'application/postscript',
  'application/eps',
  'application/x-mobipocket-ebook',
  'application/vnd.visio',
  'application/oxps',
  'application/vnd.ms-xpsdocument',
];
const DOCUMENT_PREFIXES = [
  'application/vnd.openxmlformats-officedocument.',
  'application/vnd.oasis.opendocument.',
  'application/vnd.ms-word.',
  'application/vnd.ms-excel.',
  'application/vnd.ms-powerpoint.',
  'application/vnd.apple.',
];

const TEXT_TYPES = [
  'text/plain',
  'text/csv',
  'text/tab-separated-values',
  'text/markdown',
  'text/xml',
  'application/xml',
  'application/json',
  'application/yaml',
  'text/yaml',
  'text/calendar',
  'text/vcard',
  'text/vtt',
];

const GROUP_OF_TYPE = new Map<string, TypeGroup>([
  ...EXECUTABLE_TYPES.map((type) => [type, 'executable'] as const),
  ...SCRIPT_TYPES.map((type) => [type, 'script'] as const),
  ...ARCHIVE_TYPES.map((type) => [type, 'archive'] as const),
  ...MARKUP_TYPES.map((type) => [type, 'markup'] as const),
  ...DOCUMENT_TYPES.map((type) => [type, 'document'] as const),
  ...TEXT_TYPES.map((type) => [type, 'text'] as const),
]);

/** The group of a media type (lower case, without parameters). */
export function groupOfType(type: string): TypeGroup {
  const listed = GROUP_OF_TYPE.get(type);
  if (listed) return listed;
  if (DOCUMENT_PREFIXES.some((prefix) => type.startsWith(prefix))) return 'document';
  if (type.startsWith('image/')) return 'image';
  if (type.startsWith('audio/') || type.startsWith('video/')) return 'media';
  return 'other';
}

/** Extensions (lower case, no dot) and the group a name ending in one claims to be. */
const EXTENSIONS: Record<Exclude<TypeGroup, 'other'>, string> = {
  executable: 'exe dll sys scr com cpl ocx msi elf so dylib apk jar class wasm lnk deb rpm',
  script: 'sh bash zsh ps1 psm1 bat cmd vbs vbe js jse mjs wsf wsh hta py pl rb php phtml reg',
  archive: 'zip gz tgz 7z rar bz2 tbz2 xz txz zst tar cab lzh lha arj cpio ar z lz lz4 iso dmg',
  markup: 'html htm xhtml shtml mht mhtml',
  document:
    'pdf doc docx docm dot dotx dotm xls xlsx xlsm xlsb xlt xltx ppt pptx pptm pps ppsx pot potx odt ods odp odg rtf epub xps oxps pages numbers key ps eps mobi vsd vsdx',
  image:
    'jpg jpeg jpe jfif png apng gif webp bmp dib tif tiff svg ico cur heic heif avif jxl jp2 psd',
  media:
    'mp3 wav ogg oga opus flac m4a aac wma mp4 m4v mov avi mkv webm wmv mpg mpeg 3gp flv mid midi',
  text: 'txt text csv tsv json xml md markdown log yaml yml ics vcf vtt srt',
};

const GROUP_OF_EXTENSION = new Map<string, TypeGroup>(
  Object.entries(EXTENSIONS).flatMap(([group, list]) =>
    list.split(' ').map((extension) => [extension, group as TypeGroup] as const),
  ),
);

/** The group a file name's extension claims (`other` for an extension not listed). */
export function groupOfExtension(extension: string): TypeGroup {
  return GROUP_OF_EXTENSION.get(extension) ?? 'other';
}

/**
 * Extensions of documents that are zip archives inside (Office Open XML, OpenDocument, EPUB,
 * XPS, iWork): bytes read as a plain zip are what such a document is, not a disguise.
 */
const ZIP_DOCUMENTS = new Set(
  'docx docm dotx dotm xlsx xlsm xlsb xltx pptx pptm ppsx potx odt ods odp odg epub xps oxps pages numbers key vsdx'.split(
    ' ',
  ),
);

/** Declared types of such documents (their prefixes: Office Open XML and OpenDocument). */
const ZIP_DOCUMENT_TYPE =
  /^application\/(?:vnd\.openxmlformats-officedocument\.|vnd\.oasis\.opendocument\.|vnd\.ms-[a-z]+\.[a-z.]*macroenabled|epub\+zip|oxps|vnd\.ms-xpsdocument|vnd\.apple\.)/;

/** Whether a claim (an extension, or a declared type) names a document that is a zip inside. */
export function isZipDocumentClaim(claim: { extension?: string; type?: string }): boolean {
  if (claim.extension !== undefined) return ZIP_DOCUMENTS.has(claim.extension);
  return claim.type !== undefined && ZIP_DOCUMENT_TYPE.test(claim.type);
}
