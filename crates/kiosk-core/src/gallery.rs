//! The in-memory 1:N index over the cached templates, rebuilt from the store after changes.
//! Which templates may match, how a person scores and what a score decides are
//! `vision::Gallery`'s and `vision::decision`'s rules, the same the Access API server decides by.

use vision::EMBEDDING_DIM;
use vision::decision::{FaceDecision, FaceTargets, Thresholds};

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

    /// The flow's thresholds for this gallery, never under the kiosk's own `floor` (an
    /// administrator may raise the bar on one kiosk, never lower it).
    pub fn thresholds(&self, targets: &FaceTargets, floor: f32) -> Thresholds {
        let mut t = match &self.index {
            Some(g) => g.thresholds(targets),
            None => Thresholds::compute(
                vision::decision::Calibration::for_model(vision::EMBEDDER_MODEL_ID).as_deref(),
                None,
                targets,
                0,
            ),
        };
        t.verify = t.verify.max(floor);
        t.identify = t.identify.max(floor);
        t
    }

    /// 1:1 against `only_user`, else open-set 1:N (`vision::decision`).
    pub fn decide(
        &self,
        query: &[f32],
        only_user: Option<&str>,
        t: &Thresholds,
    ) -> Result<FaceDecision> {
        let Some(index) = &self.index else {
            return Ok(FaceDecision::NotEnrolled);
        };
        Ok(match only_user {
            Some(u) => vision::decision::verify(index, query, u, t)?,
            None => vision::decision::identify(index, query, t)?,
        })
    }

    /// The enrolment rule, the server's too (`vision::Gallery::admit`).
    pub fn admit(&self, query: &[f32], user: &str, t: &Thresholds) -> Result<vision::Admission> {
        let Some(index) = &self.index else {
            return Ok(vision::Admission::New);
        };
        Ok(index.admit(query, user, t.verify, t.identify)?)
    }
}
