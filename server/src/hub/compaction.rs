//! The compaction policy and the bookkeeping it needs: which stored chunks make up a
//! loaded document, how many bytes are snapshot and how many incremental, and so which
//! chunks this relay has applied or written (what a cross-relay catch-up skips). Pure: the
//! shell runs the `compact` this decides on.

/// Incrementals below this are never compacted: small documents load fast enough as
/// a handful of chunks, and compacting them on every change would multiply writes.
pub(crate) const COMPACT_MIN_BYTES: usize = 64 * 1024;

/// The stored chunks behind one loaded document.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChunkLog {
    seqs: Vec<i64>,
    snapshot_bytes: usize,
    incremental_bytes: usize,
}

impl ChunkLog {
    /// A chunk that is in storage and in memory (loaded, written or applied).
    pub(crate) fn note(&mut self, seq: i64, len: usize, snapshot: bool) {
        self.seqs.push(seq);
        if snapshot {
            self.snapshot_bytes += len;
        } else {
            self.incremental_bytes += len;
        }
    }

    /// Whether chunk `seq` is in memory already (this relay loaded, wrote or applied it).
    /// Membership, not a high-water mark: relays draw `seq`s from one sequence but
    /// commit in any order, so a chunk below the highest known may still be new here.
    pub(crate) fn knows(&self, seq: i64) -> bool {
        self.seqs.contains(&seq)
    }

    /// Whether it is time to replace the chunks with one snapshot: once the incrementals
    /// outgrow the last snapshot (and [`COMPACT_MIN_BYTES`]). When it is, returns the
    /// chunks the snapshot replaces.
    pub(crate) fn due(&self) -> Option<Vec<i64>> {
        (self.incremental_bytes > self.snapshot_bytes.max(COMPACT_MIN_BYTES))
            .then(|| self.seqs.clone())
    }

    /// Storage replaced `replaced` with the snapshot `seq` of `len` bytes. Chunks stored
    /// since the compaction was decided stay as they are.
    pub(crate) fn compacted(&mut self, replaced: &[i64], seq: i64, len: usize) {
        self.seqs.retain(|s| !replaced.contains(s));
        self.seqs.insert(0, seq);
        self.snapshot_bytes = len;
        // What was appended meanwhile is not in the snapshot's size; counting it as
        // incremental only makes the next compaction a little earlier.
        self.incremental_bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compacts_once_incrementals_outgrow_the_snapshot() {
        let mut log = ChunkLog::default();
        log.note(1, 100 * 1024, true);
        log.note(2, 60 * 1024, false);
        assert_eq!(log.due(), None);
        log.note(3, 50 * 1024, false);
        assert_eq!(log.due(), Some(vec![1, 2, 3]));
        log.note(4, 10, false);
        log.compacted(&[1, 2, 3], 5, 120 * 1024);
        assert_eq!(log.due(), None);
        assert!(log.knows(5) && log.knows(4) && !log.knows(2));
        log.note(6, 130 * 1024, false);
        assert_eq!(log.due(), Some(vec![5, 4, 6]));
    }

    #[test]
    fn small_documents_are_never_compacted() {
        let mut log = ChunkLog::default();
        for s in 0..100 {
            log.note(s, 600, false);
        }
        assert_eq!(log.due(), None);
    }
}
