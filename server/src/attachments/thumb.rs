//! Thumbnails for the dashboard: a JPEG no larger than [`THUMB_SIDE`] on its long side,
//! made once when an upload completes. Decoding is also the relay's proof that a JPEG or
//! PNG is an image and not merely bytes with the right first few: a file that does not
//! decode is refused.

use std::io::Cursor;

use image::{ImageDecoder, ImageReader, Limits};
use setlink_core::attachment::AttachmentType;

/// The long side of a thumbnail, in pixels: a receipt stays readable on the run page.
pub const THUMB_SIDE: u32 = 320;

/// The largest picture decoded: phones take ~50 MP at most; a header claiming more is a
/// decompression bomb, not a receipt.
const MAX_PIXELS_SIDE: u32 = 16_384;
const MAX_DECODE_BYTES: u64 = 512 * 1024 * 1024;

/// A thumbnail of a JPEG or PNG (turned upright by its EXIF orientation), `Ok(None)` for
/// kinds the relay does not draw (HEIC, PDF), or why the bytes are not a readable image.
pub fn thumbnail(kind: AttachmentType, bytes: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let format = match kind {
        AttachmentType::Jpeg => image::ImageFormat::Jpeg,
        AttachmentType::Png => image::ImageFormat::Png,
        AttachmentType::Heic | AttachmentType::Pdf => return Ok(None),
    };
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_PIXELS_SIDE);
    limits.max_image_height = Some(MAX_PIXELS_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| format!("not a readable {}: {e}", kind.mime()))?;
    let orientation = decoder.orientation().ok();
    let mut img = image::DynamicImage::from_decoder(decoder)
        .map_err(|e| format!("not a readable {}: {e}", kind.mime()))?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    let thumb = img.thumbnail(THUMB_SIDE, THUMB_SIDE).into_rgb8();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
        .encode_image(&thumb)
        .map_err(|e| format!("cannot make a thumbnail: {e}"))?;
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
        });
        let mut out = Vec::new();
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn a_large_photo_becomes_a_small_jpeg_of_the_same_shape() {
        let t = thumbnail(AttachmentType::Png, &png(1200, 600))
            .unwrap()
            .unwrap();
        let img = image::load_from_memory(&t).unwrap();
        assert_eq!((img.width(), img.height()), (THUMB_SIDE, THUMB_SIDE / 2));
        assert_eq!(
            setlink_core::attachment::sniff(&t),
            Some(AttachmentType::Jpeg)
        );
    }

    #[test]
    fn bytes_that_only_start_like_an_image_are_refused() {
        let mut fake = png(10, 10)[..40].to_vec();
        fake.extend_from_slice(&[0u8; 100]);
        let err = thumbnail(AttachmentType::Png, &fake).unwrap_err();
        assert!(err.starts_with("not a readable image/png"), "{err}");
    }

    #[test]
    fn heic_and_pdf_have_no_thumbnail() {
        assert_eq!(thumbnail(AttachmentType::Pdf, b"%PDF-1.7 ..."), Ok(None));
    }
}
