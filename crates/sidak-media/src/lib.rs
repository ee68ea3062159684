//! Photos as the office sees them: a small preview, and a copy without the embedded location.
//!
//! Devices upload the exact bytes the camera wrote; those bytes are the evidence and their
//! hash is what a record names, so nothing here changes a stored blob. What this crate makes
//! is derived, for people: [`thumbnail`] for the dashboard, and [`without_location`] for
//! exports, which must not carry where an officer or a worker was (EXIF GPS, XMP) unless an
//! administrator asks for the original.
//!
//! Every input comes from a device and is treated as hostile: decoding is bounded in
//! dimensions and memory ([`MAX_SIDE`], [`MAX_DECODE_BYTES`]) and every failure is an error,
//! never a panic.

use std::io::Cursor;

pub use bytes::Bytes;
use image::{DynamicImage, ImageDecoder, ImageReader, Limits};
use img_parts::{DynImage, ImageEXIF};
use thiserror::Error;

/// The longest side of an image this crate decodes, in pixels.
pub const MAX_SIDE: u32 = 16_384;

/// The most memory one decode may allocate, in bytes.
pub const MAX_DECODE_BYTES: u64 = 512 * 1024 * 1024;

/// The longest side of a dashboard thumbnail, in pixels.
pub const THUMBNAIL_SIDE: u32 = 320;

/// Why a photo could not be handled.
#[derive(Debug, Error)]
pub enum MediaError {
    /// The bytes are not a readable image of the type they claim.
    #[error("the file is not a readable {media_type} image: {reason}")]
    Unreadable {
        /// The media type the record declared.
        media_type: String,
        /// What the decoder said.
        reason: String,
    },
    /// The image is larger than this crate decodes.
    #[error(
        "the image is larger than {MAX_SIDE} pixels a side or {MAX_DECODE_BYTES} bytes decoded"
    )]
    TooLarge,
    /// The media type has no preview (a PDF document).
    #[error("{0} has no preview")]
    NoPreview(String),
}

impl MediaError {
    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unreadable { .. } => "unreadable_image",
            Self::TooLarge => "image_too_large",
            Self::NoPreview(_) => "no_preview",
        }
    }
}

fn format_of(media_type: &str) -> Result<image::ImageFormat, MediaError> {
    match media_type {
        "image/jpeg" => Ok(image::ImageFormat::Jpeg),
        "image/png" => Ok(image::ImageFormat::Png),
        "image/webp" => Ok(image::ImageFormat::WebP),
        other => Err(MediaError::NoPreview(other.chars().take(60).collect())),
    }
}

fn unreadable(media_type: &str, e: impl std::fmt::Display) -> MediaError {
    MediaError::Unreadable {
        media_type: media_type.to_owned(),
        reason: e.to_string().chars().take(200).collect(),
    }
}

/// Decodes an image under the size limits, turned upright as its EXIF orientation says.
fn decode(bytes: &[u8], media_type: &str) -> Result<DynamicImage, MediaError> {
    let format = format_of(media_type)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| map_decode(media_type, e))?;
    let orientation = decoder.orientation().ok();
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| map_decode(media_type, e))?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    Ok(img)
}

fn map_decode(media_type: &str, e: image::ImageError) -> MediaError {
    match e {
        image::ImageError::Limits(_) => MediaError::TooLarge,
        other => unreadable(media_type, other),
    }
}

/// A JPEG preview whose longest side is at most `max_side` pixels, upright.
pub fn thumbnail(bytes: &[u8], media_type: &str, max_side: u32) -> Result<Vec<u8>, MediaError> {
    let img = decode(bytes, media_type)?;
    let side = max_side.clamp(16, 2048);
    let small = if img.width() <= side && img.height() <= side {
        img.into_rgb8()
    } else {
        img.thumbnail(side, side).into_rgb8()
    };
    let mut out = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80);
    small
        .write_with_encoder(encoder)
        .map_err(|e| unreadable(media_type, e))?;
    Ok(out)
}

/// The photo without the metadata that can hold a location: EXIF (GPS), XMP and text chunks.
///
/// The pixels are untouched (no re-encoding). A PDF is returned as it is: phone scanners do
/// not write a position into it, and rewriting a signed document would change what was signed.
pub fn without_location(bytes: Bytes, media_type: &str) -> Result<Bytes, MediaError> {
    if media_type == "application/pdf" {
        return Ok(bytes);
    }
    format_of(media_type)?;
    let mut img = DynImage::from_bytes(bytes)
        .map_err(|e| unreadable(media_type, e))?
        .ok_or_else(|| unreadable(media_type, "not JPEG, PNG or WebP"))?;
    img.set_exif(None);
    match &mut img {
        // APP1 holds EXIF and XMP; APP13 holds IPTC (Photoshop), which has place fields.
        DynImage::Jpeg(j) => {
            j.remove_segments_by_marker(img_parts::jpeg::markers::APP1);
            j.remove_segments_by_marker(img_parts::jpeg::markers::APP13);
        }
        DynImage::Png(p) => {
            for kind in [*b"eXIf", *b"iTXt", *b"tEXt", *b"zTXt"] {
                p.remove_chunks_by_type(kind);
            }
        }
        DynImage::WebP(w) => {
            for id in [*b"EXIF", *b"XMP "] {
                w.remove_chunks_by_id(id);
            }
        }
    }
    Ok(img.encoder().bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Rgb};
    use proptest::prelude::*;

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = ImageBuffer::from_fn(w, h, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
        let mut out = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Jpeg)
            .unwrap();
        out
    }

    /// A JPEG with an EXIF APP1 segment naming a GPS position and an XMP segment, as phones write.
    fn jpeg_with_location(w: u32, h: u32) -> Vec<u8> {
        let plain = jpeg(w, h);
        let mut exif = b"Exif\0\0MM\0*\0\0\0\x08".to_vec();
        exif.extend_from_slice(b"GPSLatitude -5.1477 GPSLongitude 119.4327");
        let xmp = b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta exif:GPSLatitude=\"5,8.86S\"/>";
        let mut out = plain[..2].to_vec();
        for seg in [&exif[..], &xmp[..]] {
            out.extend_from_slice(&[0xFF, 0xE1]);
            out.extend_from_slice(&u16::try_from(seg.len() + 2).unwrap().to_be_bytes());
            out.extend_from_slice(seg);
        }
        out.extend_from_slice(&plain[2..]);
        out
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn a_thumbnail_is_a_small_jpeg() {
        let t = thumbnail(&jpeg(1600, 1200), "image/jpeg", THUMBNAIL_SIDE).unwrap();
        let img = image::load_from_memory(&t).unwrap();
        assert_eq!((img.width(), img.height()), (320, 240));
        let mut png = Vec::new();
        DynamicImage::ImageRgba8(ImageBuffer::from_pixel(50, 200, image::Rgba([1, 2, 3, 4])))
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let t = thumbnail(&png, "image/png", THUMBNAIL_SIDE).unwrap();
        let img = image::load_from_memory(&t).unwrap();
        assert_eq!((img.width(), img.height()), (50, 200), "never enlarged");
    }

    #[test]
    fn the_location_is_removed_and_the_pixels_kept() {
        let original = jpeg_with_location(64, 48);
        assert!(contains(&original, b"GPSLatitude"));
        let stripped = without_location(Bytes::from(original.clone()), "image/jpeg").unwrap();
        assert!(!contains(&stripped, b"GPSLatitude"));
        assert!(!contains(&stripped, b"xmpmeta"));
        let a = image::load_from_memory(&original).unwrap().into_rgb8();
        let b = image::load_from_memory(&stripped).unwrap().into_rgb8();
        assert_eq!(a, b, "same pixels, no re-encoding");
        let pdf = Bytes::from_static(b"%PDF-1.7 signed note");
        assert_eq!(
            without_location(pdf.clone(), "application/pdf").unwrap(),
            pdf
        );
    }

    #[test]
    fn hostile_bytes_are_errors() {
        for (bytes, ty, code) in [
            (b"not an image".to_vec(), "image/jpeg", "unreadable_image"),
            (
                jpeg(10, 10)[..40].to_vec(),
                "image/jpeg",
                "unreadable_image",
            ),
            (b"%PDF".to_vec(), "application/pdf", "no_preview"),
            (jpeg(10, 10), "image/png", "unreadable_image"),
        ] {
            let e = thumbnail(&bytes, ty, 100).unwrap_err();
            assert_eq!(e.code(), code, "{e}");
        }
        assert!(without_location(Bytes::from_static(b"junk"), "image/jpeg").is_err());
    }

    #[test]
    fn an_image_claiming_huge_dimensions_is_refused_before_decoding() {
        let mut png = Vec::new();
        DynamicImage::ImageLuma8(ImageBuffer::from_pixel(4, 4, image::Luma([0])))
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        // IHDR width at bytes 16..20: claim 100,000 pixels (the CRC no longer matches either).
        png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        assert!(thumbnail(&png, "image/png", 100).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), ty in 0usize..3) {
            let ty = ["image/jpeg", "image/png", "image/webp"][ty];
            let _ = thumbnail(&bytes, ty, 64);
            let _ = without_location(Bytes::from(bytes), ty);
        }
    }
}
