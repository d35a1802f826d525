#include "devpg.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct lca_devpg {
    char dir[512];
    char bin[256];
    uid_t uid;
    gid_t gid;
    int as_other; /* run the tools as uid/gid */
};

int lca_devpg_free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

    if (fd < 0) {
        return 0;
    }
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0) {
        port = ntohs(a.sin_port);
    }
    close(fd);
    return port;
}

/* The newest /usr/lib/postgresql/<N>/bin holding initdb. */
static int find_bin(char *out, size_t len)
{
    DIR *d = opendir("/usr/lib/postgresql");
    struct dirent *e;
    long best = -1;
    char path[sizeof(e->d_name) + 64];

    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        long v = strtol(e->d_name, NULL, 10);
        snprintf(path, sizeof(path), "/usr/lib/postgresql/%s/bin/initdb", e->d_name);
        if (v > best && access(path, X_OK) == 0 && strlen(path) < len) {
            best = v;
            memcpy(out, path, strlen(path) - strlen("/initdb"));
            out[strlen(path) - strlen("/initdb")] = '\0';
        }
    }
    closedir(d);
    return best >= 0 ? 0 : -1;
}

/* Runs argv (argv[0] a full path) as the server user, output to dir/setup.log. */
static int run(const struct lca_devpg *pg, char *const argv[])
{
    char log[600];
    pid_t pid;
    int st = 0;

    snprintf(log, sizeof(log), "%s/setup.log", pg->dir);
    pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        FILE *f = fopen(log, "a");
        if (f != NULL) {
            dup2(fileno(f), 1);
            dup2(fileno(f), 2);
        }
        if (pg->as_other && (setgid(pg->gid) != 0 || setuid(pg->uid) != 0)) {
            _exit(126);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    if (waitpid(pid, &st, 0) < 0) {
        return -1;
    }
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int prepare_user(struct lca_devpg *pg, struct lca_err *err)
{
    struct passwd *pw;

    if (geteuid() != 0) {
        return LCA_OK;
    }
    if ((pw = getpwnam("postgres")) == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "no_postgres_user",
                           "running as root needs the `postgres` system user (Debian's "
                           "postgresql package creates it)");
    }
    pg->uid = pw->pw_uid;
    pg->gid = pw->pw_gid;
    pg->as_other = 1;
    if (chown(pg->dir, pg->uid, pg->gid) != 0) {
        return lca_err_set(err, LCA_ERR_FATAL, "chown", "cannot hand %s to postgres: %s",
                           pg->dir, strerror(errno));
    }
    return LCA_OK;
}

int lca_devpg_start(const char *dir, char *uri, size_t urilen, struct lca_devpg **out,
                    struct lca_err *err)
{
    struct lca_devpg *pg = calloc(1, sizeof(*pg));
    char initdb[300], pgctl[300], data[600], opts[700], log[600];
    int port = lca_devpg_free_port();

    if (pg == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
    }
    snprintf(pg->dir, sizeof(pg->dir), "%s", dir);
    if (find_bin(pg->bin, sizeof(pg->bin)) != 0) {
        free(pg);
        return lca_err_set(err, LCA_ERR_FATAL, "no_postgres",
                           "PostgreSQL server binaries not found under /usr/lib/postgresql "
                           "(apt-get install postgresql)");
    }
    if (mkdir(dir, 0700) != 0 || prepare_user(pg, err) != LCA_OK || port == 0) {
        if (err->cls == LCA_ERR_NONE) {
            lca_err_set(err, LCA_ERR_FATAL, "devpg", "cannot create %s: %s", dir,
                        strerror(errno));
        }
        rmdir(dir);
        free(pg);
        return LCA_FAIL;
    }
    snprintf(initdb, sizeof(initdb), "%s/initdb", pg->bin);
    snprintf(pgctl, sizeof(pgctl), "%s/pg_ctl", pg->bin);
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(log, sizeof(log), "%s/postgres.log", dir);
    snprintf(opts, sizeof(opts), "-h 127.0.0.1 -p %d -k %s -c fsync=off", port, dir);
    {
        char *const a1[] = {initdb, "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
                            "--no-instructions", NULL};
        char *const a2[] = {pgctl, "-D", data, "-l", log, "-o", opts, "-w", "-t", "60", "start",
                            NULL};
        if (run(pg, a1) != 0 || run(pg, a2) != 0) {
            lca_err_set(err, LCA_ERR_FATAL, "devpg",
                        "starting PostgreSQL failed: see %s/setup.log and %s", dir, log);
            free(pg);
            return LCA_FAIL;
        }
    }
    snprintf(uri, urilen, "postgresql://postgres@127.0.0.1:%d/postgres", port);
    *out = pg;
    return LCA_OK;
}

void lca_devpg_stop(struct lca_devpg *pg)
{
    char pgctl[300], data[600];
    pid_t pid;

    if (pg == NULL) {
        return;
    }
    snprintf(pgctl, sizeof(pgctl), "%s/pg_ctl", pg->bin);
    snprintf(data, sizeof(data), "%s/data", pg->dir);
    {
        char *const a[] = {pgctl, "-D", data, "-m", "fast", "-w", "stop", NULL};
        (void)run(pg, a);
    }
    pid = fork();
    if (pid == 0) {
        execl("/bin/rm", "rm", "-rf", pg->dir, (char *)NULL);
        _exit(127);
    }
    if (pid > 0) {
        waitpid(pid, NULL, 0);
    }
    free(pg);
}
