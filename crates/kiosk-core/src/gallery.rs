//! The in-memory 1:N index over the cached templates, rebuilt from the store after changes.
//! Which templates may match and how a person scores are `vision::Gallery`'s rules, the same
//! the Access API server matches by.

use vision::EMBEDDING_DIM;

use crate::error::Result;

#[derive(Default)]
pub struct Gallery {
    index: Option<vision::Gallery>,
}

impl Gallery {
    /// Templates made by another model are left out: their scores would mean nothing.
    pub fn rebuild(store: &kiosk_store::Store, model_id: &str) -> Result<Self> {
        let mut index = vision::Gallery::new(model_id, EMBEDDING_DIM);
        for t in store.templates()? {
            index.insert(t.id as u64, &t.user_id, &t.model_id, &t.embedding);
        }
        Ok(Self { index: Some(index) })
    }

    pub fn len(&self) -> usize {
        self.index.as_ref().map_or(0, vision::Gallery::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Best (user, score) over everyone, or over one user's templates.
    pub fn best(&self, query: &[f32], only_user: Option<&str>) -> Result<Option<(String, f32)>> {
        let Some(index) = &self.index else {
            return Ok(None);
        };
        Ok(index.best(query, only_user)?.map(|m| (m.person, m.score)))
    }

    /// Best match among users other than `except`.
    pub fn best_other(&self, query: &[f32], except: &str) -> Result<Option<(String, f32)>> {
        let Some(index) = &self.index else {
            return Ok(None);
        };
        Ok(index
            .best_other(query, except)?
            .map(|m| (m.person, m.score)))
    }

    /// The enrolment rule, the server's too (`vision::Gallery::admit`).
    pub fn admit(&self, query: &[f32], user: &str, threshold: f32) -> Result<vision::Admission> {
        let Some(index) = &self.index else {
            return Ok(vision::Admission::New);
        };
        Ok(index.admit(query, user, threshold)?)
    }
}
