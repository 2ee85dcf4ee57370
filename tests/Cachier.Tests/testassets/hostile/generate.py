#!/usr/bin/env python3
"""Writes corpus.jsonl beside this file: malformed and hostile requests for Cachier's POST /.

The corpus is data, committed as generated; this script only saves typing. Re-run it after editing and commit
both files: `python3 tests/Cachier.Tests/testassets/hostile/generate.py`.

One JSON object per line:
  id           unique, stable name of the case (the test's display name)
  category     what kind of hostility
  method, path the request line (default POST /)
  headers      [[name, value], ...]; a name may repeat; values are sent as they are (no encoding)
  contentType  the Content-Type header, or null for none
  body         the body as text (sent as UTF-8), or
  bodyBase64   the body as bytes, or
  bodyRepeat   {"head", "unit", "count", "tail"}: head + unit * count + tail (huge bodies without a huge file)
  chunked      true: no Content-Length (the body streams)
  expect       {"status": [allowed status codes], "result": outcome when 200 ("ignored", "deleted")}
  bug          present when Cachier does not meet the expectation yet: what it does instead (the test of such cases is
               skipped with this text; remove the field once fixed)
  auth         true: sent to the app with sender authentication on (as knative/ deploys it); the others go to an app
               run with Cachier:Authentication:Mode=None, so that they test what lies behind the sender check
Every case must cause no call to the API server (but the one read of the token issuer's keys): a valid event for a
configured kind is not hostile.
"""
import base64
import json
import os

LIMIT = 3 * 1024 * 1024  # Cachier:MaxRequestBodyBytes default
NS = "hostile"
SOURCE = "https://10.96.0.1:443"
cases = []


def add(case_id, category, *, headers=None, content_type="application/cloudevents+json", body=None, body_b64=None,
        repeat=None, chunked=False, method="POST", path="/", status=(400,), result=None, description="", bug=None,
        auth=False):
    assert not any(c["id"] == case_id for c in cases), case_id
    case = {"id": case_id, "category": category, "description": description, "method": method, "path": path,
            "headers": headers or [], "contentType": content_type}
    if body is not None:
        case["body"] = body
    if body_b64 is not None:
        case["bodyBase64"] = base64.b64encode(body_b64).decode()
    if repeat is not None:
        case["bodyRepeat"] = repeat
    if chunked:
        case["chunked"] = True
    case["expect"] = {"status": list(status)}
    if result is not None:
        case["expect"]["result"] = result
    if bug is not None:
        case["bug"] = bug
    if auth:
        case["auth"] = True
    cases.append(case)


def envelope(type_="dev.knative.apiserver.ref.update", api_version="apps/v1", kind="Deployment", ns=NS, name="web",
             data=None, drop=(), **extra):
    """A structured-mode CloudEvent as the ApiServerSource adapter would send it."""
    ev = {"specversion": "1.0", "id": "6f1d2c3b-aaaa-4bbb-8ccc-0123456789ab", "source": SOURCE, "type": type_,
          "subject": f"/apis/{api_version}/namespaces/{ns}/{str(kind).lower()}s/{name}",
          "apiversion": api_version, "kind": kind, "namespace": ns, "name": name,
          "datacontenttype": "application/json"}
    ev["data"] = data if data is not None else {"kind": kind, "namespace": ns, "name": name, "apiVersion": api_version}
    ev.update(extra)
    for key in drop:
        ev.pop(key, None)
    return ev


def binary_headers(type_="dev.knative.apiserver.ref.update", api_version="apps/v1", kind="Deployment", ns=NS, name="web",
                   drop=(), **extra):
    h = {"ce-specversion": "1.0", "ce-id": "0d9e8f7a-bbbb-4ccc-8ddd-0123456789ab", "ce-source": SOURCE, "ce-type": type_,
         "ce-apiversion": api_version, "ce-kind": kind, "ce-namespace": ns, "ce-name": name}
    h.update({k.replace("_", "-"): v for k, v in extra.items()})
    return [[k, v] for k, v in h.items() if k not in drop]


def ref_data(api_version="apps/v1", kind="Deployment", ns=NS, name="web"):
    return {"kind": kind, "namespace": ns, "name": name, "apiVersion": api_version}


def deployment(name="web", ns=NS, api_version="apps/v1", kind="Deployment", spec=None, metadata=None):
    meta = {"name": name, "namespace": ns, "uid": "1a2b3c4d-0000-4000-8000-000000000001", "generation": 2}
    if metadata is not None:
        meta = metadata
    return {"apiVersion": api_version, "kind": kind, "metadata": meta,
            "spec": spec if spec is not None else {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}}}


def js(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# ---- 1. content types that are not CloudEvents: 415 --------------------------------------------------------------
structured_secret = js(envelope(kind="Secret", api_version="v1"))
for i, ct in enumerate([None, "text/plain", "application/xml", "text/html", "multipart/form-data; boundary=x",
                        "application/x-www-form-urlencoded", "application/octet-stream", "application/json",
                        "application/cloudevents+xml", "application/cloudevents", "application/cloudevents-batch+xml",
                        "image/png", "text/plain; charset=utf-8", "application/vnd.kubernetes.protobuf", "application/yaml",
                        "application/cloudevents+json-seq", "application/x-cloudevents+json"]):
    add(f"content-type-{i:02d}-{(ct or 'none').split(';')[0].replace('/', '-')}", "content-type", content_type=ct,
        body=structured_secret, status=(415,), description=f"structured body sent as {ct!r} without ce-specversion")
for i, ct in enumerate(["???", "application/", "/json", "application/json;;;=", "application json", "\u00e9/\u00e9"]):
    add(f"content-type-invalid-{i:02d}", "content-type", content_type=ct, body=structured_secret, status=(415,),
        description=f"Content-Type {ct!r} is not a media type")
add("content-type-bogus-charset", "content-type", content_type="application/cloudevents+json; charset=bogus-9",
    body=structured_secret, status=(400, 415), description="a charset that does not exist")

# ---- 2. invalid and truncated JSON: 400 ----------------------------------------------------------------------------
valid_web = js(envelope(type_="dev.knative.apiserver.resource.update", data=deployment()))
for cut in [1, 10, 40, 80, 120, 200, 260, len(valid_web) // 2, len(valid_web) - 20, len(valid_web) - 1]:
    add(f"json-truncated-structured-at-{cut}", "invalid-json", body=valid_web[:cut],
        description="a valid resource event of a configured kind, cut short")
valid_batch = js([envelope(type_="dev.knative.apiserver.resource.update", data=deployment())])
for cut in [1, len(valid_batch) // 2, len(valid_batch) - 1]:
    add(f"json-truncated-batch-at-{cut}", "invalid-json", content_type="application/cloudevents-batch+json",
        body=valid_batch[:cut], description="a batch cut short")
for i, text in enumerate(["", " ", "{", "}", "[", "]", "null", "true", "42", "\"event\"", "[]", "{}", "{\"specversion\":",
                          "{\"specversion\":\"1.0\"", "{'specversion':'1.0'}", "{specversion:\"1.0\"}", "{\"a\":NaN}",
                          "{\"a\":Infinity}", "/* c */ {}", "{\"specversion\":\"1.0\",}", "{}{}", "{\"a\":1}xyz", "\u0000",
                          "{\"specversion\":\"1.0\" \"id\":\"x\"}"]):
    add(f"json-invalid-structured-{i:02d}", "invalid-json", body=text, description=f"structured body {text!r}")
for i, text in enumerate(["{", "[1,", "{\"kind\":\"Deployment\",", "nul", "{\"name\":\"web\"}}", "\"unterminated"]):
    add(f"json-invalid-binary-data-{i:02d}", "invalid-json", content_type="application/json",
        headers=binary_headers(type_="dev.knative.apiserver.ref.add"), body=text,
        description="binary mode, every attribute fine, data is not JSON")
add("json-invalid-binary-resource", "invalid-json", content_type="application/json",
    headers=binary_headers(type_="dev.knative.apiserver.resource.update"), body=valid_web[5:200],
    description="binary resource event whose data is broken JSON")
for i, text in enumerate(["", "[", "[{}", "[1,2]", "[null]", "[[]]", "{}", "\"x\"", "[{\"specversion\":\"1.0\"}]"]):
    add(f"json-invalid-batch-{i:02d}", "invalid-json", content_type="application/cloudevents-batch+json", body=text,
        description=f"batch body {text!r}")
add("json-duplicate-keys-bad-names", "invalid-json",
    body='{"specversion":"1.0","id":"1","source":"s","type":"dev.knative.apiserver.ref.update","apiversion":"apps/v1",'
         '"kind":"Deployment","namespace":"hostile","name":"../x","name":"a/b","data":{}}',
    description="a duplicated attribute: neither value is a valid name")

# ---- 3. wrong types in every field ----------------------------------------------------------------------------------
wrong = [1, 1.5, True, None, {}, [], {"a": "b"}, ["web"]]
for attr in ["specversion", "id", "source", "type"]:
    for i, value in enumerate(wrong):
        add(f"type-attribute-{attr}-{i}", "wrong-type", body=js(envelope(kind="Secret", api_version="v1", **{attr: value})),
            description=f"required attribute {attr} = {value!r}")
for attr in ["time", "dataschema", "subject", "datacontenttype"]:
    for i, value in enumerate([1, True, {}, []]):
        add(f"type-attribute-{attr}-{i}", "wrong-type", body=js(envelope(kind="Secret", api_version="v1", **{attr: value})),
            description=f"optional attribute {attr} = {value!r}")
add("type-attribute-time-text", "wrong-type", body=js(envelope(kind="Secret", api_version="v1", time="yesterday")),
    description="time is not RFC 3339")
for ext in ["apiversion", "kind", "namespace", "name"]:
    for i, value in enumerate([1, 2.5, True, {}, [], ["web"]]):
        # No fallback: the data names nothing either. A number or boolean apiversion/kind may also be ignored (not configured).
        scalar = value is True or isinstance(value, int)
        identity = ext in ("namespace", "name")
        add(f"type-extension-{ext}-{i}", "wrong-type",
            body=js(envelope(data={"unrelated": True}, **{ext: value})), description=f"extension {ext} = {value!r}",
            status=(400, 200) if scalar and not identity else (400,), result="ignored" if scalar and not identity else None)
for prop in ["apiVersion", "kind", "namespace", "name"]:
    for i, value in enumerate([5, True, {}, [], "", None]):
        data = ref_data()
        data[prop] = value
        add(f"type-ref-data-{prop}-{i}", "wrong-type", body=js(envelope(data=data, drop=("apiversion", "kind", "namespace", "name"))),
            description=f"no extensions; data.{prop} = {value!r}")
for i, data in enumerate(["web", 42, [], True, [ref_data()], {"metadata": {"name": "web"}}]):
    add(f"type-ref-data-shape-{i}", "wrong-type", body=js(envelope(data=data, drop=("apiversion", "kind", "namespace", "name"))),
        description=f"no extensions; data = {data!r}")
for i, data in enumerate(["web", 42, [], True, [deployment()]]):
    add(f"type-resource-data-shape-{i}", "wrong-type", body=js(envelope(type_="dev.knative.apiserver.resource.update", data=data)),
        description=f"resource event whose data is {data!r}")
add("type-resource-data-missing", "wrong-type",
    body=js(envelope(type_="dev.knative.apiserver.resource.add", drop=("data", "datacontenttype"))),
    description="resource event without data")
for i, metadata in enumerate(["web", 5, [], {"name": 5, "namespace": NS, "uid": "u"}, {"name": "web", "namespace": NS},
                              {"name": "web", "namespace": NS, "uid": 7}, {"name": "web", "namespace": NS, "uid": ""},
                              {"name": "web", "namespace": 5, "uid": "u"}, {"name": ["web"], "namespace": NS, "uid": "u"}]):
    add(f"type-resource-metadata-{i}", "wrong-type",
        body=js(envelope(type_="dev.knative.apiserver.resource.update", data=deployment(metadata=metadata))),
        description=f"resource event whose metadata is {metadata!r}")
for i, (api_version, kind) in enumerate([(5, "Deployment"), ("apps/v1", 5), (None, "Deployment"), ("apps/v1", []), ("", "")]):
    data = deployment()
    data["apiVersion"], data["kind"] = api_version, kind
    add(f"type-resource-typemeta-{i}", "wrong-type",
        body=js(envelope(type_="dev.knative.apiserver.resource.update", data=data)),
        description=f"resource event whose object says apiVersion {api_version!r}, kind {kind!r}")

# ---- 4. huge bodies: 413 (and the limit itself) ----------------------------------------------------------------------
secret_head = js(envelope(kind="Secret", api_version="v1"))[:-1] + ',"padding":"'
add("huge-structured-over-limit", "huge", repeat={"head": secret_head, "unit": "a", "count": LIMIT, "tail": '"}'},
    status=(413,), description="a structured event one padding extension over 3 MiB")
add("huge-structured-over-limit-chunked", "huge", repeat={"head": secret_head, "unit": "a", "count": LIMIT, "tail": '"}'},
    chunked=True, status=(413,), description="the same without Content-Length")
add("huge-structured-one-byte-over", "huge",
    repeat={"head": secret_head, "unit": "a", "count": LIMIT - len(secret_head) - 2 + 1, "tail": '"}'}, status=(413,),
    description="exactly one byte over the limit")
add("huge-structured-at-limit", "huge",
    repeat={"head": secret_head, "unit": "a", "count": LIMIT - len(secret_head) - 2, "tail": '"}'}, status=(200,),
    result="ignored", description="exactly at the limit: read, and ignored (kind not configured)")
add("huge-binary-data-over-limit", "huge", content_type="application/json", headers=binary_headers(),
    repeat={"head": '{"pad":"', "unit": "b", "count": LIMIT + 10, "tail": '"}'}, status=(413,),
    description="binary mode, data over 3 MiB")
add("huge-binary-data-over-limit-chunked", "huge", content_type="application/json", headers=binary_headers(),
    repeat={"head": '{"pad":"', "unit": "b", "count": LIMIT + 10, "tail": '"}'}, chunked=True, status=(413,),
    description="binary mode, data over 3 MiB, no Content-Length")
add("huge-batch-over-limit", "huge", content_type="application/cloudevents-batch+json",
    repeat={"head": "[", "unit": js(envelope(kind="Secret", api_version="v1")) + ",",
            "count": LIMIT // 300, "tail": js(envelope(kind="Secret", api_version="v1")) + "]"},
    status=(413,), description="a batch of more than 3 MiB of events")
add("huge-batch-of-ignored-events", "huge", content_type="application/cloudevents-batch+json",
    repeat={"head": "[", "unit": js(envelope(kind="Secret", api_version="v1")) + ",", "count": 2000,
            "tail": js(envelope(kind="ConfigMap", api_version="v1")) + "]"},
    status=(413,), description="2001 events: over Cachier:MaxBatchEvents (100), refused before any is handled")
add("oversized-batch-of-references", "oversized", content_type="application/cloudevents-batch+json",
    repeat={"head": "[", "unit": js(envelope()) + ",", "count": 100, "tail": js(envelope()) + "]"},
    status=(413,), description="101 references to configured Deployments (one GET each): refused before any GET")
add("oversized-batch-of-references-near-the-body-limit", "oversized", content_type="application/cloudevents-batch+json",
    repeat={"head": "[", "unit": js(envelope()) + ",", "count": LIMIT // 450, "tail": js(envelope()) + "]"},
    status=(413,), description="thousands of references under 3 MiB: one request would hold thousands of GETs")
add("huge-name-header", "huge", content_type="application/json", headers=binary_headers(name="a" * 20000),
    body=js(ref_data()), description="a 20000-character ce-name")
add("huge-type-header", "huge", content_type="application/json",
    headers=binary_headers(type_="dev.knative.apiserver.ref." + "x" * 20000), body=js(ref_data()),
    description="a 20000-character operation in ce-type")

# ---- 5. deep nesting ---------------------------------------------------------------------------------------------
for depth in [65, 200, 5000]:
    nested = "[" * depth + "]" * depth
    add(f"deep-structured-data-arrays-{depth}", "deep",
        body=js(envelope(kind="Secret", api_version="v1", data="__DATA__")).replace('"__DATA__"', nested),
        description=f"structured data nested {depth} deep")
    add(f"deep-binary-data-objects-{depth}", "deep", content_type="application/json", headers=binary_headers(),
        body='{"a":' * depth + "1" + "}" * depth, description=f"binary data nested {depth} deep")
add("deep-batch-arrays", "deep", content_type="application/cloudevents-batch+json", body="[" * 1000 + "]" * 1000,
    description="a batch of nested arrays")
add("deep-within-limit-secret", "deep",
    body=js(envelope(kind="Secret", api_version="v1", data=json.loads("[" * 40 + "]" * 40))), status=(200,), result="ignored",
    description="40 deep is readable; the kind is not configured")

# ---- 6. header injection ----------------------------------------------------------------------------------------
for i, (header, value, status, result) in enumerate([
    ("ce-name", "web%0D%0AX-Injected:%201", (400,), None),
    ("ce-name", "web%0d%0aSet-Cookie:%20a=b", (400,), None),
    ("ce-namespace", "hostile%0D%0AX-Injected:%201", (400,), None),
    ("ce-namespace", "%0d%0a", (400,), None),
    ("ce-type", "dev.knative.apiserver.ref.add%0D%0AX-Injected:%201", (400,), None),
    ("ce-type", "com.example.other%0D%0ASet-Cookie:%20a=b", (400, 200), "ignored"),
    ("ce-kind", "Deployment%0D%0AX-Injected:%201", (400, 200), "ignored"),
    ("ce-apiversion", "apps/v1%0D%0A", (400, 200), "ignored"),
    ("ce-specversion", "1.0%0D%0AX-Injected:%201", (400,), None),
    ("ce-name", "web\r\nX-Injected: 1", (400,), None),
    ("ce-namespace", "hostile\r\nX-Injected: 1", (400,), None),
    ("ce-type", "dev.knative.apiserver.ref.add\r\nX-Injected: 1", (400,), None),
    ("ce-kind", "Deployment\nX-Injected: 1", (400, 200), "ignored"),
    ("ce-name", "web\n", (400,), None),
    ("ce-name", "web\u0000", (400,), None),
    ("ce-name", "web%00", (400,), None),
    ("ce-name", "%", (400,), None),
    ("ce-name", "%ZZ", (400,), None),
    ("ce-name", "%E9", (400,), None),
    ("ce-name", "w%C3%A9b", (400,), None),
    ("ce-name", "web%2F..%2Fsecrets", (400,), None),
    ("ce-namespace", "kube-system%2F..%2F..", (400,), None),
]):
    headers = [h for h in binary_headers() if h[0] != header] + [[header, value]]
    add(f"inject-header-{i:02d}-{header}", "header-injection", content_type="application/json", headers=headers,
        body=js(ref_data()), status=status, result=result, description=f"{header}: {value!r}")
add("inject-duplicate-name-headers", "header-injection", content_type="application/json",
    headers=binary_headers() + [["ce-name", "../x"]], body=js(ref_data()),
    description="ce-name twice: web and ../x (joined: web,../x)")
add("inject-uppercase-header-names", "header-injection", content_type="application/json",
    headers=[[k.upper(), v] for k, v in binary_headers(name="a/b")], body=js(ref_data(name="a/b")),
    description="CE-* header names in upper case (still binary mode) with a bad name")
add("inject-content-type-crlf", "header-injection", content_type="application/json\r\nX-Injected: 1",
    headers=binary_headers(), body=js(ref_data()), status=(400, 415), description="CR/LF in Content-Type")

# ---- 7. not UTF-8 -------------------------------------------------------------------------------------------------
latin1 = js(envelope(name="w\u00e9b")).encode("latin-1")
add("utf8-latin1-structured", "not-utf8", body_b64=latin1, description="structured event encoded as Latin-1")
add("utf8-latin1-binary-data", "not-utf8", content_type="application/json",
    headers=binary_headers(type_="dev.knative.apiserver.resource.update"),
    body_b64=js(deployment(name="w\u00e9b")).encode("latin-1"), description="binary resource data in Latin-1")
add("utf8-latin1-binary-resource-image", "not-utf8", content_type="application/json",
    headers=binary_headers(type_="dev.knative.apiserver.resource.update"),
    body_b64=js(deployment()).encode().replace(b"nginx:1.25", b"ng\xefnx:1.25"), description="binary resource data, Latin-1 in an image")
add("utf8-latin1-binary-ref-data-name", "not-utf8", content_type="application/json",
    headers=binary_headers(drop=("ce-name",)), body_b64=js(ref_data()).encode().replace(b'"web"', b'"w\xe9b"'),
    description="binary ref event without ce-name; data.name in Latin-1")
add("utf8-latin1-structured-data-image", "not-utf8",
    body_b64=js(envelope(type_="dev.knative.apiserver.resource.update", data=deployment())).encode().replace(b"nginx:1.25", b"ng\xefnx:1.25"),
    description="structured resource event, Latin-1 in an image of the data")
add("utf8-utf16le-structured", "not-utf8", body_b64=js(envelope(kind="Deployment")).encode("utf-16-le"),
    description="structured event in UTF-16 LE without a charset")
add("utf8-utf16-bom-structured", "not-utf8", body_b64=js(envelope(kind="Deployment")).encode("utf-16"),
    description="structured event in UTF-16 with BOM")
add("utf8-utf32-structured", "not-utf8", body_b64=js(envelope()).encode("utf-32"), description="structured event in UTF-32")
add("utf8-random-bytes", "not-utf8", body_b64=bytes([0xFF, 0xFE, 0x00, 0x81, 0xC0, 0xAF, 0xED, 0xA0, 0x80] * 8),
    description="bytes that are no encoding of text")
add("utf8-random-bytes-binary", "not-utf8", content_type="application/json", headers=binary_headers(),
    body_b64=bytes([0x7B, 0xFF, 0xFE, 0x7D]), description="binary data with invalid UTF-8 inside braces")
overlong = js(envelope(name="a__b")).encode().replace(b"a__b", b"a\xc0\xafb")
add("utf8-overlong-slash-in-name", "not-utf8", body_b64=overlong, description="an overlong encoding of / in the name")
surrogate = js(envelope(name="PLACEHOLDER")).replace("PLACEHOLDER", "web\\ud800")
add("utf8-lone-surrogate-escape-in-name", "not-utf8", body=surrogate, description="a lone surrogate (escaped) in the name")
surrogate_b = js(envelope(name="web")).encode().replace(b'"name":"web"', b'"name":"web\xed\xa0\x80"')
add("utf8-encoded-surrogate-in-name", "not-utf8", body_b64=surrogate_b, description="a UTF-8-encoded surrogate in the name")
add("utf8-bom-then-secret", "not-utf8", body_b64=b"\xef\xbb\xbf" + js(envelope(kind="Secret", api_version="v1")).encode(),
    status=(200, 400), result="ignored", description="UTF-8 BOM before a Secret event")
add("utf8-header-latin1-name", "not-utf8", content_type="application/json", headers=binary_headers(name="w\u00e9b"),
    body=js(ref_data()), description="non-ASCII ce-name")

# ---- 8. CloudEvents with missing or invalid attributes -------------------------------------------------------------
for attr in ["specversion", "id", "source", "type"]:
    add(f"ce-structured-missing-{attr}", "cloudevent", body=js(envelope(kind="Secret", api_version="v1", drop=(attr,))),
        description=f"structured event without {attr}")
    add(f"ce-binary-missing-{attr}", "cloudevent", content_type="application/json",
        headers=binary_headers(kind="Secret", api_version="v1", drop=(f"ce-{attr}",)), body=js(ref_data(kind="Secret", api_version="v1")),
        status=(415,) if attr == "specversion" else (400,),
        description=f"binary event without ce-{attr}" + (" (so not binary mode at all)" if attr == "specversion" else ""))
for i, version in enumerate(["0.1", "2.0", "1", "", "1.0.0", "v1.0", " 1.0", "1.0 ", "1,0"]):
    add(f"ce-structured-specversion-{i}", "cloudevent", body=js(envelope(kind="Secret", api_version="v1", specversion=version)),
        description=f"specversion {version!r}")
    # A transport may trim the spaces of a header value: then it is 1.0, and the Secret is ignored.
    add(f"ce-binary-specversion-{i}", "cloudevent", content_type="application/json",
        headers=binary_headers(kind="Secret", api_version="v1", ce_specversion=version), body=js(ref_data(kind="Secret", api_version="v1")),
        status=(400, 200) if version.strip() == "1.0" else (400, 415) if version == "" else (400,),
        result="ignored" if version.strip() == "1.0" else None,
        description=f"ce-specversion {version!r}")
for attr, value in [("id", ""), ("source", ""), ("type", "")]:
    add(f"ce-structured-empty-{attr}", "cloudevent", body=js(envelope(kind="Secret", api_version="v1", **{attr: value})),
        description=f"empty {attr}")
add("ce-binary-bad-time", "cloudevent", content_type="application/json",
    headers=binary_headers(kind="Secret", api_version="v1", ce_time="not-a-time"), body=js(ref_data(kind="Secret", api_version="v1")),
    description="ce-time is not a timestamp")
add("ce-batch-with-one-bad-event", "cloudevent", content_type="application/cloudevents-batch+json",
    body=js([envelope(kind="Secret", api_version="v1"), envelope(kind="Secret", api_version="v1", drop=("id",))]),
    description="a batch whose second event has no id")
add("ce-batch-with-one-bad-name", "cloudevent", content_type="application/cloudevents-batch+json",
    body=js([envelope(kind="Secret", api_version="v1"), envelope(name="../x")]),
    description="a batch whose second event has a bad name: the whole batch is rejected, nothing reconciled")

# ---- 9. names and namespaces that are not DNS names ----------------------------------------------------------------
bad_names = {
    "dotdot-slash-x": "../x", "a-slash-b": "a/b", "300-chars": "a" * 300, "254-chars": ("a" * 63 + ".") * 3 + "a" * 62,
    "upper-case": "Web", "unicode": "w\u00e9b", "cyrillic-homoglyph": "w\u0435b", "fullwidth": "\uff57\uff45\uff42",
    "percent-dot-dot": "%2e%2e", "dotdot": "..", "dot": ".", "empty": "", "leading-dash": "-web", "trailing-dash": "web-",
    "underscore": "web_1", "space": "web 1", "tab": "web\t", "percent-slash": "a%2Fb", "nul": "a\u0000b", "question": "a?b",
    "hash": "a#b", "colon": "a:b", "at": "a@b", "double-dot": "a..b", "trailing-slash": "web/", "leading-slash": "/web",
    "backslash": "a\\b", "zero-width": "we\u200db", "rtl-override": "web\u202egnp", "newline": "web\n",
}
bad_namespaces = dict(bad_names)
bad_namespaces.update({"dotted": "a.b", "64-chars": "a" * 64})
for key, name in bad_names.items():
    add(f"name-structured-extension-{key}", "name", body=js(envelope(name=name)), description=f"name extension {name!r}")
    add(f"name-ref-data-{key}", "name", body=js(envelope(data=ref_data(name=name), drop=("apiversion", "kind", "namespace", "name"))),
        description=f"no extensions; data.name {name!r}")
    add(f"name-resource-{key}", "name",
        body=js(envelope(type_="dev.knative.apiserver.resource.update", name=name, data=deployment(name=name))),
        description=f"resource event; extension and metadata.name {name!r}")
    if all(32 <= ord(c) < 127 for c in name):
        # The data says the same: a transport that drops an empty header must not make the event valid.
        add(f"name-binary-header-{key}", "name", content_type="application/json", headers=binary_headers(name=name),
            body=js(ref_data(name=name)), description=f"ce-name {name!r}")
for key, ns in bad_namespaces.items():
    add(f"namespace-structured-extension-{key}", "namespace", body=js(envelope(ns=ns)), description=f"namespace extension {ns!r}")
    add(f"namespace-ref-data-{key}", "namespace",
        body=js(envelope(data=ref_data(ns=ns), drop=("apiversion", "kind", "namespace", "name"))),
        description=f"no extensions; data.namespace {ns!r}")
    if all(32 <= ord(c) < 127 for c in ns):
        add(f"namespace-binary-header-{key}", "namespace", content_type="application/json", headers=binary_headers(ns=ns),
            body=js(ref_data(ns=ns)), description=f"ce-namespace {ns!r}")
for i, name in enumerate(["%2e%2e", "..%2f..%2fsecrets", "%2E%2E%2F"]):
    add(f"name-binary-percent-decoded-{i}", "name", content_type="application/json", headers=binary_headers(name=name),
        body=js(ref_data()), description=f"ce-name {name!r}: percent-decoded before validation")

# ---- 10. kinds that are not configured: ignored, never read ---------------------------------------------------------
not_configured = [("v1", "Secret"), ("v1", "ConfigMap"), ("v1", "ServiceAccount"), ("v1", "Pod"), ("v1", "Service"),
                  ("v1", "Endpoints"), ("rbac.authorization.k8s.io/v1", "Role"), ("rbac.authorization.k8s.io/v1", "RoleBinding"),
                  ("apps/v1beta1", "Deployment"), ("extensions/v1beta1", "Deployment"), ("apps/v1", "deployment"),
                  ("apps/v1", "DEPLOYMENT"), ("apps/V1", "Deployment"), ("Apps/v1", "Deployment"), ("apps/v1", "Deployment "),
                  ("apps/v1 ", "Deployment"), ("apps/v1beta2", "ReplicaSet"), ("batch/v1beta1", "CronJob"), ("batch/v2", "Job"),
                  ("caching.internal.knative.dev/v1alpha1", "Image"), ("serving.knative.dev/v1", "Service"),
                  ("apps/v1", "ControllerRevision"), ("v1", "PersistentVolumeClaim"), ("apps/v1", ""), ("", "Deployment")]
for i, (api_version, kind) in enumerate(not_configured):
    for verb in ["add", "update", "delete"]:
        # An empty header may be dropped on the way: then the data's empty value is malformed (400).
        add(f"kind-ref-{verb}-{i:02d}", "kind", content_type="application/json",
            headers=binary_headers(type_=f"dev.knative.apiserver.ref.{verb}", api_version=api_version.replace(" ", "%20"),
                                   kind=kind.replace(" ", "%20")),
            body=js(ref_data(api_version=api_version, kind=kind)), status=(400, 200) if "" in (api_version, kind) else (200,),
            result="ignored", description=f"ref.{verb} of {kind!r} {api_version!r}")
    add(f"kind-resource-update-{i:02d}", "kind",
        body=js(envelope(type_="dev.knative.apiserver.resource.update", api_version=api_version, kind=kind,
                         data=deployment(api_version=api_version, kind=kind))),
        status=(200,), result="ignored", description=f"resource.update of {kind!r} {api_version!r}")
secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": NS, "uid": "s-1"},
          "type": "Opaque", "data": {"password": "aHVudGVyMg=="}}
add("kind-secret-resource-object", "kind",
    body=js(envelope(type_="dev.knative.apiserver.resource.add", api_version="v1", kind="Secret", name="db", data=secret)),
    status=(200,), result="ignored", description="a whole Secret as the event data")
for i, (api_version, kind) in enumerate([("v1", "Node"), ("v1", "Namespace"), ("rbac.authorization.k8s.io/v1", "ClusterRole")]):
    add(f"kind-cluster-scoped-{i}", "kind", content_type="application/json",
        headers=binary_headers(api_version=api_version, kind=kind, ns="default"),
        body=js(ref_data(api_version=api_version, kind=kind, ns="default")), status=(200,), result="ignored",
        description=f"cluster-scoped {kind}")
    add(f"kind-cluster-scoped-no-namespace-{i}", "kind",
        body=js(envelope(api_version=api_version, kind=kind, ns="")), status=(400, 200), result="ignored",
        description=f"cluster-scoped {kind} with an empty namespace")

# ---- 11. data of another kind than the extensions claim -----------------------------------------------------------
claims = [
    ("secret-as-deployment", secret | {"metadata": {"name": "web", "namespace": NS, "uid": "s-1"}}),
    ("configmap-as-deployment", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web", "namespace": NS, "uid": "c-1"}}),
    ("other-name", deployment(name="api")),
    ("other-namespace", deployment(ns="kube-system")),
    ("other-version", deployment(api_version="apps/v1beta1")),
    ("core-group", deployment(api_version="v1")),
    ("statefulset", deployment(kind="StatefulSet")),
    ("lowercase-kind", deployment(kind="deployment")),
    ("no-namespace", deployment(metadata={"name": "web", "uid": "u-1", "generation": 1})),
]
for key, data in claims:
    add(f"claim-resource-update-{key}", "claim",
        body=js(envelope(type_="dev.knative.apiserver.resource.update", data=data)),
        description=f"extensions name Deployment {NS}/web; the data is {key}")
    add(f"claim-resource-add-binary-{key}", "claim", content_type="application/json",
        headers=binary_headers(type_="dev.knative.apiserver.resource.add"), body=js(data),
        description=f"binary: extensions name Deployment {NS}/web; the data is {key}")
add("claim-extensions-secret-data-deployment", "claim",
    body=js(envelope(type_="dev.knative.apiserver.resource.update", api_version="v1", kind="Secret", data=deployment())),
    status=(200,), result="ignored", description="extensions name a Secret: ignored whatever the data says")

# ---- 12. event types ---------------------------------------------------------------------------------------------
for i, (type_, status, result) in enumerate([
    ("com.example.evil", (200,), "ignored"), ("", (400,), None), ("dev.knative.apiserver.resource.patch", (400,), None),
    ("dev.knative.apiserver.ref.", (400,), None), ("dev.knative.apiserver.ref.ADD", (400,), None),
    ("DEV.KNATIVE.APISERVER.REF.ADD", (200,), "ignored"), ("dev.knative.apiserver.ref.add ", (400,), None),
    ("dev.knative.sources.ping.evil", (200,), "ignored"), ("dev.knative.apiserver.resource", (200,), "ignored"),
    ("dev.knative.apiserver.ref.add.extra", (400,), None), ("dev.knative.sources.Ping", (200,), "ignored"),
    (" dev.knative.sources.ping", (200,), "ignored"),
]):
    add(f"type-{i:02d}", "event-type", body=js(envelope(type_=type_, name="../x" if type_.startswith("dev.knative.api") and status == (200,) else "web")),
        status=status, result=result, description=f"type {type_!r}")

# ---- 13. other methods and paths ------------------------------------------------------------------------------------
for i, (method, path, status) in enumerate([
    ("GET", "/", (405,)), ("PUT", "/", (405,)), ("DELETE", "/", (405,)), ("PATCH", "/", (405,)), ("OPTIONS", "/", (405,)),
    ("POST", "/../etc/passwd", (404,)), ("POST", "/%2e%2e/%2e%2e/etc/passwd", (404,)), ("POST", "/apis/apps/v1/deployments", (404,)),
    ("GET", "/resync", (405,)), ("GET", "/dapr/subscribe", (404,)), ("POST", "/dapr/events", (404,)), ("POST", "/%2F", (404,)),
]):
    add(f"route-{i:02d}-{method.lower()}", "route", method=method, path=path, body=structured_secret, status=status,
        result="ignored" if 200 in status else None,
        description=f"{method} {path}")
add("route-query-string", "route", path="/?name=web&namespace=kube-system", body=structured_secret, status=(200,), result="ignored",
    description="a query string changes nothing")

# ---- 14. valid events that are ignored without any API call ---------------------------------------------------------
# (A Resource-mode event with an object that has no pod spec is no longer one: the object it carries is not trusted,
# the real one is read with a GET.)
add("valid-resource-delete", "valid-ignored",
    body=js(envelope(type_="dev.knative.apiserver.resource.delete", data=deployment())), status=(200,), result="deleted",
    description="a delete: garbage collection removes the Images, no API call")
add("valid-ref-delete", "valid-ignored", content_type="application/json",
    headers=binary_headers(type_="dev.knative.apiserver.ref.delete"), body=js(ref_data()), status=(200,), result="deleted",
    description="a Reference-mode delete")

# ---- 15. forged uids: a uid becomes a label value and a selector, so it must look like one: 400 ---------------------
for i, uid in enumerate(["a/b", "x y", "u" * 64, "-leading", "trailing-", "controller=x,generation", "\u00e9t\u00e9", "..", "a\nb"]):
    add(f"claim-forged-uid-{i:02d}", "claim",
        body=js(envelope(type_="dev.knative.apiserver.resource.update",
                         data=deployment(metadata={"name": "web", "namespace": NS, "uid": uid, "generation": 2}))),
        description=f"metadata.uid {uid!r} is no Kubernetes uid")


# ---- 16. senders that are not the sources (sender authentication on): 401 before anything is read ---------------------
def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(header, claims, signature=b"\x01" * 256):
    return f"{b64url(js(header).encode())}.{b64url(js(claims).encode())}.{b64url(signature)}"


AUD = "serving.knative.dev/service/cachier-system/cachier"
SOURCE_SA = "system:serviceaccount:cachier-system:cachier-oidc-sources.knative.dev-apiserversource"
claims = {"iss": "https://kubernetes.default.svc.cluster.local", "aud": [AUD], "sub": SOURCE_SA,
          "exp": 4102444800, "iat": 1700000000, "nbf": 1700000000}
ref_event = js(envelope())
forged = {
    "none": None,
    "empty-bearer": "Bearer ",
    "basic": "Basic YWRtaW46YWRtaW4=",
    "bearer-garbage": "Bearer garbage",
    "bearer-three-dots": "Bearer a.b.c",
    "bearer-empty-parts": "Bearer ..",
    "alg-none": "Bearer " + jwt({"alg": "none", "typ": "JWT"}, claims, b""),
    "alg-hs256-guessed-secret": "Bearer " + jwt({"alg": "HS256", "typ": "JWT"}, claims, b"\x02" * 32),
    "rs256-forged-signature": "Bearer " + jwt({"alg": "RS256", "kid": "test-key-1"}, claims),
    "rs256-unknown-key": "Bearer " + jwt({"alg": "RS256", "kid": "made-up-key"}, claims),
    "rs256-no-key-id": "Bearer " + jwt({"alg": "RS256"}, claims),
    "expired-forged": "Bearer " + jwt({"alg": "RS256", "kid": "test-key-1"}, dict(claims, exp=1700000600)),
    "jwe-shaped": "Bearer " + ".".join(["eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ", "a", "b", "c", "d"]),
    "huge-token": "Bearer " + jwt({"alg": "RS256", "kid": "test-key-1"}, dict(claims, pad="x" * 20000)),
    "header-not-json": "Bearer " + b64url(b"{{{") + "." + b64url(js(claims).encode()) + "." + b64url(b"\x01" * 256),
}
for name, value in forged.items():
    headers = [] if value is None else [["Authorization", value]]
    add(f"unauthenticated-event-{name}", "unauthenticated", headers=headers, body=ref_event, status=(401,), auth=True,
        description=f"a valid reference event with Authorization {'(none)' if value is None else value[:40]!r}")
add("unauthenticated-token-in-another-header", "unauthenticated", headers=[["X-Authorization", forged["rs256-forged-signature"]]],
    body=ref_event, status=(401,), auth=True, description="a token where no sender puts it")
add("unauthenticated-resync", "unauthenticated", path="/resync", content_type=None, body="", status=(401,), auth=True,
    description="POST /resync without a token: no cluster-wide LIST")
add("unauthenticated-resync-forged", "unauthenticated", path="/resync", content_type=None, body="", status=(401,), auth=True,
    headers=[["Authorization", forged["rs256-forged-signature"]]], description="POST /resync with a forged token")
add("unauthenticated-ping", "unauthenticated", content_type="application/json", body="{}", status=(401,), auth=True,
    headers=binary_headers(type_="dev.knative.sources.ping"), description="a ping event (a full resync) without a token")
add("unauthenticated-freeze-attempt", "unauthenticated", status=(401,), auth=True,
    body=js(envelope(type_="dev.knative.apiserver.resource.update",
                     data=deployment(metadata={"name": "web", "namespace": NS, "uid": "1a2b3c4d-0000-4000-8000-000000000001",
                                               "generation": 999999999}))),
    description="a Resource-mode event with generation 999999999 (the freeze) from a sender with no token")
add("unauthenticated-opt-out-attempt", "unauthenticated", status=(401,), auth=True,
    body=js(envelope(type_="dev.knative.apiserver.resource.update",
                     data=deployment(metadata={"name": "web", "namespace": NS, "uid": "1a2b3c4d-0000-4000-8000-000000000001",
                                               "generation": 3, "annotations": {"cachier.mattmoor.io/decorate": "false"}}))),
    description="a forged opt-out (decorate: false) with a real-looking uid, from a sender with no token")
add("unauthenticated-oversized-body", "oversized", content_type="application/cloudevents-batch+json", status=(401,), auth=True,
    repeat={"head": "[", "unit": js(envelope()) + ",", "count": LIMIT // 300, "tail": js(envelope()) + "]"},
    description="a body over the limit from a sender with no token: refused before it is read")
add("unauthenticated-oversized-batch", "oversized", content_type="application/cloudevents-batch+json", status=(401,), auth=True,
    repeat={"head": "[", "unit": js(envelope()) + ",", "count": 500, "tail": js(envelope()) + "]"},
    description="500 references from a sender with no token")

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "corpus.jsonl"), "w", encoding="utf-8") as out:
    for case in cases:
        out.write(json.dumps(case, ensure_ascii=True, separators=(",", ":")) + "\n")
print(f"{len(cases)} cases")
