"""A loopback FTP server for Ferry's tests: one user (read-only) and anonymous, both on one directory.
Usage: ftp_server.py PORT DIR USER PASSWORD"""
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

port, root, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
auth = DummyAuthorizer()
auth.add_user(user, password, root, perm="elr")
auth.add_anonymous(root, perm="elr")
handler = FTPHandler
handler.authorizer = auth
handler.passive_ports = range(64000, 64100)
FTPServer(("127.0.0.1", port), handler).serve_forever()
