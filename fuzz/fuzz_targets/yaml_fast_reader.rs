//! The hand-written YAML reader against the event-based one: any text it answers, it must
//! answer exactly as the event-based reader does (the same documents, values, number types
//! and empty nulls), under both boolean rules and with small budgets.
//!
//! Property: `fast_readers(text).0` is `None` or equal to `fast_readers(text).1`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tether_agent::render::yaml::{ParseOptions, fast_readers};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for core_booleans in [false, true] {
        let limits = ParseOptions {
            core_booleans,
            max_depth: 12,
            max_documents: 20,
            max_nodes: 2000,
        };
        let (scanned, built) = fast_readers(text, &limits);
        if let Some(scanned) = scanned {
            assert_eq!(
                Some(&scanned),
                built.as_ref(),
                "the readers differ on {text:?} (core booleans: {core_booleans})"
            );
        }
    }
});
