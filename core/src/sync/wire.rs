//! The automerge-repo 2.x WebSocket wire format: one CBOR map per binary frame.
//!
//! Checked against `@automerge/automerge-repo` 2.5.6 and
//! `@automerge/automerge-repo-network-websocket` 2.5.6, whose frames are captured
//! byte for byte in `core/tests/fixtures/wire/captured.json` (regenerate with
//! `node tests/js/capture_wire.mjs core/tests/fixtures/wire/captured.json`).
//!
//! What the JS side does, and what this module therefore does:
//! - Frames are encoded with cbor-x `Encoder({ tagUint8Array: false, useRecords: false })`:
//!   objects become maps whose header always carries a 16-bit length (`0xb9 nn nn`),
//!   `Uint8Array`s become plain byte strings, strings and arrays use minimal headers, and a
//!   JS number is a minimal unsigned integer when it fits in 32 bits and a float64 otherwise
//!   (`timestamp`, large `count`s). [`encode`] reproduces exactly that, with the keys in the
//!   order the JS repo writes them, so a frame we re-encode is byte-identical to the JS one.
//! - A field the JS leaves unset is often still present with the value `undefined`
//!   (`peerMetadata.storageId` of a repo without storage, `remove` in
//!   `remote-subscription-change`). [`decode`] treats `undefined` and `null` as absent.
//! - [`decode`] is liberal in what it accepts: any key order, minimal or non-minimal
//!   headers, indefinite-length maps and arrays, byte strings tagged as typed arrays
//!   (tag 64, what cbor-x writes with `tagUint8Array: true`), and unknown extra keys, which
//!   it skips. It rejects with a [`WireError`] anything that is not one CBOR map of a known
//!   message type with its required fields of the right types, and never panics.
//!
//! The messages: `join` (initiator → acceptor, first frame on a connection), `peer`
//! (acceptor's answer, with the selected protocol version), `error` (the sender closes the
//! connection after it), `leave` (sent by automerge-repo 1.x clients before closing; 2.x
//! never sends it, but accepting it costs nothing), and the repo messages `request`, `sync`,
//! `doc-unavailable`, `ephemeral`, `remote-subscription-change`, `remote-heads-changed`.
//! Keepalive is WebSocket ping/pong, not a message: the JS server pings every 5 s and
//! drops sockets that do not pong.

use minicbor::data::{Tag, Type};
use minicbor::decode::Decoder;
use minicbor::encode::Encoder;
use thiserror::Error;

use crate::ids::DocumentId;

/// A peer's id as automerge-repo sends it (any string; JS repos use random ones).
pub type PeerId = String;
/// The id of a peer's storage; sync states are persisted per (document, storage id).
pub type StorageId = String;
/// A random id a peer picks at startup; with `count` it deduplicates ephemeral messages.
pub type SessionId = String;

/// The only WebSocket protocol version automerge-repo 2.x defines.
pub const PROTOCOL_V1: &str = "1";

/// Frames larger than this are refused by [`decode`]. A first sync of a large document
/// travels in one frame, so the bound is generous; transports may enforce a smaller one.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 32 * 1024 * 1024;

/// What a peer says about itself in `join` / `peer`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeerMetadata {
    /// Present when the peer has durable storage; sync states are keyed by it.
    pub storage_id: Option<StorageId>,
    /// `true` for peers that keep nothing (no point persisting their sync state).
    pub is_ephemeral: Option<bool>,
    /// setlink extension, key `setlinkPushesChanges` (JS peers ignore unknown metadata):
    /// the peer follows the "push on connect" rule, see [`crate::sync::engine`]'s module
    /// docs. Written only when set, so frames without it stay byte-identical to the JS.
    pub pushes_changes: Option<bool>,
    /// setlink extension, key `setlinkImpliedAcks`: the peer acknowledges sync messages
    /// that carry changes by silence, or takes such silence as an acknowledgement; see
    /// [`crate::sync::engine`]'s module docs. Written only when set.
    pub implied_acks: Option<bool>,
}

/// One entry of `remote-heads-changed.newHeads`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteHeads {
    /// Change hashes as automerge-repo's `UrlHeads` strings (base58).
    pub heads: Vec<String>,
    /// Milliseconds since the epoch.
    pub timestamp: u64,
}

/// One automerge-repo WebSocket message. Field names follow the JS (`senderId` →
/// `sender_id`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Join {
        sender_id: PeerId,
        peer_metadata: Option<PeerMetadata>,
        /// Absent means "1" only (what the JS server assumes).
        supported_protocol_versions: Option<Vec<String>>,
    },
    Peer {
        sender_id: PeerId,
        peer_metadata: Option<PeerMetadata>,
        selected_protocol_version: String,
        target_id: PeerId,
    },
    /// Only sent by automerge-repo 1.x; accepted for compatibility.
    Leave { sender_id: PeerId },
    Error {
        sender_id: Option<PeerId>,
        message: String,
        target_id: Option<PeerId>,
    },
    /// A sync message from a peer that does not have the document and asks for it.
    Request {
        sender_id: PeerId,
        target_id: PeerId,
        document_id: DocumentId,
        /// An encoded `automerge::sync::Message`.
        data: Vec<u8>,
    },
    Sync {
        sender_id: PeerId,
        target_id: PeerId,
        document_id: DocumentId,
        /// An encoded `automerge::sync::Message`.
        data: Vec<u8>,
    },
    DocUnavailable {
        sender_id: PeerId,
        target_id: PeerId,
        document_id: DocumentId,
    },
    Ephemeral {
        sender_id: PeerId,
        target_id: PeerId,
        /// Increases with every ephemeral message of one session.
        count: u64,
        session_id: SessionId,
        document_id: DocumentId,
        /// Application data; JS repos CBOR-encode the broadcast value here.
        data: Vec<u8>,
    },
    RemoteSubscriptionChange {
        sender_id: PeerId,
        target_id: PeerId,
        add: Option<Vec<StorageId>>,
        remove: Option<Vec<StorageId>>,
    },
    RemoteHeadsChanged {
        sender_id: PeerId,
        target_id: PeerId,
        document_id: DocumentId,
        /// In the order they appear on the wire.
        new_heads: Vec<(StorageId, RemoteHeads)>,
    },
}

impl Message {
    /// The `type` string on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            Message::Join { .. } => "join",
            Message::Peer { .. } => "peer",
            Message::Leave { .. } => "leave",
            Message::Error { .. } => "error",
            Message::Request { .. } => "request",
            Message::Sync { .. } => "sync",
            Message::DocUnavailable { .. } => "doc-unavailable",
            Message::Ephemeral { .. } => "ephemeral",
            Message::RemoteSubscriptionChange { .. } => "remote-subscription-change",
            Message::RemoteHeadsChanged { .. } => "remote-heads-changed",
        }
    }

    pub fn sender_id(&self) -> Option<&str> {
        match self {
            Message::Join { sender_id, .. }
            | Message::Peer { sender_id, .. }
            | Message::Leave { sender_id }
            | Message::Request { sender_id, .. }
            | Message::Sync { sender_id, .. }
            | Message::DocUnavailable { sender_id, .. }
            | Message::Ephemeral { sender_id, .. }
            | Message::RemoteSubscriptionChange { sender_id, .. }
            | Message::RemoteHeadsChanged { sender_id, .. } => Some(sender_id),
            Message::Error { sender_id, .. } => sender_id.as_deref(),
        }
    }

    pub fn target_id(&self) -> Option<&str> {
        match self {
            Message::Join { .. } | Message::Leave { .. } => None,
            Message::Peer { target_id, .. }
            | Message::Request { target_id, .. }
            | Message::Sync { target_id, .. }
            | Message::DocUnavailable { target_id, .. }
            | Message::Ephemeral { target_id, .. }
            | Message::RemoteSubscriptionChange { target_id, .. }
            | Message::RemoteHeadsChanged { target_id, .. } => Some(target_id),
            Message::Error { target_id, .. } => target_id.as_deref(),
        }
    }

    /// The document a message is about, for the per-document ones.
    pub fn document_id(&self) -> Option<&DocumentId> {
        match self {
            Message::Request { document_id, .. }
            | Message::Sync { document_id, .. }
            | Message::DocUnavailable { document_id, .. }
            | Message::Ephemeral { document_id, .. }
            | Message::RemoteHeadsChanged { document_id, .. } => Some(document_id),
            _ => None,
        }
    }
}

/// Why a frame could not be decoded. Every variant names what was wrong so a peer can be
/// told in an `error` message.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum WireError {
    #[error("empty frame (automerge-repo never sends zero-length messages)")]
    Empty,
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("frame is not valid CBOR: {0}")]
    Cbor(String),
    #[error("frame must be one CBOR map, found {0}")]
    NotAMap(String),
    #[error("{0} bytes of trailing data after the message")]
    TrailingBytes(usize),
    #[error("message has no `type` string")]
    MissingType,
    #[error("unknown message type `{0}`")]
    UnknownType(String),
    #[error("`{ty}` message is missing required field `{field}`")]
    MissingField {
        ty: &'static str,
        field: &'static str,
    },
    #[error("field `{field}` must be {expected}, found {found}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
        found: String,
    },
    #[error("field `{field}`: `{value}` is not an automerge-repo document id")]
    BadDocumentId { field: &'static str, value: String },
}

impl WireError {
    /// Unknown message types are skipped by automerge-repo rather than treated as a broken
    /// peer; the engine does the same.
    pub fn is_unknown_type(&self) -> bool {
        matches!(self, WireError::UnknownType(_))
    }
}

fn cbor_err(e: minicbor::decode::Error) -> WireError {
    WireError::Cbor(e.to_string())
}

/// Decodes one frame, refusing frames over [`DEFAULT_MAX_FRAME_BYTES`].
pub fn decode(frame: &[u8]) -> Result<Message, WireError> {
    decode_with_limit(frame, DEFAULT_MAX_FRAME_BYTES)
}

/// Decodes one frame, refusing frames over `max_bytes`.
pub fn decode_with_limit(frame: &[u8], max_bytes: usize) -> Result<Message, WireError> {
    if frame.is_empty() {
        return Err(WireError::Empty);
    }
    if frame.len() > max_bytes {
        return Err(WireError::TooLarge {
            len: frame.len(),
            max: max_bytes,
        });
    }
    one_pass::decode_type_first(frame).map_or_else(|| decode_two_passes(frame), Ok)
}

/// Any frame: the first pass finds `type` wherever it is, the second reads the fields
/// that kind of message has.
fn decode_two_passes(frame: &[u8]) -> Result<Message, WireError> {
    let mut d = Decoder::new(frame);
    let ty = d.datatype().map_err(cbor_err)?;
    if !matches!(ty, Type::Map | Type::MapIndef) {
        return Err(WireError::NotAMap(ty.to_string()));
    }
    // First pass: find `type` (it need not be the first key) and check the frame is
    // exactly one well-formed CBOR item.
    let mut type_name: Option<String> = None;
    {
        let mut scan = Decoder::new(frame);
        for_each_entry(&mut scan, |key, dec| {
            if key == Some("type") && dec.datatype().map_err(cbor_err)? == Type::String {
                type_name = Some(dec.str().map_err(cbor_err)?.to_owned());
            } else {
                dec.skip().map_err(cbor_err)?;
            }
            Ok(())
        })?;
        let rest = frame.len() - scan.position();
        if rest != 0 {
            return Err(WireError::TrailingBytes(rest));
        }
    }
    let type_name = type_name.ok_or(WireError::MissingType)?;
    let kind = Kind::from_name(&type_name).ok_or(WireError::UnknownType(type_name))?;

    let mut f = Fields::default();
    for_each_entry(&mut d, |key, dec| match key {
        Some(k) if kind.reads(k) => f.read(k, dec),
        _ => dec.skip().map_err(cbor_err),
    })?;
    f.into_message(kind)
}

/// Calls `f` for every entry of the map at the decoder's position, with the key when it is
/// a text string (other keys are skipped together with their values).
fn for_each_entry<'b>(
    d: &mut Decoder<'b>,
    mut f: impl FnMut(Option<&str>, &mut Decoder<'b>) -> Result<(), WireError>,
) -> Result<(), WireError> {
    let len = d.map().map_err(cbor_err)?;
    let mut i = 0u64;
    loop {
        match len {
            Some(n) if i >= n => break,
            None if d.datatype().map_err(cbor_err)? == Type::Break => {
                d.skip().map_err(cbor_err)?;
                break;
            }
            _ => {}
        }
        if d.datatype().map_err(cbor_err)? == Type::String {
            let key = d.str().map_err(cbor_err)?;
            f(Some(key), d)?;
        } else {
            d.skip().map_err(cbor_err)?;
            f(None, d)?;
        }
        i += 1;
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Join,
    Peer,
    Leave,
    Error,
    Request,
    Sync,
    DocUnavailable,
    Ephemeral,
    RemoteSubscriptionChange,
    RemoteHeadsChanged,
}

impl Kind {
    fn from_name(name: &str) -> Option<Kind> {
        Some(match name {
            "join" => Kind::Join,
            "peer" => Kind::Peer,
            "leave" => Kind::Leave,
            "error" => Kind::Error,
            "request" => Kind::Request,
            "sync" => Kind::Sync,
            "doc-unavailable" => Kind::DocUnavailable,
            "ephemeral" => Kind::Ephemeral,
            "remote-subscription-change" => Kind::RemoteSubscriptionChange,
            "remote-heads-changed" => Kind::RemoteHeadsChanged,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Join => "join",
            Kind::Peer => "peer",
            Kind::Leave => "leave",
            Kind::Error => "error",
            Kind::Request => "request",
            Kind::Sync => "sync",
            Kind::DocUnavailable => "doc-unavailable",
            Kind::Ephemeral => "ephemeral",
            Kind::RemoteSubscriptionChange => "remote-subscription-change",
            Kind::RemoteHeadsChanged => "remote-heads-changed",
        }
    }

    /// The keys this kind of message uses; others are skipped unread, so a stray key of
    /// an unexpected type never makes a frame invalid.
    fn reads(self, key: &str) -> bool {
        let keys: &[&str] = match self {
            Kind::Join => &["senderId", "peerMetadata", "supportedProtocolVersions"],
            Kind::Peer => &[
                "senderId",
                "peerMetadata",
                "selectedProtocolVersion",
                "targetId",
            ],
            Kind::Leave => &["senderId"],
            Kind::Error => &["senderId", "message", "targetId"],
            Kind::Request | Kind::Sync => &["senderId", "targetId", "documentId", "data"],
            Kind::DocUnavailable => &["senderId", "targetId", "documentId"],
            Kind::Ephemeral => &[
                "senderId",
                "targetId",
                "count",
                "sessionId",
                "documentId",
                "data",
            ],
            Kind::RemoteSubscriptionChange => &["senderId", "targetId", "add", "remove"],
            Kind::RemoteHeadsChanged => &["senderId", "targetId", "documentId", "newHeads"],
        };
        keys.contains(&key)
    }
}

#[derive(Default)]
struct Fields {
    sender_id: Option<String>,
    target_id: Option<String>,
    document_id: Option<DocumentId>,
    data: Option<Vec<u8>>,
    message: Option<String>,
    count: Option<u64>,
    session_id: Option<String>,
    peer_metadata: Option<PeerMetadata>,
    supported: Option<Vec<String>>,
    selected: Option<String>,
    add: Option<Vec<String>>,
    remove: Option<Vec<String>>,
    new_heads: Option<Vec<(String, RemoteHeads)>>,
}

fn found(d: &Decoder<'_>) -> String {
    match d.datatype() {
        Ok(t) => t.to_string(),
        Err(e) => e.to_string(),
    }
}

fn wrong(field: &'static str, expected: &'static str, d: &Decoder<'_>) -> WireError {
    WireError::WrongType {
        field,
        expected,
        found: found(d),
    }
}

/// `undefined` and `null` mean "not set" in what JS sends; consumes the value if so.
fn take_absent(d: &mut Decoder<'_>) -> Result<bool, WireError> {
    match d.datatype().map_err(cbor_err)? {
        Type::Undefined | Type::Null => {
            d.skip().map_err(cbor_err)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

fn read_str(d: &mut Decoder<'_>, field: &'static str) -> Result<String, WireError> {
    if d.datatype().map_err(cbor_err)? != Type::String {
        return Err(wrong(field, "a text string", d));
    }
    Ok(d.str().map_err(cbor_err)?.to_owned())
}

fn read_bytes(d: &mut Decoder<'_>, field: &'static str) -> Result<Vec<u8>, WireError> {
    let mut ty = d.datatype().map_err(cbor_err)?;
    if ty == Type::Tag {
        // cbor-x tags a Uint8Array with 64 when `tagUint8Array` is on.
        let pos = d.position();
        let tag = d.tag().map_err(cbor_err)?;
        if tag != Tag::new(64) {
            d.set_position(pos);
            return Err(wrong(field, "a byte string", d));
        }
        ty = d.datatype().map_err(cbor_err)?;
    }
    if ty != Type::Bytes {
        return Err(wrong(field, "a byte string", d));
    }
    Ok(d.bytes().map_err(cbor_err)?.to_vec())
}

/// JavaScript's `Number.MAX_SAFE_INTEGER`: no JS peer can send a larger exact integer.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A JS number that must be a non-negative safe integer (cbor-x writes those above 32 bits
/// as float64).
fn read_js_uint(d: &mut Decoder<'_>, field: &'static str) -> Result<u64, WireError> {
    let out_of_range = |found: String| WireError::WrongType {
        field,
        expected: "a non-negative integer up to 2^53-1",
        found,
    };
    match d.datatype().map_err(cbor_err)? {
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => {
            let x = d.u64().map_err(cbor_err)?;
            if x <= MAX_SAFE_INTEGER {
                Ok(x)
            } else {
                Err(out_of_range(x.to_string()))
            }
        }
        Type::F16 | Type::F32 | Type::F64 => {
            let x = d.f64().map_err(cbor_err)?;
            if x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x <= MAX_SAFE_INTEGER as f64 {
                Ok(x as u64)
            } else {
                Err(out_of_range(x.to_string()))
            }
        }
        _ => Err(wrong(field, "a non-negative integer up to 2^53-1", d)),
    }
}

fn read_str_array(d: &mut Decoder<'_>, field: &'static str) -> Result<Vec<String>, WireError> {
    let len = match d.datatype().map_err(cbor_err)? {
        Type::Array | Type::ArrayIndef => d.array().map_err(cbor_err)?,
        _ => return Err(wrong(field, "an array of strings", d)),
    };
    let mut out = Vec::new();
    let mut i = 0u64;
    loop {
        match len {
            Some(n) if i >= n => break,
            None if d.datatype().map_err(cbor_err)? == Type::Break => {
                d.skip().map_err(cbor_err)?;
                break;
            }
            _ => {}
        }
        out.push(read_str(d, field)?);
        i += 1;
    }
    Ok(out)
}

fn read_document_id(d: &mut Decoder<'_>) -> Result<DocumentId, WireError> {
    let s = read_str(d, "documentId")?;
    s.parse().map_err(|_| WireError::BadDocumentId {
        field: "documentId",
        value: s,
    })
}

fn expect_map(d: &Decoder<'_>, field: &'static str) -> Result<(), WireError> {
    match d.datatype().map_err(cbor_err)? {
        Type::Map | Type::MapIndef => Ok(()),
        _ => Err(wrong(field, "a map", d)),
    }
}

fn read_peer_metadata(d: &mut Decoder<'_>) -> Result<PeerMetadata, WireError> {
    expect_map(d, "peerMetadata")?;
    let mut m = PeerMetadata::default();
    for_each_entry(d, |key, d| {
        match key {
            Some("storageId") => {
                m.storage_id = if take_absent(d)? {
                    None
                } else {
                    Some(read_str(d, "peerMetadata.storageId")?)
                };
            }
            Some("isEphemeral") => m.is_ephemeral = read_opt_bool(d, "peerMetadata.isEphemeral")?,
            Some("setlinkPushesChanges") => {
                m.pushes_changes = read_opt_bool(d, "peerMetadata.setlinkPushesChanges")?;
            }
            Some("setlinkImpliedAcks") => {
                m.implied_acks = read_opt_bool(d, "peerMetadata.setlinkImpliedAcks")?;
            }
            _ => d.skip().map_err(cbor_err)?,
        }
        Ok(())
    })?;
    Ok(m)
}

/// A `peerMetadata` flag: a boolean, or absent (`undefined` / `null`).
fn read_opt_bool(d: &mut Decoder<'_>, key: &'static str) -> Result<Option<bool>, WireError> {
    if take_absent(d)? {
        Ok(None)
    } else if d.datatype().map_err(cbor_err)? == Type::Bool {
        Ok(Some(d.bool().map_err(cbor_err)?))
    } else {
        Err(wrong(key, "a boolean", d))
    }
}

fn read_new_heads(d: &mut Decoder<'_>) -> Result<Vec<(String, RemoteHeads)>, WireError> {
    expect_map(d, "newHeads")?;
    let mut out = Vec::new();
    for_each_entry(d, |key, d| {
        let Some(storage_id) = key else {
            return Err(WireError::WrongType {
                field: "newHeads",
                expected: "a map keyed by storage id strings",
                found: "a non-string key".to_owned(),
            });
        };
        let storage_id = storage_id.to_owned();
        expect_map(d, "newHeads.*")?;
        let mut heads = None;
        let mut timestamp = None;
        for_each_entry(d, |key, d| {
            match key {
                Some("heads") => heads = Some(read_str_array(d, "newHeads.*.heads")?),
                Some("timestamp") => timestamp = Some(read_js_uint(d, "newHeads.*.timestamp")?),
                _ => d.skip().map_err(cbor_err)?,
            }
            Ok(())
        })?;
        let heads = heads.ok_or(WireError::MissingField {
            ty: "remote-heads-changed",
            field: "newHeads.*.heads",
        })?;
        let timestamp = timestamp.ok_or(WireError::MissingField {
            ty: "remote-heads-changed",
            field: "newHeads.*.timestamp",
        })?;
        out.push((storage_id, RemoteHeads { heads, timestamp }));
        Ok(())
    })?;
    Ok(out)
}

impl Fields {
    fn read(&mut self, key: &str, d: &mut Decoder<'_>) -> Result<(), WireError> {
        // Absent-valued keys are the same as missing keys.
        if take_absent(d)? {
            return Ok(());
        }
        match key {
            "senderId" => self.sender_id = Some(read_str(d, "senderId")?),
            "targetId" => self.target_id = Some(read_str(d, "targetId")?),
            "documentId" => self.document_id = Some(read_document_id(d)?),
            "data" => self.data = Some(read_bytes(d, "data")?),
            "message" => self.message = Some(read_str(d, "message")?),
            "count" => self.count = Some(read_js_uint(d, "count")?),
            "sessionId" => self.session_id = Some(read_str(d, "sessionId")?),
            "peerMetadata" => self.peer_metadata = Some(read_peer_metadata(d)?),
            "supportedProtocolVersions" => {
                self.supported = Some(read_str_array(d, "supportedProtocolVersions")?)
            }
            "selectedProtocolVersion" => {
                self.selected = Some(read_str(d, "selectedProtocolVersion")?)
            }
            "add" => self.add = Some(read_str_array(d, "add")?),
            "remove" => self.remove = Some(read_str_array(d, "remove")?),
            "newHeads" => self.new_heads = Some(read_new_heads(d)?),
            _ => d.skip().map_err(cbor_err)?,
        }
        Ok(())
    }

    fn into_message(self, kind: Kind) -> Result<Message, WireError> {
        let ty = kind.name();
        fn req<T>(v: Option<T>, ty: &'static str, field: &'static str) -> Result<T, WireError> {
            v.ok_or(WireError::MissingField { ty, field })
        }
        Ok(match kind {
            Kind::Join => Message::Join {
                sender_id: req(self.sender_id, ty, "senderId")?,
                peer_metadata: self.peer_metadata,
                supported_protocol_versions: self.supported,
            },
            Kind::Peer => Message::Peer {
                sender_id: req(self.sender_id, ty, "senderId")?,
                peer_metadata: self.peer_metadata,
                selected_protocol_version: req(self.selected, ty, "selectedProtocolVersion")?,
                target_id: req(self.target_id, ty, "targetId")?,
            },
            Kind::Leave => Message::Leave {
                sender_id: req(self.sender_id, ty, "senderId")?,
            },
            Kind::Error => Message::Error {
                sender_id: self.sender_id,
                message: req(self.message, ty, "message")?,
                target_id: self.target_id,
            },
            Kind::Request => Message::Request {
                sender_id: req(self.sender_id, ty, "senderId")?,
                target_id: req(self.target_id, ty, "targetId")?,
                document_id: req(self.document_id, ty, "documentId")?,
                data: req(self.data, ty, "data")?,
            },
            Kind::Sync => Message::Sync {
                sender_id: req(self.sender_id, ty, "senderId")?,
                target_id: req(self.target_id, ty, "targetId")?,
                document_id: req(self.document_id, ty, "documentId")?,
                data: req(self.data, ty, "data")?,
            },
            Kind::DocUnavailable => Message::DocUnavailable {
                sender_id: req(self.sender_id, ty, "senderId")?,
                target_id: req(self.target_id, ty, "targetId")?,
                document_id: req(self.document_id, ty, "documentId")?,
            },
            Kind::Ephemeral => Message::Ephemeral {
                sender_id: req(self.sender_id, ty, "senderId")?,
                target_id: req(self.target_id, ty, "targetId")?,
                count: req(self.count, ty, "count")?,
                session_id: req(self.session_id, ty, "sessionId")?,
                document_id: req(self.document_id, ty, "documentId")?,
                data: req(self.data, ty, "data")?,
            },
            Kind::RemoteSubscriptionChange => Message::RemoteSubscriptionChange {
                sender_id: req(self.sender_id, ty, "senderId")?,
                target_id: req(self.target_id, ty, "targetId")?,
                add: self.add,
                remove: self.remove,
            },
            Kind::RemoteHeadsChanged => Message::RemoteHeadsChanged {
                sender_id: req(self.sender_id, ty, "senderId")?,
                target_id: req(self.target_id, ty, "targetId")?,
                document_id: req(self.document_id, ty, "documentId")?,
                new_heads: req(self.new_heads, ty, "newHeads")?,
            },
        })
    }
}

/// Writes CBOR the way cbor-x does for automerge-repo. Writing to a `Vec` cannot fail, so
/// the encoder's `Result`s carry nothing and are dropped.
struct Out(Encoder<Vec<u8>>);

impl Out {
    /// cbor-x always gives an object's map header a 16-bit length.
    fn map(&mut self, len: usize) {
        let n = u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes();
        self.0.writer_mut().extend_from_slice(&[0xb9, n[0], n[1]]);
    }
    fn str(&mut self, s: &str) {
        let _ = self.0.str(s);
    }
    fn entry_str(&mut self, key: &str, value: &str) {
        self.str(key);
        self.str(value);
    }
    fn bytes(&mut self, b: &[u8]) {
        let _ = self.0.bytes(b);
    }
    fn undefined(&mut self) {
        let _ = self.0.undefined();
    }
    fn bool(&mut self, b: bool) {
        let _ = self.0.bool(b);
    }
    /// A JS number: a minimal unsigned integer up to 32 bits, a float64 beyond. Callers keep
    /// counts and timestamps at or below [`MAX_SAFE_INTEGER`], as JS does.
    fn js_uint(&mut self, x: u64) {
        if x <= u64::from(u32::MAX) {
            let _ = self.0.u64(x);
        } else {
            let _ = self.0.f64(x as f64);
        }
    }
    fn str_array(&mut self, items: &[String]) {
        let _ = self.0.array(items.len() as u64);
        for s in items {
            self.str(s);
        }
    }
    fn opt_str_array(&mut self, items: &Option<Vec<String>>) {
        match items {
            Some(v) => self.str_array(v),
            None => self.undefined(),
        }
    }
    fn peer_metadata(&mut self, m: &PeerMetadata) {
        let ext = usize::from(m.pushes_changes.is_some()) + usize::from(m.implied_acks.is_some());
        if m.storage_id.is_none() && m.is_ephemeral.is_none() {
            self.map(ext);
        } else {
            // automerge-repo always writes both keys, `undefined` for the unset one.
            self.map(2 + ext);
            self.str("storageId");
            match &m.storage_id {
                Some(s) => self.str(s),
                None => self.undefined(),
            }
            self.str("isEphemeral");
            match m.is_ephemeral {
                Some(b) => self.bool(b),
                None => self.undefined(),
            }
        }
        if let Some(p) = m.pushes_changes {
            self.str("setlinkPushesChanges");
            self.bool(p);
        }
        if let Some(p) = m.implied_acks {
            self.str("setlinkImpliedAcks");
            self.bool(p);
        }
    }
    fn document_id(&mut self, id: &DocumentId) {
        self.str("documentId");
        self.str(&id.to_string());
    }
}

/// One `sync` message for many peers (a relay passing one change to every subscriber):
/// everything after `targetId` is encoded once, so each peer's frame is a header, its id
/// and one copy. [`encode`] writes every `sync` message through it.
#[derive(Debug, Clone)]
pub struct SyncForMany {
    /// The entries after `targetId` (automerge-repo writes `targetId` second, then
    /// `data`, `documentId`, `senderId`).
    tail: Vec<u8>,
}

impl SyncForMany {
    pub fn new(sender_id: &str, document_id: &DocumentId, data: &[u8]) -> Self {
        let mut o = Out(Encoder::new(Vec::with_capacity(data.len() + 96)));
        o.str("data");
        o.bytes(data);
        o.document_id(document_id);
        o.entry_str("senderId", sender_id);
        SyncForMany {
            tail: o.0.into_writer(),
        }
    }

    /// The frame for the peer `target_id`.
    pub fn to(&self, target_id: &str) -> Vec<u8> {
        let head = Vec::with_capacity(32 + target_id.len() + self.tail.len());
        let mut o = Out(Encoder::new(head));
        o.map(5);
        o.entry_str("type", "sync");
        o.entry_str("targetId", target_id);
        let mut frame = o.0.into_writer();
        frame.extend_from_slice(&self.tail);
        frame
    }
}

/// Encodes a message exactly as automerge-repo 2.5's cbor-x encoder would, keys in the
/// order the JS repo writes them.
pub fn encode(msg: &Message) -> Vec<u8> {
    let mut o = Out(Encoder::new(Vec::with_capacity(64)));
    match msg {
        Message::Join {
            sender_id,
            peer_metadata,
            supported_protocol_versions,
        } => {
            o.map(
                2 + usize::from(peer_metadata.is_some())
                    + usize::from(supported_protocol_versions.is_some()),
            );
            o.entry_str("type", "join");
            o.entry_str("senderId", sender_id);
            if let Some(m) = peer_metadata {
                o.str("peerMetadata");
                o.peer_metadata(m);
            }
            if let Some(v) = supported_protocol_versions {
                o.str("supportedProtocolVersions");
                o.str_array(v);
            }
        }
        Message::Peer {
            sender_id,
            peer_metadata,
            selected_protocol_version,
            target_id,
        } => {
            o.map(4 + usize::from(peer_metadata.is_some()));
            o.entry_str("type", "peer");
            o.entry_str("senderId", sender_id);
            if let Some(m) = peer_metadata {
                o.str("peerMetadata");
                o.peer_metadata(m);
            }
            o.entry_str("selectedProtocolVersion", selected_protocol_version);
            o.entry_str("targetId", target_id);
        }
        Message::Leave { sender_id } => {
            o.map(2);
            o.entry_str("type", "leave");
            o.entry_str("senderId", sender_id);
        }
        Message::Error {
            sender_id,
            message,
            target_id,
        } => {
            o.map(2 + usize::from(sender_id.is_some()) + usize::from(target_id.is_some()));
            o.entry_str("type", "error");
            if let Some(s) = sender_id {
                o.entry_str("senderId", s);
            }
            o.entry_str("message", message);
            if let Some(t) = target_id {
                o.entry_str("targetId", t);
            }
        }
        Message::Sync {
            sender_id,
            target_id,
            document_id,
            data,
        } => return SyncForMany::new(sender_id, document_id, data).to(target_id),
        Message::Request {
            sender_id,
            target_id,
            document_id,
            data,
        } => {
            o.map(5);
            o.entry_str("type", "request");
            o.entry_str("targetId", target_id);
            o.document_id(document_id);
            o.str("data");
            o.bytes(data);
            o.entry_str("senderId", sender_id);
        }
        Message::DocUnavailable {
            sender_id,
            target_id,
            document_id,
        } => {
            o.map(4);
            o.entry_str("type", "doc-unavailable");
            o.document_id(document_id);
            o.entry_str("targetId", target_id);
            o.entry_str("senderId", sender_id);
        }
        Message::Ephemeral {
            sender_id,
            target_id,
            count,
            session_id,
            document_id,
            data,
        } => {
            o.map(7);
            o.entry_str("type", "ephemeral");
            o.entry_str("targetId", target_id);
            o.document_id(document_id);
            o.str("data");
            o.bytes(data);
            o.str("count");
            o.js_uint(*count);
            o.entry_str("sessionId", session_id);
            o.entry_str("senderId", sender_id);
        }
        Message::RemoteSubscriptionChange {
            sender_id,
            target_id,
            add,
            remove,
        } => {
            o.map(5);
            o.entry_str("type", "remote-subscription-change");
            o.entry_str("targetId", target_id);
            o.str("add");
            o.opt_str_array(add);
            o.str("remove");
            o.opt_str_array(remove);
            o.entry_str("senderId", sender_id);
        }
        Message::RemoteHeadsChanged {
            sender_id,
            target_id,
            document_id,
            new_heads,
        } => {
            o.map(5);
            o.entry_str("type", "remote-heads-changed");
            o.entry_str("targetId", target_id);
            o.document_id(document_id);
            o.str("newHeads");
            o.map(new_heads.len());
            for (storage_id, h) in new_heads {
                o.str(storage_id);
                o.map(2);
                o.str("heads");
                o.str_array(&h.heads);
                o.str("timestamp");
                o.js_uint(h.timestamp);
            }
            o.entry_str("senderId", sender_id);
        }
    }
    o.0.into_writer()
}

mod one_pass;
#[cfg(test)]
mod tests;
