//! Simulators of the external systems, built from ../shared/reference only. They never import the
//! connector's clients (and the clients never import them), so a shared misunderstanding cannot hide.

pub mod sage100;
pub mod shipstation;
