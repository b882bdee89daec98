//! setlink-ffi: the uniffi surface of setlink-core for Kotlin, Swift and Python.
//!
//! uniffi types live only here; core stays free of them.

uniffi::setup_scaffolding!();

#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum SetlinkError {
    #[error("invalid id `{value}`: {reason}")]
    InvalidId { value: String, reason: String },
}

/// Normalises a document id or `automerge:` URL to its bare base58check form.
#[uniffi::export]
pub fn parse_document_id(value: String) -> Result<String, SetlinkError> {
    setlink_core::DocumentId::parse(&value)
        .map(|id| id.to_string())
        .map_err(|e| SetlinkError::InvalidId {
            value,
            reason: e.to_string(),
        })
}
