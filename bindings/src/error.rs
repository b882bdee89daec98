//! The one error type of the surface. Every variant carries fields, so Kotlin gets
//! `SetlinkException.Forbidden(docId, role, kind)` and Swift `SetlinkError.forbidden(...)`
//! that an app can branch on, not just a message.

use setlink_core::attachment::AttachmentError;
use setlink_core::device::DeviceError;
use setlink_core::model::DomainError;
use setlink_core::store::StoreError;

#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum SetlinkError {
    /// The store was closed; open it again to use it.
    #[error("this store is closed; open it again")]
    StoreClosed,
    #[error("`{value}` is not a valid {what}: {reason}")]
    InvalidId {
        what: String,
        value: String,
        reason: String,
    },
    #[error("{what} `{id}` not found")]
    NotFound { what: String, id: String },
    #[error("a {role} may not {action}")]
    Forbidden { role: String, action: String },
    #[error("this device has no identity yet: call setIdentity (or redeemInvite) first")]
    NoIdentity,
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: String, reason: String },
    /// A status change the rules forbid from the record's current status.
    #[error("cannot {event} a {what} that is {from}; {hint}")]
    InvalidTransition {
        what: String,
        from: String,
        event: String,
        hint: String,
    },
    /// The operation is not possible in the record's current state (a status transition
    /// the rules forbid, a revision already acknowledged, ...).
    #[error("{reason}")]
    NotPossible { reason: String },
    #[error("storage error at `{path}`: {detail}")]
    Storage { path: String, detail: String },
    /// A document does not have the expected shape (newer app version or damage).
    #[error("document is damaged or from a newer version: {detail}")]
    Corrupt { detail: String },
    #[error("sync error: {detail}")]
    Sync { detail: String },
    /// The relay could not be reached (no network, relay down, timed out): offline, try
    /// again later.
    #[error("cannot reach the relay at {host}: {detail}")]
    Unreachable { host: String, detail: String },
    /// The relay's TLS certificate is not trusted (`reason` says why: not issued by a
    /// trusted authority, wrong name, expired). A self-hosted relay needs the production's
    /// CA certificate in `RelayOptions.trusted_ca_pem`; otherwise this may be a captive
    /// portal or an attacker, and retrying will not help.
    #[error("the relay's certificate is not trusted ({host}): {reason}")]
    UntrustedCertificate { host: String, reason: String },
    /// TLS failed for another reason than the certificate (no common protocol version...).
    #[error("TLS with {host} failed: {detail}")]
    Tls { host: String, detail: String },
    #[error("relay refused: {status} {detail}")]
    Relay { status: u16, detail: String },
    /// The write rules refused changes to a document (`rule` is a stable name such as
    /// `authorship` or `transition`; `path` is where in the document; `detail` a sentence
    /// for people; not `message`, which Kotlin exceptions already have).
    #[error("changes to {doc_id} refused by the `{rule}` rule at {path}: {detail}")]
    Refused {
        doc_id: String,
        rule: String,
        path: String,
        detail: String,
    },
    /// The bytes given as a photo are empty; nothing was stored.
    #[error("the photo is empty (0 bytes)")]
    PhotoEmpty,
    /// The photo is larger than attachments may be (20 MiB); nothing was stored.
    #[error("the photo is {size_bytes} bytes; the largest accepted is {max_bytes} bytes (20 MiB)")]
    PhotoTooLarge { size_bytes: u64, max_bytes: u64 },
    /// The bytes are not a JPEG, PNG, HEIC or PDF (whatever the file is called);
    /// `detected` says what they look like. Nothing was stored.
    #[error("the photo is {detected}, not a JPEG, PNG, HEIC or PDF")]
    PhotoUnsupported { detected: String },
    /// Bytes downloaded for a photo are not that photo (their sha256 differs); nothing
    /// was stored.
    #[error("the bytes received for photo {expected_hash} hash to {actual_hash}: damaged in transit or the wrong file")]
    PhotoDamaged {
        expected_hash: String,
        actual_hash: String,
    },
    #[error("internal error: {detail}")]
    Internal { detail: String },
}

impl SetlinkError {
    pub(crate) fn internal(detail: impl ToString) -> Self {
        SetlinkError::Internal {
            detail: detail.to_string(),
        }
    }

    pub(crate) fn invalid(field: &str, reason: impl ToString) -> Self {
        SetlinkError::InvalidInput {
            field: field.to_owned(),
            reason: reason.to_string(),
        }
    }
}

impl From<setlink_core::client::ConnectError> for SetlinkError {
    fn from(err: setlink_core::client::ConnectError) -> Self {
        use setlink_core::client::ConnectError as C;
        match err {
            e @ (C::InvalidUrl { .. } | C::InsecureRemote { .. }) => {
                SetlinkError::invalid("relay_url", e)
            }
            C::InvalidCa { reason } => SetlinkError::invalid("trusted_ca_pem", reason),
            C::UntrustedCertificate { host, reason } => {
                SetlinkError::UntrustedCertificate { host, reason }
            }
            C::Tls { host, detail } => SetlinkError::Tls { host, detail },
            C::Unreachable { host, detail } => SetlinkError::Unreachable { host, detail },
            e @ C::TimedOut => SetlinkError::Unreachable {
                host: String::new(),
                detail: e.to_string(),
            },
            C::Rejected { status, detail } => SetlinkError::Relay { status, detail },
        }
    }
}

fn store_path(err: &StoreError) -> String {
    match err {
        StoreError::CannotOpen { path, .. }
        | StoreError::NotADatabase { path }
        | StoreError::Foreign { path, .. }
        | StoreError::TooNew { path, .. }
        | StoreError::Corrupt { path, .. }
        | StoreError::Locked { path }
        | StoreError::Sqlite { path, .. } => path.display().to_string(),
        _ => String::new(),
    }
}

impl From<StoreError> for SetlinkError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::UnknownDocument(id) => SetlinkError::NotFound {
                what: "document".into(),
                id: id.to_string(),
            },
            other => SetlinkError::Storage {
                path: store_path(&other),
                detail: other.to_string(),
            },
        }
    }
}

impl From<DeviceError> for SetlinkError {
    fn from(err: DeviceError) -> Self {
        match err {
            DeviceError::Store(e) => e.into(),
            DeviceError::NoIdentity => SetlinkError::NoIdentity,
            DeviceError::Domain(e) => e.into(),
            DeviceError::UnknownDocument(id) => SetlinkError::NotFound {
                what: "document".into(),
                id: id.to_string(),
            },
            DeviceError::Forbidden { doc_id, kind, role } => SetlinkError::Forbidden {
                role: role.to_string(),
                action: format!("write {} document {doc_id}", crate::types::kind_name(&kind)),
            },
            DeviceError::Refused { doc_id, refusal } => SetlinkError::Refused {
                doc_id: doc_id.to_string(),
                rule: refusal.rule.as_str().to_owned(),
                path: refusal.path,
                detail: refusal.detail,
            },
            DeviceError::Attachment(e) => e.into(),
            other => SetlinkError::internal(other),
        }
    }
}

impl From<DomainError> for SetlinkError {
    fn from(err: DomainError) -> Self {
        let not_found = |what: &str, id: String| SetlinkError::NotFound {
            what: what.to_owned(),
            id,
        };
        match err {
            DomainError::UnknownRun(id) => not_found("run", id),
            DomainError::UnknownTask(id) => not_found("task", id),
            DomainError::UnknownStop { stop, .. } => not_found("stop", stop),
            DomainError::UnknownItem { item, .. } => not_found("item", item),
            DomainError::UnknownReceipt { receipt, .. } => not_found("receipt", receipt),
            DomainError::UnknownChecklistEntry { entry, .. } => not_found("checklist entry", entry),
            DomainError::UnknownMember(id) => not_found("member", id),
            DomainError::UnknownGearItem(id) => not_found("gear item", id),
            DomainError::UnknownBackgroundPerson(id) => not_found("background person", id),
            DomainError::UnknownCallSheetEntry { what, id } => not_found(what, id),
            DomainError::Forbidden {
                role,
                action,
                allowed,
            } => SetlinkError::Forbidden {
                role: role.to_string(),
                action: format!("{action} (ask a {allowed})"),
            },
            DomainError::InvalidTransition {
                what,
                from,
                event,
                hint,
            } => SetlinkError::InvalidTransition {
                what: what.to_owned(),
                from,
                event,
                hint: hint.to_owned(),
            },
            DomainError::OutOfRange { field, reason }
            | DomainError::InvalidValue { field, reason } => SetlinkError::InvalidInput {
                field: field.to_owned(),
                reason,
            },
            DomainError::Corrupt(detail) => SetlinkError::Corrupt { detail },
            other @ (DomainError::AlreadyExists(_)
            | DomainError::NotInitialised(_)
            | DomainError::NotPublished) => SetlinkError::NotPossible {
                reason: other.to_string(),
            },
        }
    }
}

impl From<AttachmentError> for SetlinkError {
    fn from(err: AttachmentError) -> Self {
        match err {
            AttachmentError::Empty => SetlinkError::PhotoEmpty,
            AttachmentError::TooLarge { size, max } => SetlinkError::PhotoTooLarge {
                size_bytes: size,
                max_bytes: max,
            },
            AttachmentError::UnsupportedType { detected } => {
                SetlinkError::PhotoUnsupported { detected }
            }
            AttachmentError::HashMismatch { expected, actual } => SetlinkError::PhotoDamaged {
                expected_hash: expected,
                actual_hash: actual,
            },
            e @ AttachmentError::InvalidReference { .. } => SetlinkError::invalid("reference", e),
            AttachmentError::NotOnDevice { hash } => SetlinkError::NotFound {
                what: "photo".into(),
                id: hash,
            },
            AttachmentError::CannotRead { path, detail } => {
                SetlinkError::invalid("path", format!("cannot read `{path}`: {detail}"))
            }
        }
    }
}
