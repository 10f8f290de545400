// A QR code as an image the page can show under its CSP (img-src data:), made here: no CDN.
import qrcode from 'qrcode-generator';

/** A GIF data URL of `text` as a QR code (error correction M), `cell` pixels a module. */
export function qrDataUrl(text: string, cell = 6): string {
  const qr = qrcode(0, 'M');
  qr.addData(text);
  qr.make();
  return qr.createDataURL(cell, cell * 2);
}
