//! The model's fact-check answer (JSON, fenced or with chatter around it):
//! never a panic, never more claims than the cap.
#![no_main]

use blog_poster::content::gate::parse_fact_check;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let answer = String::from_utf8_lossy(data);
    if let Ok(claims) = parse_fact_check(&answer) {
        assert!(claims.len() <= 50, "{} claims", claims.len());
    }
});
