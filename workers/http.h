/*
 * http — the thin libmicrohttpd adapter of `ledgerca api` (no other module includes
 * <microhttpd.h>).
 *
 * One daemon, one thread per connection (MHD_USE_THREAD_PER_CONNECTION): a handler may block
 * (a Consul blocking query, a Kafka round trip) without stalling other clients. The adapter
 * owns the limits every request meets before a handler sees it:
 *   - a request body larger than max_body bytes is answered 413 in Vault's error form; a
 *     declared Content-Length above the limit is refused before the body is read;
 *   - a connection idle for conn_timeout_s seconds (a slow or abandoned client) is closed;
 *   - at most max_conns connections at once (further ones are refused by MHD).
 * The handler fills a struct lca_http_resp; the adapter sends it and frees its body.
 * Threads: the handler runs on connection threads, concurrently; it must be thread-safe.
 */
#ifndef LCA_HTTP_H
#define LCA_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* One request, as the handler sees it. Every pointer is borrowed for the handler call. */
struct lca_http_req {
    const char *method;   /* "GET", "LIST", "POST", ... as sent */
    const char *path;     /* URL path, percent-decoded by MHD, without the query string */
    const char *body;     /* NUL-terminated copy of the body ("" when none) */
    size_t body_len;
    const char *token;    /* X-Vault-Token, else the Bearer token of Authorization; NULL */
    void *conn;           /* the MHD connection (for lca_http_query) */
};

/* The answer. body is malloc'd (or NULL for an empty body) and freed by the adapter. */
struct lca_http_resp {
    int status;               /* HTTP status; 0 means 500 */
    const char *content_type; /* static string; NULL: application/json */
    char *body;
    size_t len;
    char consul_index[24];    /* X-Consul-Index value when non-empty */
};

typedef void lca_http_handler(void *ctx, const struct lca_http_req *req,
                              struct lca_http_resp *resp);

struct lca_http_opts {
    const char *listen;       /* "host:port" (IPv4 dotted quad); port 0 picks a free port */
    size_t max_body;          /* bytes; 0: 1 MiB */
    unsigned conn_timeout_s;  /* idle connection timeout; 0: 30 s */
    unsigned max_conns;       /* 0: 512 */
    lca_http_handler *handler;
    void *ctx;                /* passed to handler */
};

struct lca_http;

/* Starts the daemon. *out set only on success. Errors: BAD_INPUT for a malformed listen
 * address, FATAL when the socket cannot be bound. */
int lca_http_start(const struct lca_http_opts *o, struct lca_http **out,
                   struct lca_err *err) LCA_MUST_USE;

/* The bound port (useful with port 0). */
uint16_t lca_http_port(const struct lca_http *h);

/* Stops the daemon (waits for connection threads) and frees it. NULL-safe. */
void lca_http_stop(struct lca_http *h);

/* The value of query argument `key` of req, or NULL. A key without a value gives "". */
const char *lca_http_query(const struct lca_http_req *req, const char *key);

/* Sets resp to status with a copy of body[0..len) of the given content type. */
void lca_http_set(struct lca_http_resp *resp, int status, const char *content_type,
                  const void *body, size_t len);

/* Sets resp to Vault's error form {"errors": [msg]} with status (msg is JSON-escaped). */
void lca_http_error(struct lca_http_resp *resp, int status, const char *msg);

#endif
