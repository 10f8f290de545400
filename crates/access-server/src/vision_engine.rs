//! Placeholder until the vision crate is wired.
use crate::config::VisionConfig;
use crate::face::FaceService;
pub fn spawn(_cfg: &VisionConfig) -> FaceService {
    FaceService::disabled()
}
