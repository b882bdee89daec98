//! The client workload of the side-by-side benchmark against the reference JavaScript
//! automerge-repo sync server. The same test devices ([`crate::Peer`]: core's sans-IO
//! engine over tokio-tungstenite) run it against either server; only the URLs differ.
//!
//! A crew's day: every device follows the shared board and its own few documents plus
//! those of the next `follow` devices (a department), connects, and makes its edits —
//! one in four on the board, the rest on its own documents — as fast as it can. The
//! figure is the time from the first connection attempt until every device holds every
//! change made to every document it follows, verified by change hashes and then by
//! identical heads across all followers of each document.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ChangeHash, ObjType, ReadDoc, ROOT};
use setlink_core::DocumentId;

use crate::peer::{same_heads, Peer, PeerDocs};

#[derive(Clone, Debug)]
pub struct Workload {
    pub devices: usize,
    /// Documents besides the shared board.
    pub docs: usize,
    /// Changes each device makes.
    pub changes: usize,
    /// How many other devices' documents each device also follows.
    pub follow: usize,
    /// Give up on a run after this long.
    pub timeout: Duration,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            devices: 50,
            docs: 200,
            changes: 20,
            follow: 2,
            timeout: Duration::from_secs(120),
        }
    }
}

#[derive(Debug)]
pub enum CompareError {
    BadWorkload(String),
    Automerge(String),
    /// A device task failed (could not connect, timed out, or saw the server refuse).
    Device(String),
    /// Every change arrived but two followers of a document disagree on its heads.
    Diverged(String),
    /// Gave up after this long, in this phase.
    TimedOut(Duration, &'static str),
}

impl std::fmt::Display for CompareError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CompareError::BadWorkload(m) => write!(f, "bad workload: {m}"),
            CompareError::Automerge(m) => write!(f, "automerge: {m}"),
            CompareError::Device(m) => write!(f, "device failed: {m}"),
            CompareError::Diverged(m) => write!(f, "not converged: {m}"),
            CompareError::TimedOut(d, phase) => write!(f, "gave up after {d:?}: {phase}"),
        }
    }
}

impl std::error::Error for CompareError {}

#[derive(Clone, Debug)]
pub struct DevicePlan {
    pub name: String,
    /// Every document the device follows (board first).
    pub follows: Vec<DocumentId>,
    /// The document of each of its changes, in order.
    pub edits: Vec<DocumentId>,
}

/// Documents, their first change, and what each device follows and edits.
#[derive(Clone, Debug)]
pub struct Plan {
    pub board: DocumentId,
    /// Saved documents holding one change each, identical on every device: documents
    /// exist before the crew syncs (the coordinator made them), so no device races a
    /// request against the creation of what it asks for.
    pub genesis: HashMap<DocumentId, Vec<u8>>,
    pub devices: Vec<DevicePlan>,
}

fn genesis_doc(title: &str) -> Result<Vec<u8>, CompareError> {
    let mut doc = Automerge::new();
    doc.set_actor(ActorId::random());
    let mut tx = doc.transaction();
    let am = |e: automerge::AutomergeError| CompareError::Automerge(e.to_string());
    tx.put(ROOT, "title", title).map_err(am)?;
    tx.put_object(ROOT, "runs", ObjType::Map).map_err(am)?;
    tx.commit();
    Ok(doc.save())
}

impl Plan {
    pub fn new(w: &Workload) -> Result<Plan, CompareError> {
        if w.devices == 0 || w.changes == 0 {
            return Err(CompareError::BadWorkload(
                "need at least one device and one change".into(),
            ));
        }
        if w.follow >= w.devices {
            return Err(CompareError::BadWorkload(format!(
                "--follow {} must be below --devices {}",
                w.follow, w.devices
            )));
        }
        let board = DocumentId::random();
        let mut genesis = HashMap::new();
        genesis.insert(board, genesis_doc("board")?);
        let mut owned: Vec<Vec<DocumentId>> = vec![Vec::new(); w.devices];
        for i in 0..w.docs {
            let id = DocumentId::random();
            genesis.insert(id, genesis_doc(&format!("document {i}"))?);
            if let Some(o) = owned.get_mut(i % w.devices) {
                o.push(id);
            }
        }
        let mut devices = Vec::with_capacity(w.devices);
        for (d, mine) in owned.iter().enumerate() {
            let mut follows = vec![board];
            follows.extend(mine.iter().copied());
            for k in 1..=w.follow {
                if let Some(theirs) = owned.get((d + k) % w.devices) {
                    follows.extend(theirs.iter().copied());
                }
            }
            let edits = (0..w.changes)
                .map(|k| {
                    if k % 4 == 3 || mine.is_empty() {
                        board
                    } else {
                        mine[k % mine.len()]
                    }
                })
                .collect();
            devices.push(DevicePlan {
                name: format!("device{d}"),
                follows,
                edits,
            });
        }
        Ok(Plan {
            board,
            genesis,
            devices,
        })
    }

    pub fn total_changes(&self) -> usize {
        self.devices.iter().map(|d| d.edits.len()).sum()
    }

    /// Followers of each document.
    pub fn followers(&self) -> HashMap<DocumentId, Vec<usize>> {
        let mut out: HashMap<DocumentId, Vec<usize>> = HashMap::new();
        for (i, d) in self.devices.iter().enumerate() {
            for id in &d.follows {
                out.entry(*id).or_default().push(i);
            }
        }
        out
    }

    fn peer_docs(&self, d: &DevicePlan) -> Result<PeerDocs, CompareError> {
        let mut docs = PeerDocs::new(&d.name);
        for id in &d.follows {
            let bytes = self
                .genesis
                .get(id)
                .ok_or_else(|| CompareError::BadWorkload(format!("no genesis for {id}")))?;
            let mut doc =
                Automerge::load(bytes).map_err(|e| CompareError::Automerge(e.to_string()))?;
            doc.set_actor(ActorId::random());
            docs.docs.insert(*id, doc);
        }
        Ok(docs)
    }
}

/// One run's figures.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// From the first connection attempt until every device holds every change.
    pub converged: Duration,
    /// Until every device had finished its handshake.
    pub connected: Duration,
    /// Until every device had made all its changes.
    pub edited: Duration,
    pub changes: usize,
    /// Sync messages and WebSocket payload bytes the devices received.
    pub syncs_received: u64,
    pub bytes_received: u64,
}

/// A change the plan makes and the heads it was made on.
struct Made {
    hash: ChangeHash,
    deps: Vec<ChangeHash>,
}

/// A run status update, as a PA's phone would write it.
fn edit(doc: &mut Automerge, who: &str, n: usize) -> Result<Option<Made>, String> {
    let runs = match doc.get(ROOT, "runs").map_err(|e| e.to_string())? {
        Some((_, id)) => id,
        None => return Err("document has no runs map".into()),
    };
    let deps = doc.get_heads();
    let mut tx = doc.transaction();
    let am = |e: automerge::AutomergeError| e.to_string();
    let run = tx
        .put_object(&runs, format!("{who}-{n}"), ObjType::Map)
        .map_err(am)?;
    tx.put(&run, "status", "en route").map_err(am)?;
    tx.put(&run, "by", who).map_err(am)?;
    tx.put(&run, "eta_min", (n % 45) as i64).map_err(am)?;
    tx.put(
        &run,
        "note",
        "picked up the hard drives from the DIT cart, heading to base camp",
    )
    .map_err(am)?;
    Ok(tx.commit().0.map(|hash| Made { hash, deps }))
}

fn task_error(e: tokio::task::JoinError) -> CompareError {
    if e.is_panic() {
        let p = e.into_panic();
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "device task panicked".into());
        CompareError::Device(msg)
    } else {
        CompareError::Device(e.to_string())
    }
}

/// Every change made to each document (with the genesis change).
type Expected = HashMap<DocumentId, HashSet<ChangeHash>>;

/// The heads a document has once it holds exactly `all`: the changes no other one
/// depends on. Comparing heads is cheap; looking changes up by hash is not.
fn heads_of(all: &HashSet<ChangeHash>, deps: &HashSet<ChangeHash>) -> Vec<ChangeHash> {
    let mut h: Vec<ChangeHash> = all.difference(deps).copied().collect();
    h.sort();
    h
}

/// Runs the plan with device `i` connecting to `urls[i]`.
pub async fn run(plan: &Plan, w: &Workload, urls: &[String]) -> Result<RunReport, CompareError> {
    if urls.len() != plan.devices.len() {
        return Err(CompareError::BadWorkload(format!(
            "{} urls for {} devices",
            urls.len(),
            plan.devices.len()
        )));
    }
    let mut expected: Expected = HashMap::new();
    for (id, bytes) in &plan.genesis {
        let doc = Automerge::load(bytes).map_err(|e| CompareError::Automerge(e.to_string()))?;
        expected.insert(*id, doc.get_heads().into_iter().collect());
    }
    let made = Arc::new(Mutex::new(Vec::<(DocumentId, Made)>::new()));
    let mut docs = Vec::with_capacity(plan.devices.len());
    for d in &plan.devices {
        docs.push(plan.peer_docs(d)?);
    }
    let secs = w.timeout.as_secs().max(1);
    let deadline = Instant::now() + w.timeout;

    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (d, pd)) in plan.devices.iter().zip(docs).enumerate() {
        let url = urls[i].clone();
        let edits = d.edits.clone();
        let name = d.name.clone();
        let made = made.clone();
        tasks.spawn(async move {
            let peer = Peer::connect_url(&url, pd)
                .await
                .map_err(|e| format!("{name}: connect: {e:?}"))?;
            peer.wait(secs, "handshake", |_, s| s.connected).await;
            let connected = start.elapsed();
            for (n, doc) in edits.iter().enumerate() {
                let h = peer.change(*doc, |d| edit(d, &name, n))?;
                if let Some(h) = h {
                    made.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((*doc, h));
                }
                // Edits are a person's taps, not one batch: let frames move between them.
                tokio::task::yield_now().await;
            }
            Ok::<_, String>((i, peer, connected))
        });
    }
    let mut peers: Vec<Option<Arc<Peer>>> = (0..plan.devices.len()).map(|_| None).collect();
    let mut connected = Duration::ZERO;
    while let Some(r) = tokio::time::timeout_at(deadline.into(), tasks.join_next())
        .await
        .map_err(|_| CompareError::TimedOut(w.timeout, "devices still connecting or editing"))?
    {
        let (i, peer, c) = r.map_err(task_error)?.map_err(CompareError::Device)?;
        connected = connected.max(c);
        peers[i] = Some(Arc::new(peer));
    }
    let edited = start.elapsed();
    let mut deps: HashMap<DocumentId, HashSet<ChangeHash>> = HashMap::new();
    for (doc, m) in made.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
        expected.entry(doc).or_default().insert(m.hash);
        deps.entry(doc).or_default().extend(m.deps);
    }
    let none = HashSet::new();
    let want: HashMap<DocumentId, Vec<ChangeHash>> = expected
        .iter()
        .map(|(id, all)| (*id, heads_of(all, deps.get(id).unwrap_or(&none))))
        .collect();
    let want = Arc::new(want);
    let peers: Vec<Arc<Peer>> = peers.into_iter().flatten().collect();
    if peers.len() != plan.devices.len() {
        return Err(CompareError::Device("a device never reported back".into()));
    }

    let mut waits = tokio::task::JoinSet::new();
    for (peer, d) in peers.iter().zip(&plan.devices) {
        let peer = peer.clone();
        let follows = d.follows.clone();
        let want = want.clone();
        waits.spawn(async move {
            peer.wait(
                secs,
                "every change of every followed document",
                move |docs, _| {
                    follows.iter().all(|id| {
                        let (Some(doc), Some(want)) = (docs.docs.get(id), want.get(id)) else {
                            return false;
                        };
                        same_heads(&doc.get_heads(), want)
                    })
                },
            )
            .await;
        });
    }
    loop {
        match tokio::time::timeout_at(deadline.into(), waits.join_next()).await {
            Ok(Some(r)) => r.map_err(task_error)?,
            Ok(None) => break,
            Err(_) => {
                return Err(CompareError::Diverged(format!(
                    "after {:?}: {}",
                    w.timeout,
                    lagging(plan, &peers, &expected)
                )))
            }
        }
    }
    let converged = start.elapsed();

    // Every change being everywhere must mean identical documents; check it, don't assume.
    for (id, who) in plan.followers() {
        let mut first: Option<Vec<ChangeHash>> = None;
        for i in who {
            let heads = peers[i].heads(id);
            match &first {
                None => first = Some(heads),
                Some(f) if !same_heads(f, &heads) => {
                    return Err(CompareError::Diverged(format!(
                        "{id}: {} has heads {heads:?}, another follower {f:?}",
                        plan.devices[i].name
                    )));
                }
                Some(_) => {}
            }
        }
    }
    let mut syncs_received = 0;
    let mut bytes_received = 0;
    for (p, d) in peers.iter().zip(&plan.devices) {
        let errors = p.seen(|s| s.errors.clone());
        if !errors.is_empty() {
            return Err(CompareError::Device(format!("{}: {errors:?}", d.name)));
        }
        syncs_received += p.seen(|s| s.syncs_received);
        bytes_received += p.seen(|s| s.bytes_received);
    }
    for p in peers {
        if let Ok(p) = Arc::try_unwrap(p) {
            let _ = p.disconnect().await;
        }
    }
    Ok(RunReport {
        converged,
        connected,
        edited,
        changes: plan.total_changes(),
        syncs_received,
        bytes_received,
    })
}

/// What is missing where, for a run that did not converge.
fn lagging(plan: &Plan, peers: &[Arc<Peer>], expected: &Expected) -> String {
    let mut behind = Vec::new();
    for (p, d) in peers.iter().zip(&plan.devices) {
        let missing: usize = d
            .follows
            .iter()
            .map(|id| {
                let want = expected.get(id).map(HashSet::len).unwrap_or(0);
                let have = p
                    .read(*id, |doc| {
                        expected
                            .get(id)
                            .map(|w| {
                                w.iter()
                                    .filter(|h| doc.get_change_by_hash(h).is_some())
                                    .count()
                            })
                            .unwrap_or(0)
                    })
                    .unwrap_or(0);
                want - have
            })
            .sum();
        if missing > 0 {
            let (errors, unavailable, closed) =
                p.seen(|s| (s.errors.clone(), s.unavailable.len(), s.closed.clone()));
            behind.push(format!(
                "{} lacks {missing} changes (errors {errors:?}, {unavailable} unavailable, closed {closed:?})",
                d.name
            ));
        }
    }
    format!(
        "{} of {} devices behind: {}",
        behind.len(),
        peers.len(),
        behind.join("; ")
    )
}

/// Median and range of a sample, in seconds.
pub fn summarize(xs: &[Duration]) -> Option<(f64, f64, f64)> {
    let mut v: Vec<f64> = xs.iter().map(Duration::as_secs_f64).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return None;
    }
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some((median, v[0], v[n - 1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_follows_board_own_and_neighbours() {
        let w = Workload {
            devices: 4,
            docs: 8,
            changes: 8,
            follow: 1,
            ..Workload::default()
        };
        let p = Plan::new(&w).unwrap();
        assert_eq!(p.genesis.len(), 9);
        // board + 2 own + 2 of the next device
        assert!(p.devices.iter().all(|d| d.follows.len() == 5));
        assert!(p.devices.iter().all(|d| d.follows[0] == p.board));
        let board_edits = p.devices[0].edits.iter().filter(|e| **e == p.board).count();
        assert_eq!(board_edits, 2);
        assert_eq!(p.followers()[&p.board].len(), 4);
        assert_eq!(p.total_changes(), 32);
    }

    #[test]
    fn plan_refuses_bad_shapes() {
        let w = Workload {
            devices: 3,
            follow: 3,
            ..Workload::default()
        };
        assert!(matches!(Plan::new(&w), Err(CompareError::BadWorkload(_))));
        let w = Workload {
            devices: 0,
            ..Workload::default()
        };
        assert!(matches!(Plan::new(&w), Err(CompareError::BadWorkload(_))));
    }

    #[test]
    fn summary_median_and_range() {
        let s = |ms: &[u64]| {
            summarize(
                &ms.iter()
                    .map(|m| Duration::from_millis(*m))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(s(&[300, 100, 200]), Some((0.2, 0.1, 0.3)));
        assert_eq!(s(&[100, 400]), Some((0.25, 0.1, 0.4)));
        assert_eq!(s(&[]), None);
    }

    #[test]
    fn edits_land_in_the_runs_map() {
        let bytes = genesis_doc("t").unwrap();
        let mut doc = Automerge::load(&bytes).unwrap();
        let genesis = doc.get_heads();
        let m = edit(&mut doc, "device0", 3).unwrap().unwrap();
        assert_eq!(doc.get_heads(), vec![m.hash]);
        assert_eq!(m.deps, genesis);
        let (_, runs) = doc.get(ROOT, "runs").unwrap().unwrap();
        assert!(doc.get(&runs, "device0-3").unwrap().is_some());
        let mut empty = Automerge::new();
        assert!(edit(&mut empty, "d", 0).is_err());
    }

    #[test]
    fn expected_heads_are_the_changes_nothing_depends_on() {
        let bytes = genesis_doc("t").unwrap();
        let mut a = Automerge::load(&bytes).unwrap();
        a.set_actor(ActorId::random());
        let mut b = a.fork();
        let g = a.get_heads();
        let ma = edit(&mut a, "a", 0).unwrap().unwrap();
        let mb = edit(&mut b, "b", 0).unwrap().unwrap();
        a.merge(&mut b).unwrap();
        let mc = edit(&mut a, "a", 1).unwrap().unwrap();
        let mut all: HashSet<ChangeHash> = g.iter().copied().collect();
        let mut deps = HashSet::new();
        // Before the merge edit: two concurrent heads.
        for m in [&ma, &mb] {
            all.insert(m.hash);
            deps.extend(m.deps.iter().copied());
        }
        let mut two = vec![ma.hash, mb.hash];
        two.sort();
        assert_eq!(heads_of(&all, &deps), two);
        all.insert(mc.hash);
        deps.extend(mc.deps.iter().copied());
        assert_eq!(heads_of(&all, &deps), a.get_heads());
    }
}
