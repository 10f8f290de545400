//! Random identifiers and OTP codes (CSPRNG: `rand::rng()` is a ChaCha generator seeded and
//! periodically reseeded from the OS).

use rand::Rng;

/// `prefix_` + 24 hex chars (96 random bits).
pub fn new_id(prefix: &str) -> String {
    let bytes: [u8; 12] = rand::rng().random();
    format!("{prefix}_{}", hex::encode(bytes))
}

/// A uniformly random 6-digit code.
pub fn otp_code() -> String {
    format!("{:06}", rand::rng().random_range(0..1_000_000u32))
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    rand::rng().random()
}
