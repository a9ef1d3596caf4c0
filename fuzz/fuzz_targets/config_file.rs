//! Configuration from outside the code: the config file (TOML), each variable's value, a
//! connection's settings JSON (with a JSON merge patch, as `connection set` applies it) and the
//! master key specification.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ml_connector::config;
use ml_connector::connections::{merge, Settings};
use ml_connector::vault::Vault;

fuzz_target!(|data: &[u8]| {
    let (pick, rest) = mlc_fuzz::choose(data, 4);
    let text = String::from_utf8_lossy(rest);
    match pick {
        0 => {
            if let Ok(pairs) = config::parse_file(&text) {
                for (var, value) in pairs {
                    let _ = config::check_value(var, &value);
                }
            }
        }
        1 => {
            if let Ok(settings) = serde_json::from_str::<Settings>(&text) {
                let _ = settings.problems();
                let _ = settings.sage.site();
                let _ = ml_connector::flows::deps::resource_policy(&settings);
            }
        }
        2 => {
            // A patch over the defaults, then read back as settings.
            let f = mlc_fuzz::fields(rest, 2);
            let mut base = serde_json::to_value(Settings::default()).expect("defaults serialize");
            if let Ok(patch) = serde_json::from_str::<serde_json::Value>(&f[1]) {
                merge(&mut base, &patch);
                if let Ok(s) = serde_json::from_value::<Settings>(base) {
                    let _ = s.problems();
                }
            }
        }
        _ => {
            let _ = Vault::from_spec(&text);
        }
    }
});
