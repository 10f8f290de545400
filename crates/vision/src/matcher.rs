//! Matching: cosine similarity 1:1, a 1:N index over many templates, and a [`Gallery`] of
//! people's templates for one embedding model (what the kiosk and the server match against).
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

/// Scans the int8 copies (the baseline; [`scan_i8_avx2`] where the CPU has AVX2); `first` is
/// the slot of the first row.
#[inline(always)]
fn scan_i8(data: &[i8], scales: &[f32], dim: usize, q: &[i8], first: usize, top: &mut TopK) {
    for (slot, (row, s)) in data.chunks_exact(dim).zip(scales).enumerate() {
        top.offer(first + slot, dot_i8(row, q) as f32 * s);
    }
}

/// The int8 dot product with AVX2: rows widened to i16, multiplied pairwise and summed into
/// i32 lanes (`vpmaddwd`), against the query already widened once. The autovectorised loop
/// used 32-bit multiplies (`vpmulld`, half the rate) and stored its lanes to sum them; this
/// is exact (|x|,|y| <= 127: a pair sums to at most 32,258, far inside i32), so the scores
/// are the baseline's to the bit.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn scan_i8_avx2(data: &[i8], scales: &[f32], dim: usize, q: &[i8], first: usize, top: &mut TopK) {
    use std::arch::x86_64::*;
    let blocks = dim / 32;
    let q16: Vec<i16> = q.iter().map(|&v| v as i16).collect();
    for (slot, (row, s)) in data.chunks_exact(dim).zip(scales).enumerate() {
        let (mut a0, mut a1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        for b in 0..blocks {
            let i = b * 32;
            // SAFETY: i + 32 <= dim = row.len() = q16.len(); unaligned loads.
            unsafe {
                let r = _mm256_loadu_si256(row.as_ptr().add(i) as *const __m256i);
                let lo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(r));
                let hi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256::<1>(r));
                let q0 = _mm256_loadu_si256(q16.as_ptr().add(i) as *const __m256i);
                let q1 = _mm256_loadu_si256(q16.as_ptr().add(i + 16) as *const __m256i);
                a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(lo, q0));
                a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(hi, q1));
            }
        }
        let acc = _mm256_add_epi32(a0, a1);
        let x = _mm_add_epi32(
            _mm256_castsi256_si128(acc),
            _mm256_extracti128_si256::<1>(acc),
        );
        let x = _mm_hadd_epi32(x, x);
        let x = _mm_hadd_epi32(x, x);
        let tail: i32 = row[blocks * 32..]
            .iter()
            .zip(&q[blocks * 32..])
            .map(|(&x, &y)| x as i32 * y as i32)
            .sum();
        top.offer(first + slot, (_mm_cvtsi128_si32(x) + tail) as f32 * s);
    }
}

/// The best `k` rows of one contiguous part of the int8 copies; `first` is its first slot.
fn scan_part(data: &[i8], scales: &[f32], dim: usize, q: &[i8], first: usize, k: usize) -> TopK {
    let mut top = TopK::new(k);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU was just checked for AVX2.
        unsafe { scan_i8_avx2(data, scales, dim, q, first, &mut top) };
        return top;
    }
    scan_i8(data, scales, dim, q, first, &mut top);
    top
}

/// Galleries at least this large are scanned on every core (a part each, started and joined
/// per search: some 50 us, against about 1.5 ms a part at this size).
const PARALLEL_FROM: usize = 32_768;

/// The best `k` rows of the int8 copies. Large galleries are split into contiguous parts
/// scanned on their own threads; each part's best are offered in slot order, so ties and
/// the cut at `k` fall as in one scan and the result is the one-thread scan's.
fn scan_coarse(data: &[i8], scales: &[f32], dim: usize, q: &[i8], k: usize) -> TopK {
    let n = scales.len();
    let threads = if n >= PARALLEL_FROM {
        std::thread::available_parallelism().map_or(1, |t| t.get().min(4))
    } else {
        1
    };
    if threads <= 1 {
        return scan_part(data, scales, dim, q, 0, k);
    }
    let per = n.div_ceil(threads);
    let parts: Vec<TopK> = std::thread::scope(|s| {
        let running: Vec<_> = (0..threads)
            .map(|t| {
                let (lo, hi) = (t * per, ((t + 1) * per).min(n));
                let (rows, sc) = (&data[lo * dim..hi * dim], &scales[lo..hi]);
                s.spawn(move || scan_part(rows, sc, dim, q, lo, k))
            })
            .collect();
        running
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut top = TopK::new(k);
    for part in parts {
        for (slot, score) in part.items {
            top.offer(slot, score);
        }
    }
    top
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
            let coarse = scan_coarse(&self.coarse, &self.scales, d, &q, k.max(RESCORE));
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

/// What [`Gallery::admit`] decided about a new enrolment sample.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// A person not enrolled yet, whose face matches nobody else.
    New,
    /// Another sample of an enrolled person: it matches their samples (`score`, cosine).
    SamePerson { score: f32 },
    /// Said to be an enrolled person, but it does not match their samples (best `score`).
    Mismatch { score: f32 },
    /// A new person whose face is already someone else's.
    Duplicate(PersonMatch),
}

/// A person's best match in a [`Gallery`].
#[derive(Debug, Clone, PartialEq)]
pub struct PersonMatch {
    pub person: String,
    pub score: f32,
}

/// The templates of many people, for one embedding model: the one place that decides which
/// templates may be compared with a probe (those of the same model and length, never another
/// model's: its scores would mean nothing) and how a person's score is made (their best
/// template). 1:N runs on the [`TemplateIndex`] scan; 1:1 scores that person's templates
/// exactly.
#[derive(Debug, Clone)]
pub struct Gallery {
    model_id: String,
    index: TemplateIndex,
    owner: HashMap<u64, String>,
    by_person: HashMap<String, Vec<u64>>,
}

impl Gallery {
    /// An empty gallery for embeddings of `model_id`, `dim` values each.
    pub fn new(model_id: &str, dim: usize) -> Self {
        Self {
            model_id: model_id.to_string(),
            index: TemplateIndex::new(dim),
            owner: HashMap::new(),
            by_person: HashMap::new(),
        }
    }

    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    pub fn dim(&self) -> usize {
        self.index.dim()
    }

    /// Number of templates.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Adds (or replaces) template `key` of `person`, made by `model_id`. A template of another
    /// model, or of another length, is left out and `false` returned.
    pub fn insert(&mut self, key: u64, person: &str, model_id: &str, template: &[f32]) -> bool {
        if model_id != self.model_id || template.len() != self.index.dim() {
            return false;
        }
        self.remove(key);
        if self.index.insert(key, template).is_err() {
            return false;
        }
        self.owner.insert(key, person.to_string());
        self.by_person
            .entry(person.to_string())
            .or_default()
            .push(key);
        true
    }

    pub fn remove(&mut self, key: u64) -> bool {
        let Some(person) = self.owner.remove(&key) else {
            return false;
        };
        if let Some(keys) = self.by_person.get_mut(&person) {
            keys.retain(|k| *k != key);
            if keys.is_empty() {
                self.by_person.remove(&person);
            }
        }
        self.index.remove(key)
    }

    /// Whether `person` has any template here.
    pub fn contains(&self, person: &str) -> bool {
        self.by_person.contains_key(person)
    }

    /// The best match over everyone (1:N), or over `only`'s templates (1:1). None: nobody
    /// (or not `only`) is enrolled with this model.
    pub fn best(&self, query: &[f32], only: Option<&str>) -> Result<Option<PersonMatch>> {
        if query.len() != self.index.dim() {
            return Err(VisionError::DimensionMismatch(
                query.len(),
                self.index.dim(),
            ));
        }
        let Some(person) = only else {
            return Ok(self.index.best_match(query)?.map(|m| self.person_match(m)));
        };
        Ok(self
            .by_person
            .get(person)
            .into_iter()
            .flatten()
            .filter_map(|k| self.index.get(*k))
            .map(|t| dot_f32(t, query))
            .reduce(f32::max)
            .map(|score| PersonMatch {
                person: person.to_string(),
                score,
            }))
    }

    /// The best match among everyone but `except` (is this face already someone else's?).
    pub fn best_other(&self, query: &[f32], except: &str) -> Result<Option<PersonMatch>> {
        // `except`'s templates can fill at most this many of the top places.
        let k = self.by_person.get(except).map_or(0, Vec::len) + 1;
        Ok(self
            .index
            .search(query, k)?
            .into_iter()
            .map(|m| self.person_match(m))
            .find(|m| m.person != except))
    }

    /// Whether a new sample `query` may be added as `person`'s, at `threshold` (the flow's
    /// match score): the one enrolment rule the server and the kiosk both apply. A sample of
    /// a known person must match that person (else [`Admission::Mismatch`]: a different face
    /// would let its owner sign in as them); a new person's face must match nobody else
    /// ([`Admission::Duplicate`]: one face, one identity).
    pub fn admit(&self, query: &[f32], person: &str, threshold: f32) -> Result<Admission> {
        if self.contains(person) {
            let own = self
                .best(query, Some(person))?
                .map_or(f32::MIN, |m| m.score);
            return Ok(if own >= threshold {
                Admission::SamePerson { score: own }
            } else {
                Admission::Mismatch { score: own }
            });
        }
        Ok(match self.best_other(query, person)? {
            Some(m) if m.score >= threshold => Admission::Duplicate(m),
            _ => Admission::New,
        })
    }

    fn person_match(&self, m: Match) -> PersonMatch {
        PersonMatch {
            person: self.owner.get(&m.key).cloned().unwrap_or_default(),
            score: m.score,
        }
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
    fn admission_refuses_a_takeover_and_a_second_identity() {
        let v = unit_vectors(3, 64, 11);
        let mut g = Gallery::new("m", 64);
        g.insert(1, "ada", "m", &v[0]);
        g.insert(2, "bob", "m", &v[1]);
        // Ada again: allowed. Bob's face as Ada: a mismatch. Ada's face as a new person: a
        // duplicate (of Ada). A face nobody has, as a new person: new.
        assert!(matches!(
            g.admit(&v[0], "ada", 0.5).unwrap(),
            Admission::SamePerson { .. }
        ));
        assert!(matches!(
            g.admit(&v[1], "ada", 0.5).unwrap(),
            Admission::Mismatch { .. }
        ));
        match g.admit(&v[0], "eve", 0.5).unwrap() {
            Admission::Duplicate(m) => assert_eq!(m.person, "ada"),
            other => panic!("{other:?}"),
        }
        assert_eq!(g.admit(&v[2], "eve", 0.5).unwrap(), Admission::New);
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
    fn the_fast_scans_score_exactly_as_the_baseline_and_search_ranks_as_an_exact_scan() {
        let gallery = unit_vectors(6_000, 256, 5);
        let mut index = TemplateIndex::new(256);
        for (i, v) in gallery.iter().enumerate() {
            index.insert(i as u64, v).unwrap();
        }
        for query in unit_vectors(10, 256, 77) {
            let mut q = Vec::new();
            quantize(&query, &mut q);
            let mut base = TopK::new(RESCORE);
            scan_i8(&index.coarse, &index.scales, 256, &q, 0, &mut base);
            // AVX2 (where the CPU has it) and the parallel split: the same rows, same order.
            let one = scan_part(&index.coarse, &index.scales, 256, &q, 0, RESCORE);
            assert_eq!(one.items, base.items);
            let mut split = TopK::new(RESCORE);
            for (lo, hi) in [(0, 2_500), (2_500, 6_000)] {
                let part = scan_part(
                    &index.coarse[lo * 256..hi * 256],
                    &index.scales[lo..hi],
                    256,
                    &q,
                    lo,
                    RESCORE,
                );
                for (slot, score) in part.items {
                    split.offer(slot, score);
                }
            }
            assert_eq!(split.items, base.items);
            // The top 5 of the index (int8 scan, then exact re-scoring) are the exact scan's.
            let mut exact: Vec<(u64, f32)> = gallery
                .iter()
                .enumerate()
                .map(|(i, g)| (i as u64, cosine(g, &query)))
                .collect();
            exact.sort_by(|a, b| b.1.total_cmp(&a.1));
            let found: Vec<u64> = index
                .search(&query, 5)
                .unwrap()
                .iter()
                .map(|m| m.key)
                .collect();
            let want: Vec<u64> = exact[..5].iter().map(|e| e.0).collect();
            assert_eq!(found, want);
        }
    }

    #[test]
    fn a_gallery_scanned_on_several_threads_ranks_as_one_scan() {
        let n = PARALLEL_FROM + 5_000;
        let mut index = TemplateIndex::new(64);
        for (i, v) in unit_vectors(n, 64, 13).iter().enumerate() {
            index.insert(i as u64, v).unwrap();
        }
        for query in unit_vectors(5, 64, 21) {
            let mut q = Vec::new();
            quantize(&query, &mut q);
            let all = scan_coarse(&index.coarse, &index.scales, 64, &q, RESCORE);
            let one = scan_part(&index.coarse, &index.scales, 64, &q, 0, RESCORE);
            assert_eq!(all.items, one.items);
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

    #[test]
    fn a_gallery_never_compares_another_models_templates() {
        let vs = unit_vectors(3, 8, 21);
        let mut g = Gallery::new("model-a", 8);
        assert!(g.insert(1, "ann", "model-a", &vs[0]));
        // Another model's template, even the probe itself, is left out.
        assert!(!g.insert(2, "bob", "model-b", &vs[1]));
        // So is one of another length.
        assert!(!g.insert(3, "cat", "model-a", &vs[2][..4]));
        assert_eq!(g.len(), 1);
        assert!(!g.contains("bob"));
        let best = g.best(&vs[1], None).unwrap().unwrap();
        assert_eq!(best.person, "ann");
        assert!(best.score < 0.99);
        assert_eq!(g.best(&vs[1], Some("bob")).unwrap(), None);
        assert_eq!(
            g.best(&vs[1][..4], None).unwrap_err().code(),
            "DIMENSION_MISMATCH"
        );
    }

    #[test]
    fn a_gallery_scores_a_person_by_their_best_template() {
        let vs = unit_vectors(6, 16, 5);
        let mut g = Gallery::new("m", 16);
        for (i, v) in vs.iter().enumerate() {
            g.insert(i as u64, if i < 4 { "ann" } else { "bob" }, "m", v);
        }
        // 1:1 against ann, probing with one of her templates: that one, exactly.
        let m = g.best(&vs[2], Some("ann")).unwrap().unwrap();
        assert_eq!(m.person, "ann");
        assert!((m.score - 1.0).abs() < 1e-5);
        // 1:N finds bob for bob's template; best_other looks past ann's four templates.
        assert_eq!(g.best(&vs[5], None).unwrap().unwrap().person, "bob");
        let other = g.best_other(&vs[0], "ann").unwrap().unwrap();
        assert_eq!(other.person, "bob");
        let expected = vs[4..]
            .iter()
            .map(|b| cosine(b, &vs[0]))
            .fold(f32::MIN, f32::max);
        assert!((other.score - expected).abs() < 1e-5);
        // Replacing a key moves the template to its new owner; removing it forgets it.
        assert!(g.insert(5, "ann", "m", &vs[5]));
        assert_eq!(g.best(&vs[5], None).unwrap().unwrap().person, "ann");
        assert!(g.remove(4) && g.remove(5));
        assert!(!g.contains("bob"));
        assert_eq!(g.best_other(&vs[0], "ann").unwrap(), None);
    }
}
