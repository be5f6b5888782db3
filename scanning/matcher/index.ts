export { ContentScanner, EICAR_SIGNATURE_NAME, type ScanSession } from './content-scanner.js';
