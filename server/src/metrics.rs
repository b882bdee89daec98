//! Counters behind `/metrics`, rendered in the Prometheus text format.
//!
//! Plain atomics: the hot paths only increment, and a scrape reads them all once.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

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
}

impl Refusal {
    const ALL: [Refusal; 11] = [
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
        }
    }
}

#[derive(Default)]
pub struct Metrics {
    pub connections_open: AtomicU64,
    pub connections_total: AtomicU64,
    pub messages_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub changes_stored: AtomicU64,
    pub change_bytes_stored: AtomicU64,
    pub ephemeral_relayed: AtomicU64,
    /// Copies of an ephemeral message already relayed (re-broadcast by another client).
    pub ephemeral_duplicates: AtomicU64,
    /// Ephemeral messages over their member's rate, not relayed.
    pub ephemeral_over_rate: AtomicU64,
    pub docs_loaded_total: AtomicU64,
    pub docs_evicted_total: AtomicU64,
    pub compactions: AtomicU64,
    refusals: [AtomicU64; Refusal::ALL.len()],
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn refuse(&self, why: Refusal) {
        if let Some(i) = Refusal::ALL.iter().position(|r| *r == why) {
            if let Some(c) = self.refusals.get(i) {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn refusals(&self, why: Refusal) -> u64 {
        Refusal::ALL
            .iter()
            .position(|r| *r == why)
            .and_then(|i| self.refusals.get(i))
            .map(|c| c.load(Ordering::Relaxed))
            .unwrap_or(0)
    }

    /// The Prometheus text exposition. `docs_loaded` is a gauge the hub reads at scrape time.
    pub fn render(&self, docs_loaded: usize, storage: StorageStats) -> String {
        let mut out = String::with_capacity(2048);
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        metric(
            "setlink_connections",
            "gauge",
            "WebSocket connections open now.",
            get(&self.connections_open),
        );
        metric(
            "setlink_connections_total",
            "counter",
            "WebSocket connections accepted.",
            get(&self.connections_total),
        );
        metric(
            "setlink_documents_loaded",
            "gauge",
            "Documents held in memory now.",
            docs_loaded as u64,
        );
        metric(
            "setlink_documents_loaded_total",
            "counter",
            "Documents loaded from storage.",
            get(&self.docs_loaded_total),
        );
        metric(
            "setlink_documents_evicted_total",
            "counter",
            "Idle documents dropped from memory.",
            get(&self.docs_evicted_total),
        );
        metric(
            "setlink_messages_received_total",
            "counter",
            "Frames received from peers.",
            get(&self.messages_in),
        );
        metric(
            "setlink_messages_sent_total",
            "counter",
            "Frames sent to peers.",
            get(&self.messages_out),
        );
        metric(
            "setlink_received_bytes_total",
            "counter",
            "Bytes received in frames.",
            get(&self.bytes_in),
        );
        metric(
            "setlink_sent_bytes_total",
            "counter",
            "Bytes sent in frames.",
            get(&self.bytes_out),
        );
        metric(
            "setlink_changes_stored_total",
            "counter",
            "Sync messages whose changes were durably stored.",
            get(&self.changes_stored),
        );
        metric(
            "setlink_change_bytes_stored_total",
            "counter",
            "Bytes of Automerge changes durably appended.",
            get(&self.change_bytes_stored),
        );
        metric(
            "setlink_ephemeral_relayed_total",
            "counter",
            "Ephemeral messages forwarded to subscribers (never stored).",
            get(&self.ephemeral_relayed),
        );
        metric(
            "setlink_ephemeral_duplicates_total",
            "counter",
            "Copies of ephemeral messages already relayed (re-broadcast by clients), dropped.",
            get(&self.ephemeral_duplicates),
        );
        metric(
            "setlink_ephemeral_over_rate_total",
            "counter",
            "Ephemeral messages over their member's rate, dropped.",
            get(&self.ephemeral_over_rate),
        );
        metric(
            "setlink_compactions_total",
            "counter",
            "Documents compacted into one snapshot.",
            get(&self.compactions),
        );
        metric(
            "setlink_storage_document_bytes_written_total",
            "counter",
            "Document bytes written to storage (incrementals and snapshots).",
            storage.doc_bytes_written,
        );
        metric(
            "setlink_storage_sync_state_bytes_written_total",
            "counter",
            "Sync-state bytes written to storage.",
            storage.sync_state_bytes_written,
        );
        metric(
            "setlink_storage_commits_total",
            "counter",
            "Storage transactions committed.",
            storage.commits,
        );
        let _ = writeln!(
            out,
            "# HELP setlink_refusals_total Requests and messages refused, by reason.\n# TYPE setlink_refusals_total counter"
        );
        for r in Refusal::ALL {
            let _ = writeln!(
                out,
                "setlink_refusals_total{{reason=\"{}\"}} {}",
                r.label(),
                self.refusals(r)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_labelled_refusals() {
        let m = Metrics::default();
        Metrics::inc(&m.connections_open);
        m.refuse(Refusal::ForbiddenWrite);
        m.refuse(Refusal::ForbiddenWrite);
        let text = m.render(7, StorageStats::default());
        assert!(text.contains("\nsetlink_connections 1\n"), "{text}");
        assert!(text.contains("\nsetlink_documents_loaded 7\n"));
        assert!(text.contains("setlink_refusals_total{reason=\"forbidden_write\"} 2\n"));
        assert!(text.contains("setlink_refusals_total{reason=\"malformed\"} 0\n"));
    }
}
