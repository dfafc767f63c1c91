#include <mysql.h>

// Helpers for what Swift cannot call directly.
static inline int ferry_mysql_set_int_option(MYSQL *mysql, enum mysql_option option, unsigned int value) {
    return mysql_options(mysql, option, &value);
}

static inline int ferry_mysql_set_ulong_option(MYSQL *mysql, enum mysql_option option, unsigned long value) {
    return mysql_options(mysql, option, &value);
}

/// True when the server takes array-bound statements (MariaDB's COM_STMT_BULK_EXECUTE).
static inline int ferry_mysql_bulk_supported(MYSQL *mysql) {
    unsigned long capabilities = 0, extended = 0;
    if (mariadb_get_infov(mysql, MARIADB_CONNECTION_SERVER_CAPABILITIES, &capabilities)) return 0;
    if (mariadb_get_infov(mysql, MARIADB_CONNECTION_EXTENDED_SERVER_CAPABILITIES, &extended)) return 0;
    return !(capabilities & CLIENT_MYSQL) && (extended & (MARIADB_CLIENT_STMT_BULK_OPERATIONS >> 32)) != 0;
}

static inline int ferry_mysql_stmt_set_array_size(MYSQL_STMT *stmt, unsigned int size) {
    return mysql_stmt_attr_set(stmt, STMT_ATTR_ARRAY_SIZE, &size);
}
