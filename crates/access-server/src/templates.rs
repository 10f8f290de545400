//! The server's face templates: how a template is stored (a `templates` row, the embedding in
//! `vision::Embedding`'s byte layout) and, per project, a `vision::Gallery` built from those
//! rows, so matching neither scans SQLite blobs nor holds the single database thread (a 1:N
//! search over thousands of templates would stall every other request behind it).
//!
//! Which templates may match a probe (the embedder's model only) and how a person's score is
//! made are the gallery's rules, the same the kiosk matches by. This module depends only on
//! the store below it (`db`, `error`, `ids`) and on `vision`; the handlers use it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::sql::Connection;
use vision::{Embedding, Gallery};

use crate::db::{Db, exec, next_counter};
use crate::error::{ApiError, ApiResult};

/// Above this many templates the search runs on a blocking thread.
const INLINE_MAX: usize = 1000;

/// Stores one template of `user_id` made by `model_id`; returns its id. The caller
/// invalidates the project's cache once the transaction has committed.
/// A template to store, and where its sample came from.
pub struct NewTemplate<'a> {
    pub project_id: &'a str,
    pub user_id: &'a str,
    pub model_id: &'a str,
    pub embedding: &'a Embedding,
    pub source: access_types::EnrolSource,
    /// Who enrolled it (`people::actor`): a kiosk may erase only people it enrolled itself.
    pub enrolled_by: &'a str,
}

pub fn insert(tx: &Connection, t: &NewTemplate<'_>, now: i64) -> crate::sql::Result<String> {
    let id = crate::ids::new_id("tpl");
    let rev = next_counter(tx, "template_rev")?;
    exec(
        tx,
        "INSERT INTO templates(id, project_id, user_id, model_id, embedding, created_at, rev,
           source, enrolled_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        rusqlite::params![
            id,
            t.project_id,
            t.user_id,
            t.model_id,
            t.embedding.to_le_bytes(),
            now,
            rev,
            t.source.as_str(),
            t.enrolled_by
        ],
    )?;
    Ok(id)
}

/// A project's live templates as a gallery for one model (`dim` values each): the others'
/// templates are left out by the gallery, and a blob that is no embedding is skipped.
fn load(
    c: &Connection,
    project_id: &str,
    model_id: &str,
    dim: usize,
) -> crate::sql::Result<Gallery> {
    let mut gallery = Gallery::new(model_id, dim);
    let mut key = 0u64;
    c.each_row(
        "SELECT id, user_id, model_id, embedding FROM templates
         WHERE project_id = ?1 AND deleted_at IS NULL",
        &[&project_id],
        &mut |r| {
            let (id, user, model): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let blob: Vec<u8> = r.get(3)?;
            match Embedding::from_le_bytes(&blob) {
                Ok(e) => {
                    gallery.insert(key, &user, &model, e.as_slice());
                    key += 1;
                }
                Err(e) => tracing::warn!(template = %id, error = %e, "stored template unreadable"),
            }
            Ok(())
        },
    )?;
    Ok(gallery)
}

/// The project's newest template revision (0: none yet). Every enrolment and every erasure
/// moves it: the feed's entity tag, and how a cached gallery knows it is the store's.
pub fn head_rev(c: &Connection, project_id: &str) -> crate::sql::Result<i64> {
    c.query_row(
        "SELECT COALESCE(MAX(rev), 0) FROM templates WHERE project_id = ?1",
        [project_id],
        |r| r.get(0),
    )
}

/// (version, the loaded gallery and the head revision it was loaded at)
type Entry = (u64, Option<(i64, Arc<Gallery>)>);

#[derive(Default)]
pub struct TemplateCache {
    /// project id → (version, loaded gallery). The version moves on every invalidation so
    /// a load that raced with a change is not cached.
    inner: Mutex<HashMap<String, Entry>>,
}

impl TemplateCache {
    /// Call after a change to the project's templates has committed.
    pub fn invalidate(&self, project_id: &str) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let e = m.entry(project_id.to_string()).or_default();
        e.0 += 1;
        e.1 = None;
    }

    /// The project's templates made by `model_id` (embeddings of `dim` values). A cached
    /// gallery is used only while the project's head revision is the one it was loaded at:
    /// another process on this database (a second server, the CLI) enrols and erases without
    /// telling this cache, and an erased person must stop matching everywhere at once.
    pub async fn get(
        &self,
        db: &Db,
        project_id: &str,
        model_id: &str,
        dim: usize,
    ) -> ApiResult<Arc<Gallery>> {
        let p = project_id.to_string();
        let head = db.call(move |c| Ok(head_rev(c, &p)?)).await?;
        let version = {
            let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            match m.get(project_id) {
                Some((_, Some((rev, g))))
                    if *rev == head && g.model_id() == model_id && g.dim() == dim =>
                {
                    return Ok(g.clone());
                }
                Some((v, _)) => *v,
                None => 0,
            }
        };
        let (p, model) = (project_id.to_string(), model_id.to_string());
        let (rev, gallery) = db
            .call(move |c| Ok((head_rev(c, &p)?, load(c, &p, &model, dim)?)))
            .await?;
        // The site's own score distributions (vision::decision) are made here, once per
        // change, off the store's thread and the async workers: up to 2 M pairs of templates.
        let gallery = tokio::task::spawn_blocking(move || {
            gallery.site_calibration();
            gallery
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "site calibration failed");
            ApiError::internal()
        })?;
        let gallery = Arc::new(gallery);
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let e = m.entry(project_id.to_string()).or_default();
        if e.0 == version {
            e.1 = Some((rev, gallery.clone()));
        }
        Ok(gallery)
    }
}

/// Runs a search over `gallery`, off the async workers when the gallery is big.
pub async fn search<R: Send + 'static>(
    gallery: Arc<Gallery>,
    f: impl FnOnce(&Gallery) -> vision::Result<R> + Send + 'static,
) -> ApiResult<R> {
    let result = if gallery.len() <= INLINE_MAX {
        f(&gallery)
    } else {
        tokio::task::spawn_blocking(move || f(&gallery))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "template search failed");
                ApiError::internal()
            })?
    };
    result.map_err(|e| {
        tracing::error!(error = %e, "template search failed");
        ApiError::internal()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db_with(rows: &[(&str, &str, Vec<u8>)]) -> Db {
        let db = Db::open_in_memory().unwrap();
        let rows: Vec<(String, String, Vec<u8>)> = rows
            .iter()
            .map(|(u, m, b)| (u.to_string(), m.to_string(), b.clone()))
            .collect();
        db.blocking(move |c| {
            for (i, (user, model, blob)) in rows.iter().enumerate() {
                c.execute(
                    "INSERT INTO templates(id, project_id, user_id, model_id, embedding, created_at, rev)
                     VALUES (?1, 'p', ?2, ?3, ?4, 0, ?5)",
                    rusqlite::params![format!("t{i}"), user, model, blob, i as i64],
                )?;
            }
            Ok(())
        })
        .unwrap();
        db
    }

    #[tokio::test]
    async fn the_cache_matches_this_models_templates_only() {
        // Written the way the server always wrote them: little-endian f32, no header.
        let le = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let db = db_with(&[
            ("a", "m1", le(&[1.0, 0.0])),
            ("b", "m1", le(&[0.0, 1.0])),
            ("a", "m1", le(&[0.6, 0.8])),
            ("z", "m2", le(&[0.0, 1.0])),
            ("bad", "m1", vec![1, 2, 3]),
        ]);
        let cache = TemplateCache::default();
        let g = cache.get(&db, "p", "m1", 2).await.unwrap();
        assert_eq!(g.len(), 3);
        // A person scores by their fused template: a's two samples' normalised mean,
        // (1.6, 0.8) / |(1.6, 0.8)|.
        let s = g.best(&[0.0, 1.0], Some("a")).unwrap().unwrap().score;
        assert!((s - 0.8 / 1.6f32.hypot(0.8)).abs() < 1e-6, "{s}");
        assert_eq!(g.best(&[0.1, 0.9], None).unwrap().unwrap().person, "b");
        // The other model's template is never a candidate, even as the only one asked for.
        assert_eq!(g.best(&[0.0, 1.0], Some("z")).unwrap(), None);
        // Cached until invalidated.
        assert!(Arc::ptr_eq(
            &g,
            &cache.get(&db, "p", "m1", 2).await.unwrap()
        ));
        cache.invalidate("p");
        assert!(!Arc::ptr_eq(
            &g,
            &cache.get(&db, "p", "m1", 2).await.unwrap()
        ));
        // Asked for the other model, the cache holds that model's templates only.
        let g2 = cache.get(&db, "p", "m2", 2).await.unwrap();
        assert_eq!(g2.len(), 1);
        assert_eq!(g2.best(&[1.0, 0.0], None).unwrap().unwrap().person, "z");
    }
}
