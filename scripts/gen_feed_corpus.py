#!/usr/bin/env python3
"""Writes the encoding variants of the feed corpus and their manifest.

The hand-written documents of tests/fixtures/feeds/corpus/ are listed in
manifest.toml. This script adds the byte-level variants that are tedious to
write by hand: UTF-16 and UTF-32 with and without a byte-order mark, XML
declarations that name the other byte order, wrong HTTP charsets on UTF-8
bodies, legacy single- and multi-byte encodings, and a JSON Feed, a sitemap
and an HTML page in UTF-16. It writes each file as enc-*.{xml,json,html}
and their expectations to generated.toml, which the corpus test
(tests/it/feed_corpus.rs) reads beside manifest.toml.

Run it from the repository root after changing it; its output is committed:

    python3 scripts/gen_feed_corpus.py
"""

import codecs
import json
import os
import sys

OUT = os.path.join("tests", "fixtures", "feeds", "corpus")

UNICODE_ITEMS = [
    ("Café au lait — naïve résumé", "https://enc.example/cafe", "Déjà vu: ½ price"),
    ("Ελληνικά και 中文 🚀", "https://enc.example/unicode", "Emoji outside the BMP: 🚀"),
]
LATIN1_ITEMS = [
    ("Café au lait", "https://enc.example/latin/cafe", "Ça va? Größe ½"),
    ("Naïve résumé", "https://enc.example/latin/naive", "Déjà vu"),
]
CP1252_ITEMS = [
    ("It’s “quoted” – €5", "https://enc.example/cp1252/quoted", "Smart quotes… from Word"),
]
KOI8R_ITEMS = [("Привет, мир", "https://enc.example/ru/privet", "Русский текст")]
SJIS_ITEMS = [("日本語のテキスト", "https://enc.example/ja/text", "文字コード")]


def rss(items, decl=None, title="Encodings"):
    head = f'<?xml version="1.0" encoding="{decl}"?>\n' if decl else ""
    body = "".join(
        f"  <item>\n    <title>{t}</title>\n    <link>{l}</link>\n"
        f"    <description>{d}</description>\n  </item>\n"
        for t, l, d in items
    )
    return (
        f'{head}<rss version="2.0">\n<channel>\n  <title>{title}</title>\n'
        f"  <link>https://enc.example/</link>\n  <description>encoding variants</description>\n"
        f"{body}</channel>\n</rss>\n"
    )


def atom(items, decl=None):
    head = f'<?xml version="1.0" encoding="{decl}"?>\n' if decl else ""
    body = "".join(
        f"  <entry>\n    <title>{t}</title>\n    <id>{l}</id>\n    <link href=\"{l}\"/>\n"
        f"    <updated>2026-03-01T00:00:00Z</updated>\n    <summary>{d}</summary>\n  </entry>\n"
        for t, l, d in items
    )
    return (
        f'{head}<feed xmlns="http://www.w3.org/2005/Atom">\n  <title>Encodings</title>\n'
        f"  <id>https://enc.example/</id>\n  <updated>2026-03-01T00:00:00Z</updated>\n{body}</feed>\n"
    )


def json_feed(items):
    return json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "Encodings",
            "items": [
                {"id": l, "url": l, "title": t, "content_text": d} for t, l, d in items
            ],
        },
        ensure_ascii=False,
        indent=2,
    )


def sitemap(items, decl=None):
    head = f'<?xml version="1.0" encoding="{decl}"?>\n' if decl else ""
    body = "".join(f"  <url><loc>{l}</loc></url>\n" for _, l, _ in items)
    return f'{head}<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{body}</urlset>\n'


def page(title, text, meta=None):
    m = f'<meta charset="{meta}">' if meta else ""
    return (
        f"<!DOCTYPE html>\n<html><head>{m}<title>{title}</title></head>"
        f"<body><article><h1>{title}</h1><p>{text}</p><p>{text} {text}</p></article></body></html>\n"
    )


BOMS = {
    "utf-8": codecs.BOM_UTF8,
    "utf-16-le": codecs.BOM_UTF16_LE,
    "utf-16-be": codecs.BOM_UTF16_BE,
    "utf-32-le": codecs.BOM_UTF32_LE,
    "utf-32-be": codecs.BOM_UTF32_BE,
}


def enc(text, codec, bom=False):
    data = text.encode(codec)
    return (BOMS[codec] if bom else b"") + data


CASES = []


def case(name, data, items, kind, klass, content_type, expect="feed", **extra):
    path = os.path.join(OUT, name)
    with open(path, "wb") as f:
        f.write(data)
    c = {
        "file": name,
        "kind": kind,
        "class": klass,
        "content_type": content_type,
        "expect": expect,
        "count": len(items),
    }
    if expect in ("feed", "sitemap"):
        c["links"] = [l for _, l, _ in items]
    if expect == "feed":
        c["titles"] = [t for t, _, _ in items]
        c["texts"] = [d for _, _, d in items]
    c.update(extra)
    CASES.append(c)


def main():
    if not os.path.isdir(OUT):
        sys.exit(f"run from the repository root: {OUT} not found")
    for old in os.listdir(OUT):
        if old.startswith("enc-"):
            os.remove(os.path.join(OUT, old))
    U, R = UNICODE_ITEMS, "RSS 2.0"
    xml = "application/rss+xml"
    # Unicode transformation formats, with and without a byte-order mark.
    case("enc-utf8-bom.xml", enc(rss(U, "utf-8"), "utf-8", True), U, R, "utf-bom", xml)
    for codec, label in [("utf-16-le", "UTF-16"), ("utf-16-be", "UTF-16")]:
        tag = codec.replace("-", "")
        case(f"enc-{tag}-bom.xml", enc(rss(U, label), codec, True), U, R, "utf-bom", xml)
        case(f"enc-{tag}-nobom.xml", enc(rss(U, label), codec), U, R, "utf16-no-bom", xml)
        case(f"enc-{tag}-nobom-nodecl.xml", enc(rss(U), codec), U, R, "utf16-no-bom", xml)
    # The declaration names the other byte order: the bytes decide.
    case("enc-utf16le-nobom-decl-be.xml", enc(rss(U, "UTF-16BE"), "utf-16-le"), U, R,
         "decl-other-byte-order", xml)
    case("enc-utf16be-nobom-decl-le.xml", enc(rss(U, "UTF-16LE"), "utf-16-be"), U, R,
         "decl-other-byte-order", xml)
    case("enc-utf16le-bom-decl-be.xml", enc(rss(U, "UTF-16BE"), "utf-16-le", True), U, R,
         "decl-other-byte-order", xml)
    case("enc-utf16le-bom-http-utf8.xml", enc(rss(U, "UTF-16"), "utf-16-le", True), U, R,
         "utf-bom", "application/rss+xml; charset=utf-8")
    for codec in ["utf-32-le", "utf-32-be"]:
        tag = codec.replace("-", "")
        case(f"enc-{tag}-bom.xml", enc(rss(U, "UTF-32"), codec, True), U, R, "utf32", xml)
        case(f"enc-{tag}-nobom.xml", enc(rss(U, "UTF-32"), codec), U, R, "utf32", xml)
    case("enc-atom-utf16le-nobom.xml", enc(atom(U, "UTF-16"), "utf-16-le"), U, "Atom 1.0",
         "utf16-no-bom", "application/atom+xml")
    case("enc-atom-utf16be-bom.xml", enc(atom(U, "UTF-16"), "utf-16-be", True), U, "Atom 1.0",
         "utf-bom", "application/xml")
    case("enc-json-utf8-bom.json", enc(json_feed(U), "utf-8", True), U, "JSON Feed 1.1",
         "utf-bom", "application/feed+json")
    case("enc-json-utf16le-bom.json", enc(json_feed(U), "utf-16-le", True), U, "JSON Feed 1.1",
         "utf-bom", "application/feed+json")
    case("enc-sitemap-utf16le-bom.xml", enc(sitemap(U, "UTF-16"), "utf-16-le", True), U,
         "sitemap", "utf-bom", "application/xml", expect="sitemap")
    case("enc-sitemap-utf16be-nobom.xml", enc(sitemap(U, "UTF-16"), "utf-16-be"), U,
         "sitemap", "utf16-no-bom", "application/xml", expect="sitemap")
    case("enc-page-utf16le-bom.html", enc(page(U[0][0], U[0][2]), "utf-16-le", True), [],
         "HTML page", "utf-bom", "text/html", expect="page", page_title=U[0][0])
    # Wrong labels on a UTF-8 body: the body is valid UTF-8, so it is read as UTF-8.
    case("enc-utf8-http-usascii.xml", enc(rss(U), "utf-8"), U, R, "wrong-http-charset",
         "text/xml; charset=us-ascii")
    case("enc-utf8-http-latin1.xml", enc(rss(U), "utf-8"), U, R, "wrong-http-charset",
         "application/rss+xml; charset=ISO-8859-1")
    case("enc-utf8-http-utf16.xml", enc(rss(U), "utf-8"), U, R, "wrong-http-charset",
         "application/rss+xml; charset=utf-16")
    case("enc-utf8-decl-latin1.xml", enc(rss(U, "ISO-8859-1"), "utf-8"), U, R,
         "wrong-declared-charset", xml)
    case("enc-utf8-decl-utf16.xml", enc(rss(U, "UTF-16"), "utf-8"), U, R,
         "wrong-declared-charset", xml)
    # Legacy encodings that are what they say: they must stay themselves.
    L = LATIN1_ITEMS
    case("enc-latin1-decl.xml", enc(rss(L, "ISO-8859-1"), "latin-1"), L, R, "legacy-charset", xml)
    case("enc-latin1-http.xml", enc(rss(L), "latin-1"), L, R, "legacy-charset",
         "text/xml; charset=iso-8859-1")
    case("enc-latin1-unlabelled.xml", enc(rss(L), "latin-1"), L, R, "legacy-charset", xml)
    case("enc-latin1-http-usascii.xml", enc(rss(L), "latin-1"), L, R, "wrong-http-charset",
         "text/xml; charset=us-ascii")
    C = CP1252_ITEMS
    case("enc-cp1252-decl.xml", enc(rss(C, "windows-1252"), "cp1252"), C, R, "legacy-charset", xml)
    case("enc-cp1252-bytes-decl-latin1.xml", enc(rss(C, "ISO-8859-1"), "cp1252"), C, R,
         "legacy-charset", xml)
    case("enc-koi8r-decl.xml", enc(rss(KOI8R_ITEMS, "KOI8-R"), "koi8_r"), KOI8R_ITEMS, R,
         "legacy-charset", xml)
    case("enc-shiftjis-decl.xml", enc(rss(SJIS_ITEMS, "Shift_JIS"), "shift_jis"), SJIS_ITEMS, R,
         "legacy-charset", xml)
    case("enc-page-meta-latin1.html", enc(page(L[0][0], L[0][2], "iso-8859-1"), "latin-1"), [],
         "HTML page", "legacy-charset", "text/html", expect="page", page_title=L[0][0])

    lines = [
        "# Generated by scripts/gen_feed_corpus.py: do not edit; change the script and re-run it.",
        "",
    ]
    for c in CASES:
        lines.append("[[case]]")
        for k, v in c.items():
            lines.append(f"{k} = {toml_value(v)}")
        lines.append("")
    with open(os.path.join(OUT, "generated.toml"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    print(f"wrote {len(CASES)} variants to {OUT}")


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False)


if __name__ == "__main__":
    main()
