//! Face decisions as error rates: the one rule the server's verify-face, the kiosk's offline
//! cache and `kiosk eval identify` decide by.
//!
//! A flow states targets, not scores: `target_fmr` for 1:1 (a claimed person; NIST SP
//! 800-63B-4 asks FMR <= 1e-4) and `target_fpir` for 1:N (a stranger taken for anyone
//! enrolled). [`Calibration`] turns a rate into a cosine threshold from the impostor scores
//! of the embedding model, measured once on a large public set and shipped with the model
//! (`models/calibration/`), and refined on site from the project's own gallery
//! ([`crate::Gallery::site_calibration`]): the stricter of the two wherever the site's data
//! can measure the rate.
//!
//! 1:N over `N` people compares a probe with `N` fused templates (one per person, the mean of
//! their samples), so its threshold is the one whose per-comparison FMR is `target_fpir / N`:
//! by the union bound a stranger's chance of reaching any of the N is at most N x FMR, so the
//! FPIR holds whatever the gallery size, however the impostor scores correlate. The price is
//! a threshold that rises with N, and with it the FNIR: when no threshold meets `target_fpir`
//! with the FNIR under `fnir_ceiling`, 1:N is off ([`Availability::Off`]) and the kiosk asks
//! who the person is (a claim, then 1:1). Two people close to the probe ([`TOP2_MARGIN`]) is
//! no decision either ([`FaceDecision::Ambiguous`]): ask who they are.
//!
//! Rates are fractions in `0..=1`; scores are cosines in `-1..=1`, accepted when
//! `score >= threshold` (the convention of [`crate::metrics`]).

use std::sync::{Arc, OnceLock, RwLock};

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::matcher::Gallery;
use crate::metrics::{RULE_OF_THREE, wilson_interval};

/// 1:1's default target (NIST SP 800-63B-4, 5.2.3: biometric FMR of 1 in 10,000 or lower).
pub const DEFAULT_TARGET_FMR: f64 = 1e-4;
/// 1:N's default target: one stranger in 1,000 attempts taken for someone enrolled.
pub const DEFAULT_TARGET_FPIR: f64 = 1e-3;
/// Above this expected FNIR at the threshold that holds `target_fpir`, 1:N is off: a site
/// where one enrolled person in five would be turned away is better served by a claim + 1:1.
pub const DEFAULT_FNIR_CEILING: f64 = 0.2;
/// 1:N names nobody when the runner-up person is this close to the best (cosine): two
/// people that near the probe are told apart by noise. A fixed gap, not a fitted one; `kiosk
/// eval identify` reports how many mated probes it sends to a claim.
pub const TOP2_MARGIN: f32 = 0.03;
/// The fewest genuine pairs (two samples of one person) before a site's own genuine scores
/// replace the shipped ones in the FNIR estimate.
pub const SITE_MIN_GENUINE: usize = 50;
/// A site calibration uses at most this many people (about 2 M impostor pairs of fused
/// templates, a fraction of a second): enough to measure FMR down to ~1.5e-6.
pub const SITE_MAX_PEOPLE: usize = 2000;

/// Grid of the impostor tail: rates `10^(-j / GRID_PER_DECADE)`, from 0.5 down.
const GRID_PER_DECADE: f64 = 20.0;

/// The impostor and genuine score distributions of one embedding model, as far as they matter
/// for thresholds: the impostor upper tail on a log grid of rates, and the genuine CDF.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Calibration {
    /// The embedder's model id ([`crate::EMBEDDER_MODEL_ID`]).
    pub model_id: String,
    /// How it was made (data, command, date).
    pub made_with: String,
    pub impostor: ImpostorTail,
    pub genuine: GenuineCdf,
}

/// The impostor scores' upper tail.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImpostorTail {
    /// Impostor comparisons measured.
    pub comparisons: u64,
    /// `[rate, threshold]`, rates falling and thresholds rising: at `threshold` the 95 %
    /// upper (Wilson) bound of the observed FMR is at most `rate`. Ends at the lowest rate
    /// the comparisons can bound (about `3 / comparisons`).
    pub points: Vec<[f64; 2]>,
    /// `log10 FMR = intercept - slope x threshold`, least squares over the points at rates
    /// <= 1e-3: used below the last point. An exponential tail falls slower than the
    /// near-Gaussian tail of cosine scores, so the extrapolation errs high (safe).
    pub tail: Option<TailFit>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct TailFit {
    pub intercept: f64,
    pub slope: f64,
}

/// FNMR (genuine scores below `t`) at `t = -1.0, -0.99, …, 1.0`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GenuineCdf {
    pub comparisons: u64,
    pub fnmr: Vec<f64>,
}

const CDF_STEPS: usize = 200;

/// A threshold for a rate, and whether data measured it or the tail fit extrapolated it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RatedThreshold {
    pub threshold: f32,
    pub extrapolated: bool,
}

/// The calibrations shipped with the models, one JSON file per embedder.
const SHIPPED: &[&str] = &[include_str!(
    "../../../models/calibration/face_reidentification_retail_0095.json"
)];

/// The calibrations known to this process: the shipped ones, and any registered since.
fn registry() -> &'static RwLock<Vec<Arc<Calibration>>> {
    static REGISTRY: OnceLock<RwLock<Vec<Arc<Calibration>>>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        RwLock::new(
            SHIPPED
                .iter()
                .filter_map(|s| serde_json::from_str::<Calibration>(s).ok())
                .filter(|c| c.impostor.comparisons > 0)
                .map(Arc::new)
                .collect(),
        )
    })
}

impl Calibration {
    /// The calibration of `model_id`: shipped with the models, or registered
    /// ([`Self::register`]). None: no rate can be promised for that model.
    pub fn for_model(model_id: &str) -> Option<Arc<Calibration>> {
        registry()
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|c| c.model_id == model_id)
            .cloned()
    }

    /// Makes `self` the calibration of its model in this process (another embedder dropped
    /// in with its own measured calibration; test engines).
    pub fn register(self) {
        let mut r = registry().write().unwrap_or_else(|e| e.into_inner());
        r.retain(|c| c.model_id != self.model_id);
        r.push(Arc::new(self));
    }

    /// From raw scores (NaN counts as the lowest score). `impostor` is sorted in place.
    /// `genuine_weights`, one per genuine score or empty for equal weights, lets each person
    /// count once in the FNMR however many pairs their photos make (a set where one person
    /// has 500 photos would otherwise be that person's FNMR).
    pub fn from_scores(
        model_id: &str,
        made_with: &str,
        genuine: &[f32],
        genuine_weights: &[f64],
        impostor: &mut [f32],
    ) -> Self {
        for s in impostor.iter_mut() {
            if s.is_nan() {
                *s = f32::NEG_INFINITY;
            }
        }
        impostor.sort_unstable_by(|a, b| b.total_cmp(a));
        Self {
            model_id: model_id.to_string(),
            made_with: made_with.to_string(),
            impostor: ImpostorTail::of_sorted(impostor),
            genuine: GenuineCdf::of(genuine, genuine_weights),
        }
    }

    /// The lowest threshold whose FMR is at most `rate`.
    pub fn threshold_for_fmr(&self, rate: f64) -> RatedThreshold {
        self.impostor.threshold_for(rate)
    }

    /// Expected FMR at `threshold` (log-linear between the grid's points, the tail fit beyond).
    pub fn fmr_at(&self, threshold: f32) -> f64 {
        self.impostor.rate_at(threshold)
    }

    /// Expected FNMR at `threshold`.
    pub fn fnmr_at(&self, threshold: f32) -> f64 {
        self.genuine.at(threshold)
    }
}

impl ImpostorTail {
    /// From impostor scores sorted high to low.
    fn of_sorted(desc: &[f32]) -> Self {
        let n = desc.len();
        let mut points = Vec::new();
        let mut j = 6.0; // 10^-0.3 = 0.5
        loop {
            let rate = 10f64.powf(-j / GRID_PER_DECADE);
            // The most impostors that may pass with the upper bound still at `rate`.
            if n == 0 || wilson_interval(0, n).1 > rate {
                break;
            }
            let (mut lo, mut hi) = (0usize, ((rate * n as f64) as usize).min(n - 1));
            while lo < hi {
                let mid = (lo + hi).div_ceil(2);
                if wilson_interval(mid, n).1 <= rate {
                    lo = mid;
                } else {
                    hi = mid - 1;
                }
            }
            let t = desc[lo].next_up();
            points.push([rate, f64::from(t)]);
            j += 1.0;
        }
        let tail = fit_tail(&points);
        Self {
            comparisons: n as u64,
            points,
            tail,
        }
    }

    fn threshold_for(&self, rate: f64) -> RatedThreshold {
        // The point with the largest grid rate still <= `rate`: safe by up to one step.
        if let Some(p) = self.points.iter().find(|p| p[0] <= rate * (1.0 + 1e-9)) {
            return RatedThreshold {
                threshold: p[1] as f32,
                extrapolated: false,
            };
        }
        // Below what was measured: the tail fit, never under the last measured threshold.
        let floor = self.points.last().map_or(-1.0, |p| p[1]);
        let t = match self.tail {
            Some(f) if f.slope > 0.0 => ((f.intercept - rate.log10()) / f.slope).max(floor),
            // Nothing to extrapolate from: accept nothing.
            _ => 1.0,
        };
        RatedThreshold {
            threshold: (t.min(1.0)) as f32,
            extrapolated: true,
        }
    }

    fn rate_at(&self, threshold: f32) -> f64 {
        let t = f64::from(threshold);
        // The last point at or under `t` bounds the FMR there (thresholds rise as rates fall;
        // on a run of equal thresholds, its lowest rate).
        let at = self.points.partition_point(|p| p[1] <= t);
        let Some(&[r0, t0]) = at.checked_sub(1).and_then(|i| self.points.get(i)) else {
            // Below the first point (FMR 0.5): say 1, the safe side.
            return 1.0;
        };
        match self.points.get(at) {
            // Between two points: log-linear.
            Some(&[r1, t1]) if t1 > t0 => {
                let f = (t - t0) / (t1 - t0);
                10f64.powf(r0.log10() + f * (r1.log10() - r0.log10()))
            }
            Some(_) => r0,
            // Past the last: the tail fit, never above the last measured rate.
            None => match self.tail {
                Some(f) if f.slope > 0.0 => 10f64.powf(f.intercept - f.slope * t).min(r0),
                _ => r0,
            },
        }
    }
}

/// Least squares of log10(rate) on threshold over the tail (rates <= 1e-3, or the last ten
/// points when fewer than three are that low).
fn fit_tail(points: &[[f64; 2]]) -> Option<TailFit> {
    let mut tail: Vec<&[f64; 2]> = points.iter().filter(|p| p[0] <= 1e-3).collect();
    if tail.len() < 3 {
        tail = points.iter().rev().take(10).collect();
    }
    if tail.len() < 3 {
        return None;
    }
    let n = tail.len() as f64;
    let (sx, sy) = tail
        .iter()
        .fold((0.0, 0.0), |(a, b), p| (a + p[1], b + p[0].log10()));
    let (mx, my) = (sx / n, sy / n);
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for p in &tail {
        sxy += (p[1] - mx) * (p[0].log10() - my);
        sxx += (p[1] - mx) * (p[1] - mx);
    }
    if sxx <= 0.0 {
        return None;
    }
    let slope = -sxy / sxx;
    Some(TailFit {
        intercept: my + slope * mx,
        slope,
    })
}

impl GenuineCdf {
    fn of(genuine: &[f32], weights: &[f64]) -> Self {
        let weight = |i: usize| {
            if weights.len() == genuine.len() {
                weights[i].max(0.0)
            } else {
                1.0
            }
        };
        let mut g: Vec<(f32, f64)> = genuine
            .iter()
            .enumerate()
            .map(|(i, &s)| (if s.is_nan() { f32::NEG_INFINITY } else { s }, weight(i)))
            .collect();
        g.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        // Cumulative weight below each score.
        let mut below = Vec::with_capacity(g.len() + 1);
        below.push(0.0);
        for (_, w) in &g {
            below.push(below.last().copied().unwrap_or(0.0) + w);
        }
        let total = below.last().copied().filter(|&t| t > 0.0).unwrap_or(1.0);
        let fnmr = (0..=CDF_STEPS)
            .map(|i| {
                let t = -1.0 + 2.0 * i as f32 / CDF_STEPS as f32;
                below[g.partition_point(|&(s, _)| s < t)] / total
            })
            .collect();
        Self {
            comparisons: genuine.len() as u64,
            fnmr,
        }
    }

    /// Linear between the grid's steps; 1 when no genuine pair was measured.
    fn at(&self, threshold: f32) -> f64 {
        if self.comparisons == 0 || self.fnmr.len() != CDF_STEPS + 1 {
            return 1.0;
        }
        let x =
            ((f64::from(threshold) + 1.0) / 2.0 * CDF_STEPS as f64).clamp(0.0, CDF_STEPS as f64);
        let i = (x.floor() as usize).min(CDF_STEPS - 1);
        let f = x - i as f64;
        self.fnmr[i] * (1.0 - f) + self.fnmr[i + 1] * f
    }
}

/// What a login flow asks of face decisions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FaceTargets {
    /// 1:1 false match rate.
    pub target_fmr: f64,
    /// 1:N false positive identification rate.
    pub target_fpir: f64,
    /// The highest expected FNIR at which 1:N stays on.
    pub fnir_ceiling: f64,
    /// An expert's raw cosine threshold for both 1:1 and 1:N, in place of the targets (its
    /// rates are still computed and shown; 1:N still goes off when they miss the targets).
    pub threshold_override: Option<f32>,
}

impl Default for FaceTargets {
    fn default() -> Self {
        Self {
            target_fmr: DEFAULT_TARGET_FMR,
            target_fpir: DEFAULT_TARGET_FPIR,
            fnir_ceiling: DEFAULT_FNIR_CEILING,
            threshold_override: None,
        }
    }
}

/// Whether 1:N may decide for a gallery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "reason")]
pub enum Availability {
    On,
    Off(OffReason),
}

/// Why 1:N is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OffReason {
    /// The threshold that holds `target_fpir` turns away more than `fnir_ceiling`.
    FnirAboveCeiling,
    /// An expert threshold whose expected FPIR is above `target_fpir`.
    FpirAboveTarget,
    /// No calibration for this model: no rate can be promised.
    Uncalibrated,
}

/// The thresholds of one flow for one gallery, with the rates they give.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    /// Enrolled people (fused templates) a 1:N probe is compared with.
    pub people: usize,
    /// 1:1 threshold and its expected FMR and FNMR.
    pub verify: f32,
    pub verify_fmr: f64,
    pub verify_fnmr: f64,
    /// 1:N threshold (never below `verify`), its per-comparison FMR, expected FPIR
    /// (`people x` that, at most 1) and FNIR.
    pub identify: f32,
    pub identify_fmr: f64,
    pub identify_fpir: f64,
    pub identify_fnir: f64,
    pub identify_availability: Availability,
    /// Whether a threshold came from the tail fit rather than measured scores.
    pub extrapolated: bool,
    /// Whether the site's own gallery took part (a stricter impostor tail, its genuine pairs).
    pub site_refined: bool,
}

impl Thresholds {
    pub fn identify_on(&self) -> bool {
        self.identify_availability == Availability::On
    }

    /// From the shipped calibration of `model`, refined by `site` (the gallery's own, see
    /// [`Gallery::site_calibration`]) for a gallery of `people`. Without a calibration for the
    /// model nothing can be promised: the thresholds are 1.0 (nothing matches) and 1:N is off,
    /// unless an expert threshold is given.
    pub fn compute(
        model: Option<&Calibration>,
        site: Option<&Calibration>,
        targets: &FaceTargets,
        people: usize,
    ) -> Self {
        let Some(cal) = model else {
            // An expert threshold is the expert's word; without one, nothing matches.
            let t = targets.threshold_override.unwrap_or(1.0);
            return Self {
                people,
                verify: t,
                verify_fmr: f64::NAN,
                verify_fnmr: f64::NAN,
                identify: t,
                identify_fmr: f64::NAN,
                identify_fpir: f64::NAN,
                identify_fnir: f64::NAN,
                identify_availability: match targets.threshold_override {
                    Some(_) => Availability::On,
                    None => Availability::Off(OffReason::Uncalibrated),
                },
                extrapolated: false,
                site_refined: false,
            };
        };
        let site_refines = site.is_some_and(|s| s.impostor.comparisons > 0);
        // The stricter of model and site wherever the site measured the rate.
        let threshold = |rate: f64| -> RatedThreshold {
            let m = cal.threshold_for_fmr(rate);
            match site.map(|s| s.threshold_for_fmr(rate)) {
                Some(s) if !s.extrapolated && s.threshold > m.threshold => s,
                _ => m,
            }
        };
        let fmr_at = |t: f32| -> f64 {
            let m = cal.fmr_at(t);
            match site {
                // The site's rate where it measured that far, else the model's.
                Some(s)
                    if s.impostor
                        .points
                        .last()
                        .is_some_and(|p| p[1] >= f64::from(t)) =>
                {
                    m.max(s.fmr_at(t))
                }
                _ => m,
            }
        };
        let genuine = match site {
            Some(s) if s.genuine.comparisons >= SITE_MIN_GENUINE as u64 => s,
            _ => cal,
        };
        let n = people.max(1);
        let (verify, identify, extrapolated) = match targets.threshold_override {
            Some(t) => (t, t, false),
            None => {
                let v = threshold(targets.target_fmr);
                let i = threshold(targets.target_fpir / n as f64);
                let i_t = i.threshold.max(v.threshold);
                (v.threshold, i_t, v.extrapolated || i.extrapolated)
            }
        };
        let identify_fmr = fmr_at(identify);
        let identify_fpir = (identify_fmr * n as f64).min(1.0);
        let identify_fnir = genuine.fnmr_at(identify);
        let identify_availability = if identify_fnir > targets.fnir_ceiling {
            Availability::Off(OffReason::FnirAboveCeiling)
        } else if targets.threshold_override.is_some() && identify_fpir > targets.target_fpir {
            Availability::Off(OffReason::FpirAboveTarget)
        } else {
            Availability::On
        };
        Self {
            people,
            verify,
            verify_fmr: fmr_at(verify),
            verify_fnmr: genuine.fnmr_at(verify),
            identify,
            identify_fmr,
            identify_fpir,
            identify_fnir,
            identify_availability,
            extrapolated,
            site_refined: site_refines,
        }
    }
}

/// The most people 1:N can hold `targets` for (FNIR under the ceiling), up to 10 million:
/// `None` when it cannot hold them even for one. The warning before a gallery outgrows 1:N.
pub fn identify_capacity(
    model: Option<&Calibration>,
    site: Option<&Calibration>,
    targets: &FaceTargets,
) -> Option<usize> {
    const MOST: usize = 10_000_000;
    let on = |n: usize| Thresholds::compute(model, site, targets, n).identify_on();
    if !on(1) {
        return None;
    }
    if on(MOST) {
        return Some(MOST);
    }
    // The threshold rises with the gallery and the FNIR with it: one boundary.
    let (mut lo, mut hi) = (1, MOST);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if on(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(lo)
}

/// A face decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum FaceDecision {
    /// `person` at `score` (>= the threshold, and clear of the runner-up in 1:N).
    Match { person: String, score: f32 },
    /// Below the threshold; `score` is the best one (1:1: the claimed person's). A 1:N
    /// caller should not show it: a score against an unnamed gallery is an oracle.
    NoMatch { score: Option<f32> },
    /// 1:N: two people too close to the probe to tell apart; ask who they are.
    Ambiguous { score: f32, runner_up: f32 },
    /// 1:N is off for this gallery ([`Thresholds::identify_availability`]): ask who they are.
    IdentifyOff,
    /// Nobody (1:N) or not the claimed person (1:1) is enrolled with this model.
    NotEnrolled,
}

impl FaceDecision {
    /// The stable code of a decision that is not a match.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            Self::Match { .. } => None,
            Self::NoMatch { .. } => Some("NO_MATCH"),
            Self::Ambiguous { .. } => Some("AMBIGUOUS_MATCH"),
            Self::IdentifyOff => Some("IDENTIFICATION_UNAVAILABLE"),
            Self::NotEnrolled => Some("NOT_ENROLLED"),
        }
    }
}

/// 1:1: `probe` against `person`'s fused template at `t.verify`.
///
/// Errors: `DIMENSION_MISMATCH` for a probe of another length.
pub fn verify(g: &Gallery, probe: &[f32], person: &str, t: &Thresholds) -> Result<FaceDecision> {
    Ok(match g.best(probe, Some(person))? {
        None => FaceDecision::NotEnrolled,
        Some(m) if m.score >= t.verify => FaceDecision::Match {
            person: m.person,
            score: m.score,
        },
        Some(m) => FaceDecision::NoMatch {
            score: Some(m.score),
        },
    })
}

/// Open-set 1:N: the best person at `t.identify`, when 1:N is on and the runner-up is neither
/// above the threshold nor within [`TOP2_MARGIN`] of the best.
///
/// Errors: `DIMENSION_MISMATCH` for a probe of another length.
pub fn identify(g: &Gallery, probe: &[f32], t: &Thresholds) -> Result<FaceDecision> {
    if g.is_empty() {
        g.top_two(probe)?; // the length check
        return Ok(FaceDecision::NotEnrolled);
    }
    if !t.identify_on() {
        return Ok(FaceDecision::IdentifyOff);
    }
    let top = g.top_two(probe)?;
    let Some(best) = top.first() else {
        return Ok(FaceDecision::NotEnrolled);
    };
    if best.score < t.identify {
        return Ok(FaceDecision::NoMatch {
            score: Some(best.score),
        });
    }
    if let Some(second) = top.get(1)
        && (second.score >= t.identify || best.score - second.score < TOP2_MARGIN)
    {
        return Ok(FaceDecision::Ambiguous {
            score: best.score,
            runner_up: second.score,
        });
    }
    Ok(FaceDecision::Match {
        person: best.person.clone(),
        score: best.score,
    })
}

/// The mean of several embeddings of one face (a burst's good frames), L2-normalised: one
/// probe whose noise is averaged out. `None` for no embeddings or mixed lengths.
pub fn fuse<'a>(embeddings: impl IntoIterator<Item = &'a [f32]>) -> Option<Vec<f32>> {
    let mut sum: Option<Vec<f32>> = None;
    for e in embeddings {
        match &mut sum {
            None => sum = Some(e.to_vec()),
            Some(s) if s.len() == e.len() => s.iter_mut().zip(e).for_each(|(a, b)| *a += b),
            Some(_) => return None,
        }
    }
    let mut s = sum?;
    let norm = s.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        s.iter_mut().for_each(|x| *x /= norm);
    }
    Some(s)
}

/// The impostor comparisons `n` must reach for `rate` to be measured (the rule of three).
pub fn measurable_with(rate: f64) -> u64 {
    (RULE_OF_THREE / rate).ceil() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A calibration from synthetic scores: impostors uniform-ish in a Gaussian-like bump
    /// around 0, genuine around 0.7.
    fn synthetic(n_imp: usize) -> Calibration {
        let mut s = 0x1234_5678u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % 1_000_000) as f32 / 1_000_000.0
        };
        // Sum of 4 uniforms, centred: a bell with a tail, in about -0.4..0.4.
        let mut imp: Vec<f32> = (0..n_imp)
            .map(|_| (next() + next() + next() + next() - 2.0) * 0.2)
            .collect();
        let genuine: Vec<f32> = (0..2000).map(|_| 0.5 + 0.4 * next()).collect();
        Calibration::from_scores("m", "test", &genuine, &[], &mut imp)
    }

    #[test]
    fn a_lower_rate_asks_a_higher_threshold_and_the_bound_holds() {
        let mut imp: Vec<f32> = (0..100_000).map(|i| i as f32 / 100_000.0).collect();
        let c = Calibration::from_scores("m", "t", &[0.9], &[], &mut imp.clone());
        let mut last = f32::MIN;
        for rate in [1e-1, 1e-2, 1e-3, 1e-4] {
            let t = c.threshold_for_fmr(rate);
            assert!(!t.extrapolated, "{rate}");
            assert!(t.threshold > last);
            last = t.threshold;
            // The observed FMR there is at most the rate (the bound is stricter still).
            imp.sort_by(f32::total_cmp);
            let passed = imp.iter().filter(|&&s| s >= t.threshold).count();
            assert!((passed as f64) / 100_000.0 <= rate, "{rate}: {passed}");
        }
        // 3e-5 is at the edge of 100k comparisons; 1e-6 is past it: extrapolated, higher.
        let far = c.threshold_for_fmr(1e-6);
        assert!(far.extrapolated && far.threshold >= last);
    }

    #[test]
    fn the_threshold_rises_with_the_gallery_and_fpir_stays_at_its_target() {
        let c = synthetic(400_000);
        let targets = FaceTargets::default();
        let mut last = f32::MIN;
        for people in [1, 10, 100, 1_000, 10_000] {
            let t = Thresholds::compute(Some(&c), None, &targets, people);
            assert!(t.identify >= t.verify);
            assert!(t.identify >= last, "{people}");
            assert!(
                t.identify_fpir <= targets.target_fpir * 1.0001,
                "{people}: {t:?}"
            );
            last = t.identify;
        }
        assert!(last > Thresholds::compute(Some(&c), None, &targets, 1).identify);
    }

    #[test]
    fn one_to_n_goes_off_when_the_fnir_passes_the_ceiling() {
        let c = synthetic(400_000);
        let strict = FaceTargets {
            target_fpir: 1e-9,
            ..FaceTargets::default()
        };
        let t = Thresholds::compute(Some(&c), None, &strict, 100_000);
        assert_eq!(
            t.identify_availability,
            Availability::Off(OffReason::FnirAboveCeiling)
        );
        let lax = Thresholds::compute(Some(&c), None, &FaceTargets::default(), 10);
        assert!(lax.identify_on(), "{lax:?}");
        // The capacity is where it turns off.
        let cap = identify_capacity(Some(&c), None, &strict).unwrap_or(0);
        assert!(cap < 100_000);
        let cap = identify_capacity(Some(&c), None, &FaceTargets::default()).unwrap();
        assert!(Thresholds::compute(Some(&c), None, &FaceTargets::default(), cap).identify_on());
        if cap < 10_000_000 {
            assert!(
                !Thresholds::compute(Some(&c), None, &FaceTargets::default(), cap + 1)
                    .identify_on()
            );
        }
        // No calibration: nothing promised, 1:N off.
        let none = Thresholds::compute(None, None, &FaceTargets::default(), 10);
        assert!(!none.identify_on() && none.verify == 1.0);
        // An expert threshold too low for the target FPIR is refused for 1:N.
        let low = FaceTargets {
            threshold_override: Some(0.0),
            ..FaceTargets::default()
        };
        let t = Thresholds::compute(Some(&c), None, &low, 1000);
        assert_eq!(t.verify, 0.0);
        assert_eq!(
            t.identify_availability,
            Availability::Off(OffReason::FpirAboveTarget)
        );
    }

    #[test]
    fn a_site_with_closer_impostors_raises_the_threshold_never_lowers_it() {
        let c = synthetic(400_000);
        let targets = FaceTargets::default();
        let base = Thresholds::compute(Some(&c), None, &targets, 100);
        // A site whose impostors score 0.15 higher (look-alike people, one camera).
        let mut imp: Vec<f32> = (0..200_000)
            .map(|i| 0.15 + (i as f32 / 200_000.0 - 0.5) * 0.6)
            .collect();
        let site = Calibration::from_scores("m", "site", &[], &[], &mut imp);
        let t = Thresholds::compute(Some(&c), Some(&site), &targets, 100);
        assert!(t.verify > base.verify && t.site_refined);
        // An easier site (impostors far lower) changes nothing.
        let mut easy: Vec<f32> = (0..200_000).map(|i| -0.5 + i as f32 / 2e6).collect();
        let easy = Calibration::from_scores("m", "site", &[], &[], &mut easy);
        let t = Thresholds::compute(Some(&c), Some(&easy), &targets, 100);
        assert_eq!((t.verify, t.identify), (base.verify, base.identify));
    }

    fn at(v: &[f32], u: &[f32], c: f32) -> Vec<f32> {
        // c·v + sqrt(1-c²)·(u orthogonalised against v), v and u unit.
        let d: f32 = v.iter().zip(u).map(|(a, b)| a * b).sum();
        let o: Vec<f32> = u.iter().zip(v).map(|(a, b)| a - d * b).collect();
        let n = o.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter()
            .zip(&o)
            .map(|(a, b)| c * a + (1.0 - c * c).sqrt() * b / n)
            .collect()
    }

    fn basis(dim: usize, i: usize) -> Vec<f32> {
        let mut v = vec![0.0; dim];
        v[i] = 1.0;
        v
    }

    fn fixed(verify: f32, identify: f32) -> Thresholds {
        let mut t = Thresholds::compute(None, None, &FaceTargets::default(), 2);
        t.verify = verify;
        t.identify = identify;
        t.identify_availability = Availability::On;
        t
    }

    #[test]
    fn the_top_two_margin_names_nobody_when_two_people_are_close() {
        let dim = 8;
        let (a, b, c) = (basis(dim, 0), basis(dim, 1), basis(dim, 2));
        let mut g = Gallery::new("m", dim);
        g.insert(1, "ann", "m", &a);
        g.insert(2, "bob", "m", &b);
        g.insert(3, "cat", "m", &c);
        let t = fixed(0.5, 0.6);
        // Between ann and bob, both at about 0.7: ambiguous.
        let mid = fuse([a.as_slice(), b.as_slice()]).unwrap();
        match identify(&g, &mid, &t).unwrap() {
            FaceDecision::Ambiguous { score, runner_up } => {
                assert!(score >= 0.6 && runner_up >= 0.6)
            }
            other => panic!("{other:?}"),
        }
        // Near ann, bob far: ann.
        let near = at(&a, &b, 0.9);
        assert!(
            matches!(identify(&g, &near, &t).unwrap(), FaceDecision::Match { ref person, .. } if person == "ann")
        );
        // Ann at 0.70, bob at 0.69: within the margin though bob is under the threshold.
        let close = [0.70, 0.69, 0.0, 0.1, 0.0, 0.0, 0.0, 0.0f32];
        let n = close.iter().map(|x: &f32| x * x).sum::<f32>().sqrt();
        let close: Vec<f32> = close.iter().map(|x| x / n).collect();
        let t = fixed(0.5, 0.69);
        assert!(matches!(
            identify(&g, &close, &t).unwrap(),
            FaceDecision::Ambiguous { .. }
        ));
        // Off: nobody is named, whatever the scores.
        let mut off = t;
        off.identify_availability = Availability::Off(OffReason::FnirAboveCeiling);
        assert_eq!(identify(&g, &a, &off).unwrap(), FaceDecision::IdentifyOff);
        // 1:1 still decides when 1:N is off.
        assert!(matches!(
            verify(&g, &a, "ann", &off).unwrap(),
            FaceDecision::Match { .. }
        ));
        assert_eq!(
            verify(&g, &a, "zed", &off).unwrap(),
            FaceDecision::NotEnrolled
        );
        assert!(matches!(
            verify(&g, &b, "ann", &off).unwrap(),
            FaceDecision::NoMatch { .. }
        ));
    }

    #[test]
    fn fused_frames_average_out_their_noise() {
        let dim = 64;
        let truth = basis(dim, 0);
        // Three frames, each off by noise in a different direction: each alone at 0.8, the
        // fused probe closer to the face than any one of them.
        let frames: Vec<Vec<f32>> = (1..4).map(|i| at(&truth, &basis(dim, i), 0.8)).collect();
        let fused = fuse(frames.iter().map(Vec::as_slice)).unwrap();
        let score = |v: &[f32]| v.iter().zip(&truth).map(|(a, b)| a * b).sum::<f32>();
        assert!(frames.iter().all(|f| (score(f) - 0.8).abs() < 1e-4));
        assert!(score(&fused) > 0.9, "{}", score(&fused));
        assert!((fused.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-4);
        assert!(fuse(std::iter::empty::<&[f32]>()).is_none());
        assert!(fuse([truth.as_slice(), &truth[..3]]).is_none());
    }

    #[test]
    fn each_person_counts_once_in_the_fnmr() {
        // One person with 9 pairs all at 0.9, three with one pair at 0.2: per pair, 25% are
        // under 0.5; per person, 75%.
        let mut genuine = vec![0.9f32; 9];
        genuine.extend([0.2, 0.2, 0.2]);
        let mut weights = vec![1.0 / 9.0; 9];
        weights.extend([1.0, 1.0, 1.0]);
        let mut imp = vec![0.0f32; 10];
        let per_pair = Calibration::from_scores("m", "t", &genuine, &[], &mut imp.clone());
        let per_person = Calibration::from_scores("m", "t", &genuine, &weights, &mut imp);
        assert!((per_pair.fnmr_at(0.5) - 0.25).abs() < 1e-9);
        assert!((per_person.fnmr_at(0.5) - 0.75).abs() < 1e-9);
    }

    #[test]
    fn the_shipped_calibration_is_the_embedders_and_reaches_low_rates() {
        let c = Calibration::for_model(crate::EMBEDDER_MODEL_ID).expect("shipped calibration");
        assert!(c.impostor.comparisons >= measurable_with(1e-6));
        assert!(c.genuine.comparisons > 1000);
        let t4 = c.threshold_for_fmr(1e-4);
        let t5 = c.threshold_for_fmr(1e-5);
        assert!(!t4.extrapolated && !t5.extrapolated);
        assert!(t5.threshold > t4.threshold);
        // The rate read back at a threshold agrees with the threshold asked for it.
        assert!(c.fmr_at(t4.threshold) <= 1e-4 * 1.0001);
        assert!(c.fmr_at(t4.threshold) > 1e-4 / 1.2);
    }
}
