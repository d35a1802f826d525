/* http — libmicrohttpd adapter (see http.h). */
#include "http.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTTP_DEFAULT_MAX_BODY (1024u * 1024u)

struct lca_http {
    struct MHD_Daemon *d;
    struct lca_http_opts o;
    uint16_t port;
};

/* Per-request state kept between MHD's calls of the access handler. */
struct upload {
    char *buf;
    size_t len, cap;
    int too_large;
    int answered; /* a response was queued early (declared body too large) */
};

/* Frees a string json_dumps returned: jansson's allocator may be the wiping one
 * (lca_json_install_wiping_alloc), whose blocks plain free() must not see. */
static void jfree(void *p)
{
    json_malloc_t m;
    json_free_t f;

    json_get_alloc_funcs(&m, &f);
    if (p != NULL) {
        f(p);
    }
}

void lca_http_set(struct lca_http_resp *resp, int status, const char *content_type,
                  const void *body, size_t len)
{
    free(resp->body);
    resp->body = NULL;
    resp->len = 0;
    resp->status = status;
    resp->content_type = content_type;
    if (len > 0 && (resp->body = malloc(len)) != NULL) {
        memcpy(resp->body, body, len);
        resp->len = len;
    }
}

void lca_http_error(struct lca_http_resp *resp, int status, const char *msg)
{
    json_t *j = json_pack("{s:[s]}", "errors", msg != NULL ? msg : "");
    char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

    if (text != NULL) {
        lca_http_set(resp, status, "application/json", text, strlen(text));
    } else {
        lca_http_set(resp, status, "application/json", "{\"errors\":[]}", 13);
    }
    jfree(text);
    json_decref(j);
}

const char *lca_http_query(const struct lca_http_req *req, const char *key)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)req->conn,
                                       MHD_GET_ARGUMENT_KIND, key);
}

static const char *request_token(struct MHD_Connection *c)
{
    const char *t = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Vault-Token");
    const char *a;

    if (t != NULL && t[0] != '\0') {
        return t;
    }
    a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (a != NULL && strncasecmp(a, "Bearer ", 7) == 0 && a[7] != '\0') {
        return a + 7;
    }
    return NULL;
}

static enum MHD_Result send_resp(struct MHD_Connection *c, struct lca_http_resp *r)
{
    struct MHD_Response *mr;
    enum MHD_Result rc;
    unsigned status = r->status > 0 ? (unsigned)r->status : 500u;

    mr = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
    if (mr == NULL) {
        free(r->body);
        r->body = NULL;
        return MHD_NO;
    }
    r->body = NULL; /* owned by the response now */
    if (r->len > 0 || status != 204) {
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE,
                                r->content_type != NULL ? r->content_type : "application/json");
    }
    MHD_add_response_header(mr, "Cache-Control", "no-store");
    if (r->consul_index[0] != '\0') {
        MHD_add_response_header(mr, "X-Consul-Index", r->consul_index);
    }
    rc = MHD_queue_response(c, status, mr);
    MHD_destroy_response(mr);
    return rc;
}

static enum MHD_Result too_large(struct lca_http *h, struct MHD_Connection *c)
{
    struct lca_http_resp r;
    char msg[96];

    memset(&r, 0, sizeof(r));
    snprintf(msg, sizeof(msg), "request body too large: the limit is %zu bytes", h->o.max_body);
    lca_http_error(&r, 413, msg);
    return send_resp(c, &r);
}

/* Appends an upload chunk, or marks the request too large (the rest is discarded). */
static void take_chunk(struct lca_http *h, struct upload *u, const char *data, size_t n)
{
    if (u->too_large || n > h->o.max_body - u->len) {
        u->too_large = 1;
        return;
    }
    if (u->len + n + 1 > u->cap) {
        size_t cap = (u->len + n + 1) * 2;
        char *b = realloc(u->buf, cap > h->o.max_body + 1 ? h->o.max_body + 1 : cap);

        if (b == NULL) {
            u->too_large = 1;
            return;
        }
        u->buf = b;
        u->cap = cap > h->o.max_body + 1 ? h->o.max_body + 1 : cap;
    }
    memcpy(u->buf + u->len, data, n);
    u->len += n;
    u->buf[u->len] = '\0';
}

/* First call for a request: per-request state, and an early 413 for a declared oversize body. */
static enum MHD_Result first_call(struct lca_http *h, struct MHD_Connection *c, void **con_cls)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    struct upload *u = calloc(1, sizeof(*u));

    if (u == NULL) {
        return MHD_NO;
    }
    *con_cls = u;
    if (cl != NULL && strtoull(cl, NULL, 10) > h->o.max_body) {
        u->answered = 1;
        return too_large(h, c);
    }
    return MHD_YES;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    struct lca_http *h = cls;
    struct upload *u = *con_cls;
    struct lca_http_req req;
    struct lca_http_resp resp;

    (void)version;
    if (u == NULL) {
        return first_call(h, c, con_cls);
    }
    if (*upload_data_size > 0) {
        if (!u->answered) {
            take_chunk(h, u, upload_data, *upload_data_size);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (u->answered) {
        return MHD_YES;
    }
    if (u->too_large) {
        return too_large(h, c);
    }
    memset(&req, 0, sizeof(req));
    memset(&resp, 0, sizeof(resp));
    req.method = method;
    req.path = url;
    req.body = u->buf != NULL ? u->buf : "";
    req.body_len = u->len;
    req.token = request_token(c);
    req.conn = c;
    h->o.handler(h->o.ctx, &req, &resp);
    return send_resp(c, &resp);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct upload *u = *con_cls;

    (void)cls;
    (void)c;
    (void)toe;
    if (u != NULL) {
        free(u->buf);
        free(u);
        *con_cls = NULL;
    }
}

static int parse_listen(const char *s, struct sockaddr_in *sa, struct lca_err *err)
{
    char host[64];
    const char *colon = s != NULL ? strrchr(s, ':') : NULL;
    char *end = NULL;
    long port;

    if (colon == NULL || (size_t)(colon - s) >= sizeof(host)) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_listen", "listen address must be host:port");
    }
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    port = strtol(colon + 1, &end, 10);
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    if (*end != '\0' || port < 0 || port > 65535 || colon[1] == '\0' ||
        inet_pton(AF_INET, host[0] != '\0' ? host : "0.0.0.0", &sa->sin_addr) != 1) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_listen",
                           "listen address must be an IPv4 address and a port, e.g. "
                           "127.0.0.1:8200");
    }
    sa->sin_port = htons((uint16_t)port);
    return LCA_OK;
}

int lca_http_start(const struct lca_http_opts *o, struct lca_http **out, struct lca_err *err)
{
    struct sockaddr_in sa;
    struct lca_http *h;
    const union MHD_DaemonInfo *info;

    if (o->handler == NULL || parse_listen(o->listen, &sa, err) != LCA_OK) {
        return o->handler == NULL ? lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_args", "no handler")
                                  : LCA_FAIL;
    }
    if ((h = calloc(1, sizeof(*h))) == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "no_memory", "out of memory");
    }
    h->o = *o;
    h->o.max_body = o->max_body != 0 ? o->max_body : HTTP_DEFAULT_MAX_BODY;
    h->d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, on_access, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)(o->conn_timeout_s != 0 ? o->conn_timeout_s : 30),
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)(o->max_conns != 0 ? o->max_conns : 512),
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_END);
    if (h->d == NULL) {
        free(h);
        return lca_err_set(err, LCA_ERR_FATAL, "listen_failed", "cannot listen on %s", o->listen);
    }
    info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info != NULL ? info->port : ntohs(sa.sin_port);
    *out = h;
    return LCA_OK;
}

uint16_t lca_http_port(const struct lca_http *h)
{
    return h->port;
}

void lca_http_stop(struct lca_http *h)
{
    if (h == NULL) {
        return;
    }
    MHD_stop_daemon(h->d);
    free(h);
}
