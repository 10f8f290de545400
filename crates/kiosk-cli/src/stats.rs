//! Small statistics shared by the eval and bench commands.

/// Area under the ROC curve: the probability that a random genuine pair scores above a random
/// impostor pair (ties count half).
pub fn auc(genuine: &[f32], impostor: &[f32]) -> f64 {
    if genuine.is_empty() || impostor.is_empty() {
        return f64::NAN;
    }
    let mut imp = impostor.to_vec();
    imp.sort_by(f32::total_cmp);
    let mut wins = 0f64;
    for &g in genuine {
        let below = imp.partition_point(|&i| i < g);
        let ties = imp[below..].partition_point(|&i| i <= g);
        wins += below as f64 + ties as f64 / 2.0;
    }
    wins / (genuine.len() as f64 * imp.len() as f64)
}

/// The q-quantile (0..1) of samples, nearest rank.
pub fn percentile(samples: &[f64], q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_is_one_when_separated_and_half_when_equal() {
        assert_eq!(auc(&[0.9, 0.8], &[0.1, 0.2]), 1.0);
        assert_eq!(auc(&[0.5], &[0.5]), 0.5);
        assert_eq!(auc(&[0.1], &[0.9]), 0.0);
    }

    #[test]
    fn percentile_nearest_rank() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&s, 0.5), 50.0);
        assert_eq!(percentile(&s, 0.95), 95.0);
        assert_eq!(percentile(&s, 1.0), 100.0);
    }
}
