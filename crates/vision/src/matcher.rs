//! Matching: cosine similarity 1:1, a 1:N index over many templates, and a [`Gallery`] of
//! people's templates for one embedding model (what the kiosk and the server match against).
//!
//! The 1:N scan is bandwidth-bound (100k x 256 f32 is 100 MB per query), so a large index
//! first reads a 1-bit code of every template (after a fixed random rotation; 32 bytes at 256
//! values, 3.2 MB for 100k), estimates each cosine from it against a 4-bit copy of the query
//! (popcounts), and scores only the best [`CANDIDATES`] estimates exactly in f32. The answer
//! is the exhaustive scan's whenever its best matches are among those candidates; the tests
//! check it on real embeddings and on planted near-duplicates down to the match threshold.

use std::collections::HashMap;

use crate::error::{Result, VisionError};

/// The fixed cosine threshold used before decisions were set as error rates: set on the shared
/// dev pairs (genuine min 0.368, impostor max 0.311). It decides nothing now: a kiosk's default
/// floor under the flow's thresholds and `kiosk eval`'s point of comparison. On faces-lfw it
/// gives FMR 7e-4 and takes 37% of strangers for someone in a gallery of 1,000; the thresholds
/// that decide come from [`crate::decision`].
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

/// The fixed random rotation applied before taking signs: `ROUNDS` randomised Hadamard
/// transforms (random sign flips, then a fast Walsh-Hadamard transform) over the template
/// padded with zeros to a power of two. A face model spreads its information unevenly across
/// dimensions; after the rotation every coordinate carries a share of all of them, so each
/// sign bit is worth about the same and the 1-bit code's error is the isotropic one (the
/// Hamming-angle relation, and RaBitQ's estimator, assume it). Fixed seed: the codes of a
/// gallery and of its queries must agree, in every process.
#[derive(Debug, Clone)]
struct Rotation {
    /// Length after padding (a power of two, at least 64: one code word).
    padded: usize,
    /// `ROUNDS` x `padded` sign flips, each +1 or -1.
    flips: Vec<f32>,
}

const ROUNDS: usize = 2;

impl Rotation {
    fn new(dim: usize) -> Self {
        let padded = dim.next_power_of_two().max(64);
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        let flips = (0..ROUNDS * padded)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                if s & 1 == 0 { 1.0 } else { -1.0 }
            })
            .collect();
        Self { padded, flips }
    }

    /// The rotated vector, unnormalised (signs and ranking ignore a common scale).
    fn apply(&self, v: &[f32]) -> Vec<f32> {
        let mut y = vec![0f32; self.padded];
        y[..v.len()].copy_from_slice(v);
        for flips in self.flips.chunks_exact(self.padded) {
            for (x, f) in y.iter_mut().zip(flips) {
                *x *= f;
            }
            let mut h = 1;
            while h < y.len() {
                for block in y.chunks_exact_mut(2 * h) {
                    let (a, b) = block.split_at_mut(h);
                    for (x, z) in a.iter_mut().zip(b.iter_mut()) {
                        (*x, *z) = (*x + *z, *x - *z);
                    }
                }
                h *= 2;
            }
        }
        y
    }

    /// The 1-bit code of a template: bit j set when rotated coordinate j is positive.
    fn code(&self, v: &[f32], out: &mut Vec<u64>) {
        let y = self.apply(v);
        out.extend(y.chunks_exact(64).map(|c| {
            c.iter()
                .enumerate()
                .fold(0u64, |w, (i, &x)| w | (u64::from(x > 0.0) << i))
        }));
    }

    /// The query's rotated coordinates quantised to 4 bits, `QUERY_BITS` bit planes of
    /// `padded / 64` words each (plane p holds bit p of every coordinate's level). Levels are
    /// symmetric about zero (level u stands for (u - 7.5) x step), which is what makes the
    /// estimate [`estimate`]'s integer formula.
    fn query_planes(&self, q: &[f32]) -> Vec<u64> {
        let y = self.apply(q);
        let max = y.iter().fold(0f32, |m, x| m.max(x.abs()));
        let half = LEVELS as f32 / 2.0;
        let step = if max > 0.0 { max / half } else { 1.0 };
        let words = self.padded / 64;
        let mut planes = vec![0u64; QUERY_BITS * words];
        for (j, x) in y.iter().enumerate() {
            let u = (x / step + half).round().clamp(0.0, LEVELS as f32) as u64;
            for p in 0..QUERY_BITS {
                planes[p * words + j / 64] |= ((u >> p) & 1) << (j % 64);
            }
        }
        planes
    }
}

/// Bits of the query's levels (0..=`LEVELS`) in the first stage.
const QUERY_BITS: usize = 4;
const LEVELS: u32 = (1 << QUERY_BITS) - 1;

/// The first stage's estimate for one template, as an integer that ranks as the query's
/// rotated coordinates dotted with the template's signs (+1 / -1): with levels u_j standing
/// for (u_j - 7.5) x step and sign s_j = 2 b_j - 1, that dot product is step / 7.5 x
/// (2 U - 15 |b|) plus terms equal for every template, where U = sum of u_j over the set bits
/// b_j (the bit planes' popcounts) and |b| the code's popcount. This is RaBitQ's asymmetric
/// estimator (Gao and Long, SIGMOD 2024) without its per-template factor: the query keeps 4
/// bits, so its error is about half that of a Hamming distance between two sign codes.
#[inline(always)]
fn estimate(code: &[u64], planes: &[u64], words: usize) -> i32 {
    let (mut u, mut ones) = (0u32, 0u32);
    for (w, &c) in code.iter().enumerate() {
        ones += c.count_ones();
        for p in 0..QUERY_BITS {
            u += (c & planes[p * words + w]).count_ones() << p;
        }
    }
    2 * u as i32 - LEVELS as i32 * ones as i32
}

/// Estimates every code into `out` (one per row). `W` words a code when known at compile
/// time (256 values: 4), so the loops unroll; 0 reads `words`. Plain loops, no iterator
/// adaptors: a closure is a function of its own, and would be compiled without the
/// `target_feature` of [`estimate_all_popcnt`] unless inlined.
#[inline(always)]
fn estimate_rows<const W: usize>(codes: &[u64], planes: &[u64], words: usize, out: &mut [i32]) {
    let words = if W == 0 { words } else { W };
    for (row, e) in codes.chunks_exact(words).zip(out.iter_mut()) {
        *e = estimate(row, planes, words);
    }
}

#[inline(always)]
fn estimate_all(codes: &[u64], planes: &[u64], words: usize, out: &mut [i32]) {
    match words {
        4 => estimate_rows::<4>(codes, planes, words, out),
        8 => estimate_rows::<8>(codes, planes, words, out),
        _ => estimate_rows::<0>(codes, planes, words, out),
    }
}

/// [`estimate_all`] compiled with the `popcnt` instruction (x86-64's baseline lacks it, and
/// the portable count is a dozen instructions a word).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn estimate_all_popcnt(codes: &[u64], planes: &[u64], words: usize, out: &mut [i32]) {
    estimate_all(codes, planes, words, out)
}

/// [`estimate_all`] for 256-bit codes (4 words, the 256-value embedder) with AVX-512's
/// 64-bit popcount (`vpopcntq`): two codes a 512-bit register, the four query planes each
/// repeated to match, so one AND and one popcount do a plane for both rows at once. The
/// arithmetic is [`estimate`]'s, in integers, so the estimates are equal to the bit (tested).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vpopcntdq")]
fn estimate_all_avx512_w4(codes: &[u64], planes: &[u64], out: &mut [i32]) {
    use std::arch::x86_64::*;
    debug_assert!(planes.len() == QUERY_BITS * 4 && codes.len() == 4 * out.len());
    let plane = |p: usize| {
        let w = &planes[p * 4..p * 4 + 4];
        _mm512_set_epi64(
            w[3] as i64,
            w[2] as i64,
            w[1] as i64,
            w[0] as i64,
            w[3] as i64,
            w[2] as i64,
            w[1] as i64,
            w[0] as i64,
        )
    };
    let (p0, p1, p2, p3) = (plane(0), plane(1), plane(2), plane(3));
    // The four 64-bit lanes of a 256-bit half, summed.
    let sum4 = |v: __m256i| -> i64 {
        let x = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        _mm_cvtsi128_si64(_mm_add_epi64(x, _mm_unpackhi_epi64(x, x)))
    };
    let pairs = out.len() / 2;
    for i in 0..pairs {
        // SAFETY: codes holds 4 words per row and 2 * pairs <= out.len() rows; unaligned load.
        let c = unsafe { _mm512_loadu_si512(codes.as_ptr().add(8 * i) as *const _) };
        let ones = _mm512_popcnt_epi64(c);
        let u = _mm512_add_epi64(
            _mm512_add_epi64(
                _mm512_popcnt_epi64(_mm512_and_si512(c, p0)),
                _mm512_slli_epi64::<1>(_mm512_popcnt_epi64(_mm512_and_si512(c, p1))),
            ),
            _mm512_add_epi64(
                _mm512_slli_epi64::<2>(_mm512_popcnt_epi64(_mm512_and_si512(c, p2))),
                _mm512_slli_epi64::<3>(_mm512_popcnt_epi64(_mm512_and_si512(c, p3))),
            ),
        );
        // 2 U - 15 |b| per lane; the lanes of a row then sum to the row's estimate.
        let v = _mm512_sub_epi64(
            _mm512_slli_epi64::<1>(u),
            _mm512_sub_epi64(_mm512_slli_epi64::<4>(ones), ones),
        );
        out[2 * i] = sum4(_mm512_castsi512_si256(v)) as i32;
        out[2 * i + 1] = sum4(_mm512_extracti64x4_epi64::<1>(v)) as i32;
    }
    if out.len() % 2 == 1 {
        let last = out.len() - 1;
        out[last] = estimate(&codes[4 * last..], planes, 4);
    }
}

/// Slots whose estimate is among the best `k`, ties at the cut included, in slot order. The
/// estimates are small integers, so a histogram finds the cut in two linear passes: no sort,
/// and the set does not depend on the order rows are visited.
fn best_estimates(est: &[i32], k: usize) -> Vec<usize> {
    if est.len() <= k {
        return (0..est.len()).collect();
    }
    let lo = est.iter().copied().min().unwrap_or(0);
    let hi = est.iter().copied().max().unwrap_or(0);
    let mut hist = vec![0u32; (hi - lo) as usize + 1];
    for &e in est {
        hist[(e - lo) as usize] += 1;
    }
    let mut seen = 0usize;
    let mut cut = lo;
    for (bin, &count) in hist.iter().enumerate().rev() {
        seen += count as usize;
        if seen >= k {
            cut = lo + bin as i32;
            break;
        }
    }
    est.iter()
        .enumerate()
        .filter(|&(_, &e)| e >= cut)
        .map(|(slot, _)| slot)
        .collect()
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
///
/// Per template: its f32 values (`dim` x 4 bytes), a 1-bit code of its rotated values
/// (`dim` rounded up to a power of two, at least 64, over 8 bytes: 32 for 256 values) and
/// its key, plus the key's hash-map entry.
#[derive(Debug, Clone)]
pub struct TemplateIndex {
    dim: usize,
    keys: Vec<u64>,
    exact: Vec<f32>,
    rotation: Rotation,
    /// `words` u64 per template.
    codes: Vec<u64>,
    words: usize,
    slots: HashMap<u64, usize>,
}

/// Galleries up to this many templates are scanned exactly (4 MB of f32 at 256 values: well
/// under a millisecond; the two stages pay off above).
pub const EXHAUSTIVE_UP_TO: usize = 4096;

/// Candidates the first stage passes on to exact scoring (plus the `k` asked for). Sized for
/// a margin, not a fit: in the tests the worst-ranked genuine match (the shared pairs among
/// 20k face-like fillers) was the 7th best estimate, and the worst planted one (from the 0.36
/// threshold up, in 100k random templates) the 11th. Re-scoring 1024 reads 1 MB of f32
/// rows: about a quarter of a 100k search (0.93-0.98 ms p50 with 16 candidates against
/// 1.22-1.53 ms with 1024, same harness and load), paid for that margin.
pub const CANDIDATES: usize = 1024;

impl TemplateIndex {
    pub fn new(dim: usize) -> Self {
        let rotation = Rotation::new(dim);
        let words = rotation.padded / 64;
        Self {
            dim,
            keys: Vec::new(),
            exact: Vec::new(),
            rotation,
            codes: Vec::new(),
            words,
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

    /// Bytes held per template: its values, its code and its key (the key's hash-map entry
    /// comes on top).
    pub fn bytes_per_template(&self) -> usize {
        self.dim * 4 + self.words * 8 + 8
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
        self.rotation.code(template, &mut self.codes);
        Ok(())
    }

    /// Removes `key`; the last template moves into its slot so storage stays contiguous.
    pub fn remove(&mut self, key: u64) -> bool {
        let Some(slot) = self.slots.remove(&key) else {
            return false;
        };
        let last = self.keys.len() - 1;
        let (d, w) = (self.dim, self.words);
        if slot != last {
            self.keys.swap(slot, last);
            self.exact.copy_within(last * d..(last + 1) * d, slot * d);
            self.codes.copy_within(last * w..(last + 1) * w, slot * w);
            self.slots.insert(self.keys[slot], slot);
        }
        self.keys.pop();
        self.exact.truncate(last * d);
        self.codes.truncate(last * w);
        true
    }

    pub fn get(&self, key: u64) -> Option<&[f32]> {
        self.slots
            .get(&key)
            .map(|&s| &self.exact[s * self.dim..(s + 1) * self.dim])
    }

    fn exact_score(&self, slot: usize, query: &[f32]) -> f32 {
        dot_f32(&self.exact[slot * self.dim..(slot + 1) * self.dim], query)
    }

    fn check(&self, query: &[f32]) -> Result<()> {
        if query.len() != self.dim {
            return Err(VisionError::DimensionMismatch(query.len(), self.dim));
        }
        Ok(())
    }

    fn matches(&self, top: TopK) -> Vec<Match> {
        top.items
            .into_iter()
            .map(|(slot, score)| Match {
                key: self.keys[slot],
                score,
            })
            .collect()
    }

    /// The `k` most similar templates, best first, with exact cosine scores.
    ///
    /// Up to [`EXHAUSTIVE_UP_TO`] templates this is [`Self::search_exact`]. Above, a first
    /// stage reads only the 1-bit codes (32 bytes a template instead of 1 KB) and keeps the
    /// [`CANDIDATES`] + `k` best estimates (ties included); those alone are scored exactly,
    /// in slot order as the exhaustive scan offers them, so whenever the exhaustive top `k`
    /// are among the candidates the answer is the exhaustive one to the bit (keys, scores,
    /// order of ties). The estimate is what could let a match fall out: the tests plant
    /// matches down to the match threshold and compare with the exhaustive scan.
    ///
    /// Errors: `DIMENSION_MISMATCH` for a query of another length.
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<Match>> {
        self.check(query)?;
        if self.len() <= EXHAUSTIVE_UP_TO {
            return self.search_exact(query, k);
        }
        if k == 0 {
            return Ok(Vec::new());
        }
        let mut top = TopK::new(k);
        for slot in self.candidates(query, CANDIDATES.saturating_add(k)) {
            top.offer(slot, self.exact_score(slot, query));
        }
        Ok(self.matches(top))
    }

    /// The first stage: slots of the `k` best estimates (ties included), in slot order.
    fn candidates(&self, query: &[f32], k: usize) -> Vec<usize> {
        let planes = self.rotation.query_planes(query);
        let mut est = vec![0i32; self.len()];
        #[cfg(target_arch = "x86_64")]
        if self.words == 4
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
        {
            // SAFETY: the CPU was just checked for both features.
            unsafe { estimate_all_avx512_w4(&self.codes, &planes, &mut est) };
            return best_estimates(&est, k);
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU was just checked for POPCNT.
            unsafe { estimate_all_popcnt(&self.codes, &planes, self.words, &mut est) };
            return best_estimates(&est, k);
        }
        estimate_all(&self.codes, &planes, self.words, &mut est);
        best_estimates(&est, k)
    }

    /// The `k` most similar templates by scoring every one exactly in f32: the reference
    /// [`Self::search`] answers as, and its path for small galleries. It reads every
    /// template's values (1 KB each at 256), so large galleries should use [`Self::search`].
    ///
    /// Errors: `DIMENSION_MISMATCH` for a query of another length.
    pub fn search_exact(&self, query: &[f32], k: usize) -> Result<Vec<Match>> {
        self.check(query)?;
        if k == 0 {
            return Ok(Vec::new());
        }
        let mut top = TopK::new(k);
        for slot in 0..self.len() {
            top.offer(slot, self.exact_score(slot, query));
        }
        Ok(self.matches(top))
    }

    /// Where the exhaustive best match ranks among the first stage's estimates (0: the best
    /// estimate), ties counted against it; None for an empty index. How close a search came
    /// to missing: [`Self::search`] finds it while this is under [`CANDIDATES`].
    pub fn first_stage_rank(&self, query: &[f32]) -> Result<Option<usize>> {
        let Some(best) = self.search_exact(query, 1)?.into_iter().next() else {
            return Ok(None);
        };
        let planes = self.rotation.query_planes(query);
        let mut est = vec![0i32; self.len()];
        estimate_all(&self.codes, &planes, self.words, &mut est);
        let own = est[self.slots[&best.key]];
        Ok(Some(est.iter().filter(|&&e| e >= own).count() - 1))
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
    /// Another sample of an enrolled person: it matches their fused template (`score`).
    SamePerson { score: f32 },
    /// Said to be an enrolled person, but it does not match their fused template (`score`).
    Mismatch { score: f32 },
    /// A new person whose face is already someone else's.
    Duplicate(PersonMatch),
}

/// A person's match in a [`Gallery`].
#[derive(Debug, Clone, PartialEq)]
pub struct PersonMatch {
    pub person: String,
    pub score: f32,
}

/// One enrolled person: their number in the index and their samples (template key, values).
#[derive(Debug, Clone)]
struct Person {
    number: u64,
    samples: Vec<(u64, Vec<f32>)>,
}

/// The templates of many people, for one embedding model: the one place that decides which
/// templates may be compared with a probe (those of the same model and length, never another
/// model's: its scores would mean nothing) and how a person scores: against their **fused
/// template**, the normalised mean of their samples, so that a person with five samples is
/// one comparison in 1:N, as a person with one (the count the FPIR rule of
/// [`crate::decision`] divides by), and no single odd sample decides alone. 1:N runs on a
/// [`TemplateIndex`] of the fused templates.
#[derive(Debug, Clone)]
pub struct Gallery {
    model_id: String,
    /// Key: the person's number.
    index: TemplateIndex,
    people: HashMap<String, Person>,
    /// Person number -> name.
    names: HashMap<u64, String>,
    /// Template key -> person name.
    owner: HashMap<u64, String>,
    next_number: u64,
    samples: usize,
    /// The site's own score distributions, made on first use after a change.
    site: std::sync::OnceLock<crate::decision::Calibration>,
}

impl Gallery {
    /// An empty gallery for embeddings of `model_id`, `dim` values each.
    pub fn new(model_id: &str, dim: usize) -> Self {
        Self {
            model_id: model_id.to_string(),
            index: TemplateIndex::new(dim),
            people: HashMap::new(),
            names: HashMap::new(),
            owner: HashMap::new(),
            next_number: 0,
            samples: 0,
            site: std::sync::OnceLock::new(),
        }
    }

    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    pub fn dim(&self) -> usize {
        self.index.dim()
    }

    /// Number of templates (samples).
    pub fn len(&self) -> usize {
        self.samples
    }

    /// Number of people (fused templates): what a 1:N probe is compared with.
    pub fn people(&self) -> usize {
        self.people.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples == 0
    }

    /// Adds (or replaces) template `key` of `person`, made by `model_id`. A template of another
    /// model, or of another length, is left out and `false` returned.
    pub fn insert(&mut self, key: u64, person: &str, model_id: &str, template: &[f32]) -> bool {
        if model_id != self.model_id || template.len() != self.index.dim() {
            return false;
        }
        self.remove(key);
        let number = match self.people.get(person) {
            Some(p) => p.number,
            None => {
                self.next_number += 1;
                self.names.insert(self.next_number, person.to_string());
                self.people.insert(
                    person.to_string(),
                    Person {
                        number: self.next_number,
                        samples: Vec::new(),
                    },
                );
                self.next_number
            }
        };
        if let Some(p) = self.people.get_mut(person) {
            p.samples.push((key, template.to_vec()));
        }
        self.owner.insert(key, person.to_string());
        self.samples += 1;
        self.update_fused(person, number);
        true
    }

    /// The person's fused template back into the index (or out of it, with no samples left).
    fn update_fused(&mut self, person: &str, number: u64) {
        self.site = std::sync::OnceLock::new();
        self.index.remove(number);
        match self.people.get(person) {
            Some(p) if !p.samples.is_empty() => {
                if let Some(fused) =
                    crate::decision::fuse(p.samples.iter().map(|(_, v)| v.as_slice()))
                {
                    let _ = self.index.insert(number, &fused);
                }
            }
            _ => {
                self.people.remove(person);
                self.names.remove(&number);
            }
        }
    }

    pub fn remove(&mut self, key: u64) -> bool {
        let Some(person) = self.owner.remove(&key) else {
            return false;
        };
        let Some(p) = self.people.get_mut(&person) else {
            return false;
        };
        p.samples.retain(|(k, _)| *k != key);
        let number = p.number;
        self.samples -= 1;
        self.update_fused(&person, number);
        true
    }

    /// Whether `person` has any template here.
    pub fn contains(&self, person: &str) -> bool {
        self.people.contains_key(person)
    }

    /// `person`'s fused template.
    pub fn fused(&self, person: &str) -> Option<&[f32]> {
        self.people
            .get(person)
            .and_then(|p| self.index.get(p.number))
    }

    fn check(&self, query: &[f32]) -> Result<()> {
        if query.len() != self.index.dim() {
            return Err(VisionError::DimensionMismatch(
                query.len(),
                self.index.dim(),
            ));
        }
        Ok(())
    }

    /// The best match over everyone (1:N), or `only`'s score (1:1), against fused templates.
    /// None: nobody (or not `only`) is enrolled with this model. A score alone decides
    /// nothing: [`crate::decision`] does.
    ///
    /// Errors: `DIMENSION_MISMATCH` for a probe of another length.
    pub fn best(&self, query: &[f32], only: Option<&str>) -> Result<Option<PersonMatch>> {
        self.check(query)?;
        let Some(person) = only else {
            return Ok(self.index.best_match(query)?.map(|m| self.person_match(m)));
        };
        Ok(self.fused(person).map(|t| PersonMatch {
            person: person.to_string(),
            score: dot_f32(t, query),
        }))
    }

    /// The two best people (1:N with its runner-up), best first.
    ///
    /// Errors: `DIMENSION_MISMATCH` for a probe of another length.
    pub fn top_two(&self, query: &[f32]) -> Result<Vec<PersonMatch>> {
        self.check(query)?;
        Ok(self
            .index
            .search(query, 2)?
            .into_iter()
            .map(|m| self.person_match(m))
            .collect())
    }

    /// The best match among everyone but `except` (is this face already someone else's?).
    pub fn best_other(&self, query: &[f32], except: &str) -> Result<Option<PersonMatch>> {
        Ok(self
            .top_two(query)?
            .into_iter()
            .find(|m| m.person != except))
    }

    /// Whether a new sample `query` may be added as `person`'s: the one enrolment rule the
    /// server and the kiosk both apply. A sample of a known person must match that person's
    /// fused template as a whole at `verify` (else [`Admission::Mismatch`]: a different face
    /// would let its owner sign in as them, and a chain of samples each close to the last
    /// one cannot drift it); a new person's face must match nobody else at `duplicate` (the
    /// 1:N threshold: [`Admission::Duplicate`], one face, one identity).
    pub fn admit(
        &self,
        query: &[f32],
        person: &str,
        verify: f32,
        duplicate: f32,
    ) -> Result<Admission> {
        if self.contains(person) {
            let own = self
                .best(query, Some(person))?
                .map_or(f32::MIN, |m| m.score);
            return Ok(if own >= verify {
                Admission::SamePerson { score: own }
            } else {
                Admission::Mismatch { score: own }
            });
        }
        Ok(match self.best_other(query, person)? {
            Some(m) if m.score >= duplicate => Admission::Duplicate(m),
            _ => Admission::New,
        })
    }

    /// The site's own score distributions: impostors from every pair of different people's
    /// fused templates, genuine from every pair of one person's samples; at most
    /// [`crate::decision::SITE_MAX_PEOPLE`] people (spread over the gallery), made once per
    /// change of the gallery. None with fewer than two people.
    pub fn site_calibration(&self) -> Option<&crate::decision::Calibration> {
        if self.people() < 2 {
            return None;
        }
        Some(self.site.get_or_init(|| {
            let mut numbers: Vec<u64> = self.people.values().map(|p| p.number).collect();
            numbers.sort_unstable();
            let step = numbers
                .len()
                .div_ceil(crate::decision::SITE_MAX_PEOPLE)
                .max(1);
            let chosen: Vec<u64> = numbers.into_iter().step_by(step).collect();
            let fused: Vec<&[f32]> = chosen.iter().filter_map(|n| self.index.get(*n)).collect();
            let mut impostor = Vec::with_capacity(fused.len() * fused.len() / 2);
            for (i, a) in fused.iter().enumerate() {
                for b in &fused[i + 1..] {
                    impostor.push(dot_f32(a, b));
                }
            }
            let (mut genuine, mut weights) = (Vec::new(), Vec::new());
            for n in &chosen {
                if let Some(p) = self.names.get(n).and_then(|name| self.people.get(name)) {
                    let k = p.samples.len();
                    let w = 2.0 / (k * k.saturating_sub(1)).max(1) as f64;
                    for (i, (_, a)) in p.samples.iter().enumerate() {
                        for (_, b) in &p.samples[i + 1..] {
                            genuine.push(dot_f32(a, b));
                            weights.push(w);
                        }
                    }
                }
            }
            crate::decision::Calibration::from_scores(
                &self.model_id,
                &format!("site gallery: {} people", chosen.len()),
                &genuine,
                &weights,
                &mut impostor,
            )
        }))
    }

    /// The thresholds of `targets` for this gallery: the model's calibration
    /// ([`crate::decision::Calibration::for_model`]) refined by [`Self::site_calibration`],
    /// at [`Self::people`].
    pub fn thresholds(
        &self,
        targets: &crate::decision::FaceTargets,
    ) -> crate::decision::Thresholds {
        let model = crate::decision::Calibration::for_model(&self.model_id);
        crate::decision::Thresholds::compute(
            model.as_deref(),
            self.site_calibration(),
            targets,
            self.people(),
        )
    }

    fn person_match(&self, m: Match) -> PersonMatch {
        PersonMatch {
            person: self.names.get(&m.key).cloned().unwrap_or_default(),
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
            g.admit(&v[0], "ada", 0.5, 0.5).unwrap(),
            Admission::SamePerson { .. }
        ));
        assert!(matches!(
            g.admit(&v[1], "ada", 0.5, 0.5).unwrap(),
            Admission::Mismatch { .. }
        ));
        match g.admit(&v[0], "eve", 0.5, 0.5).unwrap() {
            Admission::Duplicate(m) => assert_eq!(m.person, "ada"),
            other => panic!("{other:?}"),
        }
        assert_eq!(g.admit(&v[2], "eve", 0.5, 0.5).unwrap(), Admission::New);
    }

    /// A chain of samples, each close to the last one, walks away from the person: held
    /// against the fused template (not the best single sample), the step that is close only
    /// to the newest sample is refused.
    #[test]
    fn a_chain_of_samples_each_close_to_the_last_is_held_to_the_whole() {
        let (dim, t) = (64, 0.5_f32);
        let step = t.acos() * 0.95;
        let v = unit_vectors(2, dim, 7);
        // An orthonormal pair (a, b): the chain turns from a toward b.
        let a = v[0].clone();
        let dot: f32 = v[1].iter().zip(&a).map(|(x, y)| x * y).sum();
        let b: Vec<f32> = v[1].iter().zip(&a).map(|(x, y)| x - dot * y).collect();
        let n = b.iter().map(|x| x * x).sum::<f32>().sqrt();
        let b: Vec<f32> = b.iter().map(|x| x / n).collect();
        let at = |angle: f32| -> Vec<f32> {
            a.iter()
                .zip(&b)
                .map(|(x, y)| x * angle.cos() + y * angle.sin())
                .collect()
        };
        let mut g = Gallery::new("m", dim);
        g.insert(1, "ada", "m", &a);
        assert!(matches!(
            g.admit(&at(step), "ada", t, t).unwrap(),
            Admission::SamePerson { .. }
        ));
        g.insert(2, "ada", "m", &at(step));
        // Within `t` of the newest sample, but not of the two as a whole.
        let next = at(2.0 * step);
        assert!(dot_f32(&next, &at(step)) >= t);
        assert!(matches!(
            g.admit(&next, "ada", t, t).unwrap(),
            Admission::Mismatch { .. }
        ));
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
    fn the_rotation_is_orthogonal_up_to_scale() {
        // Dot products survive the rotation (scaled by padded^ROUNDS, H·H = n·I), so the
        // codes' signs describe the templates' angles, whatever dimension is padded.
        for dim in [64, 100, 256] {
            let r = Rotation::new(dim);
            let v = unit_vectors(3, dim, 17);
            let scale = (r.padded as f32).powi(ROUNDS as i32);
            for (a, b) in [(0, 0), (0, 1), (1, 2)] {
                let rotated = dot_f32(&r.apply(&v[a]), &r.apply(&v[b])) / scale;
                assert!((rotated - cosine(&v[a], &v[b])).abs() < 1e-4, "{dim}");
            }
            // And it mixes: a template with one non-zero value has every code bit decided
            // by it, about half of them set.
            let mut spike = vec![0f32; dim];
            spike[dim / 3] = 1.0;
            let mut code = Vec::new();
            r.code(&spike, &mut code);
            let ones: u32 = code.iter().map(|w| w.count_ones()).sum();
            assert!(ones > r.padded as u32 / 4 && ones < r.padded as u32 * 3 / 4);
        }
    }

    #[test]
    fn the_estimate_is_the_quantised_query_dotted_with_the_signs() {
        let r = Rotation::new(256);
        let words = r.padded / 64;
        let gallery = unit_vectors(50, 256, 3);
        let query = &unit_vectors(1, 256, 4)[0];
        let planes = r.query_planes(query);
        let level = |j: usize| -> i32 {
            (0..QUERY_BITS)
                .map(|p| (((planes[p * words + j / 64] >> (j % 64)) & 1) as i32) << p)
                .sum()
        };
        // sum (2u_j - 15)(2b_j - 1) = 2 (2U - 15|b|) - 2 sum u_j + 15 P: the estimate plus
        // a constant of the query.
        let constant = 15 * r.padded as i32 - 2 * (0..r.padded).map(level).sum::<i32>();
        let mut est = vec![0; gallery.len()];
        let mut codes = Vec::new();
        for v in &gallery {
            r.code(v, &mut codes);
        }
        estimate_all(&codes, &planes, words, &mut est);
        for (i, code) in codes.chunks_exact(words).enumerate() {
            let direct: i32 = (0..r.padded)
                .map(|j| (2 * level(j) - 15) * (2 * ((code[j / 64] >> (j % 64)) & 1) as i32 - 1))
                .sum();
            assert_eq!(2 * est[i] + constant, direct);
        }
        // The query's levels follow its rotated coordinates (the top one is level 15).
        let y = r.apply(query);
        let top = (0..r.padded)
            .max_by(|&a, &b| y[a].total_cmp(&y[b]))
            .unwrap();
        assert_eq!(level(top), 15);
    }

    #[test]
    fn the_vector_estimates_are_the_scalar_ones() {
        // The AVX-512 kernel (where the CPU has it; the popcnt one otherwise) against the
        // portable loop, on an odd number of codes (the last one takes the scalar tail).
        let r = Rotation::new(256);
        let words = r.padded / 64;
        let mut codes = Vec::new();
        for v in unit_vectors(301, 256, 8) {
            r.code(&v, &mut codes);
        }
        for query in unit_vectors(5, 256, 9) {
            let planes = r.query_planes(&query);
            let mut scalar = vec![0; 301];
            estimate_all(&codes, &planes, words, &mut scalar);
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
                {
                    let mut fast = vec![0; 301];
                    // SAFETY: the CPU was just checked for both features.
                    unsafe { estimate_all_avx512_w4(&codes, &planes, &mut fast) };
                    assert_eq!(fast, scalar);
                }
                if std::arch::is_x86_feature_detected!("popcnt") {
                    let mut fast = vec![0; 301];
                    // SAFETY: the CPU was just checked for POPCNT.
                    unsafe { estimate_all_popcnt(&codes, &planes, words, &mut fast) };
                    assert_eq!(fast, scalar);
                }
            }
            // Not all equal: the estimates tell the codes apart.
            assert!(scalar.iter().any(|&e| e != scalar[0]));
        }
    }

    #[test]
    fn the_first_stage_keeps_the_best_k_and_every_tie_at_the_cut() {
        let est = [5, -3, 9, 5, 0, 9, 5, -7];
        assert_eq!(best_estimates(&est, 2), vec![2, 5]);
        // The third best is a three-way tie: all of it is kept.
        assert_eq!(best_estimates(&est, 3), vec![0, 2, 3, 5, 6]);
        assert_eq!(best_estimates(&est, 8), (0..8).collect::<Vec<_>>());
        assert_eq!(best_estimates(&est, 20), (0..8).collect::<Vec<_>>());
    }

    /// A unit vector at cosine `c` to unit `t`: `t` scaled plus a random direction
    /// orthogonal to it.
    fn at_cosine(t: &[f32], c: f32, seed: u64) -> Vec<f32> {
        let n = &unit_vectors(1, t.len(), seed)[0];
        let along = cosine(n, t);
        let ortho: Vec<f32> = n.iter().zip(t).map(|(x, y)| x - along * y).collect();
        let norm = cosine(&ortho, &ortho).sqrt();
        t.iter()
            .zip(&ortho)
            .map(|(a, o)| c * a + (1.0 - c * c).sqrt() * o / norm)
            .collect()
    }

    #[test]
    fn planted_matches_are_found_as_the_exhaustive_scan_finds_them() {
        // 100k random templates (the bench's size), each query planted at a cosine from the
        // match threshold up to a near-duplicate of one member, some with a second and third
        // sample of the same "person" near it. The two-stage search must answer as the
        // exhaustive scan: the same best key and score, to the bit, and the same matches
        // above the threshold among the top 3 (below it, ranks are not promised).
        let n = 100_000;
        let gallery = unit_vectors(n, 256, 7);
        let mut index = TemplateIndex::new(256);
        for (i, v) in gallery.iter().enumerate() {
            index.insert(i as u64, v).unwrap();
        }
        let mut extra = n as u64;
        let mut worst_rank = 0;
        for q in 0..120u64 {
            let target = (q as usize * 7_919) % n;
            // Most queries sit in the hard band just above the threshold.
            let c = if q % 4 == 0 {
                0.45 + 0.5 * (q as f32 / 120.0)
            } else {
                DEFAULT_MATCH_THRESHOLD + 0.08 * (q as f32 / 120.0)
            };
            if q % 3 == 0 {
                for s in 0..2 {
                    let sample = at_cosine(&gallery[target], 0.9 - 0.1 * s as f32, 1_000 + q);
                    index.insert(extra, &sample).unwrap();
                    extra += 1;
                }
            }
            let query = at_cosine(&gallery[target], c, 5_000 + q);
            let above = |found: Vec<Match>| -> Vec<Match> {
                let mut found = found;
                found.retain(|m| m.score >= DEFAULT_MATCH_THRESHOLD);
                found
            };
            let exact = index.search_exact(&query, 3).unwrap();
            let fast = index.search(&query, 3).unwrap();
            assert!(exact[0].score >= DEFAULT_MATCH_THRESHOLD - 1e-3);
            assert_eq!(fast[0], exact[0], "query {q} at {c}");
            assert_eq!(above(fast), above(exact), "query {q} at {c}");
            worst_rank = worst_rank.max(index.first_stage_rank(&query).unwrap().unwrap());
        }
        // The margin: how far down the estimates the worst planted match was.
        eprintln!("worst first-stage rank of a planted match: {worst_rank} of {CANDIDATES}");
        assert!(worst_rank < CANDIDATES);
    }

    #[test]
    fn small_galleries_and_odd_dimensions_search_as_the_exhaustive_scan() {
        // Just past the exhaustive size, a dimension that is no power of two (padded), and
        // queries asking for more than a few.
        let n = EXHAUSTIVE_UP_TO + 100;
        let gallery = unit_vectors(n, 100, 23);
        let mut index = TemplateIndex::new(100);
        for (i, v) in gallery.iter().enumerate() {
            index.insert(i as u64, v).unwrap();
        }
        for q in 0..20u64 {
            let query = at_cosine(&gallery[(q as usize * 131) % n], 0.5, q + 1);
            assert_eq!(
                index.search(&query, 10).unwrap(),
                index.search_exact(&query, 10).unwrap()
            );
        }
        assert!(index.search(&gallery[0], 0).unwrap().is_empty());
        assert_eq!(
            index.search(&gallery[0][..5], 1).unwrap_err().code(),
            "DIMENSION_MISMATCH"
        );
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
    fn a_gallery_scores_a_person_by_their_fused_template() {
        let vs = unit_vectors(6, 16, 5);
        let mut g = Gallery::new("m", 16);
        for (i, v) in vs.iter().enumerate() {
            g.insert(i as u64, if i < 4 { "ann" } else { "bob" }, "m", v);
        }
        assert_eq!((g.len(), g.people()), (6, 2));
        // 1:1 against ann: the cosine with the normalised mean of her four samples.
        let fused = crate::decision::fuse(vs[..4].iter().map(Vec::as_slice)).unwrap();
        let m = g.best(&vs[2], Some("ann")).unwrap().unwrap();
        assert_eq!(m.person, "ann");
        assert!((m.score - cosine(&fused, &vs[2])).abs() < 1e-5);
        assert_eq!(g.fused("ann").unwrap(), fused.as_slice());
        // 1:N ranks people, not samples: the top two are two people.
        let top = g.top_two(&vs[5]).unwrap();
        assert_eq!(top[0].person, "bob");
        assert_eq!(top[1].person, "ann");
        let other = g.best_other(&vs[0], "ann").unwrap().unwrap();
        assert_eq!(other.person, "bob");
        // Replacing a key moves the template to its new owner; removing it forgets it.
        assert!(g.insert(5, "ann", "m", &vs[5]));
        assert_eq!(g.people(), 2);
        assert!(g.remove(4));
        assert!(!g.contains("bob"));
        assert_eq!(g.people(), 1);
        assert_eq!(g.best_other(&vs[0], "ann").unwrap(), None);
        assert!(!g.remove(4));
    }
}
