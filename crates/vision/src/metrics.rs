//! Biometric performance figures from comparison scores, in the terms of ISO/IEC 19795-1
//! (verification: FMR, FNMR, ROC, DET, EER) and ISO/IEC 30107-3 (presentation-attack
//! detection: APCER, BPCER). Pure functions over score lists; no IO.
//!
//! Conventions everywhere in this module:
//! - a higher score means "more likely the same person" (cosine similarity) or "more likely a
//!   live person" (liveness probability);
//! - a comparison is **accepted when `score >= threshold`**, as [`crate::Gallery`] and the
//!   liveness decision do;
//! - rates are fractions in `0..=1` (not percent); thresholds are in the score's own unit.
//!
//! NaN scores are treated as the lowest possible score (never accepted).

use serde::Serialize;

/// One operating point: at `threshold`, the fraction of impostor comparisons accepted (`fmr`)
/// and of genuine comparisons rejected (`fnmr`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OperatingPoint {
    pub threshold: f32,
    pub fmr: f64,
    pub fnmr: f64,
}

fn sorted_desc(scores: &[f32]) -> Vec<f32> {
    let mut s: Vec<f32> = scores
        .iter()
        .map(|&v| if v.is_nan() { f32::NEG_INFINITY } else { v })
        .collect();
    s.sort_by(|a, b| b.total_cmp(a));
    s
}

/// How many of `desc` (sorted high to low) are `>= t`.
fn accepted(desc: &[f32], t: f32) -> usize {
    desc.partition_point(|&s| s >= t)
}

/// FMR and FNMR at one threshold. Either list may be empty (its rate is then NaN).
pub fn rates_at(genuine: &[f32], impostor: &[f32], threshold: f32) -> OperatingPoint {
    let fm = impostor.iter().filter(|&&s| s >= threshold).count();
    let fnm = genuine
        .iter()
        .filter(|&&s| s < threshold || s.is_nan())
        .count();
    OperatingPoint {
        threshold,
        fmr: ratio(fm, impostor.len()),
        fnmr: ratio(fnm, genuine.len()),
    }
}

fn ratio(k: usize, n: usize) -> f64 {
    if n == 0 {
        f64::NAN
    } else {
        k as f64 / n as f64
    }
}

/// The ROC (and DET) curve: one operating point per distinct score, thresholds from high to
/// low, so FMR rises from 0 and FNMR falls to 0. The first point's threshold is above every
/// score (`+inf`: nothing accepted, FMR 0, FNMR 1); the last is the lowest score (everything
/// accepted). Empty when either list is empty.
pub fn roc(genuine: &[f32], impostor: &[f32]) -> Vec<OperatingPoint> {
    if genuine.is_empty() || impostor.is_empty() {
        return Vec::new();
    }
    let (g, i) = (sorted_desc(genuine), sorted_desc(impostor));
    let mut thresholds: Vec<f32> = g.iter().chain(&i).copied().collect();
    thresholds.sort_by(|a, b| b.total_cmp(a));
    thresholds.dedup();
    let mut out = Vec::with_capacity(thresholds.len() + 1);
    out.push(OperatingPoint {
        threshold: f32::INFINITY,
        fmr: 0.0,
        fnmr: 1.0,
    });
    for t in thresholds {
        out.push(OperatingPoint {
            threshold: t,
            fmr: ratio(accepted(&i, t), i.len()),
            fnmr: ratio(g.len() - accepted(&g, t), g.len()),
        });
    }
    out
}

/// The equal error rate and where it is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Eer {
    /// `(FMR + FNMR) / 2` at the operating point where `|FMR - FNMR|` is smallest (on
    /// finite score lists the two rates rarely meet exactly).
    pub rate: f64,
    /// That operating point's threshold (accept `>=`).
    pub threshold: f32,
}

/// The EER over the ROC points ([`roc`]); `None` when either list is empty. Among equally
/// balanced points the one with the lowest `(FMR + FNMR)` wins, then the highest threshold.
pub fn eer(genuine: &[f32], impostor: &[f32]) -> Option<Eer> {
    roc(genuine, impostor)
        .into_iter()
        .filter(|p| p.threshold.is_finite())
        .min_by(|a, b| {
            let key = |p: &OperatingPoint| ((p.fmr - p.fnmr).abs(), p.fmr + p.fnmr);
            let (ka, kb) = (key(a), key(b));
            ka.0.total_cmp(&kb.0).then(ka.1.total_cmp(&kb.1))
        })
        .map(|p| Eer {
            rate: (p.fmr + p.fnmr) / 2.0,
            threshold: p.threshold,
        })
}

/// With no error observed in `n` trials, the rate is below `3 / n` at 95 % confidence (the
/// "rule of three", ISO/IEC 19795-1 and Jovanovic & Levy 1997). So a target FMR is only
/// measurable on at least `3 / target` impostor comparisons.
pub const RULE_OF_THREE: f64 = 3.0;

/// The smallest number of impostor (or attack) comparisons on which `target` can be measured:
/// `ceil(3 / target)`, [`RULE_OF_THREE`].
pub fn trials_needed(target: f64) -> usize {
    (RULE_OF_THREE / target).ceil() as usize
}

/// The lowest threshold whose FMR on `impostor` is at most `target`: just above the
/// `(floor(target * n) + 1)`-th highest impostor score (`f32::next_up` of it), so at most
/// `floor(target * n)` impostors are accepted. `+inf`-free: with no impostor it is `-inf`.
pub fn threshold_for_fmr(impostor: &[f32], target: f64) -> f32 {
    let i = sorted_desc(impostor);
    let allowed = (target.max(0.0) * i.len() as f64).floor() as usize;
    match i.get(allowed) {
        Some(&s) => s.next_up(),
        None => f32::NEG_INFINITY,
    }
}

/// FNMR at a target FMR, or why it cannot be measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum FnmrAtFmr {
    Measured {
        target_fmr: f64,
        /// The threshold of [`threshold_for_fmr`].
        threshold: f32,
        /// The FMR observed there (`<= target_fmr`).
        fmr: f64,
        fnmr: f64,
    },
    /// Fewer impostor comparisons than [`trials_needed`] for this target.
    NotMeasurable {
        target_fmr: f64,
        impostors: usize,
        needed: usize,
    },
}

impl FnmrAtFmr {
    pub fn target_fmr(&self) -> f64 {
        match self {
            Self::Measured { target_fmr, .. } | Self::NotMeasurable { target_fmr, .. } => {
                *target_fmr
            }
        }
    }

    /// `"0.0106"`, or `"not measurable on 791 impostor pairs"`.
    pub fn describe(&self) -> String {
        match self {
            Self::Measured { fnmr, .. } => format!("{fnmr:.4}"),
            Self::NotMeasurable { impostors, .. } => {
                format!("not measurable on {impostors} impostor pairs")
            }
        }
    }
}

/// FNMR at the threshold of [`threshold_for_fmr`], when `impostor` is large enough for
/// `target_fmr` ([`trials_needed`]).
pub fn fnmr_at_fmr(genuine: &[f32], impostor: &[f32], target_fmr: f64) -> FnmrAtFmr {
    let needed = trials_needed(target_fmr);
    if impostor.len() < needed || genuine.is_empty() {
        return FnmrAtFmr::NotMeasurable {
            target_fmr,
            impostors: impostor.len(),
            needed,
        };
    }
    let p = rates_at(genuine, impostor, threshold_for_fmr(impostor, target_fmr));
    FnmrAtFmr::Measured {
        target_fmr,
        threshold: p.threshold,
        fmr: p.fmr,
        fnmr: p.fnmr,
    }
}

/// z of the two-sided 95 % normal interval.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// Wilson score interval (95 %) of a rate observed as `k` errors in `n` trials: `(low, high)`
/// in `0..=1`; `(0, 1)` when `n == 0`. Wilson 1927; recommended over the normal interval for
/// rates near 0 (Brown, Cai & DasGupta 2001).
pub fn wilson_interval(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (k, n, z) = (k as f64, n as f64, Z_95);
    let p = k / n;
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z / (1.0 + z * z / n) * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// A proposed threshold for a target false-accept rate, with its confidence bounds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ThresholdProposal {
    /// The target rate (FMR for matching, APCER for liveness).
    pub target: f64,
    /// [`threshold_for_fmr`] on the negatives (impostors or attacks).
    pub threshold: f32,
    /// 95 % distribution-free bounds on the threshold that gives `target` in the population:
    /// the order statistics around it (the binomial rank interval of a quantile, normal
    /// approximation: rank `n·target ± 1.96·sqrt(n·target·(1-target))`). `lower` is where more
    /// negatives pass; `upper` is `None` when the data do not reach above the threshold (the
    /// upper rank falls past the highest score, always so when the target is not measurable).
    pub lower: Option<f32>,
    pub upper: Option<f32>,
    /// Negatives accepted / negatives at `threshold`, with its Wilson 95 % interval.
    pub false_accept_rate: f64,
    pub false_accept_interval: (f64, f64),
    /// Positives rejected at `threshold`, with its Wilson 95 % interval.
    pub false_reject_rate: f64,
    pub false_reject_interval: (f64, f64),
    /// Whether the negatives are enough to measure `target` ([`trials_needed`]).
    pub measurable: bool,
    pub negatives: usize,
    pub positives: usize,
}

/// Proposes the accept threshold for a target rate of accepted negatives (`negative` scores:
/// impostor pairs, or attack presentations) and reports its confidence bounds; `positive` are
/// the genuine pairs or bona fide presentations.
pub fn propose_threshold(positive: &[f32], negative: &[f32], target: f64) -> ThresholdProposal {
    let neg = sorted_desc(negative);
    let n = neg.len();
    let threshold = threshold_for_fmr(negative, target);
    // The threshold is the (allowed+1)-th highest score's successor; its rank interval:
    let mean = n as f64 * target;
    let half = Z_95 * (n as f64 * target * (1.0 - target)).max(0.0).sqrt();
    let at_rank = |r: f64| -> Option<f32> {
        if r < 0.0 {
            return None;
        }
        neg.get(r.floor() as usize).map(|s| s.next_up())
    };
    // More allowed false accepts (higher rank) is a lower threshold.
    let lower = at_rank((mean + half).ceil()).or(neg.last().copied());
    let upper = if mean - half < 0.0 {
        None
    } else {
        at_rank((mean - half).floor())
    };
    let p = rates_at(positive, negative, threshold);
    let fa = neg.iter().filter(|&&s| s >= threshold).count();
    let fr = positive
        .iter()
        .filter(|&&s| s < threshold || s.is_nan())
        .count();
    ThresholdProposal {
        target,
        threshold,
        lower,
        upper,
        false_accept_rate: p.fmr,
        false_accept_interval: wilson_interval(fa, n),
        false_reject_rate: p.fnmr,
        false_reject_interval: wilson_interval(fr, positive.len()),
        measurable: n >= trials_needed(target),
        negatives: n,
        positives: positive.len(),
    }
}

/// Presentation-attack detection errors at one threshold (ISO/IEC 30107-3): a presentation is
/// classified bona fide when its liveness score `>= threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PadRates {
    pub threshold: f32,
    /// Attack Presentation Classification Error Rate: attacks classified bona fide / attacks.
    pub apcer: f64,
    /// Bona fide Presentation Classification Error Rate: bona fide classified attack / bona fide.
    pub bpcer: f64,
    pub attacks: usize,
    pub bona_fide: usize,
}

/// APCER and BPCER of one attack species (or all attacks pooled) at `threshold`. ISO/IEC
/// 30107-3 reports APCER per presentation-attack instrument species, and the system's APCER
/// as the highest of them: pass each species' scores separately for that.
pub fn pad_rates(bona_fide: &[f32], attacks: &[f32], threshold: f32) -> PadRates {
    let p = rates_at(bona_fide, attacks, threshold);
    PadRates {
        threshold,
        apcer: p.fmr,
        bpcer: p.fnmr,
        attacks: attacks.len(),
        bona_fide: bona_fide.len(),
    }
}

/// The standard normal quantile (probit), the axis scale of a DET plot (Martin et al. 1997).
/// Acklam's rational approximation, relative error below 1.15e-9 on `(0, 1)`; `-inf` at 0,
/// `+inf` at 1, NaN outside.
pub fn probit(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.024_25;
    if !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Area under the ROC curve: the probability that a random genuine score is above a random
/// impostor score (ties count half). NaN when either list is empty.
pub fn auc(genuine: &[f32], impostor: &[f32]) -> f64 {
    if genuine.is_empty() || impostor.is_empty() {
        return f64::NAN;
    }
    let mut imp = sorted_desc(impostor);
    imp.reverse();
    let mut wins = 0f64;
    for &g in genuine {
        let g = if g.is_nan() { f32::NEG_INFINITY } else { g };
        let below = imp.partition_point(|&i| i < g);
        let ties = imp[below..].partition_point(|&i| i <= g);
        wins += below as f64 + ties as f64 / 2.0;
    }
    wins / (genuine.len() as f64 * imp.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roc_walks_from_nothing_accepted_to_everything_accepted() {
        let g = [0.9, 0.8, 0.4];
        let i = [0.1, 0.5, 0.3, 0.2];
        let r = roc(&g, &i);
        assert_eq!(r.len(), 1 + 7);
        assert_eq!((r[0].fmr, r[0].fnmr), (0.0, 1.0));
        let last = r.last().unwrap();
        assert_eq!((last.threshold, last.fmr, last.fnmr), (0.1, 1.0, 0.0));
        // At 0.5: impostor 0.5 accepted (1/4), genuine 0.4 rejected (1/3).
        let at = r.iter().find(|p| p.threshold == 0.5).unwrap();
        assert_eq!((at.fmr, at.fnmr), (0.25, 1.0 / 3.0));
        assert!(
            r.windows(2)
                .all(|w| w[1].fmr >= w[0].fmr && w[1].fnmr <= w[0].fnmr)
        );
        assert!(roc(&g, &[]).is_empty());
    }

    #[test]
    fn eer_is_zero_when_separated_and_found_where_the_rates_cross() {
        let e = eer(&[0.9, 0.8], &[0.1, 0.2]).unwrap();
        assert_eq!(e.rate, 0.0);
        assert!(e.threshold > 0.2 && e.threshold <= 0.8, "{e:?}");
        // Ten of each, overlapping by two on each side: FMR = FNMR = 0.2 at 0.5.
        let g: Vec<f32> = (0..10).map(|k| 0.3 + 0.1 * k as f32).collect(); // 0.3..1.2
        let i: Vec<f32> = (0..10).map(|k| -0.3 + 0.1 * k as f32).collect(); // -0.3..0.6
        let e = eer(&g, &i).unwrap();
        assert!((e.rate - 0.2).abs() < 0.051, "{e:?}");
        let p = rates_at(&g, &i, e.threshold);
        assert!((p.fmr - p.fnmr).abs() <= 0.1, "{p:?}");
        assert!(eer(&[], &i).is_none());
    }

    #[test]
    fn threshold_for_fmr_accepts_at_most_the_allowed_impostors() {
        let i: Vec<f32> = (0..100).map(|k| k as f32 / 100.0).collect();
        let t = threshold_for_fmr(&i, 0.05);
        assert_eq!(rates_at(&[], &i, t).fmr, 0.05);
        assert_eq!(rates_at(&[], &i, t.next_down()).fmr, 0.06);
        // A zero target puts it just above the highest impostor.
        assert_eq!(threshold_for_fmr(&i, 0.0), 0.99f32.next_up());
    }

    #[test]
    fn fnmr_at_fmr_needs_enough_impostors() {
        let i: Vec<f32> = (0..500).map(|k| k as f32 / 1000.0).collect(); // 0..0.5
        let g = [0.45, 0.6, 0.7, 0.8];
        match fnmr_at_fmr(&g, &i, 1e-2) {
            FnmrAtFmr::Measured { fmr, fnmr, .. } => {
                assert!(fmr <= 1e-2);
                assert_eq!(fnmr, 0.25); // 0.45 is below the 99th percentile impostor
            }
            other => panic!("{other:?}"),
        }
        let n = fnmr_at_fmr(&g, &i, 1e-3);
        assert_eq!(
            n,
            FnmrAtFmr::NotMeasurable {
                target_fmr: 1e-3,
                impostors: 500,
                needed: 3000
            }
        );
        assert_eq!(n.describe(), "not measurable on 500 impostor pairs");
    }

    #[test]
    fn wilson_interval_matches_published_values() {
        // Newcombe 1998, table I: 81/263 -> 0.2553 .. 0.3662; 0/10 -> 0 .. 0.2775.
        let (lo, hi) = wilson_interval(81, 263);
        assert!(
            (lo - 0.2553).abs() < 5e-4 && (hi - 0.3662).abs() < 5e-4,
            "{lo} {hi}"
        );
        let (lo, hi) = wilson_interval(0, 10);
        assert!(lo == 0.0 && (hi - 0.2775).abs() < 5e-4, "{hi}");
    }

    #[test]
    fn proposal_brackets_its_threshold() {
        let neg: Vec<f32> = (0..1000).map(|k| k as f32 / 1000.0).collect();
        let pos: Vec<f32> = (0..100).map(|k| 0.95 + k as f32 / 2000.0).collect();
        let p = propose_threshold(&pos, &neg, 0.05);
        assert!(p.measurable);
        assert_eq!(p.false_accept_rate, 0.05);
        let (lo, hi) = (p.lower.unwrap(), p.upper.unwrap());
        assert!(lo < p.threshold && p.threshold < hi, "{p:?}");
        // rank 50 ± 1.96·sqrt(47.5) = 50 ± 13.5: scores near 0.936 and 0.964.
        assert!(
            (lo - 0.936).abs() < 0.002 && (hi - 0.964).abs() < 0.002,
            "{p:?}"
        );
        assert!(p.false_accept_interval.0 < 0.05 && 0.05 < p.false_accept_interval.1);
        // Too few negatives for 1e-4: no upper bound, flagged.
        let q = propose_threshold(&pos, &neg, 1e-4);
        assert!(!q.measurable && q.upper.is_none());
        assert_eq!(q.threshold, 0.999f32.next_up());
    }

    #[test]
    fn pad_rates_count_errors_on_each_side() {
        let r = pad_rates(&[0.9, 0.7, 0.5], &[0.1, 0.65], 0.6);
        assert_eq!((r.apcer, r.bpcer), (0.5, 1.0 / 3.0));
        assert_eq!((r.attacks, r.bona_fide), (2, 3));
    }

    #[test]
    fn probit_matches_the_normal_table() {
        assert!(probit(0.5).abs() < 1e-9);
        assert!((probit(0.975) - 1.959_964).abs() < 1e-5);
        assert!((probit(1e-3) + 3.090_232).abs() < 1e-5);
        assert!((probit(0.1) + 1.281_552).abs() < 1e-5);
        assert_eq!(probit(0.0), f64::NEG_INFINITY);
        assert!(probit(1.5).is_nan());
    }

    #[test]
    fn auc_is_one_when_separated_and_half_when_equal() {
        assert_eq!(auc(&[0.9, 0.8], &[0.1, 0.2]), 1.0);
        assert_eq!(auc(&[0.5], &[0.5]), 0.5);
        assert_eq!(auc(&[0.1], &[0.9]), 0.0);
        assert!(auc(&[], &[0.1]).is_nan());
    }
}
