//! The relay's few writes to production documents, all through the domain model:
//! creating a production's document, a member's own document and their timesheets, and
//! listing a newly redeemed member in the production doc. Everything else in those
//! documents is written by members' devices; the relay only reads the index to learn
//! document kinds.

use automerge::Automerge;
pub use setlink_core::model::production::ProductionInfo;
use setlink_core::model::production::{self, MemberInfo};
use setlink_core::model::{member, timesheet};
use setlink_core::{Author, DocKind, DocumentId, DomainError, Role};

use crate::hub::Hub;
use crate::storage::{DocInfo, Member};

/// The author the relay records on the changes it makes itself.
pub fn relay_author() -> Author {
    Author {
        member_id: "setlink-relay".into(),
        device_id: "setlink-relay".into(),
        role: Role::Coordinator,
    }
}

/// A new production document: details, its first coordinator, and the index listing the
/// coordinator's own document. Written as the coordinator (they are creating it).
pub fn new_production_doc(
    id: DocumentId,
    info: ProductionInfo,
    coordinator: &Member,
    coordinator_doc: DocumentId,
    at_ms: i64,
) -> Result<Automerge, DomainError> {
    let by = Author {
        member_id: coordinator.id.clone(),
        device_id: "setlink-relay".into(),
        role: Role::Coordinator,
    };
    let mut doc = Automerge::new();
    production::init_production(
        &mut doc,
        &by,
        at_ms,
        &id,
        info,
        MemberInfo::new(coordinator.name.clone(), Role::Coordinator),
    )?;
    production::register_document(
        &mut doc,
        &by,
        at_ms,
        &coordinator_doc,
        &DocKind::Member {
            member_id: coordinator.id.clone(),
        },
    )?;
    Ok(doc)
}

/// A member's own document (acknowledgements, availability), claimed for its owner.
pub fn new_member_doc(m: &Member, at_ms: i64) -> Result<Automerge, DomainError> {
    let by = Author {
        member_id: m.id.clone(),
        device_id: "setlink-relay".into(),
        role: m.role,
    };
    let mut doc = Automerge::new();
    member::init_member_doc(&mut doc, &by, at_ms)?;
    Ok(doc)
}

/// A member's timesheets document, claimed for its owner like their member document.
pub fn new_timesheets_doc(m: &Member, at_ms: i64) -> Result<Automerge, DomainError> {
    let by = Author {
        member_id: m.id.clone(),
        device_id: "setlink-relay".into(),
        role: m.role,
    };
    let mut doc = Automerge::new();
    timesheet::init_timesheets(&mut doc, &by, at_ms)?;
    Ok(doc)
}

/// Creates a member's timesheets document through the hub and lists it in the production
/// document's index, so connected devices hear of it at once.
pub async fn create_timesheets(
    hub: &Hub,
    production_id: &str,
    production_doc: DocumentId,
    m: &Member,
    at_ms: i64,
) -> Result<DocumentId, String> {
    let id = DocumentId::random();
    let kind = DocKind::Timesheets {
        member_id: m.id.clone(),
    };
    let doc = new_timesheets_doc(m, at_ms).map_err(|e| e.to_string())?;
    let info = DocInfo {
        production_id: production_id.to_owned(),
        kind: kind.clone(),
    };
    hub.create_document(id, info, &doc)
        .await
        .map_err(|e| e.to_string())?;
    hub.change(production_doc, move |doc| {
        index_document(doc, id, &kind, at_ms).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?;
    Ok(id)
}

/// Lists a member and their own document in the production document.
pub fn add_member(
    doc: &mut Automerge,
    m: &Member,
    member_doc: DocumentId,
    at_ms: i64,
) -> Result<(), DomainError> {
    let by = relay_author();
    production::add_member(
        doc,
        &by,
        at_ms,
        &m.id,
        MemberInfo::new(m.name.clone(), m.role),
    )?;
    production::register_document(
        doc,
        &by,
        at_ms,
        &member_doc,
        &DocKind::Member {
            member_id: m.id.clone(),
        },
    )
}

/// Lists a document in the production document's index.
pub fn index_document(
    doc: &mut Automerge,
    id: DocumentId,
    kind: &DocKind,
    at_ms: i64,
) -> Result<(), DomainError> {
    production::register_document(doc, &relay_author(), at_ms, &id, kind)
}

/// The production doc's index, as the domain model reads it.
pub fn read_index(doc: &Automerge) -> Result<Vec<(DocumentId, DocKind)>, String> {
    production::read_index(doc).map_err(|e| e.to_string())
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
