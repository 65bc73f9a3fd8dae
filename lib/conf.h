/* conf.h: fa.conf(5). Every command reads the same file: -c FILE, else
 * $FA_CONFIG, else FA_CONFDIR/fa.conf. Unknown keys and malformed lines
 * are errors naming file and line (status 78). */
#ifndef FA_CONF_H
#define FA_CONF_H

#include <limits.h>

#define FA_MAXEP	16
#define FA_MAXPLAN	32
#define FA_NAMELEN	32
#define FA_URLLEN	512

struct fa_endpoint {
	char	name[FA_NAMELEN];
	char	base_url[FA_URLLEN];
	char	authorize_url[FA_URLLEN];	/* default BASE/approve_app */
	char	token_url[FA_URLLEN];		/* default BASE/token_endpoint */
	char	revoke_url[FA_URLLEN];		/* empty: none (FreeAgent) */
	char	client_id[256];
	char	client_secret_file[PATH_MAX];
};

struct fa_plan {
	char	name[FA_NAMELEN];
	long	companies;			/* -1: no limit */
	long	bindings;
};

/* access.USER = ROLE and access.@GROUP = ROLE (fa.conf(5)). */
#define FA_MAXACCESS	64
enum { FA_ADMIN = 1, FA_WORKER = 2, FA_DASHBOARD = 4 };

struct fa_access {
	char	name[FA_NAMELEN + 1];		/* a user, or "@" and a group */
	int	role;				/* FA_ADMIN ... */
};

/* repl.*: a replication group (fa-vaultd(8)); none when local is "". */
#define FA_MAXREMOTE	8
#define FA_HOSTLEN	256

struct fa_repl {
	char	local[FA_HOSTLEN];		/* HOST:PORT */
	char	remote[FA_MAXREMOTE][FA_HOSTLEN];	/* helpers */
	int	nremote;
	long	priority;
	int	ackall;				/* repl.ack = all */
};

struct fa_conf {
	char	path[PATH_MAX];
	char	vault_dir[PATH_MAX];
	char	master_key_file[PATH_MAX];
	char	vault_socket[108];		/* "": VAULT_DIR/sock */
	char	redirect_uri[FA_URLLEN];
	char	default_endpoint[FA_NAMELEN];
	char	default_plan[FA_NAMELEN];
	char	status_hook[PATH_MAX];
	long	refresh_margin;
	long	refresh_concurrency;
	long	refresh_per_minute;
	long	api_per_minute;
	long	ip_per_minute;
	long	http_timeout;
	long	vault_timeout;
	long	probe_spread;		/* --probe --all: over so many s */
	long	audit_keep_days;	/* the sweep prunes older records */
	struct fa_endpoint ep[FA_MAXEP];
	int	nep;
	struct fa_plan plan[FA_MAXPLAN];
	int	nplan;
	struct fa_access access[FA_MAXACCESS];
	int	naccess;
	struct fa_repl repl;
};

/* path NULL: $FA_CONFIG, else the compiled-in default. The struct must
 * start zeroed (static, or from calloc) and be loaded once. */
int			 fa_conf_load(struct fa_conf *, const char *path);
/* Parses one line (exported for the fuzzer); lineno for messages. */
int			 fa_conf_line(struct fa_conf *, char *line, int lineno);
int			 fa_conf_finish(struct fa_conf *);
const struct fa_endpoint *fa_conf_endpoint(const struct fa_conf *, const char *);
const struct fa_plan	*fa_conf_plan(const struct fa_conf *, const char *);
/* 1 if url is https://, or http:// to a loopback host. */
int			 fa_url_allowed(const char *url);
/* HOST:PORT into host (FA_HOSTLEN) and *port: 0, or -1. */
int			 fa_hostport(const char *s, char *host, unsigned *port);
/* 1 if s is a valid name: [A-Za-z0-9._@+-], 1..max-1 bytes. */
int			 fa_validname(const char *s, size_t max);

#endif
