"""A loopback FTP server for Ferry's ftp:// backup tests (pyftpdlib, an FTP server independent of
Ferry's client): user WRITER may list, read, create, rename and delete under ROOT; user READER may
only list and read there; no anonymous login. Passive data ports are the kernel's free ones.
Usage: ftp_backup_server.py PORT ROOT WRITER READER PASSWORD"""
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

port, root, writer, reader, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
auth = DummyAuthorizer()
auth.add_user(writer, password, root, perm="elradfmw")
auth.add_user(reader, password, root, perm="elr")
handler = FTPHandler
handler.authorizer = auth
FTPServer(("127.0.0.1", port), handler).serve_forever()
