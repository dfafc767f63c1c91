"""A loopback FTP server for Ferry's ftp:// backup tests (pyftpdlib, an FTP server independent of
Ferry's client): user WRITER may list, read, create, rename and delete under ROOT; user READER may
only list and read there; user FULL has WRITER's permissions (MLST says it may create files) but
every upload is refused with 552, as a server answers a login over its quota or a full disk; no
anonymous login. Passive data ports are the kernel's free ones.
Usage: ftp_backup_server.py PORT ROOT WRITER READER PASSWORD [FULL]"""
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

port, root, writer, reader, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
full = sys.argv[6] if len(sys.argv) > 6 else None
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
FTPServer(("127.0.0.1", port), handler).serve_forever()
