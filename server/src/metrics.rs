//! The relay's counters, exposed at `/metrics` in the OpenMetrics text format by
//! `prometheus-client`. The hot paths only increment; gauges that describe state (open
//! connections, loaded documents) and storage's own totals are read at scrape time.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::storage::StorageStats;

/// Why the relay refused something; each reason is one labelled counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Unauthenticated,
    Malformed,
    Oversized,
    RateLimited,
    InvalidAutomerge,
    Unavailable,
    ForbiddenWrite,
    Revoked,
    SlowConsumer,
    /// A change the write rules refused (see `setlink_core::rules`).
    WriteRules,
    /// A change over the decompressed-size or operation-count limit.
    TooCostly,
    /// A member over their connection cap.
    TooManyConnections,
}

impl Refusal {
    const ALL: [Refusal; 12] = [
        Refusal::Unauthenticated,
        Refusal::Malformed,
        Refusal::Oversized,
        Refusal::RateLimited,
        Refusal::InvalidAutomerge,
        Refusal::Unavailable,
        Refusal::ForbiddenWrite,
        Refusal::Revoked,
        Refusal::SlowConsumer,
        Refusal::WriteRules,
        Refusal::TooCostly,
        Refusal::TooManyConnections,
    ];

    fn label(self) -> &'static str {
        match self {
            Refusal::Unauthenticated => "unauthenticated",
            Refusal::Malformed => "malformed",
            Refusal::Oversized => "oversized",
            Refusal::RateLimited => "rate_limited",
            Refusal::InvalidAutomerge => "invalid_automerge",
            Refusal::Unavailable => "unavailable",
            Refusal::ForbiddenWrite => "forbidden_write",
            Refusal::Revoked => "revoked",
            Refusal::SlowConsumer => "slow_consumer",
            Refusal::WriteRules => "write_rules",
            Refusal::TooCostly => "too_costly",
            Refusal::TooManyConnections => "too_many_connections",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

pub struct Metrics {
    pub connections_open: Gauge,
    pub connections_total: Counter,
    pub messages_in: Counter,
    pub messages_out: Counter,
    pub bytes_in: Counter,
    pub bytes_out: Counter,
    pub changes_stored: Counter,
    pub change_bytes_stored: Counter,
    pub ephemeral_relayed: Counter,
    /// Copies of an ephemeral message already relayed (re-broadcast by another client).
    pub ephemeral_duplicates: Counter,
    /// Ephemeral messages over their member's rate, not relayed.
    pub ephemeral_over_rate: Counter,
    pub docs_loaded_total: Counter,
    pub docs_evicted_total: Counter,
    pub compactions: Counter,
    refusals: Family<ReasonLabel, Counter>,
    documents_loaded: Gauge,
    storage_doc_bytes: Counter,
    storage_sync_state_bytes: Counter,
    storage_commits: Counter,
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut m = Metrics {
            connections_open: Gauge::default(),
            connections_total: Counter::default(),
            messages_in: Counter::default(),
            messages_out: Counter::default(),
            bytes_in: Counter::default(),
            bytes_out: Counter::default(),
            changes_stored: Counter::default(),
            change_bytes_stored: Counter::default(),
            ephemeral_relayed: Counter::default(),
            ephemeral_duplicates: Counter::default(),
            ephemeral_over_rate: Counter::default(),
            docs_loaded_total: Counter::default(),
            docs_evicted_total: Counter::default(),
            compactions: Counter::default(),
            refusals: Family::default(),
            documents_loaded: Gauge::default(),
            storage_doc_bytes: Counter::default(),
            storage_sync_state_bytes: Counter::default(),
            storage_commits: Counter::default(),
            registry: Registry::with_prefix("setlink"),
        };
        // Counters are registered without `_total`; the encoder adds it.
        let r = &mut m.registry;
        r.register(
            "connections_open",
            "WebSocket connections open now",
            m.connections_open.clone(),
        );
        r.register(
            "connections",
            "WebSocket connections accepted",
            m.connections_total.clone(),
        );
        r.register(
            "documents_loaded",
            "Documents held in memory now",
            m.documents_loaded.clone(),
        );
        r.register(
            "documents_opened",
            "Documents loaded from storage into memory",
            m.docs_loaded_total.clone(),
        );
        r.register(
            "documents_evicted",
            "Documents dropped from memory when idle",
            m.docs_evicted_total.clone(),
        );
        r.register(
            "messages_received",
            "Protocol messages received",
            m.messages_in.clone(),
        );
        r.register(
            "messages_sent",
            "Protocol messages sent",
            m.messages_out.clone(),
        );
        r.register(
            "received_bytes",
            "WebSocket payload bytes received",
            m.bytes_in.clone(),
        );
        r.register(
            "sent_bytes",
            "WebSocket payload bytes sent",
            m.bytes_out.clone(),
        );
        r.register(
            "changes_stored",
            "Sync messages whose changes were durably stored",
            m.changes_stored.clone(),
        );
        r.register(
            "change_bytes_stored",
            "Bytes of Automerge changes durably appended",
            m.change_bytes_stored.clone(),
        );
        r.register(
            "ephemeral_relayed",
            "Ephemeral messages forwarded to subscribers (never stored)",
            m.ephemeral_relayed.clone(),
        );
        r.register(
            "ephemeral_duplicates",
            "Copies of ephemeral messages already relayed (re-broadcast by clients), dropped",
            m.ephemeral_duplicates.clone(),
        );
        r.register(
            "ephemeral_over_rate",
            "Ephemeral messages over their member's rate, dropped",
            m.ephemeral_over_rate.clone(),
        );
        r.register(
            "compactions",
            "Documents compacted into one snapshot",
            m.compactions.clone(),
        );
        r.register(
            "storage_document_bytes_written",
            "Document bytes written to storage (incrementals and snapshots)",
            m.storage_doc_bytes.clone(),
        );
        r.register(
            "storage_sync_state_bytes_written",
            "Sync-state bytes written to storage",
            m.storage_sync_state_bytes.clone(),
        );
        r.register(
            "storage_commits",
            "Storage transactions committed",
            m.storage_commits.clone(),
        );
        r.register(
            "refusals",
            "Requests and messages refused, by reason",
            m.refusals.clone(),
        );
        // Every reason is present from the start, at zero, so a scrape shows what can be refused.
        for why in Refusal::ALL {
            let _ = m.refusals.get_or_create(&ReasonLabel {
                reason: why.label(),
            });
        }
        m
    }
}

impl Metrics {
    pub fn inc(counter: &Counter) {
        counter.inc();
    }

    pub fn add(counter: &Counter, n: u64) {
        counter.inc_by(n);
    }

    pub fn refuse(&self, why: Refusal) {
        self.refusals
            .get_or_create(&ReasonLabel {
                reason: why.label(),
            })
            .inc();
    }

    pub fn refusals(&self, why: Refusal) -> u64 {
        self.refusals
            .get_or_create(&ReasonLabel {
                reason: why.label(),
            })
            .get()
    }

    /// The OpenMetrics text exposition. `docs_loaded` and storage's totals are read by the
    /// caller at scrape time.
    pub fn render(&self, docs_loaded: usize, storage: StorageStats) -> String {
        self.documents_loaded
            .set(i64::try_from(docs_loaded).unwrap_or(i64::MAX));
        // Storage keeps its own running totals; bring the counters up to them.
        for (counter, total) in [
            (&self.storage_doc_bytes, storage.doc_bytes_written),
            (
                &self.storage_sync_state_bytes,
                storage.sync_state_bytes_written,
            ),
            (&self.storage_commits, storage.commits),
        ] {
            counter.inc_by(total.saturating_sub(counter.get()));
        }
        let mut out = String::with_capacity(4096);
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_and_labelled_refusals() {
        let m = Metrics::default();
        m.connections_open.inc();
        Metrics::inc(&m.connections_total);
        m.refuse(Refusal::ForbiddenWrite);
        m.refuse(Refusal::ForbiddenWrite);
        let stats = StorageStats {
            commits: 3,
            ..StorageStats::default()
        };
        let text = m.render(7, stats);
        assert!(text.contains("\nsetlink_connections_open 1\n"), "{text}");
        assert!(text.contains("\nsetlink_connections_total 1\n"), "{text}");
        assert!(text.contains("\nsetlink_documents_loaded 7\n"), "{text}");
        assert!(text.contains("setlink_storage_commits_total 3\n"), "{text}");
        assert!(text.contains("setlink_refusals_total{reason=\"forbidden_write\"} 2\n"));
        assert!(text.contains("setlink_refusals_total{reason=\"malformed\"} 0\n"));
        assert!(text.ends_with("# EOF\n"));
        // A second scrape does not count storage's totals twice.
        let text = m.render(7, stats);
        assert!(text.contains("setlink_storage_commits_total 3\n"), "{text}");
    }
}
