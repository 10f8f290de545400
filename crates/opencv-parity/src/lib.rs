//! Test-only crate: `tests/parity.rs` compares `vision::imgproc` with OpenCV (core and imgproc,
//! Debian 12's libopencv-core-dev and libopencv-imgproc-dev) on the shared photos. Nothing here ships; the library is empty.
