//! OTLP/JSON decoding: any bytes give a batch of the asked signal or an
//! error, never a panic. The first byte picks the signal.
#![no_main]

use ccpipe_pipeline::{otlp_json, Signal};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let signal = Signal::ALL[pick as usize % 3];
    if let Ok(batch) = otlp_json::decode(signal, bytes) {
        assert_eq!(batch.signal(), signal);
    }
});
