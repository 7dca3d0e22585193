//! Charset detection and decoding: the HTTP charset parameter, the XML
//! declaration, `<meta charset>`, byte-order marks, and the sniffing of
//! what a body is. Never a panic; decoding always yields text.
#![no_main]

use blog_poster::feeds::charset::{
    content_type_charset, decode_html, decode_xml, html_meta, strip_xml_declaration, xml_declared,
};
use blog_poster::feeds::sniff;
use blog_poster_fuzz::split;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (headers, body) = split(data);
    let ct = headers.content_type;
    let _ = content_type_charset(ct);
    let _ = xml_declared(body);
    let _ = html_meta(body);
    let xml = decode_xml(body, ct);
    let stripped = strip_xml_declaration(&xml);
    assert!(
        xml.ends_with(stripped),
        "the declaration is cut from the front only"
    );
    let _ = decode_html(body, ct);
    let _ = sniff(body, ct);
});
