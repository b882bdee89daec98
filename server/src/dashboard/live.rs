//! Live views: a Server-Sent Events stream per open dashboard page, fed by the hub's
//! change and ephemeral notifications, and the PA presence those ephemerals carry.
//!
//! The stream sends only "something changed" (which panel), never data: the page then
//! fetches the fragment it shows, through the same access checks as a full page load.
//! Presence is live-only like the ephemeral messages it comes from: kept in memory for
//! a few minutes, never stored.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Mutex;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::Stream;
use setlink_core::DocKind;
use tokio::sync::broadcast::error::RecvError;

use super::session::Ctx;
use super::DashResult;
use crate::auth::now_ms;
use crate::hub::HubEvent;

/// Presence older than this is dropped: a PA who stopped sending is no longer "live".
const PRESENCE_TTL_MS: i64 = 10 * 60 * 1000;
/// An ETA further than this from the moment it was sent is a broken clock or garbage; it
/// is dropped rather than shown (and it keeps later arithmetic far from `i64` limits).
const MAX_ETA_DISTANCE_MS: i64 = 2 * 24 * 60 * 60 * 1000;

/// What a PA's device last said about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presence {
    pub member_id: String,
    pub run_id: Option<String>,
    pub status: Option<String>,
    /// When they expect to arrive, ms since 1970.
    pub eta_ms: Option<i64>,
    pub note: Option<String>,
    pub lat: Option<String>,
    pub lon: Option<String>,
    pub at_ms: i64,
}

impl Presence {
    /// Reads the string map a device broadcasts (`setlink_core::client::encode_presence`,
    /// or a JS peer's `handle.broadcast({...})`). Unknown keys are ignored; the sender's
    /// member id comes from its authenticated connection, never from the payload.
    pub fn decode(member_id: &str, data: &[u8], at_ms: i64) -> Option<Presence> {
        let fields = setlink_core::client::decode_presence(data)?;
        let get = |names: &[&str]| {
            fields
                .iter()
                .find(|(k, _)| names.contains(&k.as_str()))
                .map(|(_, v)| v.trim().chars().take(200).collect::<String>())
                .filter(|v| !v.is_empty())
        };
        // `eta` is either a time (ms since 1970) or how long until arrival as people write
        // it ("10 min", "1 h 5 min"), counted from when the presence arrived.
        let eta_ms = get(&["eta_ms", "eta"])
            .and_then(|v| match v.parse::<i64>() {
                Ok(ms) => Some(ms),
                Err(_) => duration_minutes(&v).map(|m| at_ms.saturating_add(m * 60_000)),
            })
            .filter(|eta| eta.abs_diff(at_ms) <= MAX_ETA_DISTANCE_MS.unsigned_abs());
        let p = Presence {
            member_id: member_id.to_owned(),
            run_id: get(&["run_id", "run"]),
            status: get(&["status", "state"]),
            eta_ms: eta_ms.or_else(|| {
                get(&["eta_minutes", "eta_min"])
                    .and_then(|v| v.parse::<i64>().ok())
                    .map(|m| at_ms.saturating_add(m.clamp(0, 24 * 60) * 60_000))
            }),
            note: get(&["note", "label", "message"]),
            lat: get(&["lat"]),
            lon: get(&["lon", "lng"]),
            at_ms,
        };
        Some(p)
    }
}

/// A duration as people type it — `10 min`, `10min`, `90 minutes`, `1 h 5 min`, `2h` —
/// in minutes, at most a day; `None` for anything else.
fn duration_minutes(v: &str) -> Option<i64> {
    let mut rest = v.trim();
    let mut total: i64 = 0;
    let mut any = false;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 || digits > 4 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = rest[digits..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let per = match rest[..unit_len].to_ascii_lowercase().as_str() {
            "m" | "min" | "mins" | "minute" | "minutes" => 1,
            "h" | "hr" | "hrs" | "hour" | "hours" => 60,
            _ => return None,
        };
        rest = rest[unit_len..].trim_start();
        total = total.checked_add(n.checked_mul(per)?)?;
        any = true;
    }
    (any && total <= 24 * 60).then_some(total)
}

/// Latest presence per (production, member).
#[derive(Default)]
pub struct PresenceBoard {
    by_member: Mutex<HashMap<(String, String), Presence>>,
}

impl PresenceBoard {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Presence>> {
        self.by_member.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn record(&self, production_id: &str, p: Presence) {
        let mut map = self.lock();
        let cutoff = p.at_ms.saturating_sub(PRESENCE_TTL_MS);
        map.retain(|_, v| v.at_ms >= cutoff);
        map.insert((production_id.to_owned(), p.member_id.clone()), p);
    }

    pub fn for_production(&self, production_id: &str) -> Vec<Presence> {
        let cutoff = now_ms() - PRESENCE_TTL_MS;
        let mut out: Vec<Presence> = self
            .lock()
            .iter()
            .filter(|((prod, _), p)| prod == production_id && p.at_ms >= cutoff)
            .map(|(_, p)| p.clone())
            .collect();
        out.sort_by_key(|p| std::cmp::Reverse(p.at_ms));
        out
    }
}

/// Which panel of the page an event invalidates.
fn panel(kind: &DocKind) -> &'static str {
    match kind {
        DocKind::Board { .. } | DocKind::Production | DocKind::Shared => "board",
        DocKind::CallSheetDraft { .. } | DocKind::CallSheetPublished { .. } => "sheet",
        DocKind::Member { .. } => "acks",
        DocKind::Gear => "gear",
        DocKind::Background { .. } => "background",
        DocKind::Timesheets { .. } => "timesheets",
        DocKind::ProductionReport { .. } => "report",
    }
}

/// Records presence from every production's ephemeral messages, and tells open pages
/// of that production once it is recorded (so their refetch sees it).
pub fn spawn_watcher(hub: std::sync::Arc<crate::hub::Hub>, dash: std::sync::Arc<super::Dashboard>) {
    let mut rx = hub.watch();
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(HubEvent::Ephemeral {
                    production_id,
                    member_id,
                    data,
                    ..
                }) => {
                    if let Some(p) = Presence::decode(&member_id, &data, now_ms()) {
                        dash.presence.record(&production_id, p);
                        let _ = dash.presence_tx.send(production_id);
                    }
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
        }
    });
}

/// `GET /dashboard/events`: one SSE stream per open page. Events: `board`, `sheet`,
/// `acks` and `presence`, each naming what changed.
pub async fn events(ctx: Ctx) -> DashResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    ctx.require_office()?;
    let production = ctx.session.production_id.clone();
    let mut changes = ctx.state.hub.watch();
    let mut presence = ctx.dash.presence_tx.subscribe();
    let stream = async_stream(move |tx| async move {
        // Tells the page the stream is up, so it can refetch what changed before.
        if tx
            .send(Event::default().event("ready").data("ok"))
            .await
            .is_err()
        {
            return;
        }
        loop {
            let event = tokio::select! {
                ev = changes.recv() => match ev {
                    Ok(HubEvent::Changed { production_id, doc_id, kind }) if production_id == production => {
                        Event::default().event(panel(&kind)).data(doc_id.to_string())
                    }
                    Ok(HubEvent::Mail { production_id }) if production_id == production => {
                        Event::default().event("acks").data("mail")
                    }
                    Ok(_) => continue,
                    // Missed some: the page refreshes everything.
                    Err(RecvError::Lagged(_)) => Event::default().event("ready").data("lagged"),
                    Err(RecvError::Closed) => return,
                },
                p = presence.recv() => match p {
                    Ok(prod) if prod == production => Event::default().event("presence").data("presence"),
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => Event::default().event("presence").data("lagged"),
                    Err(RecvError::Closed) => return,
                },
                _ = tx.closed() => return,
            };
            if tx.send(event).await.is_err() {
                return;
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// A stream fed by a task: the task ends when the page goes away (the receiver drops).
fn async_stream<F, Fut>(f: F) -> impl Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Event>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(f(tx));
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|ev| (Ok(ev), rx))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_reads_string_maps_and_ignores_garbage() {
        let data = setlink_core::client::encode_presence(&[
            ("run_id", "r1"),
            ("eta_ms", "1700000000000"),
            ("status", "en route"),
            ("member_id", "someone-else"),
        ]);
        let p = Presence::decode("pa-1", &data, 1_699_999_000_000).expect("a map");
        assert_eq!(p.member_id, "pa-1");
        assert_eq!(p.run_id.as_deref(), Some("r1"));
        assert_eq!(p.eta_ms, Some(1_700_000_000_000));
        assert_eq!(p.status.as_deref(), Some("en route"));
        let data = setlink_core::client::encode_presence(&[("eta_minutes", "7")]);
        let p = Presence::decode("pa-1", &data, 1000).expect("a map");
        assert_eq!(p.eta_ms, Some(1000 + 7 * 60_000));
        assert!(Presence::decode("pa-1", &[0xff, 0x00], 0).is_none());
    }

    /// The bindings README's example, `"eta" to "10 min"`, shows an ETA ten minutes after
    /// the presence arrived.
    #[test]
    fn an_eta_written_as_a_duration_counts_from_arrival() {
        let at = 1_700_000_000_000;
        for (eta, minutes) in [
            ("10 min", Some(10)),
            ("10min", Some(10)),
            ("90 minutes", Some(90)),
            ("1 h 5 min", Some(65)),
            ("2h", Some(120)),
            ("0 min", Some(0)),
            ("soon", None),
            ("10 parsecs", None),
            ("min", None),
            ("", None),
            ("99999 min", None),
            ("25 h", None),
        ] {
            let data = setlink_core::client::encode_presence(&[("eta", eta)]);
            let p = Presence::decode("pa-1", &data, at).expect("a map");
            assert_eq!(p.eta_ms, minutes.map(|m| at + m * 60_000), "{eta}");
        }
    }

    #[test]
    fn an_eta_far_from_now_is_dropped_not_kept() {
        let now = 1_700_000_000_000;
        for eta in [
            i64::MIN,
            i64::MAX,
            now - MAX_ETA_DISTANCE_MS - 1,
            now + MAX_ETA_DISTANCE_MS + 1,
        ] {
            let data = setlink_core::client::encode_presence(&[
                ("eta_ms", eta.to_string().as_str()),
                ("status", "en route"),
            ]);
            let p = Presence::decode("pa-1", &data, now).expect("a map");
            assert_eq!(p.eta_ms, None, "eta {eta}");
            assert_eq!(p.status.as_deref(), Some("en route"));
        }
        let data = setlink_core::client::encode_presence(&[(
            "eta_ms",
            (now + MAX_ETA_DISTANCE_MS).to_string().as_str(),
        )]);
        let p = Presence::decode("pa-1", &data, now).expect("a map");
        assert_eq!(p.eta_ms, Some(now + MAX_ETA_DISTANCE_MS));
    }

    #[test]
    fn presence_is_per_production_and_expires() {
        let b = PresenceBoard::default();
        let now = now_ms();
        let p = |m: &str, at| Presence {
            member_id: m.into(),
            run_id: None,
            status: None,
            eta_ms: None,
            note: None,
            lat: None,
            lon: None,
            at_ms: at,
        };
        b.record("a", p("m1", now - PRESENCE_TTL_MS - 1));
        b.record("a", p("m2", now));
        b.record("b", p("m3", now));
        let got: Vec<_> = b
            .for_production("a")
            .into_iter()
            .map(|p| p.member_id)
            .collect();
        assert_eq!(got, vec!["m2".to_owned()]);
    }
}
