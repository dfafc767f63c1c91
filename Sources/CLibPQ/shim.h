#include <libpq-fe.h>

// Notices (NOTICE, WARNING from the server) would go to stderr through libpq's default
// processor; Ferry's output is its own.
static void ferry_pq_ignore_notice(void *arg, const char *message) { (void)arg; (void)message; }

static inline void ferry_pq_silence_notices(PGconn *conn) {
    PQsetNoticeProcessor(conn, ferry_pq_ignore_notice, NULL);
}
