#!/usr/bin/env python3
"""A loopback stand-in for Azure Blob Storage, for Ferry's tests only.

Path-style like the Azurite emulator: http://127.0.0.1:PORT/ACCOUNT/CONTAINER/BLOB. Blobs live in
memory. Every request must carry either a Shared Key Authorization header or a SAS token, and
both are checked with the `azure-storage-blob` package's OWN signing code (SharedKeyCredentialPolicy
and generate_container_sas / generate_blob_sas), an independent reference: Ferry's signer is never
checked against itself. A wrong key or token is 403 AuthenticationFailed, as Azure answers.

Operations: create container, Put Blob, Put Block, Put Block List, Get Blob (Range and x-ms-range),
Get Blob Properties, Delete Blob, List Blobs (prefix, delimiter, marker, maxresults).
Usage: azure_blob_server.py PORT ACCOUNT BASE64KEY
"""
import base64
import datetime
import hashlib
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qsl, unquote
from xml.sax.saxutils import escape

from azure.core.pipeline import PipelineContext, PipelineRequest
from azure.core.rest import HttpRequest
from azure.storage.blob import generate_blob_sas, generate_container_sas
from azure.storage.blob._shared.authentication import SharedKeyCredentialPolicy

PORT, ACCOUNT, KEY = int(sys.argv[1]), sys.argv[2], sys.argv[3]
POLICY = SharedKeyCredentialPolicy(ACCOUNT, KEY)
LOCK = threading.Lock()
CONTAINERS = {}   # name -> {blob: (bytes, etag, last_modified)}
BLOCKS = {}       # (container, blob) -> {block_id: bytes}


def expected_shared_key(method, url, headers):
    """The Authorization header azure-storage-blob would send for this request."""
    request = HttpRequest(method, url, headers={k: v for k, v in headers.items() if k.lower() != "authorization"})
    pipeline_request = PipelineRequest(request, PipelineContext(None))
    POLICY.on_request(pipeline_request)
    return pipeline_request.http_request.headers.get("Authorization") or pipeline_request.http_request.headers.get("authorization")


def sas_valid(query, container, blob, method):
    sig = query.get("sig")
    if not sig:
        return False
    kwargs = dict(account_key=KEY, permission=query.get("sp"), expiry=query.get("se"), start=query.get("st"),
                  protocol=query.get("spr"), ip=query.get("sip"))
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if query.get("sr") == "c":
        token = generate_container_sas(ACCOUNT, container, **kwargs)
    elif query.get("sr") == "b":
        token = generate_blob_sas(ACCOUNT, container, blob, **kwargs)
    else:
        return False
    if dict(parse_qsl(token)).get("sig") != sig or dict(parse_qsl(token)).get("sv") != query.get("sv"):
        return False
    expiry = query.get("se", "")
    try:
        if datetime.datetime.fromisoformat(expiry.replace("Z", "+00:00")) < datetime.datetime.now(datetime.timezone.utc):
            return False
    except ValueError:
        return False
    needed = {"GET": "r", "HEAD": "r", "PUT": "w", "DELETE": "d"}[method]
    if method == "GET" and query.get("comp") == "list":
        needed = "l"
    return needed in query.get("sp", "")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.command, self.path.split("?")[0]))

    def reply(self, status, body=b"", headers=None, code=None):
        self.send_response(status)
        if code:
            self.send_header("x-ms-error-code", code)
            body = ('<?xml version="1.0" encoding="utf-8"?><Error><Code>%s</Code><Message>%s</Message></Error>' % (code, code)).encode()
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)) if not (headers and "Content-Length" in headers) else headers["Content-Length"])
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        data = b""
        while len(data) < length:
            chunk = self.rfile.read(length - len(data))
            if not chunk:
                break
            data += chunk
        return data

    def handle_any(self):
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        segments = parts.path.split("/", 3)   # '', account, container, blob
        data = self.body() if self.command == "PUT" else b""
        if len(segments) < 3 or segments[1] != ACCOUNT:
            return self.reply(400, code="InvalidUri")
        container = unquote(segments[2])
        blob = unquote(segments[3]) if len(segments) > 3 else ""
        url = "http://%s%s" % (self.headers.get("Host", "127.0.0.1"), self.path)
        auth = self.headers.get("Authorization")
        if auth is not None:
            headers = {k: v for k, v in self.headers.items()}
            if auth != expected_shared_key(self.command, url, headers):
                return self.reply(403, code="AuthenticationFailed")
        elif not sas_valid(query, container, blob, self.command):
            return self.reply(403, code="AuthenticationFailed")
        with LOCK:
            return self.operate(container, blob, query, data)

    def operate(self, container, blob, query, data):
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")
        if self.command == "PUT" and query.get("restype") == "container":
            if container in CONTAINERS:
                return self.reply(409, code="ContainerAlreadyExists")
            CONTAINERS[container] = {}
            return self.reply(201)
        if container not in CONTAINERS:
            return self.reply(404, code="ContainerNotFound")
        blobs = CONTAINERS[container]
        if self.command == "GET" and query.get("comp") == "list":
            return self.list(container, query)
        if not blob:
            return self.reply(400, code="InvalidUri")
        if self.command == "PUT":
            comp = query.get("comp")
            if comp == "block":
                BLOCKS.setdefault((container, blob), {})[query["blockid"]] = data
                return self.reply(201)
            if comp == "blocklist":
                staged = BLOCKS.get((container, blob), {})
                import re
                ids = re.findall(rb"<(?:Latest|Uncommitted|Committed)>([^<]*)</", data)
                content = b""
                for block_id in ids:
                    block_id = block_id.decode()
                    if block_id not in staged:
                        return self.reply(400, code="InvalidBlockList")
                    content += staged[block_id]
                BLOCKS.pop((container, blob), None)
                blobs[blob] = (content, '"%s"' % hashlib.md5(content).hexdigest(), now)
                return self.reply(201, headers={"ETag": blobs[blob][1]})
            if self.headers.get("x-ms-blob-type") != "BlockBlob":
                return self.reply(400, code="InvalidHeaderValue")
            blobs[blob] = (data, '"%s"' % hashlib.md5(data).hexdigest(), now)
            return self.reply(201, headers={"ETag": blobs[blob][1]})
        if blob not in blobs:
            return self.reply(404, code="BlobNotFound")
        content, etag, modified = blobs[blob]
        if self.command == "DELETE":
            del blobs[blob]
            return self.reply(202)
        headers = {"ETag": etag, "Last-Modified": modified, "x-ms-blob-type": "BlockBlob",
                   "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
        wanted = self.headers.get("x-ms-range") or self.headers.get("Range")
        if wanted and wanted.startswith("bytes="):
            first, _, last = wanted[6:].partition("-")
            first = int(first)
            last = min(int(last), len(content) - 1) if last else len(content) - 1
            if first >= len(content):
                return self.reply(416, code="InvalidRange")
            headers["Content-Range"] = "bytes %d-%d/%d" % (first, last, len(content))
            return self.reply(206, content[first:last + 1], headers)
        if self.command == "HEAD":
            headers["Content-Length"] = str(len(content))
            return self.reply(200, b"", headers)
        return self.reply(200, content, headers)

    def list(self, container, query):
        prefix = query.get("prefix", "")
        delimiter = query.get("delimiter")
        marker = query.get("marker", "")
        limit = int(query.get("maxresults", "5000"))
        names = sorted(n for n in CONTAINERS[container] if n.startswith(prefix) and n > marker)
        items, prefixes, next_marker = [], [], ""
        for name in names:
            if len(items) + len(prefixes) >= limit:
                next_marker = items[-1] if items else prefixes[-1]
                break
            rest = name[len(prefix):]
            if delimiter and delimiter in rest:
                sub = prefix + rest[: rest.index(delimiter) + len(delimiter)]
                if sub not in prefixes:
                    prefixes.append(sub)
                continue
            items.append(name)
        xml = ['<?xml version="1.0" encoding="utf-8"?><EnumerationResults><Blobs>']
        for name in items:
            content, etag, modified = CONTAINERS[container][name]
            xml.append("<Blob><Name>%s</Name><Properties><Content-Length>%d</Content-Length><Etag>%s</Etag><BlobType>BlockBlob</BlobType></Properties></Blob>"
                       % (escape(name), len(content), escape(etag)))
        for sub in prefixes:
            xml.append("<BlobPrefix><Name>%s</Name></BlobPrefix>" % escape(sub))
        xml.append("</Blobs><NextMarker>%s</NextMarker></EnumerationResults>" % escape(next_marker))
        return self.reply(200, "".join(xml).encode(), {"Content-Type": "application/xml"})

    do_GET = do_PUT = do_HEAD = do_DELETE = handle_any


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
