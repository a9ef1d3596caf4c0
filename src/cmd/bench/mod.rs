//! `ml-connector bench …`: reproducible measurements; results go to docs/benchmarks.md.

#[cfg(feature = "odbc")]
pub mod agent;
pub mod engine;
pub mod footprint;
pub mod inventory;
pub mod scale;
pub mod sync;

/// The q-quantile (0..=1) of unsorted samples, by nearest rank.
pub fn percentile(samples: &mut [f64], q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1]
}

#[cfg(test)]
mod tests {
    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(super::percentile(&mut v, 0.5), 50.0);
        assert_eq!(super::percentile(&mut v, 0.99), 99.0);
        assert_eq!(super::percentile(&mut v, 1.0), 100.0);
        assert!(super::percentile(&mut [], 0.5).is_nan());
    }
}
