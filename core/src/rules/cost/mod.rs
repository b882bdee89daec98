//! The cost of an Automerge chunk, measured before automerge parses, inflates or applies it.
//!
//! A sync message's `changes` entries are Automerge chunks, and some of them are DEFLATE
//! compressed: a 261 KB message can inflate to 256 MB, and run-length encoding lets a few
//! bytes claim millions of operations. [`check_chunks_cost`] walks the chunk format itself,
//! streams every compressed part through a fixed 16 KiB buffer into a counting sink, and
//! counts the rows of every column from its encoding without decoding a single operation,
//! stopping as soon as either limit in [`CostLimits`] is passed. Its work is linear in the
//! input plus at most the byte limit, and it allocates only that buffer and the column
//! tables.
//!
//! The format, as automerge 0.12 reads it (`src/storage/` in the automerge crate):
//!
//! * chunk: magic `85 6f 4a 83`, a 4-byte checksum, a type byte, the body length as
//!   uLEB128, the body. Types: 0 document, 1 change, 2 compressed change (the body is raw
//!   DEFLATE, no zlib header, of the change body; the header's length is the *compressed*
//!   length and its checksum is the uncompressed change's), 3 bundle (experimental: a set
//!   of changes encoded like a document).
//! * change body: deps (uLEB count, 32-byte hashes), actor (uLEB length, bytes), seq and
//!   start op (uLEB), timestamp (sLEB), message (uLEB length, UTF-8), other actors (count,
//!   length-prefixed), the op column table, the column data, then extra bytes. There is
//!   no op count anywhere in the header: the ops are the rows of the columns, and automerge
//!   iterates until the action column is exhausted. Change columns may not be deflated.
//! * document body: actors, heads (count, 32-byte hashes), the change column table, the op
//!   column table, the change column data, the op column data, the head indices.
//! * bundle body: deps, actors, the change column table and data, the op column table
//!   and data.
//! * column table: a uLEB column count, then per column a uLEB spec (a `u32`: id `<< 4`,
//!   bit 3 = deflated, bits 0-2 = type) and a uLEB data length; the data of the columns
//!   follows back to back in table order. A deflated column's data is raw DEFLATE.
//! * column types: 0 group, 1 actor, 2 integer, 3 delta integer, 6 value metadata are RLE
//!   of LEB128 numbers; 5 string is RLE of length-prefixed strings; 4 boolean is
//!   alternating uLEB run lengths (false first); 7 value is raw bytes sized by its
//!   metadata column. RLE is a sequence of runs, each an sLEB count: `n > 0` is `n` copies
//!   of one value, `n < 0` is `-n` literal values, `0` is a uLEB count of nulls.
//!
//! Operation count: automerge decodes every column row by row (a change's ops until its
//! action column ends; a document's ops for the rows of its id column, and each other op
//! column must have exactly as many rows or be empty; successors, predecessors and changes
//! as the rows of their own columns), so the work and memory of loading a chunk is bounded
//! by the largest row count among its columns. That largest row count is what is counted
//! as the chunk's operations: for what automerge writes it is the number of operations,
//! unless a chunk holds more predecessor/successor references or changes than operations.

use std::io::Read;

/// Chunk magic bytes.
const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// A change hash in a dependency or heads list.
const HASH_LEN: u64 = 32;
/// Automerge 0.12 writes at most 16 columns per table; more than this is not a chunk we want.
const MAX_COLUMNS: u64 = 256;
/// Inflation goes through this buffer: the most the guard ever holds of inflated data,
/// and the most it inflates past a limit before noticing.
const INFLATE_BUF: usize = 16 * 1024;

/// How much one `changes` entry of a sync message may cost, all its chunks together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CostLimits {
    /// Bytes the chunks hold once every compressed part is inflated (uncompressed chunks
    /// count their own size).
    pub max_decompressed_bytes: usize,
    /// Operations (column rows, see the module documentation).
    pub max_ops: usize,
}

impl Default for CostLimits {
    /// 8 MiB and 100,000 operations. Our documents are small: BENCHMARKS.md stores a whole
    /// production (271 documents, 5,000 runs) in 2 MB, so a single document, even sent
    /// whole with its history as the first sync of a new peer, is far below both. At the
    /// top, automerge loads 100,000 ops in about a tenth of a second and some tens of MB,
    /// and inflating 8 MiB takes milliseconds: the worst a message can make the relay do
    /// is bounded by those figures times the entries it carries, instead of by the
    /// 1000:1 DEFLATE ratio and the unbounded RLE ratio.
    fn default() -> Self {
        CostLimits {
            max_decompressed_bytes: 8 * 1024 * 1024,
            max_ops: 100_000,
        }
    }
}

/// What a `changes` entry costs: summed over its chunks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChunkCost {
    /// Bytes once inflated (uncompressed parts count their own size).
    pub decompressed_bytes: usize,
    /// Operations: per chunk the largest row count of its columns, summed over chunks.
    pub ops: usize,
}

/// Why [`check_chunks_cost`] refused an entry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CostError {
    /// The chunk, or a part of it, ends before a length in it says. `offset` is where the
    /// chunk starts in the entry.
    #[error("chunk at byte {offset} is truncated: {why}")]
    Truncated { offset: usize, why: &'static str },
    /// The bytes are not an Automerge chunk automerge could read.
    #[error("chunk at byte {offset} is malformed: {why}")]
    Malformed { offset: usize, why: &'static str },
    /// Inflated, the chunks hold more than `limit` bytes; `bytes` is how many were counted
    /// when that became clear (at least `limit + 1`, at most a buffer more).
    #[error("chunks inflate to more than {limit} bytes (at least {bytes})")]
    TooLarge { bytes: usize, limit: usize },
    /// The chunks hold more than `limit` operations; at least `ops`.
    #[error("chunks hold more than {limit} operations (at least {ops})")]
    TooManyOps { ops: usize, limit: usize },
    /// A chunk type automerge 0.12 does not know (it knows 0 to 3).
    #[error("unknown chunk type {0}")]
    UnknownChunkType(u8),
}

impl CostError {
    /// Places a Truncated or Malformed error at the chunk that starts at `offset`.
    fn at(self, offset: usize) -> Self {
        match self {
            CostError::Truncated { why, .. } => CostError::Truncated { offset, why },
            CostError::Malformed { why, .. } => CostError::Malformed { offset, why },
            other => other,
        }
    }
}

fn truncated(why: &'static str) -> CostError {
    CostError::Truncated { offset: 0, why }
}

fn malformed(why: &'static str) -> CostError {
    CostError::Malformed { offset: 0, why }
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Cost of every chunk in `bytes` (an entry of a sync message's `changes`, which may hold
/// several chunks back to back), refusing as soon as a limit is passed.
///
/// The limits apply to the entry as a whole (the sum over its chunks). An empty entry
/// costs nothing. Never panics, never inflates more than the byte limit plus 16 KiB, and
/// never allocates more than that buffer and the column tables (at most 256 columns each).
pub fn check_chunks_cost(bytes: &[u8], limits: &CostLimits) -> Result<ChunkCost, CostError> {
    let mut budget = Budget {
        max_bytes: limits.max_decompressed_bytes,
        max_ops: limits.max_ops,
        bytes: 0,
        ops: 0,
    };
    let mut offset = 0usize;
    while let Some(rest) = bytes.get(offset..).filter(|r| !r.is_empty()) {
        let len = chunk_cost(rest, &mut budget).map_err(|e| e.at(offset))?;
        // `len` is at least the 10-byte header and at most `rest.len()`.
        offset = offset
            .checked_add(len)
            .ok_or_else(|| malformed("chunk length overflows").at(offset))?;
    }
    Ok(ChunkCost {
        decompressed_bytes: to_usize(budget.bytes),
        ops: to_usize(budget.ops),
    })
}

/// What has been counted so far, against the limits.
struct Budget {
    max_bytes: usize,
    max_ops: usize,
    /// Inflated bytes counted so far, all chunks.
    bytes: u64,
    /// Operations of the chunks already finished.
    ops: u64,
}

impl Budget {
    fn add_bytes(&mut self, n: u64) -> Result<(), CostError> {
        self.bytes = self.bytes.saturating_add(n);
        if self.bytes > to_u64(self.max_bytes) {
            return Err(CostError::TooLarge {
                bytes: to_usize(self.bytes),
                limit: self.max_bytes,
            });
        }
        Ok(())
    }

    /// `rows` in the chunk being measured, on top of the finished chunks.
    fn check_rows(&self, rows: u64) -> Result<(), CostError> {
        let total = self.ops.saturating_add(rows);
        if total > to_u64(self.max_ops) {
            return Err(CostError::TooManyOps {
                ops: to_usize(total),
                limit: self.max_ops,
            });
        }
        Ok(())
    }

    fn add_ops(&mut self, rows: u64) -> Result<(), CostError> {
        self.check_rows(rows)?;
        self.ops = self.ops.saturating_add(rows);
        Ok(())
    }
}

/// Measures the chunk at the start of `b`, returning its length in `b`.
fn chunk_cost(b: &[u8], budget: &mut Budget) -> Result<usize, CostError> {
    let mut s = Slice::new(b);
    let magic = s
        .take(4)
        .map_err(|_| truncated("shorter than a chunk header"))?;
    if magic != MAGIC {
        return Err(malformed("no Automerge magic bytes"));
    }
    s.skip(4)
        .map_err(|_| truncated("shorter than a chunk header"))?; // checksum
    let chunk_type = s
        .byte()?
        .ok_or_else(|| truncated("shorter than a chunk header"))?;
    if chunk_type > 3 {
        return Err(CostError::UnknownChunkType(chunk_type));
    }
    let body_len = uleb(&mut s)?;
    let header_len = s.pos;
    let body = s
        .take(body_len)
        .map_err(|_| truncated("body shorter than its header says"))?;
    let chunk_len = s.pos;
    match chunk_type {
        0 => {
            let mut s = Slice::new(body);
            skip_actors(&mut s)?;
            skip_hashes(&mut s)?; // heads
            let change_cols = column_table(&mut s)?;
            let op_cols = column_table(&mut s)?;
            let change_data = s.take(data_len(&change_cols)?)?;
            let op_data = s.take(data_len(&op_cols)?)?;
            // The rest are the head indices, which cost nothing.
            let sets = [(&change_cols[..], change_data), (&op_cols[..], op_data)];
            columns_cost(chunk_len, &sets, budget)?;
        }
        1 => {
            budget.add_bytes(to_u64(chunk_len))?;
            let rows = change_rows(&mut Slice::new(body), budget)?;
            budget.add_ops(rows)?;
        }
        2 => {
            budget.add_bytes(to_u64(header_len))?;
            let mut inflate = Inflate::new(body, budget);
            let rows = change_rows(&mut inflate, budget)?;
            budget.add_bytes(inflate.produced)?;
            budget.add_ops(rows)?;
        }
        _ => {
            let mut s = Slice::new(body);
            skip_hashes(&mut s)?; // deps
            skip_actors(&mut s)?;
            let change_cols = column_table(&mut s)?;
            let change_data = s.take(data_len(&change_cols)?)?;
            let op_cols = column_table(&mut s)?;
            let op_data = s.take(data_len(&op_cols)?)?;
            let sets = [(&change_cols[..], change_data), (&op_cols[..], op_data)];
            columns_cost(chunk_len, &sets, budget)?;
        }
    }
    Ok(chunk_len)
}

/// The body of a change, read from `src` (raw or inflating): its largest column row count.
fn change_rows<S: Src>(src: &mut S, budget: &Budget) -> Result<u64, CostError> {
    skip_hashes(src)?; // deps
    skip_prefixed(src)?; // actor
    uleb(src)?; // seq
    uleb(src)?; // start op
    skip_leb(src)?; // timestamp
    skip_prefixed(src)?; // message
    skip_actors(src)?; // other actors
    let cols = column_table(src)?;
    if cols.iter().any(Column::deflated) {
        return Err(malformed("a change's columns may not be deflated"));
    }
    let mut max_rows = 0;
    for col in &cols {
        let rows = column_rows(src, Some(col.len), col.col_type(), budget)?;
        max_rows = max_rows.max(rows);
    }
    src.drain()?; // extra bytes
    Ok(max_rows)
}

/// Counts the bytes and rows of a document's or bundle's column sets. `chunk_len` is the
/// whole chunk as sent; each deflated column is replaced by what it inflates to.
fn columns_cost(
    chunk_len: usize,
    sets: &[(&[Column], &[u8])],
    budget: &mut Budget,
) -> Result<(), CostError> {
    let deflated: u64 = sets
        .iter()
        .flat_map(|(cols, _)| cols.iter())
        .filter(|c| c.deflated())
        .fold(0u64, |sum, c| sum.saturating_add(c.len));
    budget.add_bytes(to_u64(chunk_len).saturating_sub(deflated))?;
    let mut max_rows = 0;
    for (cols, data) in sets {
        let mut s = Slice::new(data);
        for col in cols.iter() {
            let raw = s.take(col.len)?;
            let rows = if col.deflated() {
                let mut inflate = Inflate::new(raw, budget);
                let rows = column_rows(&mut inflate, None, col.col_type(), budget)?;
                budget.add_bytes(inflate.produced)?;
                rows
            } else {
                column_rows(&mut Slice::new(raw), None, col.col_type(), budget)?
            };
            max_rows = max_rows.max(rows);
        }
    }
    budget.add_ops(max_rows)
}

/// One entry of a column table.
struct Column {
    spec: u32,
    len: u64,
}

impl Column {
    fn deflated(&self) -> bool {
        self.spec & 0b1000 != 0
    }

    fn col_type(&self) -> u8 {
        // The low three bits; the mask makes the cast lossless.
        (self.spec & 0b111) as u8
    }
}

fn column_table<S: Src>(src: &mut S) -> Result<Vec<Column>, CostError> {
    let n = uleb(src)?;
    if n > MAX_COLUMNS {
        return Err(malformed("more than 256 columns"));
    }
    let mut cols = Vec::with_capacity(to_usize(n));
    for _ in 0..n {
        let spec = u32::try_from(uleb(src)?).map_err(|_| malformed("column spec over 32 bits"))?;
        let len = uleb(src)?;
        cols.push(Column { spec, len });
    }
    Ok(cols)
}

fn data_len(cols: &[Column]) -> Result<u64, CostError> {
    cols.iter().try_fold(0u64, |sum, c| {
        sum.checked_add(c.len)
            .ok_or_else(|| malformed("column lengths overflow"))
    })
}

/// Rows of one column: the next `len` bytes of `src`, or all of it for `None`. Reads the
/// column to its end.
///
/// A column whose content does not decode as its type (a number or string cut off by the
/// column's end, a number over 64 bits) is refused, even one automerge would skip because
/// it does not know its id: nothing automerge writes looks like that, and automerge 0.12
/// panics on some such columns (hexane unwraps a failed read while loading a document)
/// rather than returning an error.
fn column_rows<S: Src>(
    src: &mut S,
    len: Option<u64>,
    col_type: u8,
    budget: &Budget,
) -> Result<u64, CostError> {
    let mut col = Col {
        inner: src,
        left: len,
    };
    let mut rows = 0u64;
    match col_type {
        4 => boolean_rows(&mut col, &mut rows, budget)?,
        // Value: raw bytes; its rows are those of its metadata column.
        7 => col.drain()?,
        5 => rle_rows(&mut col, true, &mut rows, budget)?,
        _ => rle_rows(&mut col, false, &mut rows, budget)?,
    }
    Ok(rows)
}

/// Boolean column: alternating run lengths, false first.
fn boolean_rows<S: Src>(src: &mut S, rows: &mut u64, budget: &Budget) -> Result<(), CostError> {
    while let Some(first) = src.byte()? {
        *rows = rows.saturating_add(uleb_from(first, src)?);
        budget.check_rows(*rows)?;
    }
    Ok(())
}

/// RLE column whose values are LEB128 numbers, or length-prefixed strings. Rows count
/// once their value has been read, as automerge yields them.
fn rle_rows<S: Src>(
    src: &mut S,
    strings: bool,
    rows: &mut u64,
    budget: &Budget,
) -> Result<(), CostError> {
    let skip_value = |src: &mut S| {
        if strings {
            skip_prefixed(src)
        } else {
            skip_leb(src)
        }
    };
    while let Some(first) = src.byte()? {
        let count = sleb_from(first, src)?;
        if count > 0 {
            skip_value(src)?;
            *rows = rows.saturating_add(count.unsigned_abs());
        } else if count < 0 {
            // Each value takes at least a byte, so this ends with the input.
            for _ in 0..count.unsigned_abs() {
                skip_value(src)?;
                *rows = rows.saturating_add(1);
                budget.check_rows(*rows)?;
            }
        } else {
            *rows = rows.saturating_add(uleb(src)?);
        }
        budget.check_rows(*rows)?;
    }
    Ok(())
}

/// A count, then that many length-prefixed byte strings (actor ids).
fn skip_actors<S: Src>(src: &mut S) -> Result<(), CostError> {
    // Each takes at least its length byte, so this ends with the input.
    for _ in 0..uleb(src)? {
        skip_prefixed(src)?;
    }
    Ok(())
}

/// A count, then that many change hashes.
fn skip_hashes<S: Src>(src: &mut S) -> Result<(), CostError> {
    let n = uleb(src)?;
    src.skip(
        n.checked_mul(HASH_LEN)
            .ok_or_else(|| truncated("more hashes than bytes"))?,
    )
}

fn skip_prefixed<S: Src>(src: &mut S) -> Result<(), CostError> {
    let n = uleb(src)?;
    src.skip(n)
}

fn next<S: Src>(src: &mut S) -> Result<u8, CostError> {
    src.byte()?
        .ok_or_else(|| truncated("ends inside a LEB128 number"))
}

fn uleb<S: Src>(src: &mut S) -> Result<u64, CostError> {
    let first = next(src)?;
    uleb_from(first, src)
}

/// Unsigned LEB128 whose first byte is `first`. Accepts overlong encodings (automerge's
/// column decoders do too); refuses anything over 64 bits.
fn uleb_from<S: Src>(first: u8, src: &mut S) -> Result<u64, CostError> {
    let mut result = 0u64;
    let mut shift = 0u32;
    let mut b = first;
    loop {
        let low = u64::from(b & 0x7f);
        if shift > 63 || (shift == 63 && low > 1) {
            return Err(malformed("LEB128 number over 64 bits"));
        }
        result |= low << shift;
        if b & 0x80 == 0 {
            return Ok(result);
        }
        shift += 7;
        b = next(src)?;
    }
}

/// Signed LEB128 whose first byte is `first`.
fn sleb_from<S: Src>(first: u8, src: &mut S) -> Result<i64, CostError> {
    let mut result = 0i64;
    let mut shift = 0u32;
    let mut b = first;
    loop {
        if shift > 63 {
            return Err(malformed("LEB128 number over 64 bits"));
        }
        // Bits shifted past 64 are dropped (a shift below 64 cannot panic).
        result |= i64::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            if shift < 64 && b & 0x40 != 0 {
                result |= -1i64 << shift;
            }
            return Ok(result);
        }
        b = next(src)?;
    }
}

fn skip_leb<S: Src>(src: &mut S) -> Result<(), CostError> {
    for _ in 0..10 {
        if next(src)? & 0x80 == 0 {
            return Ok(());
        }
    }
    Err(malformed("LEB128 number over 64 bits"))
}

/// Bytes read front to back: a slice, a DEFLATE stream, or a column within either.
trait Src {
    /// The next byte, or `None` at the end.
    fn byte(&mut self) -> Result<Option<u8>, CostError>;
    /// Skips up to `n` bytes, fewer only at the end; returns how many.
    fn skip_upto(&mut self, n: u64) -> Result<u64, CostError>;

    /// Skips `n` bytes; Truncated if there are fewer.
    fn skip(&mut self, n: u64) -> Result<(), CostError> {
        if self.skip_upto(n)? < n {
            return Err(truncated("a length runs past the end"));
        }
        Ok(())
    }

    /// Skips to the end.
    fn drain(&mut self) -> Result<(), CostError> {
        self.skip_upto(u64::MAX).map(|_| ())
    }
}

struct Slice<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Slice<'a> {
    fn new(data: &'a [u8]) -> Self {
        Slice { data, pos: 0 }
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], CostError> {
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| self.pos.checked_add(n))
            .ok_or_else(|| truncated("a length runs past the end"))?;
        let out = self
            .data
            .get(self.pos..end)
            .ok_or_else(|| truncated("a length runs past the end"))?;
        self.pos = end;
        Ok(out)
    }
}

impl Src for Slice<'_> {
    fn byte(&mut self) -> Result<Option<u8>, CostError> {
        let b = self.data.get(self.pos).copied();
        if b.is_some() {
            self.pos += 1;
        }
        Ok(b)
    }

    fn skip_upto(&mut self, n: u64) -> Result<u64, CostError> {
        let step = self.data.len().saturating_sub(self.pos).min(to_usize(n));
        self.pos += step;
        Ok(to_u64(step))
    }
}

/// One column: the next `left` bytes of `inner`, or all of it for `None`.
struct Col<'s, S> {
    inner: &'s mut S,
    left: Option<u64>,
}

impl<S: Src> Src for Col<'_, S> {
    fn byte(&mut self) -> Result<Option<u8>, CostError> {
        if self.left == Some(0) {
            return Ok(None);
        }
        match (self.inner.byte()?, self.left) {
            (Some(b), left) => {
                self.left = left.map(|l| l - 1);
                Ok(Some(b))
            }
            (None, None) => Ok(None),
            (None, Some(_)) => Err(truncated("column data shorter than its table says")),
        }
    }

    fn skip_upto(&mut self, n: u64) -> Result<u64, CostError> {
        let want = self.left.map_or(n, |l| l.min(n));
        let got = self.inner.skip_upto(want)?;
        if let Some(l) = self.left {
            if got < want {
                return Err(truncated("column data shorter than its table says"));
            }
            self.left = Some(l - got);
        }
        Ok(got)
    }
}

/// Raw DEFLATE inflated through a fixed buffer, refusing once the budget's byte limit
/// would be passed. Automerge reads to the end of the DEFLATE stream and ignores what
/// follows it; so does this.
struct Inflate<'a> {
    decoder: flate2::bufread::DeflateDecoder<&'a [u8]>,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    /// Bytes inflated so far.
    produced: u64,
    /// Bytes counted before this stream, and the limit.
    base: u64,
    max_bytes: usize,
    ended: bool,
}

impl<'a> Inflate<'a> {
    fn new(data: &'a [u8], budget: &Budget) -> Self {
        Inflate {
            decoder: flate2::bufread::DeflateDecoder::new(data),
            buf: vec![0; INFLATE_BUF],
            pos: 0,
            len: 0,
            produced: 0,
            base: budget.bytes,
            max_bytes: budget.max_bytes,
            ended: false,
        }
    }

    /// Makes at least one byte available; false at the end of the stream.
    fn fill(&mut self) -> Result<bool, CostError> {
        if self.pos < self.len {
            return Ok(true);
        }
        if self.ended {
            return Ok(false);
        }
        let n = self
            .decoder
            .read(&mut self.buf)
            .map_err(|_| malformed("corrupt DEFLATE data"))?;
        if n == 0 {
            self.ended = true;
            return Ok(false);
        }
        self.produced = self.produced.saturating_add(to_u64(n));
        let total = self.base.saturating_add(self.produced);
        if total > to_u64(self.max_bytes) {
            return Err(CostError::TooLarge {
                bytes: to_usize(total),
                limit: self.max_bytes,
            });
        }
        self.pos = 0;
        self.len = n.min(self.buf.len());
        Ok(true)
    }
}

impl Src for Inflate<'_> {
    fn byte(&mut self) -> Result<Option<u8>, CostError> {
        if !self.fill()? {
            return Ok(None);
        }
        let b = self.buf.get(self.pos).copied();
        self.pos += 1;
        Ok(b)
    }

    fn skip_upto(&mut self, n: u64) -> Result<u64, CostError> {
        let mut done = 0u64;
        while done < n && self.fill()? {
            let step = (self.len - self.pos).min(to_usize(n - done));
            self.pos += step;
            done += to_u64(step);
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests;
