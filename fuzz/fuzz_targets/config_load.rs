//! The config loader on arbitrary text: a config or an error with a location,
//! never a panic; a loaded config prints (masked) without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match ccpipe_pipeline::config::load_str("fuzz.yaml", text) {
        Ok(config) => {
            let _ = config.to_masked_yaml();
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
