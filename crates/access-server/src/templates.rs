//! In-memory face templates per project, so matching neither scans SQLite blobs nor holds
//! the single database thread (a 1:N search over thousands of templates would stall every
//! other request behind it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::db::Db;
use crate::error::ApiResult;
use crate::sync::blob_to_embedding;

pub struct Template {
    pub user_id: String,
    pub embedding: Vec<f32>,
}

/// Above this many templates the search runs on a blocking thread.
const INLINE_MAX: usize = 1000;

/// (version, loaded templates)
type Entry = (u64, Option<Arc<Vec<Template>>>);

#[derive(Default)]
pub struct TemplateCache {
    /// project id → (version, loaded templates). The version moves on every invalidation so
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

    pub async fn get(&self, db: &Db, project_id: &str) -> ApiResult<Arc<Vec<Template>>> {
        let version = {
            let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            match m.get(project_id) {
                Some((_, Some(list))) => return Ok(list.clone()),
                Some((v, None)) => *v,
                None => 0,
            }
        };
        let p = project_id.to_string();
        let list = db
            .call(move |c| {
                let mut s = c.prepare_cached(
                    "SELECT user_id, embedding FROM templates
                     WHERE project_id = ?1 AND deleted_at IS NULL",
                )?;
                let rows = s
                    .query_map([&p], |r| {
                        Ok(Template {
                            user_id: r.get(0)?,
                            embedding: blob_to_embedding(&r.get::<_, Vec<u8>>(1)?),
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await?;
        let list = Arc::new(list);
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let e = m.entry(project_id.to_string()).or_default();
        if e.0 == version {
            e.1 = Some(list.clone());
        }
        Ok(list)
    }
}

/// Best score of `probe` against one user's templates (None: not enrolled).
pub fn best_for_user(list: &[Template], user_id: &str, probe: &[f32]) -> Option<f32> {
    list.iter()
        .filter(|t| t.user_id == user_id)
        .map(|t| crate::biometric::cosine(&t.embedding, probe))
        .reduce(f32::max)
}

/// Best (user, score) over the whole project (None: nobody enrolled).
pub fn best_in_project(list: &[Template], probe: &[f32]) -> Option<(String, f32)> {
    list.iter()
        .map(|t| (t, crate::biometric::cosine(&t.embedding, probe)))
        .reduce(|a, b| if b.1 > a.1 { b } else { a })
        .map(|(t, s)| (t.user_id.clone(), s))
}

/// Run a search over `list`, off the async workers when the list is big.
pub async fn search<R: Send + 'static>(
    list: Arc<Vec<Template>>,
    f: impl FnOnce(&[Template]) -> R + Send + 'static,
) -> ApiResult<R> {
    if list.len() <= INLINE_MAX {
        return Ok(f(&list));
    }
    tokio::task::spawn_blocking(move || f(&list))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "template search failed");
            crate::error::ApiError::internal()
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn best_matches() {
        let list = vec![
            Template {
                user_id: "a".into(),
                embedding: vec![1.0, 0.0],
            },
            Template {
                user_id: "b".into(),
                embedding: vec![0.0, 1.0],
            },
            Template {
                user_id: "a".into(),
                embedding: vec![0.6, 0.8],
            },
        ];
        let s = best_for_user(&list, "a", &[0.0, 1.0]).unwrap();
        assert!((s - 0.8).abs() < 1e-6);
        assert!(best_for_user(&list, "zz", &[0.0, 1.0]).is_none());
        assert_eq!(best_in_project(&list, &[0.1, 0.9]).unwrap().0, "b");
        assert!(best_in_project(&[], &[1.0]).is_none());
    }
}
