#!/usr/bin/env python3
"""Checks the public feeds with independent tools: the Atom feed with feedparser (a real feed
parser) and the JSON Feed against a JSON Schema written from the JSON Feed 1.1 specification.
Usage: feed_check.py BASE_URL. Prints one JSON line with what the parsers saw; exits non-zero when
a feed does not parse or does not validate."""
import json
import os
import sys
import urllib.request

import feedparser
import jsonschema

base = sys.argv[1].rstrip("/")
problems = []

with urllib.request.urlopen(base + "/feed.atom") as r:
    atom_type = r.headers.get("Content-Type", "")
    atom_bytes = r.read()
parsed = feedparser.parse(atom_bytes)
if parsed.bozo:
    problems.append(f"atom does not parse: {parsed.bozo_exception!r}")
if parsed.version != "atom10":
    problems.append(f"feedparser sees {parsed.version!r}, not atom10")
atom = [{
    "id": e.get("id"), "title": e.get("title"), "updated": e.get("updated"), "published": e.get("published"),
    "categories": [t.get("term") for t in e.get("tags", [])], "summary": e.get("summary"), "link": e.get("link"),
} for e in parsed.entries]

with urllib.request.urlopen(base + "/feed.json") as r:
    json_type = r.headers.get("Content-Type", "")
    feed = json.loads(r.read())
schema = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "jsonfeed-1.1.schema.json")))
validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
for error in validator.iter_errors(feed):
    problems.append(f"json feed: {'/'.join(map(str, error.absolute_path))}: {error.message}")
ids = [i["id"] for i in feed.get("items", [])]
if len(ids) != len(set(ids)):
    problems.append("json feed: duplicate item ids")

print(json.dumps({"atomType": atom_type, "jsonType": json_type, "atom": atom, "feedTitle": parsed.feed.get("title"),
                  "jsonItems": len(ids), "problems": problems}, ensure_ascii=False))
sys.exit(1 if problems else 0)
