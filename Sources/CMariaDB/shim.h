#include <mysql.h>

// Helpers for what Swift cannot call directly.
static inline int ferry_mysql_set_int_option(MYSQL *mysql, enum mysql_option option, unsigned int value) {
    return mysql_options(mysql, option, &value);
}

static inline int ferry_mysql_set_ulong_option(MYSQL *mysql, enum mysql_option option, unsigned long value) {
    return mysql_options(mysql, option, &value);
}
