//! Test photos: JPEGs of noise, which compress about as badly as a phone's photo of a
//! receipt does (~1.4 bytes a pixel at quality 90), so sizes and costs are realistic.

/// A `w × h` JPEG; each `seed` gives different bytes.
pub fn jpeg(w: u32, h: u32, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    let img = image::RgbImage::from_fn(w, h, |_, _| {
        // xorshift32: cheap noise, no rand state to thread through.
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        image::Rgb([x as u8, (x >> 8) as u8, (x >> 16) as u8])
    });
    let mut out = Vec::new();
    // Encoding into a Vec cannot fail for an RGB image of this size.
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&img)
        .expect("encode a test JPEG");
    out
}
