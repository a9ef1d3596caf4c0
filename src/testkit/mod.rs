//! Support for tests, benchmarks and the demo (behind the `sim` feature, like the simulators):
//! generic sample step handlers and a fresh database per test on a shared embedded cluster.

pub mod pg;
pub mod pki;
pub mod sample;

use crate::engine::HandlerRegistry;

/// The service's handlers without a vault (business steps fail clearly if run) plus the samples.
pub fn handlers_with_samples() -> HandlerRegistry {
    let mut r = crate::flows::handlers(&crate::flows::deps::FlowDeps::new(
        None,
        crate::flows::deps::FlowTuning::default(),
    ));
    sample::register(&mut r);
    r
}
