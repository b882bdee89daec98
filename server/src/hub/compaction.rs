//! The compaction policy and the bookkeeping it needs: which stored chunks make up a
//! loaded document, how many bytes are snapshot and how many incremental, and the highest
//! chunk `seq` this relay has applied or written (what a cross-relay catch-up starts
//! from). Pure: the shell runs the `compact` this decides on.

/// Incrementals below this are never compacted: small documents load fast enough as
/// a handful of chunks, and compacting them on every change would multiply writes.
pub(crate) const COMPACT_MIN_BYTES: usize = 64 * 1024;

/// The stored chunks behind one loaded document.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChunkLog {
    seqs: Vec<i64>,
    snapshot_bytes: usize,
    incremental_bytes: usize,
    max_seq: i64,
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
        self.max_seq = self.max_seq.max(seq);
    }

    /// The highest `seq` this relay applied or wrote for the document.
    pub(crate) fn max_seq(&self) -> i64 {
        self.max_seq
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
        self.max_seq = self.max_seq.max(seq);
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
        assert_eq!(log.max_seq(), 5);
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
