//! Matching: cosine similarity 1:1, and a 1:N index over many templates.
//!
//! The 1:N scan is bandwidth-bound (100k x 256 f32 is 100 MB per query), so the index keeps an
//! int8 copy of every template (4x less memory to stream), scans that, and re-scores the best
//! few candidates exactly in f32. Results equal an exact scan unless the int8 error (< 0.01 in
//! cosine) reorders candidates outside the re-scored set.

use std::collections::HashMap;

use crate::error::{Result, VisionError};

/// Default 1:1 and 1:N acceptance threshold (cosine), calibrated on the shared dev pairs
/// (genuine min 0.368, impostor max 0.311 with this pipeline; `kiosk eval verify`): impostors get no match, and the
/// margin above the worst impostor is kept rather than split, since a false accept opens a door.
pub const DEFAULT_MATCH_THRESHOLD: f32 = 0.36;

/// Cosine similarity of two L2-normalised vectors (their dot product).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    dot_f32(a, b)
}

/// Cosine similarity, refusing vectors of different lengths.
pub fn try_cosine(a: &[f32], b: &[f32]) -> Result<f32> {
    if a.len() != b.len() {
        return Err(VisionError::DimensionMismatch(a.len(), b.len()));
    }
    Ok(dot_f32(a, b))
}

/// Eight independent accumulators so the compiler emits packed multiply-adds.
#[inline]
fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

#[inline]
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let mut acc = [0i32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] += x[i] as i32 * y[i] as i32;
        }
    }
    let tail: i32 = ra.iter().zip(rb).map(|(&x, &y)| x as i32 * y as i32).sum();
    acc.iter().sum::<i32>() + tail
}

fn quantize(v: &[f32], out: &mut Vec<i8>) -> f32 {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    out.extend(
        v.iter()
            .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8),
    );
    scale
}

/// Scans the int8 copies. Compiled twice: AVX2 where the CPU has it, baseline otherwise.
#[inline(always)]
fn scan_i8(data: &[i8], scales: &[f32], dim: usize, q: &[i8], top: &mut TopK) {
    for (slot, (row, s)) in data.chunks_exact(dim).zip(scales).enumerate() {
        top.offer(slot, dot_i8(row, q) as f32 * s);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn scan_i8_avx2(data: &[i8], scales: &[f32], dim: usize, q: &[i8], top: &mut TopK) {
    scan_i8(data, scales, dim, q, top)
}

/// The best `k` (slot, score) pairs seen, kept sorted, small k.
struct TopK {
    k: usize,
    items: Vec<(usize, f32)>,
}

impl TopK {
    fn new(k: usize) -> Self {
        Self {
            k,
            items: Vec::with_capacity(k + 1),
        }
    }

    #[inline]
    fn offer(&mut self, slot: usize, score: f32) {
        if self.items.len() == self.k && score <= self.items[self.k - 1].1 {
            return;
        }
        let pos = self.items.partition_point(|&(_, s)| s >= score);
        self.items.insert(pos, (slot, score));
        self.items.truncate(self.k);
    }
}

/// A match found by the index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Match {
    pub key: u64,
    pub score: f32,
}

/// Templates in contiguous storage, keyed by the caller's id (a template or user number).
#[derive(Debug, Clone)]
pub struct TemplateIndex {
    dim: usize,
    keys: Vec<u64>,
    exact: Vec<f32>,
    coarse: Vec<i8>,
    scales: Vec<f32>,
    slots: HashMap<u64, usize>,
}

/// Candidates re-scored exactly after the int8 scan.
const RESCORE: usize = 16;

impl TemplateIndex {
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            keys: Vec::new(),
            exact: Vec::new(),
            coarse: Vec::new(),
            scales: Vec::new(),
            slots: HashMap::new(),
        }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Adds or replaces the template under `key`.
    pub fn insert(&mut self, key: u64, template: &[f32]) -> Result<()> {
        if template.len() != self.dim {
            return Err(VisionError::DimensionMismatch(template.len(), self.dim));
        }
        self.remove(key);
        self.slots.insert(key, self.keys.len());
        self.keys.push(key);
        self.exact.extend_from_slice(template);
        let scale = quantize(template, &mut self.coarse);
        self.scales.push(scale);
        Ok(())
    }

    /// Removes `key`; the last template moves into its slot so storage stays contiguous.
    pub fn remove(&mut self, key: u64) -> bool {
        let Some(slot) = self.slots.remove(&key) else {
            return false;
        };
        let last = self.keys.len() - 1;
        let d = self.dim;
        if slot != last {
            self.keys.swap(slot, last);
            self.scales.swap(slot, last);
            self.exact.copy_within(last * d..(last + 1) * d, slot * d);
            self.coarse.copy_within(last * d..(last + 1) * d, slot * d);
            self.slots.insert(self.keys[slot], slot);
        }
        self.keys.pop();
        self.scales.pop();
        self.exact.truncate(last * d);
        self.coarse.truncate(last * d);
        true
    }

    pub fn get(&self, key: u64) -> Option<&[f32]> {
        self.slots
            .get(&key)
            .map(|&s| &self.exact[s * self.dim..(s + 1) * self.dim])
    }

    /// The `k` most similar templates, best first (exact cosine scores).
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<Match>> {
        if query.len() != self.dim {
            return Err(VisionError::DimensionMismatch(query.len(), self.dim));
        }
        if k == 0 || self.is_empty() {
            return Ok(Vec::new());
        }
        let d = self.dim;
        let exact_score = |slot: usize| dot_f32(&self.exact[slot * d..(slot + 1) * d], query);
        let mut top = TopK::new(k);
        if self.len() <= 4096 {
            // Small galleries: the exact scan is already cheap.
            for slot in 0..self.len() {
                top.offer(slot, exact_score(slot));
            }
        } else {
            let mut q = Vec::with_capacity(d);
            // The query's own scale is the same for every row, so ranking ignores it.
            quantize(query, &mut q);
            let mut coarse = TopK::new(k.max(RESCORE));
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU was just checked for AVX2.
                unsafe { scan_i8_avx2(&self.coarse, &self.scales, d, &q, &mut coarse) };
            } else {
                scan_i8(&self.coarse, &self.scales, d, &q, &mut coarse);
            }
            #[cfg(not(target_arch = "x86_64"))]
            scan_i8(&self.coarse, &self.scales, d, &q, &mut coarse);
            for (slot, _) in coarse.items {
                top.offer(slot, exact_score(slot));
            }
        }
        Ok(top
            .items
            .into_iter()
            .map(|(slot, score)| Match {
                key: self.keys[slot],
                score,
            })
            .collect())
    }

    /// The most similar template, if any.
    pub fn best_match(&self, query: &[f32]) -> Result<Option<Match>> {
        Ok(self.search(query, 1)?.into_iter().next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random unit vectors (xorshift), so tests need no RNG crate.
    pub(crate) fn unit_vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut s = seed.max(1);
        (0..n)
            .map(|_| {
                let v: Vec<f32> = (0..dim)
                    .map(|_| {
                        s ^= s << 13;
                        s ^= s >> 7;
                        s ^= s << 17;
                        (s % 20_000) as f32 / 10_000.0 - 1.0
                    })
                    .collect();
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.into_iter().map(|x| x / n).collect()
            })
            .collect()
    }

    #[test]
    fn cosine_of_a_vector_with_itself_is_one() {
        let v = &unit_vectors(1, 256, 3)[0];
        assert!((cosine(v, v) - 1.0).abs() < 1e-5);
        assert!(try_cosine(v, &v[..10]).is_err());
    }

    #[test]
    fn large_index_finds_the_same_best_match_as_an_exact_scan() {
        let gallery = unit_vectors(10_000, 256, 7);
        let mut index = TemplateIndex::new(256);
        for (i, v) in gallery.iter().enumerate() {
            index.insert(i as u64, v).unwrap();
        }
        for probe in unit_vectors(20, 256, 99) {
            // A noisy copy of a gallery member must find that member.
            let target = (probe[0].abs() * 9_999.0) as usize;
            let noisy: Vec<f32> = gallery[target]
                .iter()
                .zip(&probe)
                .map(|(g, p)| g + 0.5 * p)
                .collect();
            let exact = gallery
                .iter()
                .enumerate()
                .map(|(i, g)| (i, cosine(g, &noisy)))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap();
            let found = index.best_match(&noisy).unwrap().unwrap();
            assert_eq!(found.key, exact.0 as u64);
            assert!((found.score - exact.1).abs() < 1e-4);
        }
    }

    #[test]
    fn remove_keeps_the_rest_findable() {
        let vs = unit_vectors(5, 8, 11);
        let mut index = TemplateIndex::new(8);
        for (i, v) in vs.iter().enumerate() {
            index.insert(i as u64 + 100, v).unwrap();
        }
        assert!(index.remove(101));
        assert!(!index.remove(101));
        assert_eq!(index.len(), 4);
        for (i, v) in vs.iter().enumerate() {
            let best = index.best_match(v).unwrap().unwrap();
            if i == 1 {
                assert_ne!(best.key, 101);
            } else {
                assert_eq!(best.key, i as u64 + 100);
                assert_eq!(index.get(best.key).unwrap(), v.as_slice());
            }
        }
        assert_eq!(
            index.insert(1, &[0.0; 3]).unwrap_err().code(),
            "DIMENSION_MISMATCH"
        );
    }
}
