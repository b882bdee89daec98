//! Attachments: photos of receipts and proofs of delivery (and PDFs), stored
//! content-addressed by their sha256 and referenced from a run by hash and type.
//!
//! A reference is the string `sha256:<64 lowercase hex>;<mime>`, kept in the existing
//! `photo_ref` of a [`Receipt`](crate::model::run::Receipt) or
//! [`ProofOfDelivery`](crate::model::run::ProofOfDelivery). Anything else in `photo_ref`
//! (free text written before attachments existed) is not an attachment.
//!
//! The type of an attachment is always sniffed from its bytes (the `infer` crate), never
//! taken from a file name or a declared type: only JPEG, PNG, HEIC and PDF are accepted.

use automerge::{Automerge, ReadDoc};
use sha2::{Digest, Sha256};

use crate::model::run::{runs_map, RunRecord};
use crate::model::util;

/// The largest attachment accepted, on the device and on the relay.
pub const MAX_ATTACHMENT_BYTES: u64 = 20 * 1024 * 1024;

/// The prefix of an attachment reference.
const REFERENCE_PREFIX: &str = "sha256:";

/// What an attachment is, as sniffed from its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttachmentType {
    Jpeg,
    Png,
    Heic,
    Pdf,
}

impl AttachmentType {
    pub const ALL: [AttachmentType; 4] = [
        AttachmentType::Jpeg,
        AttachmentType::Png,
        AttachmentType::Heic,
        AttachmentType::Pdf,
    ];

    pub fn mime(self) -> &'static str {
        match self {
            AttachmentType::Jpeg => "image/jpeg",
            AttachmentType::Png => "image/png",
            AttachmentType::Heic => "image/heic",
            AttachmentType::Pdf => "application/pdf",
        }
    }

    /// The usual file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            AttachmentType::Jpeg => "jpg",
            AttachmentType::Png => "png",
            AttachmentType::Heic => "heic",
            AttachmentType::Pdf => "pdf",
        }
    }

    /// The type a mime string names (exactly as [`Self::mime`] spells it, ASCII case
    /// ignored); `None` for any other.
    pub fn from_mime(mime: &str) -> Option<AttachmentType> {
        let mime = mime.trim();
        Self::ALL
            .into_iter()
            .find(|t| t.mime().eq_ignore_ascii_case(mime))
    }
}

impl std::fmt::Display for AttachmentType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.mime())
    }
}

/// ISO-BMFF major brands of HEIF images (HEVC-coded or the generic image brands). AVIF's
/// own brands are not here: an AVIF is not accepted.
const HEIF_BRANDS: [&[u8; 4]; 8] = [
    b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1",
];

/// The attachment type of `bytes`, from their content; `None` for anything but JPEG, PNG,
/// HEIC (every HEIF brand) and PDF.
pub fn sniff(bytes: &[u8]) -> Option<AttachmentType> {
    match infer::get(bytes).map(|t| t.mime_type()) {
        Some("image/jpeg") => return Some(AttachmentType::Jpeg),
        Some("image/png") => return Some(AttachmentType::Png),
        Some("image/heif") => return Some(AttachmentType::Heic),
        Some("application/pdf") => return Some(AttachmentType::Pdf),
        // AVIF shares HEIF's `mif1` brand; infer tells it apart by its compatible brands.
        Some("image/avif") => return None,
        _ => {}
    }
    // infer knows HEIF only as `heic`/`heix`, or `mif1`/`msf1` listing `heic`; phones
    // and cameras also write the other HEIF brands.
    let major = bytes.get(8..12)?;
    (bytes.get(4..8) == Some(b"ftyp") && HEIF_BRANDS.iter().any(|b| b.as_slice() == major))
        .then_some(AttachmentType::Heic)
}

/// The sha256 of `bytes`, as 64 lowercase hex digits: an attachment's name everywhere.
pub fn hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether `s` is a hash as [`hash`] writes it (64 lowercase hex digits).
pub fn is_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// An attachment: its content hash, its sniffed type and its size in bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AttachmentRef {
    /// sha256, 64 lowercase hex digits.
    pub hash: String,
    pub kind: AttachmentType,
    pub size: u64,
}

impl AttachmentRef {
    /// `sha256:<hex>;<mime>`, what a run's `photo_ref` holds (the size is not in it).
    pub fn to_reference(&self) -> String {
        format!("{REFERENCE_PREFIX}{};{}", self.hash, self.kind.mime())
    }

    /// The hash and type of a reference written by [`Self::to_reference`]; `None` for
    /// anything else (free text from before attachments, a malformed hash, another type).
    pub fn parse_reference(reference: &str) -> Option<(String, AttachmentType)> {
        let rest = reference.trim().strip_prefix(REFERENCE_PREFIX)?;
        let (hash, mime) = rest.split_once(';')?;
        if !is_hash(hash) {
            return None;
        }
        Some((hash.to_owned(), AttachmentType::from_mime(mime)?))
    }

    /// Checks `bytes` as a new attachment (not empty, not over
    /// [`MAX_ATTACHMENT_BYTES`], a type [`sniff`] accepts) and names it.
    pub fn for_bytes(bytes: &[u8]) -> Result<AttachmentRef, AttachmentError> {
        let size = bytes.len() as u64;
        if size == 0 {
            return Err(AttachmentError::Empty);
        }
        if size > MAX_ATTACHMENT_BYTES {
            return Err(AttachmentError::TooLarge {
                size,
                max: MAX_ATTACHMENT_BYTES,
            });
        }
        let kind = sniff(bytes).ok_or_else(|| AttachmentError::UnsupportedType {
            detected: describe(bytes),
        })?;
        Ok(AttachmentRef {
            hash: hash(bytes),
            kind,
            size,
        })
    }
}

/// What `bytes` look like, for an error message about an unsupported type.
fn describe(bytes: &[u8]) -> String {
    match infer::get(bytes) {
        Some(t) => format!("{} ({})", t.mime_type(), t.extension()),
        None if std::str::from_utf8(bytes).is_ok() => "text".to_owned(),
        None => "unrecognised bytes".to_owned(),
    }
}

/// Why bytes are not accepted as an attachment, or an attachment is not available.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AttachmentError {
    #[error("the attachment is empty (0 bytes)")]
    Empty,
    #[error("the attachment is {size} bytes; the largest accepted is {max} bytes (20 MiB)")]
    TooLarge { size: u64, max: u64 },
    #[error("the attachment is {detected}, not a JPEG, PNG, HEIC or PDF")]
    UnsupportedType { detected: String },
    #[error(
        "the bytes received for attachment {expected} hash to {actual}: damaged or the wrong file"
    )]
    HashMismatch { expected: String, actual: String },
    #[error("`{value}` is not an attachment reference (`sha256:<64 hex digits>;<mime>`) or hash")]
    InvalidReference { value: String },
    #[error("attachment {hash} is not on this device")]
    NotOnDevice { hash: String },
    #[error("cannot read `{path}`: {detail}")]
    CannotRead { path: String, detail: String },
}

/// Every attachment hash referenced by a receipt or a proof of delivery on a board
/// document, sorted and without repeats. Runs whose fields cannot be read are skipped (a
/// photo they reference is not reachable through them); a document that is not a board
/// references nothing.
pub fn references_in_board(doc: &Automerge) -> Vec<String> {
    let Ok(runs) = runs_map(doc) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for id in doc.keys(&runs) {
        // The record alone: the status log says nothing about photos, and the relay asks
        // this on every attachment request.
        let Ok(record) = util::hydrate_at::<_, RunRecord>(doc, &runs, id.as_str()) else {
            continue;
        };
        let refs = record
            .receipts
            .iter()
            .filter_map(|r| r.photo_ref.as_deref())
            .chain(
                record
                    .proof_of_delivery
                    .as_ref()
                    .and_then(|p| p.photo_ref.as_deref()),
            );
        out.extend(refs.filter_map(|r| AttachmentRef::parse_reference(r).map(|(h, _)| h)));
    }
    out.sort();
    out.dedup();
    out
}

/// Whether a board document references `hash` (see [`references_in_board`]).
pub fn board_references(doc: &Automerge, hash: &str) -> bool {
    references_in_board(doc).iter().any(|h| h == hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{Author, Role};
    use crate::model::run::{
        add_receipt, create_run, init_board, set_proof_of_delivery, NewRun, ProofInput,
        ReceiptInput, RunKind,
    };
    use automerge::transaction::Transactable;

    pub(crate) const JPEG: &[u8] = &[
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00,
    ];
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    const HEIC: &[u8] = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic";
    const PDF: &[u8] = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj";

    #[test]
    fn sniffs_the_four_accepted_types_from_their_bytes() {
        assert_eq!(sniff(JPEG), Some(AttachmentType::Jpeg));
        assert_eq!(sniff(PNG), Some(AttachmentType::Png));
        assert_eq!(sniff(HEIC), Some(AttachmentType::Heic));
        assert_eq!(sniff(PDF), Some(AttachmentType::Pdf));
        // Other HEIF brands, as phones write them.
        assert_eq!(
            sniff(b"\0\0\0\x18ftypmif1\0\0\0\0mif1hevc"),
            Some(AttachmentType::Heic)
        );
        assert_eq!(
            sniff(b"\0\0\0\x14ftypheix\0\0\0\0mif1"),
            Some(AttachmentType::Heic)
        );
        // AVIF, GIF, a zip, text, nothing: refused.
        assert_eq!(sniff(b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf"), None);
        assert_eq!(sniff(b"GIF89a\x01\0\x01\0"), None);
        assert_eq!(sniff(b"PK\x03\x04\x14\0\0\0\x08\0"), None);
        assert_eq!(sniff(b"hello, this is not a photo"), None);
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(&[0xFF, 0xD8]), None);
    }

    #[test]
    fn mime_and_extension_round_trip() {
        for t in AttachmentType::ALL {
            assert_eq!(AttachmentType::from_mime(t.mime()), Some(t));
            assert_eq!(t.to_string(), t.mime());
        }
        assert_eq!(
            AttachmentType::from_mime("IMAGE/JPEG"),
            Some(AttachmentType::Jpeg)
        );
        assert_eq!(AttachmentType::from_mime("image/gif"), None);
        assert_eq!(AttachmentType::Jpeg.extension(), "jpg");
    }

    #[test]
    fn references_round_trip_and_free_text_is_not_one() {
        let a = AttachmentRef::for_bytes(JPEG).unwrap();
        assert_eq!(a.size, JPEG.len() as u64);
        assert_eq!(a.hash, hash(JPEG));
        assert!(is_hash(&a.hash));
        let r = a.to_reference();
        assert!(
            r.starts_with("sha256:") && r.ends_with(";image/jpeg"),
            "{r}"
        );
        assert!(r.len() <= 200);
        assert_eq!(
            AttachmentRef::parse_reference(&r),
            Some((a.hash.clone(), AttachmentType::Jpeg))
        );
        for not in [
            "IMG_0042.jpg",
            "",
            "sha256:abc;image/jpeg",
            &format!("sha256:{};image/gif", a.hash),
            &format!("sha256:{};", a.hash),
            &format!("sha256:{}", a.hash),
            &format!("sha256:{};image/jpeg", a.hash.to_uppercase()),
            &format!("md5:{};image/jpeg", a.hash),
        ] {
            assert_eq!(AttachmentRef::parse_reference(not), None, "{not}");
        }
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            hash(b"test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
    }

    #[test]
    fn bytes_are_checked_before_they_are_named() {
        assert_eq!(AttachmentRef::for_bytes(b""), Err(AttachmentError::Empty));
        let err = AttachmentRef::for_bytes(b"just some text").unwrap_err();
        assert_eq!(
            err,
            AttachmentError::UnsupportedType {
                detected: "text".into()
            }
        );
        assert!(
            err.to_string().contains("not a JPEG, PNG, HEIC or PDF"),
            "{err}"
        );
        let gif = AttachmentRef::for_bytes(b"GIF89a\x01\0\x01\0").unwrap_err();
        assert!(gif.to_string().contains("image/gif"), "{gif}");
        let mut big = JPEG.to_vec();
        big.resize(MAX_ATTACHMENT_BYTES as usize + 1, 0);
        assert!(matches!(
            AttachmentRef::for_bytes(&big),
            Err(AttachmentError::TooLarge { .. })
        ));
        big.truncate(MAX_ATTACHMENT_BYTES as usize);
        assert!(AttachmentRef::for_bytes(&big).is_ok());
    }

    #[test]
    fn a_board_references_the_photos_of_its_receipts_and_proofs() {
        let pa = Author {
            member_id: "pa-1".into(),
            device_id: "d-1".into(),
            role: Role::Pa,
        };
        let coordinator = Author {
            role: Role::Coordinator,
            ..pa.clone()
        };
        // Any time in the years the domain accepts.
        let t = 1_780_000_000_000;
        let mut doc = Automerge::new();
        assert!(references_in_board(&doc).is_empty());
        init_board(&mut doc, &coordinator, t).unwrap();
        let run = create_run(&mut doc, &pa, t, NewRun::new(RunKind::Pickup, "Tape", "me")).unwrap();
        let other = create_run(&mut doc, &pa, t, NewRun::new(RunKind::Other, "x", "me")).unwrap();
        let receipt = AttachmentRef::for_bytes(JPEG).unwrap();
        let proof = AttachmentRef::for_bytes(PNG).unwrap();
        for photo_ref in [
            Some(receipt.to_reference()),
            Some(receipt.to_reference()),
            Some("IMG_1.jpg".to_owned()),
            None,
        ] {
            let input = ReceiptInput {
                vendor: "Hardware".into(),
                total_cents: 100,
                photo_ref,
                ..Default::default()
            };
            add_receipt(&mut doc, &pa, t, &run, input).unwrap();
        }
        let proof_input = ProofInput {
            received_by: "Props".into(),
            note: None,
            photo_ref: Some(proof.to_reference()),
        };
        set_proof_of_delivery(&mut doc, &pa, t, &other, proof_input).unwrap();
        let mut want = vec![receipt.hash.clone(), proof.hash.clone()];
        want.sort();
        assert_eq!(references_in_board(&doc), want);
        assert!(board_references(&doc, &proof.hash));
        assert!(!board_references(&doc, &hash(PDF)));

        // A run whose fields cannot be read no longer reaches its photos.
        let runs = runs_map(&doc).unwrap();
        let run_obj = crate::model::util::get_map(&doc, &runs, run.as_str()).unwrap();
        let mut tx = doc.transaction();
        tx.put(&run_obj, "title", 42).unwrap();
        tx.commit();
        assert_eq!(references_in_board(&doc), vec![proof.hash.clone()]);
    }
}
