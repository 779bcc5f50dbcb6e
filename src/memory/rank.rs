//! The keyword indexes' rank function, `tf_rank(table)`: BM25's saturating term frequency
//! times each phrase's idf, without BM25's document-length term. FTS5's own `bm25()` reads
//! every matching chunk's length with a lookup in the `_docsize` table, and `ORDER BY rank`
//! scores and sorts every match before the `LIMIT`: at 100,000 chunks a search ranking a few
//! thousand matches spent most of its time there. Chunks are cut to one size, so the length
//! term says little; without it a match costs a walk of its position lists only (4-5x
//! faster, bench/README.md). Lower is better, as with `bm25()`.

use std::ffi::{c_int, c_void};
use std::ptr;

use rusqlite::{Connection, ffi};

/// BM25's term-frequency saturation (FTS5's default).
const K1: f64 = 1.2;

/// The idf of a phrase in `hits` of `rows` rows, as FTS5's `bm25()` computes it.
pub fn idf(rows: i64, hits: i64) -> f64 {
    let (n, h) = (rows as f64, hits as f64);
    ((n - h + 0.5) / (h + 0.5)).ln().max(1e-6)
}

/// One phrase's part of a score: `tf` occurrences of a phrase of weight `idf`.
pub fn part(idf: f64, tf: f64) -> f64 {
    if tf > 0.0 { idf * tf * (K1 + 1.0) / (tf + K1) } else { 0.0 }
}

unsafe extern "C" fn count_row(_: *const ffi::Fts5ExtensionApi, _: *mut ffi::Fts5Context, n: *mut c_void) -> c_int {
    // SAFETY: `n` is the `&mut i64` `phrase_idf` passes to xQueryPhrase.
    unsafe { *n.cast::<i64>() += 1 };
    ffi::SQLITE_OK
}

unsafe extern "C" fn drop_idf(p: *mut c_void) {
    // SAFETY: `p` is the box `tf_rank` gave FTS5 with xSetAuxdata, dropped once by FTS5.
    drop(unsafe { Box::from_raw(p.cast::<Vec<f64>>()) });
}

/// The query's phrases' idfs (each phrase's matching rows counted once per query).
///
/// SAFETY: `a` and `fts` as FTS5 passes them to an auxiliary function.
unsafe fn phrase_idf(a: &ffi::Fts5ExtensionApi, fts: *mut ffi::Fts5Context) -> Result<Vec<f64>, c_int> {
    let (Some(row_count), Some(phrase_count), Some(query_phrase)) = (a.xRowCount, a.xPhraseCount, a.xQueryPhrase)
    else {
        return Err(ffi::SQLITE_MISUSE);
    };
    let mut rows: i64 = 0;
    // SAFETY: FTS5's own functions on its own context, as documented.
    unsafe {
        let rc = row_count(fts, &mut rows);
        if rc != ffi::SQLITE_OK {
            return Err(rc);
        }
        let phrases = phrase_count(fts);
        let mut out = Vec::with_capacity(phrases.max(0) as usize);
        for i in 0..phrases {
            let mut hits: i64 = 0;
            let rc = query_phrase(fts, i, (&raw mut hits).cast(), Some(count_row));
            if rc != ffi::SQLITE_OK {
                return Err(rc);
            }
            out.push(idf(rows, hits));
        }
        Ok(out)
    }
}

unsafe extern "C" fn tf_rank(
    api: *const ffi::Fts5ExtensionApi,
    fts: *mut ffi::Fts5Context,
    ctx: *mut ffi::sqlite3_context,
    _: c_int,
    _: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: FTS5 calls this with its API, its context and a result context, all valid for
    // the call; every function pointer used is checked.
    unsafe {
        let a = &*api;
        let (Some(get), Some(set), Some(first), Some(next)) =
            (a.xGetAuxdata, a.xSetAuxdata, a.xPhraseFirst, a.xPhraseNext)
        else {
            return ffi::sqlite3_result_error_code(ctx, ffi::SQLITE_MISUSE);
        };
        let mut idfs = get(fts, 0).cast::<Vec<f64>>();
        if idfs.is_null() {
            match phrase_idf(a, fts) {
                Ok(v) => {
                    idfs = Box::into_raw(Box::new(v));
                    let rc = set(fts, idfs.cast(), Some(drop_idf));
                    if rc != ffi::SQLITE_OK {
                        // FTS5 has called drop_idf on failure.
                        return ffi::sqlite3_result_error_code(ctx, rc);
                    }
                }
                Err(rc) => return ffi::sqlite3_result_error_code(ctx, rc),
            }
        }
        let mut score = 0.0;
        for (i, w) in (*idfs).iter().enumerate() {
            let mut it = ffi::Fts5PhraseIter { a: ptr::null(), b: ptr::null() };
            let (mut col, mut off) = (0, 0);
            let rc = first(fts, i as c_int, &mut it, &mut col, &mut off);
            if rc != ffi::SQLITE_OK {
                return ffi::sqlite3_result_error_code(ctx, rc);
            }
            let mut tf = 0.0;
            while col >= 0 {
                tf += 1.0;
                next(fts, &mut it, &mut col, &mut off);
            }
            score += part(*w, tf);
        }
        ffi::sqlite3_result_double(ctx, -score);
    }
}

/// Registers `tf_rank` with `conn`'s FTS5 (each connection has its own).
pub fn register(conn: &Connection) -> Result<(), rusqlite::Error> {
    let fail = |rc: c_int, what: &str| {
        rusqlite::Error::SqliteFailure(ffi::Error::new(rc), Some(format!("registering tf_rank: {what}")))
    };
    // SAFETY: the documented way to reach FTS5's API (`SELECT fts5(?1)` with a pointer bound
    // as "fts5_api_ptr"), on this connection's handle, used while the connection lives.
    unsafe {
        let db = conn.handle();
        let mut api: *mut ffi::fts5_api = ptr::null_mut();
        let mut st = ptr::null_mut();
        let rc = ffi::sqlite3_prepare_v2(db, c"SELECT fts5(?1)".as_ptr(), -1, &mut st, ptr::null_mut());
        if rc != ffi::SQLITE_OK {
            return Err(fail(rc, "no FTS5"));
        }
        ffi::sqlite3_bind_pointer(st, 1, (&raw mut api).cast(), c"fts5_api_ptr".as_ptr(), None);
        ffi::sqlite3_step(st);
        ffi::sqlite3_finalize(st);
        let Some(create) = api.as_ref().and_then(|a| a.xCreateFunction) else {
            return Err(fail(ffi::SQLITE_ERROR, "no FTS5 API"));
        };
        let rc = create(api, c"tf_rank".as_ptr(), ptr::null_mut(), Some(tf_rank), None);
        if rc != ffi::SQLITE_OK {
            return Err(fail(rc, "xCreateFunction"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rarer_phrases_and_more_occurrences_rank_first() {
        let c = Connection::open_in_memory().unwrap();
        register(&c).unwrap();
        c.execute_batch("CREATE VIRTUAL TABLE t USING fts5(x);").unwrap();
        let docs = [
            (1, "common words only"),
            (2, "common rare"),
            (3, "rare rare rare common"),
            (4, "common common"),
            (5, "common again"),
            (6, "rare"),
        ];
        // Rows matching neither, so both words have an idf worth the name.
        let filler = (10..24).map(|i| (i, "filler text"));
        for (id, x) in docs.into_iter().chain(filler) {
            c.execute("INSERT INTO t(rowid, x) VALUES (?1, ?2)", rusqlite::params![id, x]).unwrap();
        }
        let ranked = |q: &str| -> Vec<(i64, f64)> {
            let mut st =
                c.prepare("SELECT rowid, tf_rank(t) FROM t WHERE t MATCH ?1 ORDER BY tf_rank(t), rowid DESC").unwrap();
            st.query_map([q], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
        };
        let r = ranked("common OR rare");
        let ids: Vec<i64> = r.iter().map(|x| x.0).collect();
        // 3: both, "rare" three times; 2: both once; 6: the rare one alone; then the common
        // one alone, twice (4) before once, and among equals the newer first.
        assert_eq!(ids, [3, 2, 6, 4, 5, 1], "{r:?}");
        let expect = -(part(idf(20, 3), 3.0) + part(idf(20, 5), 1.0));
        assert!((r[0].1 - expect).abs() < 1e-9, "{} vs {expect}", r[0].1);
        assert!(part(1.0, 2.0) > part(1.0, 1.0) && part(1.0, 2.0) < 2.0 * part(1.0, 1.0), "saturating");
        assert_eq!(ranked("absent"), []);
        // A prefix and a phrase are phrases too.
        assert_eq!(ranked("\"rar\"*")[0].0, 3);
        assert_eq!(ranked("\"common rare\"").iter().map(|x| x.0).collect::<Vec<_>>(), [2]);
    }
}
