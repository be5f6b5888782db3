import { describe, expect, it } from 'vitest';
import { downloadName } from '../../api/download-name.js';

const ID = '0123456789abcdef0123456789abcdef';
const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';

describe('the file name a sanitized copy is offered under', () => {
  it('keeps letters, digits, dots, underscores and hyphens of the original name', () => {
    expect(downloadName('holiday photo (1).jpg', ID, 'image/jpeg')).toBe('holiday_photo_1.jpg');
    expect(downloadName('IMG_0001.JPG', ID, 'image/jpeg')).toBe('IMG_0001.JPG');
    expect(downloadName('scan.tif', ID, 'image/tiff')).toBe('scan.tif');
  });

  it('never offers a header, a path or a hidden file', () => {
    expect(downloadName('a"; filename=evil.exe', ID, 'image/png')).toBe('a_filename_evil.png');
    expect(downloadName('../../etc/passwd', ID, 'text/html')).toBe('etc_passwd.html');
    expect(downloadName('.htaccess', ID, 'text/html')).toBe(`${ID}.html`);
    expect(downloadName('名前.pdf', ID, 'application/pdf')).toBe(`${ID}.pdf`);
  });

  it('gives the extension of the copy’s type when the original’s is another type’s', () => {
    expect(downloadName('report.docm', ID, DOCX)).toBe('report.docx');
    expect(downloadName('picture', ID, 'image/webp')).toBe('picture.webp');
    expect(downloadName('data.bin', ID, 'application/x-unknown')).toBe('data.bin');
  });
});
