//! Workflow definition files (TOML): parse and validate; a bad file is an error naming it.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use ml_connector::engine::definition::{Definitions, WorkflowDefinition};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let known = |h: &str| h.starts_with("order.") || h == "noop";
    match WorkflowDefinition::parse(Path::new("fuzz"), text, &known) {
        Ok(def) => {
            for name in def.states.keys() {
                assert!(def.state(name).is_some());
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    let _ = Definitions::from_sources([("fuzz.toml", text)], &known);
});
