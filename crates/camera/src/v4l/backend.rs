//! The real driver: V4L2 through the `v4l` crate (Linux, feature `v4l`).

use std::time::Duration;

use v4l::buffer::Type;
use v4l::frameinterval::FrameIntervalEnum;
use v4l::framesize::FrameSizeEnum;
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use v4l::video::Capture;
use v4l::{Device, FourCC, Fraction};

use super::{DeviceInfo, OfferedMode, RawCamera, V4lDevice, classify, device_label, resolve_index};
use crate::CameraError;

/// Buffers the driver fills in turn: enough to keep streaming while one is being copied.
const BUFFERS: u32 = 4;

/// Sizes offered from a stepwise or continuous range (drivers like this for IR and virtual
/// cameras): the common ones that fall inside it, plus its ends.
const COMMON_SIZES: [(u32, u32); 6] = [
    (320, 240),
    (640, 360),
    (640, 480),
    (800, 600),
    (1280, 720),
    (1920, 1080),
];

/// Cameras V4L2 can see, each with the modes it offers. Empty (not an error) when there are
/// none. A device that cannot be asked (busy, no permission) is listed with the reason.
pub fn list_devices() -> Result<Vec<DeviceInfo>, CameraError> {
    let mut out = Vec::new();
    for node in v4l::context::enum_devices() {
        let index = node.index() as u32;
        let path = node.path().to_path_buf();
        let (name, modes, error) = match V4l2Camera::open(&V4lDevice::Index(index)) {
            Ok(mut cam) => {
                let name = cam.name();
                match cam.modes() {
                    Ok(modes) => (name, modes, None),
                    Err(e) => (name, Vec::new(), Some(e.to_string())),
                }
            }
            Err(e) => (
                node.name().unwrap_or_default(),
                Vec::new(),
                Some(e.to_string()),
            ),
        };
        // Metadata nodes (UVC cameras register two) have no capture formats: not cameras.
        if modes.is_empty() && error.is_none() {
            continue;
        }
        out.push(DeviceInfo {
            index,
            path,
            name,
            modes,
            error,
        });
    }
    out.sort_by_key(|d| d.index);
    Ok(out)
}

/// An open V4L2 capture device.
pub struct V4l2Camera {
    device: Device,
    label: String,
    stream: Option<Stream<'static>>,
}

impl V4l2Camera {
    /// Opens `/dev/videoN` (or a link to it). Errors: `NO_CAMERA`, `CAMERA_BUSY`,
    /// `CAMERA_PERMISSION`, `CAMERA_ERROR`.
    pub fn open(device: &V4lDevice) -> Result<Self, CameraError> {
        let index = resolve_index(device)?;
        let label = device_label(device);
        let device = Device::new(index as usize).map_err(|e| classify(&label, &e))?;
        Ok(Self {
            device,
            label,
            stream: None,
        })
    }

    fn rates(&self, fourcc: FourCC, width: u32, height: u32) -> Vec<u32> {
        let Ok(intervals) = self.device.enum_frameintervals(fourcc, width, height) else {
            return vec![0];
        };
        let mut fps: Vec<u32> = intervals
            .into_iter()
            .flat_map(|i| match i.interval {
                FrameIntervalEnum::Discrete(f) => vec![rate(f)],
                // Fastest and slowest of a range.
                FrameIntervalEnum::Stepwise(s) => vec![rate(s.min), rate(s.max)],
            })
            .filter(|&f| f > 0)
            .collect();
        fps.sort_unstable_by(|a, b| b.cmp(a));
        fps.dedup();
        if fps.is_empty() { vec![0] } else { fps }
    }
}

/// Frames per second of a frame interval (seconds per frame).
fn rate(interval: Fraction) -> u32 {
    interval
        .denominator
        .checked_div(interval.numerator)
        .unwrap_or(0)
}

impl RawCamera for V4l2Camera {
    fn name(&self) -> String {
        self.device
            .query_caps()
            .map(|c| c.card)
            .unwrap_or_else(|_| self.label.clone())
    }

    fn modes(&mut self) -> Result<Vec<OfferedMode>, CameraError> {
        let formats = self
            .device
            .enum_formats()
            .map_err(|e| classify(&self.label, &e))?;
        let mut out = Vec::new();
        for format in formats {
            let fourcc = format.fourcc;
            let sizes = self.device.enum_framesizes(fourcc).unwrap_or_default();
            let mut dims = Vec::new();
            for size in sizes {
                match size.size {
                    FrameSizeEnum::Discrete(d) => dims.push((d.width, d.height)),
                    FrameSizeEnum::Stepwise(s) => {
                        dims.push((s.min_width, s.min_height));
                        dims.extend(COMMON_SIZES.iter().copied().filter(|&(w, h)| {
                            (s.min_width..=s.max_width).contains(&w)
                                && (s.min_height..=s.max_height).contains(&h)
                        }));
                        dims.push((s.max_width, s.max_height));
                    }
                }
            }
            dims.dedup();
            for (width, height) in dims {
                for fps in self.rates(fourcc, width, height) {
                    out.push(OfferedMode {
                        fourcc: fourcc.repr,
                        width,
                        height,
                        fps,
                    });
                }
            }
        }
        Ok(out)
    }

    fn start(&mut self, mode: &OfferedMode) -> Result<OfferedMode, CameraError> {
        let fail = |e: std::io::Error| classify(&self.label, &e);
        let mut format = self.device.format().map_err(fail)?;
        format.width = mode.width;
        format.height = mode.height;
        format.fourcc = FourCC::new(&mode.fourcc);
        let set = self.device.set_format(&format).map_err(fail)?;
        let mut fps = mode.fps;
        if mode.fps > 0 {
            // Not every driver lets the rate be set; the one it runs is what counts.
            if let Ok(p) = self
                .device
                .set_params(&v4l::video::capture::Parameters::with_fps(mode.fps))
            {
                fps = rate(p.interval);
            }
        }
        // Streaming is where a camera held by another program says EBUSY.
        let mut stream =
            Stream::with_buffers(&self.device, Type::VideoCapture, BUFFERS).map_err(fail)?;
        stream.set_timeout(Duration::from_secs(2));
        self.stream = Some(stream);
        Ok(OfferedMode {
            fourcc: set.fourcc.repr,
            width: set.width,
            height: set.height,
            fps,
        })
    }

    fn read(&mut self, timeout: Duration) -> Result<&[u8], CameraError> {
        let label = &self.label;
        let stream = self.stream.as_mut().ok_or_else(|| CameraError::Backend {
            device: label.clone(),
            reason: "read before the stream was started".into(),
        })?;
        stream.set_timeout(timeout);
        let (buf, meta) = match stream.next() {
            Ok(frame) => frame,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return Err(CameraError::Timeout { waited: timeout });
            }
            Err(e) => return Err(classify(label, &e)),
        };
        // The buffer is the driver's whole mapping; only `bytesused` of it is this frame
        // (an MJPEG frame is a fraction of it, the rest zeros or an earlier frame).
        let used = (meta.bytesused as usize).min(buf.len());
        Ok(if used == 0 { buf } else { &buf[..used] })
    }
}
