//! The refusal notice: how a relay tells a writer that a change was refused.
//!
//! It travels as the `data` of an automerge-repo `ephemeral` message about the refused
//! document, CBOR-encoded like every ephemeral payload. That is the one message every
//! stock client accepts without side effects: automerge-repo JS hands it to the app as an
//! `ephemeral-message` event on the document's handle, samod ignores what it does not
//! understand, and neither closes the connection, reconnects or resends the refused
//! change (an `error` message would make samod drop the connection and resend the change
//! on every reconnect). Our own `Device` decodes it into a [`Notice`].

use minicbor::data::Type;
use minicbor::decode::Decoder;
use minicbor::encode::Encoder;

/// The `type` field that marks a refusal notice.
pub const NOTICE_TYPE: &str = "setlink/refused";

/// A refusal as the writer hears it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// The document the refused change was for (automerge-repo id, base58check).
    pub document_id: String,
    /// The rule's stable name ([`super::Rule::as_str`]), or `cost`, or `forbidden`.
    pub rule: String,
    /// Where in the document.
    pub path: String,
    /// A sentence for people.
    pub message: String,
}

pub fn encode(n: &Notice) -> Vec<u8> {
    let mut e = Encoder::new(Vec::with_capacity(128));
    // Writing into a Vec cannot fail.
    let _ = e
        .map(5)
        .and_then(|e| e.str("type")?.str(NOTICE_TYPE))
        .and_then(|e| e.str("documentId")?.str(&n.document_id))
        .and_then(|e| e.str("rule")?.str(&n.rule))
        .and_then(|e| e.str("path")?.str(&n.path))
        .and_then(|e| e.str("message")?.str(&n.message));
    e.into_writer()
}

/// Decodes a notice; `None` for any other ephemeral payload.
pub fn decode(data: &[u8]) -> Option<Notice> {
    let mut d = Decoder::new(data);
    let len = d.map().ok()??;
    let (mut ty, mut n) = (
        None,
        Notice {
            document_id: String::new(),
            rule: String::new(),
            path: String::new(),
            message: String::new(),
        },
    );
    for _ in 0..len.min(32) {
        let key = d.str().ok()?.to_owned();
        if d.datatype().ok()? != Type::String {
            d.skip().ok()?;
            continue;
        }
        let value = d.str().ok()?.to_owned();
        match key.as_str() {
            "type" => ty = Some(value),
            "documentId" => n.document_id = value,
            "rule" => n.rule = value,
            "path" => n.path = value,
            "message" => n.message = value,
            _ => {}
        }
    }
    (ty.as_deref() == Some(NOTICE_TYPE)).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_round_trips_and_other_payloads_are_not_notices() {
        let n = Notice {
            document_id: "4NMNnkMhL8jXrdJ9jamS58PAVdXu".into(),
            rule: "authorship".into(),
            path: "runs/r1/events/e1".into(),
            message: "the event names m2 (coordinator), but it was written by m1 (pa)".into(),
        };
        assert_eq!(decode(&encode(&n)), Some(n));
        let mut e = Encoder::new(Vec::new());
        e.map(1).unwrap().str("eta").unwrap().u64(600).unwrap();
        assert_eq!(decode(&e.into_writer()), None);
        assert_eq!(decode(b"\xff\x00garbage"), None);
    }
}
