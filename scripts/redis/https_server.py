"""A loopback HTTPS file server for Ferry's tests: python's http.server wrapped in TLS.
Usage: https_server.py PORT DIR CERT KEY"""
import functools
import http.server
import ssl
import sys

port, root, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
