//! One agent's memory database (SQLite): the files indexed, their chunks, the keyword indexes
//! (FTS5: words, and CJK by trigrams; ranked by [`super::rank`]), the vectors (sqlite-vec
//! `vec0`: k-nearest-neighbour by `MATCH … AND k = ?` in C, not a SQL scan computing a distance
//! per row; in a large index a first pass over one bit per dimension, its candidates then
//! ranked by their f32 vectors), the embedding cache and the meta record. Each file's chunks
//! change in one transaction, so a killed indexer leaves the previous state of that file, never
//! half of it.

use std::cell::Cell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Once;

use rusqlite::{Connection, OptionalExtension, params};

pub use rusqlite::Error;

/// A chunk as stored, for results.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: i64,
    pub path: String,
    pub source: String,
    pub start_line: u32,
    pub end_line: u32,
    pub text: String,
}

/// A chunk to store: its lines, text, content hash and (when embedded) vector.
pub struct NewChunk {
    pub start_line: u32,
    pub end_line: u32,
    pub text: String,
    pub hash: String,
    pub vector: Option<Vec<f32>>,
}

/// What `files` records of one source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    pub hash: String,
    pub mtime_ms: i64,
    pub size: i64,
}

pub struct Store {
    conn: Connection,
    /// The last search by the bits' farthest wanted neighbour (a Hamming distance), from which
    /// the next one takes its bounds; see [`Store::nearest_bits`].
    bits_bound: Cell<Option<f64>>,
    /// Searches answered within the bound (the tests check the bound is used).
    #[cfg(test)]
    bounded_answers: Cell<u32>,
}

/// The bounds a search by the bits tries, in turn, after one whose farthest wanted neighbour
/// was at `farthest`: a little beyond it, then further (Hamming distances are whole numbers,
/// and from one query to the next the farthest moves by a few). A bound that holds more rows
/// than wanted costs more (each block's top-k passes); one that holds fewer costs a search
/// again, so the first is tight and the second wide.
fn bounds(farthest: f64) -> [f64; 2] {
    [farthest + (farthest / 16.0).max(1.0), farthest + (farthest / 5.0).max(3.0)]
}

fn register_vec() {
    static ONCE: Once = Once::new();
    // SAFETY: sqlite3_vec_init is sqlite-vec's entry point with the signature
    // sqlite3_auto_extension expects (the crate documents exactly this registration).
    ONCE.call_once(|| unsafe {
        #[allow(clippy::missing_transmute_annotations)]
        rusqlite::ffi::sqlite3_auto_extension(Some(std::mem::transmute(sqlite_vec::sqlite3_vec_init as *const ())));
    });
}

/// How much of a database its connections read through a memory map.
const MMAP_BYTES: i64 = 1 << 30;

/// The schema's version (`PRAGMA user_version`). A database of another version is rebuilt
/// (its embedding cache kept), which the next sync fills again.
const SCHEMA_VERSION: i64 = 4;

const DROP_OLD: &str = "
DROP TRIGGER IF EXISTS chunks_ai; DROP TRIGGER IF EXISTS chunks_ad;
DROP TABLE IF EXISTS chunks_words_vocab;
DROP TABLE IF EXISTS chunks_fts; DROP TABLE IF EXISTS chunks_words; DROP TABLE IF EXISTS chunks_cjk;
DROP TABLE IF EXISTS chunks_vec; DROP TABLE IF EXISTS chunks; DROP TABLE IF EXISTS files; DROP TABLE IF EXISTS meta;
";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, source TEXT NOT NULL, hash TEXT NOT NULL,
  mtime INTEGER NOT NULL, size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (id INTEGER PRIMARY KEY, path TEXT NOT NULL, source TEXT NOT NULL,
  start_line INTEGER NOT NULL, end_line INTEGER NOT NULL, hash TEXT NOT NULL, model TEXT NOT NULL,
  text TEXT NOT NULL, cjk TEXT NOT NULL DEFAULT '', embedded INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS chunks_path ON chunks(path);
CREATE INDEX IF NOT EXISTS chunks_pending ON chunks(embedded) WHERE embedded = 0;
CREATE TABLE IF NOT EXISTS embedding_cache (provider TEXT NOT NULL, model TEXT NOT NULL, hash TEXT NOT NULL,
  dims INTEGER NOT NULL, embedding BLOB NOT NULL, PRIMARY KEY (provider, model, hash));
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_words USING fts5(text, content='chunks', content_rowid='id',
  tokenize='unicode61 remove_diacritics 2');
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_words_vocab USING fts5vocab(chunks_words, 'row');
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_cjk USING fts5(cjk, content='chunks', content_rowid='id',
  tokenize='trigram');
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
  INSERT INTO chunks_words(rowid, text) VALUES (new.id, new.text);
  INSERT INTO chunks_cjk(rowid, cjk) VALUES (new.id, new.cjk); END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
  INSERT INTO chunks_words(chunks_words, rowid, text) VALUES ('delete', old.id, old.text);
  INSERT INTO chunks_cjk(chunks_cjk, rowid, cjk) VALUES ('delete', old.id, old.cjk); END;
";

/// How many Hamming-nearest candidates the f32 vectors rank for each one a search wants: the
/// bits order vectors roughly, and the true nearest are among the first few times `k`.
const OVERSAMPLE: usize = 4;

/// From how many chunks a search scans the bits rather than the f32 vectors. Measured with
/// 64-wide vectors (bench/memory.rs): the f32 scan costs about 3 ms at 10,000 and 26 ms at
/// 100,000; the bits and the ranking of their candidates about 4 and 17 ms.
const QUANTIZED_FROM: u64 = 25_000;

/// Whether `dims`-wide vectors get their bits stored (a bit vector is whole bytes).
fn quantizable(dims: usize) -> bool {
    dims.is_multiple_of(8)
}

/// 1 - cosine similarity, as sqlite-vec's `vec_distance_cosine`.
fn cosine_distance(a: &[f32], b: &[f32]) -> f64 {
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 { 1.0 } else { 1.0 - dot / (na.sqrt() * nb.sqrt()) }
}

fn blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|f| f.to_le_bytes()).collect()
}

fn unblob(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

impl Store {
    /// Opens (creating) the database at `path`: WAL, so searches read while the indexer writes.
    pub fn open(path: &Path) -> Result<Self, Error> {
        register_vec();
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Reads through a memory map: a search touches a few hundred pages (each stored block
        // of bit vectors, the keyword index's), which through read() cost a system call and a
        // copy each (a third of a bits search at 100,000 chunks). The map is address space,
        // its pages the kernel's page cache; a database larger than it reads the rest as before.
        conn.pragma_update(None, "mmap_size", MMAP_BYTES)?;
        // The version is read and acted on inside one write transaction: a second connection
        // opening the same new database (a search while the first sync creates it) must see
        // the schema made, never make it again over the first one's rows.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version != SCHEMA_VERSION {
            tx.execute_batch(DROP_OLD)?;
            tx.execute_batch(SCHEMA)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        }
        tx.commit()?;
        super::rank::register(&conn)?;
        Ok(Self {
            conn,
            bits_bound: Cell::new(None),
            #[cfg(test)]
            bounded_answers: Cell::new(0),
        })
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>, Error> {
        // Read on every search (dims, the chunk count): a cached statement.
        self.conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")?.query_row([key], |r| r.get(0)).optional()
    }

    pub fn set_meta(&self, key: &str, value: Option<&str>) -> Result<(), Error> {
        match value {
            Some(v) => self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)", [key, v])?,
            None => self.conn.execute("DELETE FROM meta WHERE key = ?1", [key])?,
        };
        Ok(())
    }

    pub fn files(&self) -> Result<HashMap<String, FileRecord>, Error> {
        let mut st = self.conn.prepare("SELECT path, hash, mtime, size FROM files")?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, FileRecord { hash: r.get(1)?, mtime_ms: r.get(2)?, size: r.get(3)? })))?;
        rows.collect()
    }

    /// Records a file whose content is unchanged but whose mtime moved.
    pub fn touch_file(&self, path: &str, rec: &FileRecord) -> Result<(), Error> {
        self.conn
            .execute("UPDATE files SET mtime = ?2, size = ?3 WHERE path = ?1", params![path, rec.mtime_ms, rec.size])?;
        Ok(())
    }

    /// The dimensions of the vector table, when there is one.
    pub fn dims(&self) -> Result<Option<usize>, Error> {
        Ok(self.meta("dims")?.and_then(|d| d.parse().ok()))
    }

    /// Makes the vector table for `dims`-wide vectors (dropping one of another width).
    pub fn ensure_vectors(&self, dims: usize) -> Result<(), Error> {
        if self.dims()? == Some(dims) {
            return Ok(());
        }
        self.drop_vectors()?;
        // Beside each vector its signs, one bit a dimension (a 1,536-wide embedding: 192 bytes
        // against 6 KB), which the first pass of a search compares (Hamming distance).
        let bits = if quantizable(dims) { format!(", bits bit[{dims}]") } else { String::new() };
        self.conn.execute_batch(&format!(
            "CREATE VIRTUAL TABLE chunks_vec USING vec0(embedding float[{dims}] distance_metric=cosine{bits});"
        ))?;
        self.set_meta("dims", Some(&dims.to_string()))
    }

    /// The statement storing one chunk's vector (and its bits) for `dims`-wide vectors.
    fn vec_insert(dims: Option<usize>) -> &'static str {
        if dims.is_some_and(quantizable) {
            "INSERT INTO chunks_vec(rowid, embedding, bits) VALUES (?1, ?2, vec_quantize_binary(?2))"
        } else {
            "INSERT INTO chunks_vec(rowid, embedding) VALUES (?1, ?2)"
        }
    }

    /// Forgets every vector: the table goes and every chunk needs embedding again.
    pub fn drop_vectors(&self) -> Result<(), Error> {
        let tx = self.conn.unchecked_transaction()?;
        tx.execute_batch("DROP TABLE IF EXISTS chunks_vec; UPDATE chunks SET embedded = 0;")?;
        tx.execute("DELETE FROM meta WHERE key = 'dims'", [])?;
        tx.commit()
    }

    /// Replaces `path`'s chunks (and its `files` record) in one transaction.
    pub fn replace_file(
        &self,
        path: &str,
        source: &str,
        rec: &FileRecord,
        model: &str,
        chunks: &[NewChunk],
    ) -> Result<(), Error> {
        let dims = self.dims()?;
        let has_vec = dims.is_some();
        let tx = self.conn.unchecked_transaction()?;
        if has_vec {
            tx.execute("DELETE FROM chunks_vec WHERE rowid IN (SELECT id FROM chunks WHERE path = ?1)", [path])?;
        }
        tx.execute("DELETE FROM chunks WHERE path = ?1", [path])?;
        {
            let mut ins = tx.prepare(
                "INSERT INTO chunks(path, source, start_line, end_line, hash, model, text, cjk, embedded)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            let mut vec_ins = if has_vec { Some(tx.prepare(Self::vec_insert(dims))?) } else { None };
            for c in chunks {
                let embedded = c.vector.is_some() && has_vec;
                let cjk = super::search::cjk_text(&c.text);
                ins.execute(params![
                    path,
                    source,
                    c.start_line,
                    c.end_line,
                    c.hash,
                    model,
                    c.text,
                    cjk,
                    embedded as i64
                ])?;
                if let (Some(v), Some(st)) = (&c.vector, vec_ins.as_mut()) {
                    st.execute(params![tx.last_insert_rowid(), blob(v)])?;
                }
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO files(path, source, hash, mtime, size) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![path, source, rec.hash, rec.mtime_ms, rec.size],
        )?;
        tx.commit()
    }

    pub fn remove_file(&self, path: &str) -> Result<(), Error> {
        let has_vec = self.dims()?.is_some();
        let tx = self.conn.unchecked_transaction()?;
        if has_vec {
            tx.execute("DELETE FROM chunks_vec WHERE rowid IN (SELECT id FROM chunks WHERE path = ?1)", [path])?;
        }
        tx.execute("DELETE FROM chunks WHERE path = ?1", [path])?;
        tx.execute("DELETE FROM files WHERE path = ?1", [path])?;
        tx.commit()
    }

    /// Up to `limit` chunks without a vector: (id, hash, text).
    pub fn pending(&self, limit: usize) -> Result<Vec<(i64, String, String)>, Error> {
        let mut st = self.conn.prepare("SELECT id, hash, text FROM chunks WHERE embedded = 0 ORDER BY id LIMIT ?1")?;
        let rows = st.query_map([limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect()
    }

    /// Stores vectors for existing chunks (one transaction).
    pub fn set_vectors(&self, vectors: &[(i64, Vec<f32>)]) -> Result<(), Error> {
        let dims = self.dims()?;
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut del = tx.prepare("DELETE FROM chunks_vec WHERE rowid = ?1")?;
            let mut ins = tx.prepare(Self::vec_insert(dims))?;
            let mut mark = tx.prepare("UPDATE chunks SET embedded = 1 WHERE id = ?1")?;
            for (id, v) in vectors {
                del.execute([id])?;
                ins.execute(params![id, blob(v)])?;
                mark.execute([id])?;
            }
        }
        tx.commit()
    }

    /// Cached vectors for these text hashes.
    pub fn cached(&self, provider: &str, model: &str, hashes: &[&str]) -> Result<HashMap<String, Vec<f32>>, Error> {
        let mut st = self
            .conn
            .prepare_cached("SELECT embedding FROM embedding_cache WHERE provider = ?1 AND model = ?2 AND hash = ?3")?;
        let mut out = HashMap::new();
        for h in hashes {
            if let Some(b) = st.query_row(params![provider, model, h], |r| r.get::<_, Vec<u8>>(0)).optional()? {
                out.insert(h.to_string(), unblob(&b));
            }
        }
        Ok(out)
    }

    pub fn cache(&self, provider: &str, model: &str, entries: &[(&str, &[f32])]) -> Result<(), Error> {
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut st = tx.prepare(
                "INSERT OR REPLACE INTO embedding_cache(provider, model, hash, dims, embedding) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (h, v) in entries {
                st.execute(params![provider, model, h, v.len() as i64, blob(v)])?;
            }
        }
        tx.commit()
    }

    /// Word-index candidates, best first (by [`super::rank`]; among equals the newer first).
    pub fn words(&self, query: &str, limit: usize) -> Result<Vec<i64>, Error> {
        self.ranked(
            "SELECT rowid FROM chunks_words WHERE chunks_words MATCH ?1 ORDER BY tf_rank(chunks_words), rowid DESC LIMIT ?2",
            query,
            limit,
        )
    }

    /// CJK trigram-index candidates, best first (as [`Store::words`]).
    pub fn cjk(&self, query: &str, limit: usize) -> Result<Vec<i64>, Error> {
        self.ranked(
            "SELECT rowid FROM chunks_cjk WHERE chunks_cjk MATCH ?1 ORDER BY tf_rank(chunks_cjk), rowid DESC LIMIT ?2",
            query,
            limit,
        )
    }

    /// Chunks holding `term` (as a token, or as a token prefix), from the word index's
    /// vocabulary: no posting list is read.
    pub fn doc_count(&self, term: &str, prefix: bool) -> Result<u64, Error> {
        let n: Option<i64> = if prefix {
            let mut st =
                self.conn.prepare_cached("SELECT sum(doc) FROM chunks_words_vocab WHERE term >= ?1 AND term < ?2")?;
            st.query_row(params![term, format!("{term}\u{10FFFF}")], |r| r.get(0))?
        } else {
            let mut st = self.conn.prepare_cached("SELECT doc FROM chunks_words_vocab WHERE term = ?1")?;
            st.query_row([term], |r| r.get(0)).optional()?
        };
        Ok(n.unwrap_or(0) as u64)
    }

    /// Chunks in the index (as the last sync counted them).
    pub fn chunk_total(&self) -> Result<u64, Error> {
        match self.meta("chunks")?.and_then(|n| n.parse().ok()) {
            Some(n) => Ok(n),
            None => self.chunk_count(),
        }
    }

    fn ranked(&self, sql: &str, query: &str, limit: usize) -> Result<Vec<i64>, Error> {
        let mut st = self.conn.prepare_cached(sql)?;
        let rows = st.query_map(params![query, limit as i64], |r| r.get(0))?;
        rows.collect()
    }

    /// Candidates holding CJK runs too short for trigrams (a scan of the CJK text only).
    pub fn substring(&self, terms: &[String], limit: usize) -> Result<Vec<i64>, Error> {
        let clause = vec!["instr(cjk, ?) > 0"; terms.len()].join(" OR ");
        let mut st = self
            .conn
            .prepare(&format!("SELECT id FROM chunks WHERE cjk != '' AND ({clause}) ORDER BY id LIMIT {limit}"))?;
        let rows = st.query_map(rusqlite::params_from_iter(terms), |r| r.get(0))?;
        rows.collect()
    }

    /// Vector candidates: the `k` nearest chunks (id, cosine distance), nearest first. In an
    /// index of [`QUANTIZED_FROM`] chunks or more with bits stored, the [`OVERSAMPLE`]·`k`
    /// nearest by Hamming distance (a scan of the bits) are ranked by their f32 vectors, read
    /// from the embedding cache under `cache` (provider, model: the vectors' own); otherwise
    /// every f32 vector is compared.
    pub fn nearest(&self, query: &[f32], k: usize, cache: (&str, &str)) -> Result<Vec<(i64, f64)>, Error> {
        let bits = self.dims()?.is_some_and(quantizable) && self.chunk_total()? >= QUANTIZED_FROM;
        self.nearest_by(query, k, cache, bits)
    }

    fn nearest_by(&self, query: &[f32], k: usize, cache: (&str, &str), bits: bool) -> Result<Vec<(i64, f64)>, Error> {
        let q = blob(query);
        if !bits {
            let mut st = self.conn.prepare_cached(
                "SELECT rowid, distance FROM chunks_vec WHERE embedding MATCH ?1 AND k = ?2 ORDER BY distance",
            )?;
            let rows = st.query_map(params![q, k as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
            return rows.collect();
        }
        let ids = self.nearest_bits(&q, k * OVERSAMPLE)?.into_iter().map(|(id, _)| id);
        // The cache is a plain table (a B-tree lookup a vector); a vec0 point read opens the
        // chunk's whole vector blob for each one.
        let mut cached = self.conn.prepare_cached(
            "SELECT embedding FROM embedding_cache WHERE provider = ?1 AND model = ?2
             AND hash = (SELECT hash FROM chunks WHERE id = ?3)",
        )?;
        let mut exact =
            self.conn.prepare_cached("SELECT vec_distance_cosine(embedding, ?1) FROM chunks_vec WHERE rowid = ?2")?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let v = cached.query_row(params![cache.0, cache.1, id], |r| r.get::<_, Vec<u8>>(0)).optional()?;
            let d = match v {
                Some(v) => Some(cosine_distance(query, &unblob(&v))),
                None => exact.query_row(params![q, id], |r| r.get::<_, f64>(0)).optional()?,
            };
            if let Some(d) = d {
                out.push((id, d));
            }
        }
        out.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        out.truncate(k);
        Ok(out)
    }

    /// The `want` nearest by Hamming distance (id, distance), nearest first: what sqlite-vec
    /// answers to `MATCH ... AND k = ?`, asked with a bound on the distance when one is known.
    /// sqlite-vec takes each stored block of 1,024 vectors' top k in k passes over the block
    /// (most of the cost of a bits search: the distances themselves are a few instructions);
    /// the bound drops most rows before those passes. Within a bound that holds `want` rows the
    /// answer is the same; a search that finds fewer is asked again with the wider of the
    /// [`bounds`], then without one. (The f32 scan
    /// is not bounded: there the distances cost more than the passes, and a miss doubles them.)
    fn nearest_bits(&self, q: &[u8], want: usize) -> Result<Vec<(i64, f64)>, Error> {
        // Unbounded is the same query with an infinite bound (every row within it).
        let within = |bound: f64| -> Result<Vec<(i64, f64)>, Error> {
            let mut st = self.conn.prepare_cached(
                "SELECT rowid, distance FROM chunks_vec WHERE bits MATCH vec_quantize_binary(?1) AND k = ?2
                 AND distance <= ?3 ORDER BY distance",
            )?;
            let rows = st.query_map(params![q, want as i64, bound], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        };
        let tries = self.bits_bound.get().filter(|_| want > 0).map(bounds);
        let mut held = None;
        for bound in tries.into_iter().flatten() {
            let rows = within(bound)?;
            if rows.len() >= want {
                held = Some(rows);
                break;
            }
        }
        #[cfg(test)]
        self.bounded_answers.set(self.bounded_answers.get() + u32::from(held.is_some()));
        let rows = match held {
            Some(rows) => rows,
            None => within(f64::INFINITY)?,
        };
        // The farthest wanted neighbour; none when fewer are stored (no bound would hold them).
        self.bits_bound.set(want.checked_sub(1).and_then(|i| rows.get(i)).map(|r| r.1));
        Ok(rows)
    }

    pub fn rows(&self, ids: &[i64]) -> Result<HashMap<i64, Row>, Error> {
        let mut st = self
            .conn
            .prepare_cached("SELECT id, path, source, start_line, end_line, text FROM chunks WHERE id = ?1")?;
        let mut out = HashMap::new();
        for id in ids {
            if let Some(r) = st
                .query_row([id], |r| {
                    Ok(Row {
                        id: r.get(0)?,
                        path: r.get(1)?,
                        source: r.get(2)?,
                        start_line: r.get(3)?,
                        end_line: r.get(4)?,
                        text: r.get(5)?,
                    })
                })
                .optional()?
            {
                out.insert(*id, r);
            }
        }
        Ok(out)
    }

    fn count(&self, sql: &str) -> Result<u64, Error> {
        self.conn.query_row(sql, [], |r| r.get::<_, i64>(0)).map(|n| n as u64)
    }

    pub fn chunk_count(&self) -> Result<u64, Error> {
        self.count("SELECT count(*) FROM chunks")
    }

    pub fn pending_count(&self) -> Result<u64, Error> {
        self.count("SELECT count(*) FROM chunks WHERE embedded = 0")
    }

    /// (files, chunks, chunks without a vector, cached embeddings).
    pub fn counts(&self) -> Result<(u64, u64, u64, u64), Error> {
        Ok((
            self.count("SELECT count(*) FROM files")?,
            self.chunk_count()?,
            self.pending_count()?,
            self.count("SELECT count(*) FROM embedding_cache")?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(h: &str) -> FileRecord {
        FileRecord { hash: h.into(), mtime_ms: 1, size: 1 }
    }

    fn chunk(text: &str, v: Option<Vec<f32>>) -> NewChunk {
        NewChunk { start_line: 1, end_line: 1, text: text.into(), hash: text.into(), vector: v }
    }

    #[test]
    fn keyword_vector_and_replacement_work_together() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("m.sqlite")).unwrap();
        s.ensure_vectors(3).unwrap();
        s.replace_file("a.md", "memory", &rec("1"), "m", &[chunk("the quick brown fox", Some(vec![1.0, 0.0, 0.0]))])
            .unwrap();
        s.replace_file("b.md", "memory", &rec("2"), "m", &[chunk("记忆索引的设计", Some(vec![0.0, 1.0, 0.0]))])
            .unwrap();
        assert_eq!(s.words("\"quick\"", 10).unwrap().len(), 1);
        assert_eq!(s.cjk("\"索引的\"", 10).unwrap().len(), 1);
        assert_eq!(s.substring(&["索引".into()], 10).unwrap().len(), 1);
        assert_eq!(s.doc_count("quick", false).unwrap(), 1);
        assert_eq!(s.doc_count("qui", true).unwrap(), 1);
        assert_eq!((s.doc_count("qui", false).unwrap(), s.doc_count("zzz", true).unwrap()), (0, 0));
        assert_eq!(s.chunk_total().unwrap(), 2);
        let near = s.nearest(&[0.1, 0.9, 0.0], 1, ("p", "m")).unwrap();
        assert_eq!(s.rows(&[near[0].0]).unwrap()[&near[0].0].path, "b.md");
        // Replacing a file replaces its chunks in both indexes.
        s.replace_file("a.md", "memory", &rec("3"), "m", &[chunk("slow green turtle", Some(vec![0.0, 0.0, 1.0]))])
            .unwrap();
        assert!(s.words("\"quick\"", 10).unwrap().is_empty());
        assert_eq!(s.words("\"turt\"*", 10).unwrap().len(), 1, "a prefix");
        assert_eq!(s.nearest(&[1.0, 0.0, 0.0], 5, ("p", "m")).unwrap().len(), 2);
        s.remove_file("a.md").unwrap();
        assert_eq!(s.counts().unwrap(), (1, 1, 0, 0));
        // A new width drops every vector and marks every chunk pending.
        s.ensure_vectors(4).unwrap();
        assert_eq!(s.counts().unwrap().2, 1);
        assert_eq!(s.pending(10).unwrap()[0].2, "记忆索引的设计");
    }

    #[test]
    fn a_bounded_bits_search_answers_as_the_unbounded_one() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("m.sqlite")).unwrap();
        s.ensure_vectors(16).unwrap();
        // 300 vectors whose signs vary, so neighbours differ from query to query.
        let v = |i: usize| -> Vec<f32> { (0..16).map(|j| ((i * 7 + j * 13) as f32 * 0.37).sin()).collect() };
        let chunks: Vec<NewChunk> = (0..300).map(|i| chunk(&format!("c{i}"), Some(v(i)))).collect();
        s.replace_file("a.md", "memory", &rec("1"), "m", &chunks).unwrap();
        for (n, qi) in [3usize, 150, 77, 9, 120, 33, 250].into_iter().enumerate() {
            let q = blob(&v(qi * 3 + 1));
            let bounded = s.nearest_bits(&q, 10).unwrap();
            assert!(s.bits_bound.get().is_some(), "a bound after a search");
            let was = s.bits_bound.take();
            let unbounded = s.nearest_bits(&q, 10).unwrap();
            s.bits_bound.set(was);
            let dist = |r: &[(i64, f64)]| r.iter().map(|x| x.1).collect::<Vec<_>>();
            assert_eq!(dist(&bounded), dist(&unbounded), "query {n}");
        }
        assert!(s.bounded_answers.get() >= 4, "the bound held for most queries: {}", s.bounded_answers.get());
        // Fewer stored than wanted: every row, and no bound kept.
        assert_eq!(s.nearest_bits(&blob(&v(1)), 500).unwrap().len(), 300);
        assert!(s.bits_bound.get().is_none());
    }

    #[test]
    fn a_bits_search_finds_the_nearest_as_a_full_comparison_does() {
        // sqlite-vec's top-k per stored block is patched (patches/sqlite-vec): its answer must
        // stay the k nearest, over several blocks of 1,024, with holes left by a removed file
        // and the many ties of 16-bit Hamming distances.
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("m.sqlite")).unwrap();
        s.ensure_vectors(16).unwrap();
        let v = |i: usize| -> Vec<f32> { (0..16).map(|j| ((i * 31 + j * 17) as f32 * 0.73).sin()).collect() };
        for (file, range) in [("a.md", 0..1200), ("b.md", 1200..1700), ("c.md", 1700..2600)] {
            let chunks: Vec<NewChunk> = range.map(|i| chunk(&format!("c{i}"), Some(v(i)))).collect();
            s.replace_file(file, "memory", &rec(file), "m", &chunks).unwrap();
        }
        s.remove_file("b.md").unwrap();
        let stored = 2100;
        for (qi, k) in [(5usize, 1usize), (901, 7), (1333, 96), (2222, 500), (77, stored), (4000, stored + 10)] {
            let q = blob(&v(qi));
            let mut all: Vec<(i64, f64)> = s
                .conn
                .prepare("SELECT rowid, vec_distance_hamming(bits, vec_quantize_binary(?1)) FROM chunks_vec")
                .unwrap()
                .query_map([&q], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            all.sort_by(|a, b| a.1.total_cmp(&b.1));
            s.bits_bound.set(None);
            let got = s.nearest_bits(&q, k).unwrap();
            let want = &all[..k.min(stored)];
            let dist = |r: &[(i64, f64)]| r.iter().map(|x| x.1).collect::<Vec<_>>();
            assert_eq!(dist(&got), dist(want), "query {qi}, k {k}: the k smallest distances, ascending");
            let by_id: HashMap<i64, f64> = all.iter().copied().collect();
            assert!(got.iter().all(|(id, d)| by_id[id] == *d), "query {qi}, k {k}: each row's own distance");
            let ids: std::collections::HashSet<i64> = got.iter().map(|r| r.0).collect();
            assert_eq!(ids.len(), got.len(), "query {qi}, k {k}: no row twice");
            let last = got.last().unwrap().1;
            let closer = |r: &[(i64, f64)]| {
                let mut c: Vec<i64> = r.iter().filter(|x| x.1 < last).map(|x| x.0).collect();
                c.sort_unstable();
                c
            };
            assert_eq!(closer(&got), closer(want), "query {qi}, k {k}: every row nearer than the k-th");
        }
    }

    #[test]
    fn with_bits_stored_the_nearest_are_ranked_by_their_f32_vectors() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("m.sqlite")).unwrap();
        s.ensure_vectors(8).unwrap();
        // Same signs (same bits) as the query for all three: only the f32 vectors tell them apart.
        let vs = [
            ("far.md", vec![0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.9]),
            ("near.md", vec![0.9, 0.8, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]),
            ("mid.md", vec![0.5, 0.5, 0.5, 0.1, 0.1, 0.1, 0.1, 0.1]),
            ("opposite.md", vec![-0.9, -0.8, -0.1, -0.1, -0.1, -0.1, -0.1, -0.1]),
        ];
        for (i, (path, v)) in vs.iter().enumerate() {
            s.replace_file(path, "memory", &rec(&i.to_string()), "m", &[chunk(path, Some(v.clone()))]).unwrap();
        }
        let near = s.nearest_by(&[1.0, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1], 3, ("p", "m"), true).unwrap();
        let rows = s.rows(&near.iter().map(|n| n.0).collect::<Vec<_>>()).unwrap();
        let order: Vec<&str> = near.iter().map(|n| rows[&n.0].path.as_str()).collect();
        assert_eq!(order, ["near.md", "mid.md", "far.md"]);
        assert!(near[0].1 < 0.01 && near.windows(2).all(|w| w[0].1 <= w[1].1), "{near:?}");
        // Vectors written later (a re-embedding) carry their bits too.
        let (id, v) = (near[2].0, vec![0.0, 0.0, 0.0, 0.0, 0.0, -0.2, 1.0, -1.0]);
        s.set_vectors(&[(id, v.clone())]).unwrap();
        let found = s.nearest_by(&v, 1, ("p", "m"), true).unwrap();
        assert_eq!(found[0].0, id, "{found:?}");
        assert!(found[0].1 < 1e-6, "{found:?}");
        // The ranking reads the vectors from the embedding cache when it has them (the same
        // vectors in use; one differing here shows which was read).
        let q = [1.0, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1];
        s.cache("p", "m", &[("mid.md", &q)]).unwrap();
        let cached = s.nearest_by(&q, 1, ("p", "m"), true).unwrap();
        assert_eq!(s.rows(&[cached[0].0]).unwrap()[&cached[0].0].path, "mid.md");
        assert_eq!(s.nearest_by(&q, 1, ("other", "m"), true).unwrap()[0].0, near[0].0, "another provider's cache");
    }
}
