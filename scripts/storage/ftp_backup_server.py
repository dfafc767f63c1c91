"""A loopback FTP server for Ferry's ftp:// backup tests (pyftpdlib, an FTP server independent of
Ferry's client): user WRITER may list, read, create, rename and delete under ROOT; user READER may
only list and read there; user FULL has WRITER's permissions (MLST says it may create files) but
every upload is refused with 552, as a server answers a login over its quota or a full disk; no
anonymous login. Passive data ports are the kernel's free ones.
With --tls CERT KEY (first), explicit FTPS (RFC 4217, pyftpdlib's TLS_FTPHandler, pyOpenSSL): the
login and every data connection must be TLS (a USER before AUTH TLS, or a transfer without PROT P,
is refused), so a client that sends anything in clear fails.
Usage: ftp_backup_server.py [--tls CERT KEY] PORT ROOT WRITER READER PASSWORD [FULL]"""
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

args = sys.argv[1:]
tls = None
if args[:1] == ["--tls"]:
    tls, args = (args[1], args[2]), args[3:]
    from pyftpdlib.handlers import TLS_FTPHandler as FTPHandler  # noqa: F811
port, root, writer, reader, password = int(args[0]), args[1], args[2], args[3], args[4]
full = args[5] if len(args) > 5 else None
auth = DummyAuthorizer()
auth.add_user(writer, password, root, perm="elradfmw")
auth.add_user(reader, password, root, perm="elr")
if full:
    auth.add_user(full, password, root, perm="elradfmw")


class Handler(FTPHandler):
    def ftp_STOR(self, file, mode="w"):
        if full and self.username == full:
            self.respond("552 Requested file action aborted. Exceeded storage allocation.")
            return
        return super().ftp_STOR(file, mode)


handler = Handler
handler.authorizer = auth
if tls:
    handler.certfile, handler.keyfile = tls
    handler.tls_control_required = True
    handler.tls_data_required = True
FTPServer(("127.0.0.1", port), handler).serve_forever()
