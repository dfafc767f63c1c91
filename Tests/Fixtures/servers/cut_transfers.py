"""Loopback servers that end a download early, for Ferry's tests (CutTransferTests).

Usage: cut_transfers.py FILE CERT KEY. Prints "PORTS <ftp> <https>" once both listen, then
serves until killed. Paths (FTP RETR and HTTPS GET alike):
  /whole.sql     all of FILE (FTP: then 226; HTTPS: no Content-Length, then close_notify)
  /cut-close.sql half of FILE, then the data and control connections close (FTP: no 226;
                 HTTPS: the TCP connection closes without TLS's close_notify)
  /cut-426.sql   half of FILE, then FTP's "426 Connection closed; transfer aborted"
"""
import socket, ssl, sys, threading

data = open(sys.argv[1], "rb").read()
half = data[: data.rfind(b"\n", 0, len(data) // 2) + 1]  # whole statements: only the end is missing


def listener():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    return s


def ftp(conn):
    f = conn.makefile("rwb", buffering=0)

    def say(text):
        f.write((text + "\r\n").encode())

    say("220 cut-transfers")
    passive = None
    while True:
        line = f.readline().decode(errors="replace").strip()
        if not line:
            return
        verb, _, arg = line.partition(" ")
        verb = verb.upper()
        if verb == "USER":
            say("331 password")
        elif verb == "PASS":
            say("230 in")
        elif verb in ("TYPE", "OPTS", "MODE", "STRU"):
            say("200 ok")
        elif verb == "SIZE":
            say("213 %d" % len(data))
        elif verb in ("EPSV", "PASV"):
            passive = listener()
            port = passive.getsockname()[1]
            if verb == "EPSV":
                say("229 Entering Extended Passive Mode (|||%d|)" % port)
            else:
                say("227 Entering Passive Mode (127,0,0,1,%d,%d)" % (port // 256, port % 256))
        elif verb == "RETR" and passive is not None:
            say("150 opening")
            d, _ = passive.accept()
            d.sendall(data if arg.endswith("/whole.sql") else half)
            d.close()
            if arg.endswith("/whole.sql"):
                say("226 done")
            elif arg.endswith("/cut-426.sql"):
                say("426 Connection closed; transfer aborted")
            else:
                conn.close()
                return
        elif verb == "QUIT":
            say("221 bye")
            return
        else:
            say("502 not here")


def https(raw, context):
    try:
        conn = context.wrap_socket(raw, server_side=True)
        request = conn.recv(65536).decode(errors="replace")
        path = request.split(" ")[1] if " " in request else "/"
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/sql\r\nConnection: close\r\n\r\n")
        if path.endswith("/whole.sql"):
            conn.sendall(data)
            conn.unwrap().close()  # close_notify, then the TCP close
        else:
            conn.sendall(half)
            raw.shutdown(socket.SHUT_RDWR)  # the TCP connection ends with no close_notify
            raw.close()
    except (OSError, ssl.SSLError):
        pass


def serve(server, handle):
    while True:
        conn, _ = server.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[2], sys.argv[3])
ftp_server, https_server = listener(), listener()
threading.Thread(target=serve, args=(ftp_server, ftp), daemon=True).start()
threading.Thread(target=serve, args=(https_server, lambda c: https(c, context)), daemon=True).start()
print("PORTS %d %d" % (ftp_server.getsockname()[1], https_server.getsockname()[1]), flush=True)
threading.Event().wait()
