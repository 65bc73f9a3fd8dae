/* vaultc.c: the keeper's client (vaultc.h). */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "diag.h"
#include "exec.h"
#include "oauth.h"
#include "proto.h"
#include "secmem.h"
#include "vaultc.h"

static int fd = -1;
static time_t deadline;		/* fa_ask_until's, or 0 */

void
fa_vaultc_close(void)
{
	if (fd != -1)
		close(fd);
	fd = -1;
}

static int
sockpath(const struct fa_conf *c, struct sockaddr_un *sa)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = c->vault_socket[0] != '\0' ?
	    snprintf(sa->sun_path, sizeof(sa->sun_path), "%s", c->vault_socket) :
	    snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/sock",
	    c->vault_dir);
	if (n < 0 || (size_t)n >= sizeof(sa->sun_path))
		return fa_seterr(EX_CONFIG, "%s: the vault's socket path is "
		    "longer than %zu bytes: set vault_socket", c->path,
		    sizeof(sa->sun_path) - 1);
	return 0;
}

static int
tryconnect(const struct fa_conf *c)
{
	struct sockaddr_un sa;
	int s;

	if (sockpath(c, &sa) == -1)
		return -1;
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return fa_seterr(1, "socket: %s", strerror(errno));
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		close(s);
		if (errno == EACCES)
			return fa_seterr(EX_NOPERM, "%s: this user may not use "
			    "the vault", sa.sun_path);
		return fa_seterr(EX_TEMPFAIL, "the vault keeper is not running: "
		    "start fa-vaultd");
	}
	return s;
}

/* Whether the pid in VAULT_DIR/lock is alive: the keeper that wrote
 * it, which holds the lock (a keeper that failed after it locked wrote
 * its own, dead by now). */
static int
lockheld(const struct fa_conf *c)
{
	char path[PATH_MAX], buf[32];
	ssize_t n;
	long pid;
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/lock", c->vault_dir) >=
	    sizeof(path) || (fd = open(path, O_RDONLY | O_CLOEXEC |
	    O_NOFOLLOW)) == -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	pid = strtol(buf, NULL, 10);
	return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

/* Starts a keeper and waits for it to serve or fail; its diagnostics
 * come back on a pipe. Only the vault's owner or root may: anyone else
 * is told to start one. Keepers started at once are serialised by the
 * vault's lock; the losers say so and exit, and we connect to the one. */
static int
startkeeper(const struct fa_conf *c)
{
	static int failed;
	char path[PATH_MAX], msg[600], *env[16], *argv[6], uid[24];
	struct stat st;
	ssize_t n;
	pid_t pid;
	int p[2], status, len = 0;

	if (stat(c->vault_dir, &st) == -1 && errno != ENOENT)
		return fa_seterr(EX_NOPERM, "%s: %s", c->vault_dir,
		    strerror(errno));
	if (stat(c->vault_dir, &st) == -1)
		return fa_seterr(EX_CONFIG, "no vault in %s; create it with: "
		    "fa-vault init", c->vault_dir);
	if (geteuid() != 0 && geteuid() != st.st_uid)
		return fa_seterr(EX_TEMPFAIL, "the vault keeper is not running: "
		    "start fa-vaultd");
	if (fa_sibling("fa-vaultd", path, sizeof(path)) == -1)
		return fa_seterr(1, "path of fa-vaultd too long");
	fa_minenv(env, sizeof(env) / sizeof(env[0]));
	argv[0] = "fa-vaultd";
	argv[1] = "-c";
	argv[2] = (char *)c->path;
	argv[3] = NULL;
	/* Root starts the keeper as the vault's owner, who holds the
	 * keys: never a root keeper in a vault another user owns. */
	if (geteuid() == 0 && st.st_uid != 0) {
		snprintf(uid, sizeof(uid), "%lu", (unsigned long)st.st_uid);
		argv[3] = "-u";
		argv[4] = uid;
		argv[5] = NULL;
	}
	if (pipe2(p, O_CLOEXEC) == -1)
		return fa_seterr(1, "pipe: %s", strerror(errno));
	if ((pid = fork()) == -1) {
		close(p[0]);
		close(p[1]);
		return fa_seterr(EX_TEMPFAIL, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);

		dup2(nul, 0);
		dup2(nul, 1);
		dup2(p[1], 2);
		execve(path, argv, env);
		dprintf(2, "%s: %s\n", path, strerror(errno));
		_exit(EX_CONFIG);
	}
	close(p[1]);
	while (len < (int)sizeof(msg) - 1 &&
	    (n = read(p[0], msg + len, sizeof(msg) - 1 - len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			break;
		len += (int)n;
	}
	msg[len] = '\0';
	close(p[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	msg[strcspn(msg, "\n")] = '\0';
	/* Another keeper won the lock: it will serve. A keeper that
	 * failed otherwise with 75 (a new site that found no master, say)
	 * is started again, twice: then its reason is the answer. */
	if (WIFEXITED(status) && WEXITSTATUS(status) == EX_TEMPFAIL &&
	    (lockheld(c) || ++failed < 3))
		return 0;
	return fa_seterr(WIFEXITED(status) && WEXITSTATUS(status) != 0 ?
	    WEXITSTATUS(status) : 1, "%s", msg[0] ? msg :
	    "the vault keeper failed to start");
}

static int
getconn(const struct fa_conf *c)
{
	struct timespec ts;
	time_t start = time(NULL);
	int s, i;

	if (fd != -1)
		return fd;
	if ((s = tryconnect(c)) != -1)
		return fd = s;
	if (fa_errstatus() != EX_TEMPFAIL || startkeeper(c) == -1)
		return -1;
	/* The winner of a race may still be recovering: wait for it. */
	for (i = 0; (s = tryconnect(c)) == -1; i++) {
		if (fa_errstatus() != EX_TEMPFAIL ||
		    time(NULL) - start > 3 * c->vault_timeout + 30 ||
		    (deadline != 0 && time(NULL) >= deadline))
			return -1;
		if (i % 50 == 49 && startkeeper(c) == -1)
			return -1;
		ts.tv_sec = 0;
		ts.tv_nsec = 2000000L * (i < 10 ? i + 1 : 10);
		nanosleep(&ts, NULL);
	}
	return fd = s;
}

static int
sendall(int s, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = send(s, buf, len, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One answer line into secure-ish memory: wiped before it is freed. */
static char *
readline(int s, size_t *lenp)
{
	char *buf = NULL, *nb;
	size_t len = 0, cap = 0;
	ssize_t n;

	for (;;) {
		if (cap - len < 4096) {
			if (cap >= (size_t)FA_ANSMAX)
				break;
			cap = cap ? cap * 2 : 16384;
			if ((nb = malloc(cap)) == NULL)
				break;
			if (buf != NULL) {
				memcpy(nb, buf, len);
				sodium_memzero(buf, len);
				free(buf);
			}
			buf = nb;
		}
		if ((n = read(s, buf + len, cap - len - 1)) == -1 &&
		    errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (buf[len - 1] == '\n') {
			buf[len] = '\0';
			*lenp = len;
			return buf;
		}
	}
	if (buf != NULL) {
		sodium_memzero(buf, len);
		free(buf);
	}
	return NULL;
}

/* One try on the connection: 0 and the answer, or -1 (cut off). */
static int
roundtrip(const struct fa_conf *c, const char *req, size_t len, json_t **j)
{
	char *line;
	size_t n;

	struct timeval tv = { 0, 0 };

	*j = NULL;
	if (getconn(c) == -1)
		return -1;
	/* A keeper that hangs is one that went away, past a deadline. */
	if (deadline != 0)
		tv.tv_sec = deadline > time(NULL) ? deadline - time(NULL) : 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (sendall(fd, req, len) == -1 || (line = readline(fd, &n)) == NULL) {
		fa_vaultc_close();
		return fa_seterr(EX_TEMPFAIL, "the vault keeper went away; "
		    "try again");
	}
	*j = json_loadb(line, n, 0, NULL);
	sodium_memzero(line, n);
	free(line);
	if (*j == NULL || !json_is_object(*j)) {
		json_decref(*j);
		*j = NULL;
		fa_vaultc_close();
		return fa_seterr(1, "the vault keeper's answer is not JSON");
	}
	return 0;
}

static int
ask(const struct fa_conf *c, const char *verb, json_t *args, json_t **ans,
    int secs)
{
	char id[FA_REQIDLEN + 1], *req;
	struct timespec ts;
	time_t start = time(NULL);
	json_t *rq, *j = NULL, *w;
	size_t len, i;
	int s, try, r;

	*ans = NULL;
	deadline = secs > 0 ? start + secs : 0;
	fa_reqid(id);
	rq = json_pack("{s:s,s:s,s:o}", "v", verb, "id", id, "a",
	    args != NULL ? json_incref(args) : json_object());
	if (rq == NULL || (req = json_dumps(rq, JSON_COMPACT)) == NULL) {
		json_decref(rq);
		return fa_seterr(1, "out of memory");
	}
	json_decref(rq);
	len = strlen(req);
	if (len + 1 >= FA_REQMAX) {
		fa_jsonfree(req);
		return fa_seterr(EX_DATAERR, "%s: request too long", verb);
	}
	req[len++] = '\n';	/* json_dumps left room: its NUL */
	for (try = 0;; try++) {
		if ((r = roundtrip(c, req, len, &j)) == 0)
			break;
		/* A keeper that will not start (78, 77) stays so. */
		if (fa_errstatus() != EX_TEMPFAIL || (secs == 0 && try == 1) ||
		    (secs > 0 && time(NULL) - start >= secs))
			break;
		if (try > 0) {
			ts.tv_sec = 0;
			ts.tv_nsec = 100000000L;
			nanosleep(&ts, NULL);
		}
	}
	sodium_memzero(req, len);
	fa_jsonfree(req);
	if (r == -1)
		return -1;
	w = json_object_get(j, "w");
	for (i = 0; i < json_array_size(w); i++)
		warnx("%s", json_string_value(json_array_get(w, i)));
	*ans = json_incref(json_object_get(j, "a"));
	if (*ans == NULL)
		*ans = json_object();
	s = (int)json_integer_value(json_object_get(j, "s"));
	if (s != 0) {
		fa_seterr(s > 0 && s < 256 ? s : 1, "%s",
		    fa_jstr(j, "e")[0] ? fa_jstr(j, "e") : "the vault keeper failed");
		json_decref(j);
		return -1;
	}
	json_decref(j);
	return 0;
}

int
fa_ask(const struct fa_conf *c, const char *verb, json_t *args, json_t **ans)
{
	return ask(c, verb, args, ans, 0);
}

int
fa_ask_until(const struct fa_conf *c, const char *verb, json_t *args,
    json_t **ans, int secs)
{
	return ask(c, verb, args, ans, secs > 0 ? secs : 1);
}

/* fa_gate_vault: oauth.h's questions, asked of the keeper. */
static int
gate_rate(const struct fa_conf *c, int maywait)
{
	json_t *a;
	int64_t wait;
	int tries = 0;

	for (;;) {
		if (fa_ask(c, "rate.ip", NULL, &a) == -1) {
			json_decref(a);
			return -1;
		}
		wait = json_integer_value(json_object_get(a, "wait"));
		json_decref(a);
		if (wait <= 0)
			return 0;
		if (!maywait || tries++ == 1)
			return fa_seterr(EX_TEMPFAIL, "at the request rate limit "
			    "(ip_per_minute); try again in %lld s",
			    (long long)wait);
		sleep(wait < 60 ? (unsigned)wait : 60);
	}
}

static int
gate_known(const struct fa_conf *c, const char *endpoint, const char *client)
{
	json_t *a, *args;
	int known;

	args = json_pack("{s:s,s:s}", "endpoint", endpoint, "client", client);
	known = fa_ask(c, "client.known", args, &a) == 0 &&
	    json_is_true(json_object_get(a, "known"));
	json_decref(args);
	json_decref(a);
	return known;
}

static void
gate_worked(const struct fa_conf *c, const char *endpoint, const char *client)
{
	json_t *a, *args;

	args = json_pack("{s:s,s:s}", "endpoint", endpoint, "client", client);
	(void)fa_ask(c, "client.worked", args, &a);
	json_decref(args);
	json_decref(a);
}

const struct fa_gate fa_gate_vault = { gate_rate, gate_known, gate_worked };

int
fa_holder(const struct fa_conf *c)
{
	struct stat st;

	return stat(c->vault_dir, &st) == -1 || st.st_uid == geteuid();
}

int
fa_delegate(const struct fa_conf *c, json_t *args)
{
	json_t *a, *l;
	size_t i;
	int r;

	r = fa_ask(c, "job.run", args, &a);
	if (r == 0) {
		json_array_foreach(json_object_get(a, "stderr"), i, l)
			fprintf(stderr, "%s\n", json_string_value(l));
		r = (int)json_integer_value(json_object_get(a, "exit"));
	}
	json_decref(a);
	return r;
}
