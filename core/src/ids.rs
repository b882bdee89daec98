//! Identifiers: automerge-repo document IDs and the UUID-based ids of domain records.
//!
//! automerge-repo addresses a document by the base58check encoding of a UUIDv4's 16
//! bytes, and its URLs are `automerge:<id>`. We use exactly that encoding so a
//! JavaScript or Swift automerge-repo client can name our documents.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;
use uuid::Uuid;

/// An automerge-repo document ID: 16 random bytes, shown as base58check.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentId([u8; 16]);

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum IdError {
    #[error("`{0}` is not an automerge-repo document id (base58check of 16 bytes)")]
    BadDocumentId(String),
    #[error("`{0}` is not a uuid")]
    BadUuid(String),
}

impl DocumentId {
    /// A fresh random document ID (UUIDv4 bytes).
    pub fn random() -> Self {
        DocumentId(*Uuid::new_v4().as_bytes())
    }

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        DocumentId(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The `automerge:<id>` URL automerge-repo clients use.
    pub fn url(&self) -> String {
        format!("automerge:{self}")
    }

    /// Accepts either a bare id or an `automerge:` URL.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        s.parse()
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(&self.0).with_check().into_string())
    }
}

impl fmt::Debug for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentId({self})")
    }
}

impl FromStr for DocumentId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let raw = s.strip_prefix("automerge:").unwrap_or(s);
        let bytes = bs58::decode(raw)
            .with_check(None)
            .into_vec()
            .map_err(|_| IdError::BadDocumentId(s.to_owned()))?;
        let arr: [u8; 16] = bytes
            .try_into()
            .map_err(|_| IdError::BadDocumentId(s.to_owned()))?;
        Ok(DocumentId(arr))
    }
}

/// A new random id for a domain record (run, task, event, stop, ...), as a hyphenated UUID string.
pub fn new_record_id() -> String {
    Uuid::new_v4().to_string()
}

/// Checks that `s` is a UUID, for ids that arrive from outside.
pub fn parse_record_id(s: &str) -> Result<Uuid, IdError> {
    Uuid::parse_str(s).map_err(|_| IdError::BadUuid(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_id_round_trips_through_base58check_and_url() {
        let id = DocumentId::random();
        assert_eq!(id.to_string().parse::<DocumentId>().unwrap(), id);
        assert_eq!(DocumentId::parse(&id.url()).unwrap(), id);
    }

    #[test]
    fn document_id_matches_automerge_repo_encoding() {
        // The nil UUID encodes, with a sha256d checksum, to this in automerge-repo.
        let id = DocumentId::from_bytes([0u8; 16]);
        let s = id.to_string();
        assert!(s.starts_with("1111111111111111"), "{s}");
        assert_eq!(s.parse::<DocumentId>().unwrap(), id);
    }

    #[test]
    fn corrupted_document_id_is_rejected() {
        let mut s = DocumentId::random().to_string();
        let last = s.pop().unwrap();
        s.push(if last == '2' { '3' } else { '2' });
        assert!(matches!(
            s.parse::<DocumentId>(),
            Err(IdError::BadDocumentId(_))
        ));
        assert!("not-an-id".parse::<DocumentId>().is_err());
        assert!(bs58::encode([1u8; 15])
            .with_check()
            .into_string()
            .parse::<DocumentId>()
            .is_err());
    }
}
