// The server's limits on an uploaded image (shared/images.py), checked before sending so the person
// learns at once: PNG, JPEG or WebP judged by the file's first bytes (not its name), at most 10 MB,
// 64 to 4096 pixels a side. The server checks again; its answer is the one that counts.
export const MAX_BYTES = 10 * 1024 * 1024;
export const MIN_SIDE = 64;
export const MAX_SIDE = 4096;

function typeOf(bytes) {
  const starts = (...sig) => sig.every((b, i) => b === null || bytes[i] === b);
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return "PNG";
  if (starts(0xff, 0xd8, 0xff)) return "JPEG";
  if (starts(0x52, 0x49, 0x46, 0x46, null, null, null, null, 0x57, 0x45, 0x42, 0x50)) return "WebP";
  return null;
}

const megabytes = (n) => `${(n / 1024 / 1024).toFixed(1)} MB`;

// {ok: true, width, height, type} or {ok: false, message}.
export async function checkImage(file) {
  if (file.size > MAX_BYTES) {
    return { ok: false, message: `The image is ${megabytes(file.size)}; the limit is 10 MB.` };
  }
  if (file.size === 0) return { ok: false, message: "The file is empty." };
  const type = typeOf(new Uint8Array(await file.slice(0, 12).arrayBuffer()));
  if (!type) return { ok: false, message: "The image must be a PNG, JPEG or WebP file." };
  let width, height;
  try {
    const bitmap = await createImageBitmap(file);
    [width, height] = [bitmap.width, bitmap.height];
    bitmap.close();
  } catch {
    return { ok: false, message: `This ${type} file is damaged and cannot be decoded.` };
  }
  if (Math.min(width, height) < MIN_SIDE || Math.max(width, height) > MAX_SIDE) {
    return { ok: false, message: `The image is ${width}×${height}; each side must be ${MIN_SIDE} to ${MAX_SIDE} pixels.` };
  }
  return { ok: true, type, width, height };
}
