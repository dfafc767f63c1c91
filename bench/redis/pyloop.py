"""Peers for bench/redis/bench.sh, with a minimal pipelined RESP client (no redis-py needed).
  pyloop.py dump SRC_PORT DST_PORT DST_DB     pipelined SCAN + DUMP + PTTL -> RESTORE REPLACE
  pyloop.py migrate SRC_PORT DST_PORT DST_DB  SCAN + MIGRATE ... COPY REPLACE KEYS, 1,000 a batch
Prints: keys=N seconds=S peak_rss_kb=K"""
import resource, socket, sys, time

class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.s.makefile("rb", buffering=1 << 20)
        self.out = []
    def send(self, *args):
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            if not isinstance(a, bytes): a = str(a).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.out.append(b"".join(parts))
    def flush(self):
        self.s.sendall(b"".join(self.out)); self.out = []
    def reply(self):
        line = self.f.readline()
        t, rest = line[:1], line[1:-2]
        if t == b"+": return rest
        if t == b"-": raise RuntimeError(rest.decode())
        if t == b":": return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0: return None
            data = self.f.read(n + 2)
            return data[:-2]
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise RuntimeError("bad reply %r" % line)
    def call(self, *args):
        self.send(*args); self.flush(); return self.reply()

mode, src_port, dst_port, dst_db = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
src, dst = Conn(src_port), Conn(dst_port)
dst.call("SELECT", dst_db)
start = time.time(); total = 0; cursor = b"0"
while True:
    cursor, keys = src.call("SCAN", cursor, "COUNT", 1000)
    if keys:
        if mode == "dump":
            for k in keys: src.send("DUMP", k); src.send("PTTL", k)
            src.flush()
            for k in keys:
                payload, ttl = src.reply(), src.reply()
                if payload is None: continue
                dst.send("RESTORE", k, max(ttl, 0), payload, "REPLACE")
            n = len(dst.out); dst.flush()
            for _ in range(n): dst.reply()
        else:
            src.call("MIGRATE", "127.0.0.1", dst_port, "", dst_db, 60000, "COPY", "REPLACE", "KEYS", *keys)
        total += len(keys)
    if cursor == b"0": break
elapsed = time.time() - start
print("keys=%d seconds=%.3f peak_rss_kb=%d" % (total, elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
