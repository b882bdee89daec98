//! Attachments on the device: durable, stored once, checked before anything is stored,
//! and a download cache that never evicts the device's own photos.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use setlink_core::attachment::{hash, AttachmentError, AttachmentRef, AttachmentType};
use setlink_core::device::AttachmentObserver;
use setlink_core::model::run::{self, NewRun, ReceiptInput, RunKind};
use setlink_core::store::AttachmentOrigin;
use setlink_core::{Author, Clock, Device, DeviceError, DocKind, Role};

struct TestClock(AtomicI64);
impl Clock for TestClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

fn clock() -> Arc<TestClock> {
    Arc::new(TestClock(AtomicI64::new(1_780_000_000_000)))
}

/// A JPEG as far as sniffing goes: the JFIF header, then `len` bytes that differ by `seed`.
fn jpeg(len: usize, seed: u8) -> Vec<u8> {
    let mut b = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00,
    ];
    b.extend((0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    b
}

fn author(role: Role) -> Author {
    Author {
        member_id: "pa-1".into(),
        device_id: "d-1".into(),
        role,
    }
}

#[test]
fn a_photo_survives_reopening_and_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let photo = jpeg(5000, 1);
    let a = {
        let mut d = Device::open_with_clock(&path, clock()).unwrap();
        let a = d.add_attachment(&photo).unwrap();
        let again = d.add_attachment(&photo).unwrap();
        assert_eq!(a, again);
        assert_eq!(a.kind, AttachmentType::Jpeg);
        assert_eq!(a.size, photo.len() as u64);
        assert_eq!(a.hash, hash(&photo));
        assert_eq!(d.pending_uploads().unwrap(), vec![a.clone()]);
        assert_eq!(d.bytes_pending_upload().unwrap(), photo.len() as u64);
        a
        // Dropped without any shutdown: every call was durable when it returned.
    };
    let mut d = Device::open(&path).unwrap();
    assert_eq!(d.attachment_bytes(&a.hash).unwrap(), Some(photo.clone()));
    let info = d.attachment_info(&a.hash).unwrap().unwrap();
    assert_eq!(info.attachment, a);
    assert_eq!(info.origin, AttachmentOrigin::Local);
    assert!(!info.uploaded);
    assert_eq!(d.pending_uploads().unwrap(), vec![a.clone()]);

    assert!(d.mark_uploaded(&a.hash).unwrap());
    assert!(d.pending_uploads().unwrap().is_empty());
    assert_eq!(d.bytes_pending_upload().unwrap(), 0);
    // Taking the same photo again does not make it pending again.
    d.add_attachment(&photo).unwrap();
    assert!(d.pending_uploads().unwrap().is_empty());
    assert!(!d.mark_uploaded(&hash(b"unknown")).unwrap());
}

#[test]
fn bytes_that_are_not_a_photo_are_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Device::open(dir.path().join("device.db")).unwrap();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (Vec::new(), "empty"),
        (b"<html>not a photo</html>".to_vec(), "text"),
        (b"GIF89a\x01\x00\x01\x00\x00\x00".to_vec(), "image/gif"),
        (jpeg(20 * 1024 * 1024, 0), "20971520 bytes"),
    ];
    for (bytes, says) in cases {
        let err = d.add_attachment(&bytes).unwrap_err();
        assert!(matches!(err, DeviceError::Attachment(_)), "{err:?}");
        assert!(err.to_string().contains(says), "{says}: {err}");
    }
    assert!(d.pending_uploads().unwrap().is_empty());
    assert_eq!(d.bytes_pending_upload().unwrap(), 0);
    assert_eq!(d.attachment_bytes(&hash(b"")).unwrap(), None);

    // Files: the content decides, not the name; a missing file is a clear error.
    let fake = dir.path().join("receipt.jpg");
    std::fs::write(&fake, b"%!PS-Adobe-3.0 not really").unwrap();
    let err = d.add_attachment_file(&fake).unwrap_err();
    assert!(
        err.to_string().contains("not a JPEG, PNG, HEIC or PDF"),
        "{err}"
    );
    let err = d
        .add_attachment_file(dir.path().join("missing.jpg"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            DeviceError::Attachment(AttachmentError::CannotRead { .. })
        ),
        "{err:?}"
    );
    let pdf = dir.path().join("scan.bin");
    std::fs::write(&pdf, b"%PDF-1.4\n1 0 obj\n").unwrap();
    let a = d.add_attachment_file(&pdf).unwrap();
    assert_eq!(a.kind, AttachmentType::Pdf);
    assert_eq!(d.pending_uploads().unwrap(), vec![a]);

    // A hash that is not one is refused, not looked up.
    let err = d.attachment_bytes("IMG_0001.jpg").unwrap_err();
    assert!(
        err.to_string().contains("not an attachment reference"),
        "{err}"
    );
}

#[test]
fn downloads_are_checked_and_the_cache_evicts_downloads_but_never_own_photos() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut d = Device::open_with_clock(dir.path().join("device.db"), clock.clone()).unwrap();
    assert_eq!(d.attachment_cache_budget(), 100 * 1024 * 1024);
    d.set_attachment_cache_budget(2500).unwrap();
    let tick = || clock.0.fetch_add(1000, Ordering::SeqCst);

    // Damaged or mislabelled downloads are refused and nothing is stored.
    let photo = jpeg(1000, 7);
    let err = d.store_downloaded(&hash(b"other"), &photo).unwrap_err();
    assert!(
        matches!(
            err,
            DeviceError::Attachment(AttachmentError::HashMismatch { .. })
        ),
        "{err:?}"
    );
    let text = b"plain text".to_vec();
    assert!(d.store_downloaded(&hash(&text), &text).is_err());
    assert_eq!(d.attachment_info(&hash(&photo)).unwrap(), None);

    let own = d.add_attachment(&jpeg(3000, 9)).unwrap();
    tick();
    let a = d
        .store_downloaded(&hash(&jpeg(1000, 1)), &jpeg(1000, 1))
        .unwrap();
    tick();
    let b = d
        .store_downloaded(&hash(&jpeg(1000, 2)), &jpeg(1000, 2))
        .unwrap();
    tick();
    // Reading `a` makes it the most recently used, so `b` goes first.
    assert!(d.attachment_bytes(&a.hash).unwrap().is_some());
    tick();
    let c = d
        .store_downloaded(&hash(&jpeg(1000, 3)), &jpeg(1000, 3))
        .unwrap();
    let info = d.attachment_info(&c.hash).unwrap().unwrap();
    assert_eq!(info.origin, AttachmentOrigin::Downloaded);
    assert!(info.uploaded, "a download is on the relay already");
    assert!(d.attachment_info(&a.hash).unwrap().is_some());
    assert!(
        d.attachment_info(&b.hash).unwrap().is_none(),
        "b was least recently used"
    );
    // The device's own photo is over the budget alone and still kept.
    assert!(d.attachment_bytes(&own.hash).unwrap().is_some());

    // A downloaded photo the device then takes as its own is kept for good.
    let keep = d.add_attachment(&jpeg(1000, 3)).unwrap();
    assert_eq!(keep, c);
    assert_eq!(
        d.attachment_info(&c.hash).unwrap().unwrap().origin,
        AttachmentOrigin::Local
    );
    assert!(d
        .pending_uploads()
        .unwrap()
        .iter()
        .all(|p| p.hash != c.hash));
    let evicted = d.set_attachment_cache_budget(0).unwrap();
    assert_eq!(evicted, vec![a.hash.clone()]);
    assert!(d.attachment_bytes(&c.hash).unwrap().is_some());
    assert!(d.attachment_bytes(&own.hash).unwrap().is_some());
}

#[derive(Default)]
struct Pending(AtomicU64, AtomicU64);
impl AttachmentObserver for Pending {
    fn pending_changed(&self, bytes: u64) {
        self.0.store(bytes, Ordering::SeqCst);
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn boards_referencing_a_photo_are_found_and_observers_hear_pending_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Device::open_with_clock(dir.path().join("device.db"), clock()).unwrap();
    let pending = Arc::new(Pending::default());
    let observer = d.add_attachment_observer(pending.clone());
    d.set_identity(author(Role::Coordinator)).unwrap();
    let day = DocKind::Board {
        day: "2026-06-01".into(),
    };
    let board = d.create_document(day).unwrap();
    let other = d
        .create_document(DocKind::Board {
            day: "2026-06-02".into(),
        })
        .unwrap();
    for b in [board, other] {
        d.apply(&b, run::init_board).unwrap();
    }
    let photo = jpeg(2000, 4);
    let a = d.add_attachment(&photo).unwrap();
    assert_eq!(pending.0.load(Ordering::SeqCst), photo.len() as u64);
    assert!(d.documents_referencing(&a.hash).is_empty());

    let run_id = d
        .apply(&board, |doc, by, at| {
            run::create_run(
                doc,
                by,
                at,
                NewRun::new(RunKind::SupplyPurchase, "Gaff", "me"),
            )
        })
        .unwrap();
    let receipt = ReceiptInput {
        vendor: "Hardware".into(),
        total_cents: 1299,
        photo_ref: Some(a.to_reference()),
        ..Default::default()
    };
    d.apply(&board, |doc, by, at| {
        run::add_receipt(doc, by, at, &run_id, receipt)
    })
    .unwrap();
    assert_eq!(d.documents_referencing(&a.hash), vec![board]);
    assert_eq!(
        AttachmentRef::parse_reference(&a.to_reference()),
        Some((a.hash.clone(), AttachmentType::Jpeg))
    );

    d.mark_uploaded(&a.hash).unwrap();
    assert_eq!(pending.0.load(Ordering::SeqCst), 0);
    assert!(d.remove_observer(observer));
    let calls = pending.1.load(Ordering::SeqCst);
    d.add_attachment(&jpeg(10, 5)).unwrap();
    assert_eq!(
        pending.1.load(Ordering::SeqCst),
        calls,
        "removed observers hear nothing"
    );
}
