//! The in-memory 1:N index over the cached templates, rebuilt from the store after changes.

use std::collections::HashMap;

use vision::{EMBEDDING_DIM, TemplateIndex};

use crate::error::Result;

#[derive(Default)]
pub struct Gallery {
    index: Option<TemplateIndex>,
    owners: HashMap<u64, String>,
}

impl Gallery {
    /// Templates made by another model are skipped: their scores would mean nothing.
    pub fn rebuild(store: &kiosk_store::Store, model_id: &str) -> Result<Self> {
        let mut index = TemplateIndex::new(EMBEDDING_DIM);
        let mut owners = HashMap::new();
        for t in store.templates()? {
            if t.model_id != model_id || t.embedding.len() != EMBEDDING_DIM {
                continue;
            }
            index.insert(t.id as u64, &t.embedding)?;
            owners.insert(t.id as u64, t.user_id);
        }
        Ok(Self {
            index: Some(index),
            owners,
        })
    }

    pub fn len(&self) -> usize {
        self.index.as_ref().map_or(0, TemplateIndex::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Best (user, score) over everyone, or over one user's templates.
    pub fn best(&self, query: &[f32], only_user: Option<&str>) -> Result<Option<(String, f32)>> {
        let Some(index) = &self.index else {
            return Ok(None);
        };
        let best = match only_user {
            None => index
                .best_match(query)?
                .map(|m| (self.owners[&m.key].clone(), m.score)),
            Some(user) => self
                .owners
                .iter()
                .filter(|(_, u)| u.as_str() == user)
                .filter_map(|(k, u)| index.get(*k).map(|t| (u.clone(), vision::cosine(t, query))))
                .max_by(|a, b| a.1.total_cmp(&b.1)),
        };
        Ok(best)
    }

    /// Best match among users other than `except`.
    pub fn best_other(&self, query: &[f32], except: &str) -> Result<Option<(String, f32)>> {
        let Some(index) = &self.index else {
            return Ok(None);
        };
        Ok(index
            .search(query, 8)?
            .into_iter()
            .map(|m| (self.owners[&m.key].clone(), m.score))
            .find(|(u, _)| u != except))
    }
}
