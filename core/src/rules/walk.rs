//! Patches turned into what the rules ask about: which property of which object changed,
//! how, and whether that object was created by the same changes.

use std::collections::HashSet;

use automerge::{Automerge, ChangeHash, ObjId, Patch, PatchAction, Prop, ReadDoc, Value};

/// How a property changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// A map key or list element was set (or a concurrent value appeared at it).
    Put,
    /// A map key or list elements were deleted.
    Delete,
    /// List elements were inserted.
    Insert,
    /// Text was spliced, a counter incremented or marks changed.
    Edit,
}

/// One change to one property.
#[derive(Clone, Debug)]
pub struct Edit {
    /// From the root: map keys and list indices.
    pub path: Vec<Prop>,
    /// The object whose property changed.
    pub obj: ObjId,
    pub op: Op,
    /// True if `obj`, or an object it lives in, was created by the same changes: then
    /// nothing in it existed before, and append-only rules do not apply to it.
    pub in_new_object: bool,
    /// Objects inserted into a list by this edit (`Op::Insert`).
    pub inserted: Vec<ObjId>,
    /// True if this edit inserted a scalar (not an object) into a list.
    pub inserted_scalar: bool,
}

impl Edit {
    /// The path's `i`-th element as a map key.
    pub fn key(&self, i: usize) -> Option<&str> {
        match self.path.get(i) {
            Some(Prop::Map(k)) => Some(k),
            _ => None,
        }
    }

    pub fn path_string(&self) -> String {
        let parts: Vec<String> = self
            .path
            .iter()
            .map(|p| match p {
                Prop::Map(k) => k.clone(),
                Prop::Seq(i) => i.to_string(),
            })
            .collect();
        if parts.is_empty() {
            "the document root".into()
        } else {
            parts.join("/")
        }
    }
}

/// Everything the incoming changes touched.
pub struct Touched<'a> {
    pub edits: Vec<Edit>,
    doc: &'a Automerge,
    before: &'a [ChangeHash],
}

impl<'a> Touched<'a> {
    pub fn new(doc: &'a Automerge, before: &'a [ChangeHash], patches: &[Patch]) -> Self {
        let mut created: HashSet<ObjId> = HashSet::new();
        for p in patches {
            match &p.action {
                PatchAction::PutMap {
                    value: (Value::Object(_), id),
                    ..
                }
                | PatchAction::PutSeq {
                    value: (Value::Object(_), id),
                    ..
                } => {
                    created.insert(id.clone());
                }
                PatchAction::Insert { values, .. } => {
                    for (v, id, _) in values.iter() {
                        if matches!(v, Value::Object(_)) {
                            created.insert(id.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        let edits = patches
            .iter()
            .map(|p| {
                let mut path: Vec<Prop> = p.path.iter().map(|(_, prop)| prop.clone()).collect();
                let mut inserted = Vec::new();
                let mut inserted_scalar = false;
                let op = match &p.action {
                    PatchAction::PutMap { key, .. } => {
                        path.push(Prop::Map(key.clone()));
                        Op::Put
                    }
                    PatchAction::DeleteMap { key } => {
                        path.push(Prop::Map(key.clone()));
                        Op::Delete
                    }
                    PatchAction::PutSeq { index, .. } => {
                        path.push(Prop::Seq(*index));
                        Op::Put
                    }
                    PatchAction::DeleteSeq { index, .. } => {
                        path.push(Prop::Seq(*index));
                        Op::Delete
                    }
                    PatchAction::Insert { index, values } => {
                        path.push(Prop::Seq(*index));
                        inserted = values
                            .iter()
                            .filter(|(v, _, _)| matches!(v, Value::Object(_)))
                            .map(|(_, id, _)| id.clone())
                            .collect();
                        inserted_scalar = values
                            .iter()
                            .any(|(v, _, _)| !matches!(v, Value::Object(_)));
                        Op::Insert
                    }
                    PatchAction::Conflict { prop } => {
                        path.push(prop.clone());
                        Op::Put
                    }
                    PatchAction::Increment { prop, .. } => {
                        path.push(prop.clone());
                        Op::Edit
                    }
                    PatchAction::SpliceText { .. } | PatchAction::Mark { .. } => Op::Edit,
                };
                let in_new_object =
                    created.contains(&p.obj) || p.path.iter().any(|(o, _)| created.contains(o));
                Edit {
                    path,
                    obj: p.obj.clone(),
                    op,
                    in_new_object,
                    inserted,
                    inserted_scalar,
                }
            })
            .collect();
        Touched { edits, doc, before }
    }

    /// Whether `obj` had `key` before the incoming changes.
    pub fn existed_before(&self, obj: &ObjId, key: &str) -> bool {
        !self.before.is_empty() && matches!(self.doc.get_at(obj, key, self.before), Ok(Some(_)))
    }
}
