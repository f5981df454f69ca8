//! Feeds arbitrary bytes to the iptables-save and `iptables -S` importers. The importers must
//! never panic, every diagnostic must point inside the input, and whatever they read must print
//! and re-read without panicking either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sim_core::parse::{iptables_s, iptables_save};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let p = iptables_save::parse("fuzz", &text);
    let lines = text.lines().count() as u32 + 1;
    for d in &p.diagnostics {
        assert!(d.span.line <= lines, "diagnostic beyond the input: {d}");
    }
    let saved = iptables_save::save(&p.value);
    let _ = iptables_save::parse("fuzz-saved", &saved);
    let _ = iptables_s::parse("fuzz", &text);
});
