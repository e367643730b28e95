// microhttpd.h expects these to be included first.
#include <sys/types.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <stdint.h>
#include <stdarg.h>
#include <microhttpd.h>

// MHD's info getters are variadic, which Swift cannot call, and have no `_va` twin.
// These fixed-argument wrappers expose the few facts the HTTP module needs.

/// The accepted socket of a connection, or -1.
static inline int polycom_mhd_connection_fd(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    return info ? (int) info->connect_fd : -1;
}

/// Sets one connection's idle timeout in seconds (0: none). MHD_YES on success.
static inline enum MHD_Result polycom_mhd_set_connection_timeout(struct MHD_Connection *connection,
                                                                 unsigned int seconds) {
    return MHD_set_connection_option(connection, MHD_CONNECTION_OPTION_TIMEOUT, seconds);
}

/// The peer's address (IPv4 or IPv6), or NULL.
static inline const struct sockaddr *polycom_mhd_client_address(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return info ? info->client_addr : NULL;
}
