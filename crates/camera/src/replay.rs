//! Replays recorded frames as if a camera delivered them: a folder of photos, a single photo,
//! or an MJPEG video, looping at a set rate, every frame scaled down to fit the camera's size.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vision::{DecodeLimits, Frame};

use crate::mjpeg::{AviError, parse_avi, split_jpeg_stream};
use crate::pacing::Pacer;
use crate::{
    CameraError, CapturedFrame, DEFAULT_HEIGHT, DEFAULT_WIDTH, FrameSource, SourceInfo, SourceKind,
};

/// Rate of a replay when neither the spec nor the file says: a typical kiosk camera's
/// effective rate once the face pipeline is the bottleneck.
pub const DEFAULT_REPLAY_FPS: f64 = 15.0;

/// Largest video file read into memory.
const MAX_VIDEO_BYTES: u64 = 1 << 30;

/// What to replay and how.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayConfig {
    /// A folder of JPEG/PNG files, one image file, or an MJPEG video (`.mjpeg` stream or AVI).
    pub path: PathBuf,
    /// Frames per second; `Some(0.0)` is unpaced (as fast as asked, for tests). None: the
    /// video's own rate, else [`DEFAULT_REPLAY_FPS`].
    pub fps: Option<f64>,
    /// Frames are scaled down to fit in this size, aspect kept and never padded: borders or
    /// crops would change what the liveness model sees around the face.
    pub width: u32,
    pub height: u32,
    /// Start again after the last frame; when false the source then reports `REPLAY_ENDED`.
    pub looping: bool,
    /// Also replay the images in sub-folders (sorted by path).
    pub recursive: bool,
    /// Decoded frames kept in memory so later loops skip decoding, up to this many bytes.
    pub cache_bytes: usize,
}

impl ReplayConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            fps: None,
            width: DEFAULT_WIDTH,
            height: DEFAULT_HEIGHT,
            looping: true,
            recursive: false,
            cache_bytes: 128 << 20,
        }
    }

    pub fn fps(mut self, fps: f64) -> Self {
        self.fps = Some(fps);
        self
    }

    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.width = width;
        self.height = height;
        self
    }

    pub fn looping(mut self, looping: bool) -> Self {
        self.looping = looping;
        self
    }

    pub fn recursive(mut self, recursive: bool) -> Self {
        self.recursive = recursive;
        self
    }
}

enum Media {
    Files(Vec<PathBuf>),
    Video {
        data: Vec<u8>,
        frames: Vec<Range<usize>>,
    },
}

impl Media {
    fn len(&self) -> usize {
        match self {
            Self::Files(f) => f.len(),
            Self::Video { frames, .. } => frames.len(),
        }
    }
}

/// A [`FrameSource`] over recorded images or video. See [`ReplayConfig`].
pub struct ReplaySource {
    cfg: ReplayConfig,
    media: Media,
    input_format: &'static str,
    fps: f64,
    pacer: Pacer,
    index: usize,
    sequence: u64,
    ended: bool,
    limits: DecodeLimits,
    cache: Vec<Option<Frame>>,
    cached_bytes: usize,
}

impl ReplaySource {
    /// Lists the frames (reads a video into memory) without decoding any. Errors:
    /// `REPLAY_IO` (missing path), `REPLAY_EMPTY` (no images), `REPLAY_FORMAT` (not a video
    /// we can read), `SPEC_INVALID` (zero size).
    pub fn open(cfg: ReplayConfig) -> Result<Self, CameraError> {
        if cfg.width == 0 || cfg.height == 0 {
            return Err(CameraError::SpecInvalid {
                spec: format!("{}x{}", cfg.width, cfg.height),
                reason: "the replay frame size must be at least 1x1",
            });
        }
        let io_err = |source| CameraError::ReplayIo {
            path: cfg.path.clone(),
            source,
        };
        let meta = std::fs::metadata(&cfg.path).map_err(io_err)?;
        let (media, input_format, file_fps) = if meta.is_dir() {
            let mut files = Vec::new();
            list_images(&cfg.path, cfg.recursive, &mut files)?;
            files.sort();
            (Media::Files(files), "JPEG/PNG files", None)
        } else if meta.len() > MAX_VIDEO_BYTES {
            return Err(CameraError::ReplayFormat {
                path: cfg.path.clone(),
                reason: "larger than 1 GiB",
            });
        } else {
            let data = std::fs::read(&cfg.path).map_err(io_err)?;
            open_file(&cfg.path, data)?
        };
        if media.len() == 0 {
            return Err(CameraError::ReplayEmpty {
                path: cfg.path.clone(),
            });
        }
        let fps = cfg.fps.or(file_fps).unwrap_or(DEFAULT_REPLAY_FPS);
        let fps = if fps.is_finite() && fps > 0.0 {
            fps
        } else {
            0.0
        };
        let n = media.len();
        Ok(Self {
            pacer: Pacer::new(fps),
            fps,
            input_format,
            media,
            index: 0,
            sequence: 0,
            ended: false,
            limits: DecodeLimits::default(),
            cache: (0..n).map(|_| None).collect(),
            cached_bytes: 0,
            cfg,
        })
    }

    /// Number of frames in one loop.
    pub fn len(&self) -> usize {
        self.media.len()
    }

    /// Never true: an empty replay fails to open.
    pub fn is_empty(&self) -> bool {
        self.media.len() == 0
    }

    /// The images replayed, in order (empty for a video).
    pub fn files(&self) -> &[PathBuf] {
        match &self.media {
            Media::Files(f) => f,
            Media::Video { .. } => &[],
        }
    }

    fn decode(&mut self, i: usize) -> Result<Frame, CameraError> {
        if let Some(f) = &self.cache[i] {
            return Ok(f.clone());
        }
        let (what, frame) = match &self.media {
            Media::Files(files) => {
                let bytes = std::fs::read(&files[i]).map_err(|source| CameraError::ReplayIo {
                    path: files[i].clone(),
                    source,
                })?;
                ("image file", vision::decode_image(&bytes, &self.limits))
            }
            Media::Video { data, frames } => (
                "video",
                vision::decode_image(
                    &vision::jpeg::with_default_huffman(&data[frames[i].clone()]),
                    &self.limits,
                ),
            ),
        };
        let frame = frame
            .and_then(|f| f.fitted(self.cfg.width, self.cfg.height))
            .map_err(|source| CameraError::DecodeFailed { what, source })?;
        let bytes = frame.rgb().len();
        if self.cached_bytes + bytes <= self.cfg.cache_bytes {
            self.cached_bytes += bytes;
            self.cache[i] = Some(frame.clone());
        }
        Ok(frame)
    }
}

/// Sorts out what a single file holds: an AVI, a JPEG stream (one image or many), or a PNG.
fn open_file(
    path: &Path,
    data: Vec<u8>,
) -> Result<(Media, &'static str, Option<f64>), CameraError> {
    if data.starts_with(b"RIFF") {
        return match parse_avi(&data) {
            Ok(avi) => Ok((
                Media::Video {
                    data,
                    frames: avi.frames,
                },
                "MJPEG AVI",
                avi.fps,
            )),
            Err(AviError::NotAvi) => Err(CameraError::ReplayFormat {
                path: path.to_owned(),
                reason: "a RIFF file that is not an AVI",
            }),
            Err(AviError::NoMjpegFrames) => Err(CameraError::ReplayFormat {
                path: path.to_owned(),
                reason: "an AVI without MJPEG video (only MJPEG AVIs can be replayed)",
            }),
        };
    }
    if data.starts_with(b"\x89PNG") {
        let n = data.len();
        return Ok((
            Media::Video {
                data,
                frames: std::iter::once(0..n).collect(),
            },
            "PNG file",
            None,
        ));
    }
    let frames = split_jpeg_stream(&data);
    if frames.is_empty() {
        return Err(CameraError::ReplayFormat {
            path: path.to_owned(),
            reason: "not a folder, JPEG, PNG, MJPEG stream or MJPEG AVI",
        });
    }
    let kind = if frames.len() == 1 {
        "JPEG file"
    } else {
        "MJPEG stream"
    };
    Ok((Media::Video { data, frames }, kind, None))
}

fn list_images(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<(), CameraError> {
    let io_err = |source| CameraError::ReplayIo {
        path: dir.to_owned(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io_err)? {
        let path = entry.map_err(io_err)?.path();
        if path.is_dir() {
            if recursive {
                list_images(&path, true, out)?;
            }
        } else if is_image_name(&path) {
            out.push(path);
        }
    }
    Ok(())
}

fn is_image_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
}

impl FrameSource for ReplaySource {
    fn next_frame(&mut self) -> Result<CapturedFrame, CameraError> {
        self.next_frame_timeout(Duration::MAX)
    }

    fn next_frame_timeout(&mut self, timeout: Duration) -> Result<CapturedFrame, CameraError> {
        if self.ended {
            return Err(CameraError::ReplayEnded {
                path: self.cfg.path.clone(),
            });
        }
        let now = Instant::now();
        let due = self.pacer.due(now);
        let wait = due.saturating_duration_since(now);
        if wait > timeout {
            std::thread::sleep(timeout);
            return Err(CameraError::Timeout { waited: timeout });
        }
        std::thread::sleep(wait);
        let i = self.index;
        self.index += 1;
        if self.index == self.media.len() {
            self.index = 0;
            self.ended = !self.cfg.looping;
        }
        // A frame that fails to decode still uses up its time slot, like a corrupt camera
        // frame, so one bad file cannot make the replay spin.
        let frame = self.decode(i);
        self.pacer.delivered(due, Instant::now());
        let frame = frame?;
        let sequence = self.sequence;
        self.sequence += 1;
        Ok(CapturedFrame {
            frame,
            sequence,
            captured_at: Instant::now(),
        })
    }

    fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: SourceKind::Replay,
            description: format!("replay of {}", self.cfg.path.display()),
            width: self.cfg.width,
            height: self.cfg.height,
            fps: self.fps,
            input_format: self.input_format.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names() {
        assert!(is_image_name(Path::new("a/b.JPG")));
        assert!(is_image_name(Path::new("b.jpeg")));
        assert!(is_image_name(Path::new("b.png")));
        assert!(!is_image_name(Path::new("pairs.csv")));
        assert!(!is_image_name(Path::new("noext")));
    }

    #[test]
    fn garbage_files_are_refused_with_codes() {
        let p = Path::new("x");
        let code = |d: &[u8]| open_file(p, d.to_vec()).err().map(|e| e.code());
        assert_eq!(code(b"hello"), Some("REPLAY_FORMAT"));
        assert_eq!(code(b""), Some("REPLAY_FORMAT"));
        assert_eq!(code(b"RIFF\0\0\0\0WAVE"), Some("REPLAY_FORMAT"));
        assert_eq!(code(b"\x89PNG\r\n\x1a\n"), None);
    }

    #[test]
    fn zero_size_is_a_spec_error() {
        let e = ReplaySource::open(ReplayConfig::new(".").size(0, 480))
            .err()
            .unwrap();
        assert_eq!(e.code(), "SPEC_INVALID");
    }
}
