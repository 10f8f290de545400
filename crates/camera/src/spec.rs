//! Source specs: one string in a config file or on a command line picks the frame source.
//!
//! ```text
//! v4l                              camera 0, 640x480, 30 fps, MJPEG
//! v4l:1                            camera 1
//! v4l:/dev/video0@640x480:30       size and rate
//! v4l:0@1280x720:15:yuyv           and pixel format (mjpeg, yuyv, grey or y16)
//! replay:/path/to/dir              a folder of JPEG/PNG, looping at 15 fps
//! replay:/path/to/dir@5            at 5 fps (0: unpaced)
//! replay:/path/file.mjpeg          an MJPEG stream or AVI, at its own rate or 15 fps
//! ```

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::{
    CameraError, FourCc, FrameSource, ReplayConfig, ReplaySource, V4lConfig, V4lDevice, V4lSource,
};

/// A parsed source spec; see the module docs for the syntax.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    V4l(V4lConfig),
    Replay(ReplayConfig),
}

impl FromStr for SourceSpec {
    type Err = CameraError;

    fn from_str(s: &str) -> Result<Self, CameraError> {
        let invalid = |reason| CameraError::SpecInvalid {
            spec: s.to_owned(),
            reason,
        };
        let s = s.trim();
        let (kind, rest) = s.split_once(':').unwrap_or((s, ""));
        match kind {
            "v4l" => parse_v4l(rest).map(SourceSpec::V4l).map_err(invalid),
            "replay" => parse_replay(rest).map(SourceSpec::Replay).map_err(invalid),
            _ => Err(invalid("the source must start with `v4l` or `replay:`")),
        }
    }
}

fn parse_v4l(rest: &str) -> Result<V4lConfig, &'static str> {
    let (dev, mode) = match rest.rsplit_once('@') {
        Some((d, m)) => (d, Some(m)),
        None => (rest, None),
    };
    let device = if dev.is_empty() {
        V4lDevice::Index(0)
    } else if dev.starts_with('/') {
        V4lDevice::Path(PathBuf::from(dev))
    } else {
        V4lDevice::Index(
            dev.parse()
                .map_err(|_| "the device must be an index (0) or a path (/dev/video0)")?,
        )
    };
    let mut cfg = V4lConfig::new(device);
    if let Some(mode) = mode {
        let mut parts = mode.split(':');
        let size = parts.next().unwrap_or_default();
        let (w, h) = size
            .split_once(['x', 'X'])
            .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
            .filter(|&(w, h)| w > 0 && h > 0)
            .ok_or("the size must be WIDTHxHEIGHT, e.g. 640x480")?;
        cfg.mode.width = w;
        cfg.mode.height = h;
        if let Some(fps) = parts.next() {
            cfg.mode.fps = fps
                .parse()
                .ok()
                .filter(|&f| f > 0)
                .ok_or("the frame rate must be a whole number above 0")?;
        }
        if let Some(fmt) = parts.next() {
            cfg.mode.format =
                FourCc::parse(fmt).ok_or("the pixel format must be mjpeg, yuyv, grey or y16")?;
        }
        if parts.next().is_some() {
            return Err("expected @WIDTHxHEIGHT[:FPS[:FORMAT]]");
        }
    }
    Ok(cfg)
}

fn parse_replay(rest: &str) -> Result<ReplayConfig, &'static str> {
    // A path may itself contain '@': only a last part without '/' is taken as the rate.
    let (path, fps) = match rest.rsplit_once('@') {
        Some((p, f)) if !f.contains('/') => {
            let fps = f
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .ok_or("the replay rate must be a number >= 0 (0: unpaced)")?;
            (p, Some(fps))
        }
        _ => (rest, None),
    };
    if path.is_empty() {
        return Err("replay needs a path: replay:/path/to/dir");
    }
    let mut cfg = ReplayConfig::new(path);
    cfg.fps = fps;
    Ok(cfg)
}

impl fmt::Display for SourceSpec {
    /// Writes the spec back in the syntax it was parsed from (sizes and rates spelled out).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::V4l(c) => write!(
                f,
                "v4l:{}@{}x{}:{}:{}",
                c.device,
                c.mode.width,
                c.mode.height,
                c.mode.fps,
                c.mode.format.name().to_ascii_lowercase()
            ),
            Self::Replay(c) => {
                write!(f, "replay:{}", c.path.display())?;
                match c.fps {
                    Some(fps) => write!(f, "@{fps}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// Opens the source a spec names. A missing camera is `NO_CAMERA`; see [`CameraError`].
pub fn open(spec: &SourceSpec) -> Result<Box<dyn FrameSource>, CameraError> {
    Ok(match spec {
        SourceSpec::V4l(c) => Box::new(V4lSource::open(c.clone())?),
        SourceSpec::Replay(c) => Box::new(ReplaySource::open(c.clone())?),
    })
}

/// Parses and opens a spec string in one step.
pub fn open_str(spec: &str) -> Result<Box<dyn FrameSource>, CameraError> {
    open(&spec.parse()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::V4lMode;

    fn v4l(s: &str) -> V4lConfig {
        match s.parse::<SourceSpec>().unwrap() {
            SourceSpec::V4l(c) => c,
            other => panic!("{other:?}"),
        }
    }

    fn replay(s: &str) -> ReplayConfig {
        match s.parse::<SourceSpec>().unwrap() {
            SourceSpec::Replay(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn v4l_specs() {
        assert_eq!(v4l("v4l"), V4lConfig::new(V4lDevice::Index(0)));
        assert_eq!(v4l("v4l:"), V4lConfig::new(V4lDevice::Index(0)));
        assert_eq!(v4l("v4l:2").device, V4lDevice::Index(2));
        let c = v4l("v4l:/dev/video0@640x480:30");
        assert_eq!(c.device, V4lDevice::Path("/dev/video0".into()));
        assert_eq!(
            c.mode,
            V4lMode {
                width: 640,
                height: 480,
                fps: 30,
                format: FourCc::Mjpeg
            }
        );
        let c = v4l("v4l:1@1280X720:15:YUYV");
        assert_eq!((c.mode.width, c.mode.height, c.mode.fps), (1280, 720, 15));
        assert_eq!(c.mode.format, FourCc::Yuyv);
        // Size alone keeps the default rate.
        assert_eq!(v4l("v4l:0@320x240").mode.fps, 30);
    }

    #[test]
    fn replay_specs() {
        let c = replay("replay:/path/to/dir@15");
        assert_eq!(c.path, PathBuf::from("/path/to/dir"));
        assert_eq!(c.fps, Some(15.0));
        assert_eq!(replay("replay:/path/file.mjpeg").fps, None);
        assert_eq!(replay("replay:rel/dir@0").fps, Some(0.0));
        assert_eq!(replay("replay:d@2.5").fps, Some(2.5));
        // An '@' inside the path is part of the path.
        assert_eq!(replay("replay:/a@b/c").path, PathBuf::from("/a@b/c"));
        assert_eq!(replay(" replay:/x ").path, PathBuf::from("/x"));
        assert_eq!(
            (replay("replay:/x").width, replay("replay:/x").height),
            (640, 480)
        );
    }

    #[test]
    fn bad_specs_are_spec_invalid() {
        for s in [
            "",
            "usb:0",
            "v4l:cam",
            "v4l:-1",
            "v4l:0@640",
            "v4l:0@0x480",
            "v4l:0@640x480:0",
            "v4l:0@640x480:30:nv12",
            "v4l:0@640x480:30:mjpeg:x",
            "v4l:0@axb",
            "replay:",
            "replay:@5",
            "replay:/d@fast",
            "replay:/d@-1",
            "replay:/d@NaN",
            "replay:/d@inf",
        ] {
            let e = s.parse::<SourceSpec>().unwrap_err();
            assert_eq!(e.code(), "SPEC_INVALID", "{s:?}");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "v4l:0@640x480:30:mjpeg",
            "v4l:/dev/video2@1280x720:15:yuyv",
            "replay:/a/b@15",
            "replay:/a/b.mjpeg",
        ] {
            let spec: SourceSpec = s.parse().unwrap();
            assert_eq!(spec.to_string(), s);
            assert_eq!(spec.to_string().parse::<SourceSpec>().unwrap(), spec);
        }
    }

    #[test]
    fn opening_a_missing_camera_is_no_camera() {
        let e = open_str("v4l:/dev/video-missing-42").err().unwrap();
        assert_eq!(e.code(), "NO_CAMERA");
    }
}
