//! The relay's few writes to production documents: creating a production's document and
//! a member's own document, and listing a newly redeemed member in the production doc.
//! Everything else in those documents is written by members' devices through the domain
//! model; the relay only reads the index (`documents`) to learn document kinds.

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ReadDoc, ROOT};
use setlink_core::model::commit_options;
use setlink_core::{Author, DocKind, DocumentId, Role};

use crate::hub::Hub;
use crate::storage::Member;

/// The author the relay records on the changes it makes itself.
pub fn relay_author() -> Author {
    Author {
        member_id: "setlink-relay".into(),
        device_id: "setlink-relay".into(),
        role: Role::Coordinator,
    }
}

fn put_member(
    tx: &mut automerge::transaction::Transaction<'_>,
    member: &Member,
) -> Result<(), automerge::AutomergeError> {
    let members = match tx.get(ROOT, "members")? {
        Some((automerge::Value::Object(ObjType::Map), id)) => id,
        _ => tx.put_object(ROOT, "members", ObjType::Map)?,
    };
    let m = tx.put_object(&members, member.id.as_str(), ObjType::Map)?;
    tx.put(&m, "name", member.name.as_str())?;
    tx.put(&m, "role", member.role.as_str())?;
    Ok(())
}

fn put_index_entry(
    tx: &mut automerge::transaction::Transaction<'_>,
    id: DocumentId,
    kind: &DocKind,
) -> Result<(), automerge::AutomergeError> {
    let docs = match tx.get(ROOT, "documents")? {
        Some((automerge::Value::Object(ObjType::Map), id)) => id,
        _ => tx.put_object(ROOT, "documents", ObjType::Map)?,
    };
    let e = tx.put_object(&docs, id.to_string(), ObjType::Map)?;
    match kind {
        DocKind::Production => tx.put(&e, "kind", "production")?,
        DocKind::Board { day } => {
            tx.put(&e, "kind", "board")?;
            tx.put(&e, "day", day.as_str())?;
        }
        DocKind::CallSheetDraft { day } => {
            tx.put(&e, "kind", "call_sheet_draft")?;
            tx.put(&e, "day", day.as_str())?;
        }
        DocKind::CallSheetPublished { day } => {
            tx.put(&e, "kind", "call_sheet_published")?;
            tx.put(&e, "day", day.as_str())?;
        }
        DocKind::Member { member_id } => {
            tx.put(&e, "kind", "member")?;
            tx.put(&e, "member_id", member_id.as_str())?;
        }
        DocKind::Shared => tx.put(&e, "kind", "shared")?,
    }
    Ok(())
}

/// A new production document: its title, its first coordinator, and the index listing
/// that coordinator's own document.
pub fn new_production_doc(
    title: &str,
    coordinator: &Member,
    coordinator_doc: DocumentId,
    at_ms: i64,
) -> Result<Automerge, automerge::AutomergeError> {
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    tx.put(ROOT, "title", title)?;
    put_member(&mut tx, coordinator)?;
    put_index_entry(
        &mut tx,
        coordinator_doc,
        &DocKind::Member {
            member_id: coordinator.id.clone(),
        },
    )?;
    tx.commit_with(commit_options(&relay_author(), at_ms));
    Ok(doc)
}

/// A member's own document (acknowledgements, availability), empty but for its owner.
pub fn new_member_doc(member: &Member, at_ms: i64) -> Result<Automerge, automerge::AutomergeError> {
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    tx.put(ROOT, "member_id", member.id.as_str())?;
    tx.commit_with(commit_options(&relay_author(), at_ms));
    Ok(doc)
}

/// Lists a member and their own document in the production document (one commit).
pub fn add_member(
    doc: &mut Automerge,
    member: &Member,
    member_doc: DocumentId,
    at_ms: i64,
) -> Result<(), automerge::AutomergeError> {
    let mut tx = doc.transaction();
    put_member(&mut tx, member)?;
    put_index_entry(
        &mut tx,
        member_doc,
        &DocKind::Member {
            member_id: member.id.clone(),
        },
    )?;
    tx.commit_with(commit_options(&relay_author(), at_ms));
    Ok(())
}

/// Lists a document in the production document's index (one commit).
pub fn index_document(
    doc: &mut Automerge,
    id: DocumentId,
    kind: &DocKind,
    at_ms: i64,
) -> Result<(), automerge::AutomergeError> {
    let mut tx = doc.transaction();
    put_index_entry(&mut tx, id, kind)?;
    tx.commit_with(commit_options(&relay_author(), at_ms));
    Ok(())
}

/// The member's own document, from the production document's index.
pub async fn member_doc_of(
    hub: &Hub,
    production_doc: DocumentId,
    member_id: &str,
) -> Option<DocumentId> {
    let index = hub.read(production_doc, read_index).await.ok()?.ok()?;
    index.into_iter().find_map(|(id, kind)| match kind {
        DocKind::Member { member_id: m } if m == member_id => Some(id),
        _ => None,
    })
}

/// Reads a string at the root (the production title), for the demo's printout.
pub fn title(doc: &Automerge) -> Option<String> {
    match doc.get(ROOT, "title").ok()?? {
        (automerge::Value::Scalar(s), _) => s.as_str().map(str::to_owned),
        _ => None,
    }
}

/// The production doc's index (`documents`): document id -> kind, per the layout agreed
/// with the domain model. Entries that do not parse are skipped, so one bad entry cannot
/// hide the others.
pub fn read_index(doc: &Automerge) -> Result<Vec<(DocumentId, DocKind)>, String> {
    let docs = match doc.get(ROOT, "documents").map_err(|e| e.to_string())? {
        Some((automerge::Value::Object(ObjType::Map), id)) => id,
        _ => return Ok(Vec::new()),
    };
    let text = |obj: &automerge::ObjId, key: &str| -> Option<String> {
        match doc.get(obj, key).ok()?? {
            (automerge::Value::Scalar(s), _) => s.as_str().map(str::to_owned),
            _ => None,
        }
    };
    let mut out = Vec::new();
    for item in doc.map_range(&docs, ..) {
        let Ok(id) = item.key.parse::<DocumentId>() else {
            continue;
        };
        let automerge::ValueRef::Object(ObjType::Map) = item.value else {
            continue;
        };
        let entry = item.id();
        let day = text(&entry, "day");
        let kind = match (text(&entry, "kind").as_deref(), day) {
            (Some("production"), _) => DocKind::Production,
            (Some("board"), Some(day)) => DocKind::Board { day },
            (Some("call_sheet_draft"), Some(day)) => DocKind::CallSheetDraft { day },
            (Some("call_sheet_published"), Some(day)) => DocKind::CallSheetPublished { day },
            (Some("member"), _) => match text(&entry, "member_id") {
                Some(member_id) => DocKind::Member { member_id },
                None => continue,
            },
            (Some("shared"), _) => DocKind::Shared,
            _ => continue,
        };
        out.push((id, kind));
    }
    Ok(out)
}
