/* fa-vault: the vault's command line. Every verb but keygen is a
 * request to the vault's keeper, fa-vaultd(8) (lib/v_vault.c), which
 * checks everything again; the checks here are for clear early errors. */
#include <sys/stat.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "conf.h"
#include "diag.h"
#include "doc.h"
#include "exec.h"
#include "secmem.h"
#include "vaultc.h"

static struct fa_conf conf;
static const char *confpath;
static int confloaded;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: fa-vault [-c file] init | keygen file | rekey newkeyfile | verify\n"
	    "       fa-vault [-c file] tenant add tenant [plan=P] [endpoint=E]\n"
	    "       fa-vault [-c file] tenant ls | tenant set tenant key=value ...\n"
	    "       fa-vault [-c file] add -t tenant binding magento=host [endpoint=E]\n"
	    "       fa-vault [-c file] ls [-t tenant] | show binding | rm binding\n"
	    "       fa-vault [-c file] set binding key=value ...\n"
	    "       fa-vault [-c file] store | token [-f] binding | log [binding]\n"
	    "       fa-vault [-c file] log --verify\n"
	    "       fa-vault [-c file] backup dir | repl | metrics [-o file]\n");
	exit(EX_USAGE);
}

static const struct fa_conf *
getconf(void)
{
	if (!confloaded && fa_conf_load(&conf, confpath) == -1)
		fa_die();
	confloaded = 1;
	return &conf;
}

/* Asks the keeper (args consumed); its refusal is our exit. */
static json_t *
ask(const char *verb, json_t *args)
{
	json_t *ans;
	int r;

	r = fa_ask(getconf(), verb, args, &ans);
	json_decref(args);
	if (r == -1) {
		json_decref(ans);
		fa_die();
	}
	return ans;
}

static void
putline(json_t *j)
{
	char *s;

	if ((s = json_dumps(j, JSON_COMPACT)) == NULL)
		errx(1, "out of memory");
	puts(s);
	fa_jsonfree(s);
}

/* Prints each member of an answer's array, a line each. */
static void
putlines(json_t *ans, const char *member)
{
	json_t *a = json_object_get(ans, member);
	size_t i;

	for (i = 0; i < json_array_size(a); i++)
		putline(json_array_get(a, i));
	json_decref(ans);
}

static int
finish(void)
{
	fa_vaultc_close();
	if (fflush(stdout) == EOF || ferror(stdout) || fclose(stdout) == EOF)
		err(1, "stdout");
	return 0;
}

static void
checkname(const char *what, const char *s)
{
	if (!fa_validname(s, 65))
		errx(EX_DATAERR, "invalid %s \"%.64s\": use 1-64 of A-Z a-z 0-9 "
		    ". _ @ + -, a letter or digit first", what, s);
}

static void
checkhost(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]");

	if (n == 0 || n > 253 || s[n] != '\0')
		errx(EX_DATAERR, "invalid magento host \"%.64s\"", s);
}

static void
checkendpoint(const char *e)
{
	if (fa_conf_endpoint(getconf(), e) == NULL)
		errx(EX_CONFIG, "unknown endpoint %s: define %s.base_url in %s",
		    e, e, conf.path);
}

/* key=value argument; returns value, sets *k to a NUL-ended key copy. */
static const char *
kv(const char *arg, char *k, size_t ksz)
{
	const char *eq = strchr(arg, '=');

	if (eq == NULL || eq == arg || (size_t)(eq - arg) >= ksz)
		errx(EX_USAGE, "expected key=value, got \"%.64s\"", arg);
	memcpy(k, arg, eq - arg);
	k[eq - arg] = '\0';
	return eq + 1;
}

/* ---- the vault ---- */

/* The keeper opens an empty vault_dir with create, and refuses one
 * that is missing: so the directory is made here, as the vault's
 * owner. */
static int
cmd_init(int argc, char *argv[])
{
	(void)argv;
	if (argc != 1)
		usage();
	getconf();
	if (conf.vault_dir[0] == '\0')
		errx(EX_CONFIG, "%s: vault_dir is not set", conf.path);
	umask(077);
	if (mkdir(conf.vault_dir, 0700) == -1 && errno != EEXIST)
		err(EX_CONFIG, "%s", conf.vault_dir);
	json_decref(ask("vault.init", NULL));
	return finish();
}

static int
cmd_keygen(int argc, char *argv[])
{
	if (argc != 2)
		usage();
	if (fa_writekey(argv[1]) == -1)
		fa_die();
	if (fa_syncdir(argv[1]) == -1)
		fa_die();
	return 0;
}

/* The keeper reads the new key file: it is named, never sent. */
static int
cmd_rekey(int argc, char *argv[])
{
	char file[PATH_MAX];
	json_t *args, *ans, *p;
	long n;
	size_t i;
	int r;

	if (argc != 2)
		usage();
	if (realpath(argv[1], file) == NULL)
		err(EX_CONFIG, "%s", argv[1]);
	args = json_pack("{s:s}", "file", file);
	r = fa_ask(getconf(), "vault.rekey", args, &ans);
	json_decref(args);
	p = json_object_get(ans, "problems");
	for (i = 0; i < json_array_size(p); i++)
		warnx("rekey: %s", json_string_value(json_array_get(p, i)));
	if (r == -1 && (n = json_integer_value(json_object_get(ans,
	    "failed"))) > 0)
		errx(1, "rekey: %ld record%s could not be opened with either "
		    "key (see fa-vault verify); every other record is sealed "
		    "with the new key, and both keys stay in use until a rekey "
		    "finishes: repair or rm the broken bindings, then run "
		    "fa-vault rekey %s again", n, n == 1 ? "" : "s", file);
	if (r == -1)
		fa_die();
	if (json_object_get(ans, "key_file") != NULL) {
		n = json_integer_value(json_object_get(ans, "resealed"));
		fprintf(stderr, "fa-vault: rekey: %ld record%s resealed; %s now "
		    "holds the new key, the old one is kept as %s.old\n", n,
		    n == 1 ? "" : "s", fa_jstr(ans, "key_file"),
		    fa_jstr(ans, "key_file"));
	}
	json_decref(ans);
	return finish();
}

/* A hot backup into dir, which must not exist: made by the keeper, as
 * its user, while it serves. */
static int
cmd_backup(int argc, char *argv[])
{
	char dir[PATH_MAX], cwd[PATH_MAX];
	json_t *args;

	if (argc != 2)
		usage();
	if (argv[1][0] == '/')
		snprintf(dir, sizeof(dir), "%s", argv[1]);
	else if (getcwd(cwd, sizeof(cwd)) == NULL ||
	    snprintf(dir, sizeof(dir), "%s/%s", cwd, argv[1]) >=
	    (int)sizeof(dir))
		errx(EX_USAGE, "%s: path too long", argv[1]);
	args = json_pack("{s:s}", "dir", dir);
	json_decref(ask("vault.backup", args));
	fprintf(stderr, "fa-vault: backup: %s holds a consistent copy; to "
	    "restore, point vault_dir at a copy of it (the same master key)\n",
	    dir);
	return finish();
}

/* This site's role in its replication group, its master, the sites. */
static int
cmd_repl(int argc, char *argv[])
{
	json_t *a;

	(void)argv;
	if (argc != 1)
		usage();
	a = ask("repl.status", NULL);
	putline(a);
	json_decref(a);
	return finish();
}

/* The metrics; with -o, into file, whole or not at all: written beside
 * it, synced, then renamed over it (node_exporter's textfile collector
 * must never read half a file). */
static int
cmd_metrics(int argc, char *argv[])
{
	char tmp[PATH_MAX];
	const char *text;
	json_t *a;
	FILE *f;
	int fd;

	if (argc != 1 && (argc != 3 || strcmp(argv[1], "-o") != 0 ||
	    *argv[2] == '\0'))
		usage();
	a = ask("vault.metrics", NULL);
	if ((text = json_string_value(json_object_get(a, "text"))) == NULL)
		errx(1, "metrics: the keeper's answer has no text");
	if (argc == 1) {
		fputs(text, stdout);
		json_decref(a);
		return finish();
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", argv[2],
	    (long)getpid()) >= sizeof(tmp))
		errx(EX_USAGE, "%s: name too long", argv[2]);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644)) == -1 ||
	    (f = fdopen(fd, "w")) == NULL)
		err(1, "%s", tmp);
	if (fputs(text, f) == EOF || fflush(f) == EOF || fsync(fd) == -1 ||
	    fclose(f) == EOF || rename(tmp, argv[2]) == -1) {
		warn("%s", argv[2]);
		(void)unlink(tmp);
		exit(1);
	}
	json_decref(a);
	return finish();
}

static int
cmd_verify(int argc, char *argv[])
{
	json_t *ans, *p;
	long ok, failed;
	size_t i;
	int r;

	(void)argv;
	if (argc != 1)
		usage();
	r = fa_ask(getconf(), "vault.verify", NULL, &ans);
	if (r == -1 && json_object_get(ans, "ok") == NULL)
		fa_die();
	p = json_object_get(ans, "problems");
	for (i = 0; i < json_array_size(p); i++)
		warnx("verify: %s", json_string_value(json_array_get(p, i)));
	ok = json_integer_value(json_object_get(ans, "ok"));
	failed = json_integer_value(json_object_get(ans, "failed"));
	if ((size_t)failed > json_array_size(p))
		warnx("verify: %ld more not listed",
		    failed - (long)json_array_size(p));
	printf("{\"ok\":%ld,\"failed\":%ld}\n", ok, failed);
	json_decref(ans);
	finish();
	return failed ? 1 : 0;
}

/* ---- tenants ---- */

static int
cmd_tenant(int argc, char *argv[])
{
	json_t *args;
	char k[32];
	const char *val;
	int i, create;

	if (argc < 2)
		usage();
	if (strcmp(argv[1], "ls") == 0) {
		if (argc != 2)
			usage();
		putlines(ask("tenant.ls", NULL), "tenants");
		return finish();
	}
	if (strcmp(argv[1], "add") == 0)
		create = 1;
	else if (strcmp(argv[1], "set") == 0)
		create = 0;
	else
		usage();
	if (argc < 3)
		usage();
	checkname("tenant", argv[2]);
	getconf();
	args = json_pack("{s:s}", "tenant", argv[2]);
	for (i = 3; i < argc; i++) {
		val = kv(argv[i], k, sizeof(k));
		if (strcmp(k, "plan") == 0) {
			if (*val != '\0' && fa_conf_plan(&conf, val) == NULL)
				errx(EX_CONFIG, "unknown plan %s: define plan.%s."
				    "companies and plan.%s.bindings in %s",
				    val, val, val, conf.path);
		} else if (strcmp(k, "endpoint") == 0) {
			if (*val != '\0')
				checkendpoint(val);
		} else
			errx(EX_USAGE, "tenant: unknown setting %s (plan, "
			    "endpoint)", k);
		json_object_set_new(args, k, json_string(val));
	}
	json_decref(ask(create ? "tenant.add" : "tenant.set", args));
	return finish();
}

/* ---- bindings ---- */

static int
cmd_add(int argc, char *argv[])
{
	const char *tenant = NULL, *val;
	json_t *args;
	char k[32];
	int ch, i;

	while ((ch = getopt(argc, argv, "t:")) != -1) {
		switch (ch) {
		case 't':
			tenant = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (tenant == NULL || argc < 2)
		usage();
	checkname("tenant", tenant);
	checkname("binding", argv[0]);
	getconf();
	args = json_pack("{s:s,s:s}", "tenant", tenant, "binding", argv[0]);
	for (i = 1; i < argc; i++) {
		val = kv(argv[i], k, sizeof(k));
		if (strcmp(k, "magento") == 0)
			checkhost(val);
		else if (strcmp(k, "endpoint") == 0)
			checkendpoint(val);
		else
			errx(EX_USAGE, "add: unknown setting %s (magento, "
			    "endpoint)", k);
		json_object_set_new(args, k, json_string(val));
	}
	if (json_object_get(args, "magento") == NULL)
		errx(EX_USAGE, "add: magento=HOST is required");
	json_decref(ask("binding.add", args));
	return finish();
}

static int
cmd_ls(int argc, char *argv[])
{
	const char *tenant = NULL;
	int ch;

	while ((ch = getopt(argc, argv, "t:")) != -1) {
		switch (ch) {
		case 't':
			tenant = optarg;
			break;
		default:
			usage();
		}
	}
	if (argc != optind)
		usage();
	if (tenant != NULL)
		checkname("tenant", tenant);
	putlines(ask("binding.ls", json_pack("{s:s?}", "tenant", tenant)),
	    "bindings");
	return finish();
}

static int
cmd_show(int argc, char *argv[])
{
	json_t *ans;

	if (argc != 2)
		usage();
	checkname("binding", argv[1]);
	ans = ask("binding.show", json_pack("{s:s}", "binding", argv[1]));
	putline(ans);
	json_decref(ans);
	return finish();
}

static int
cmd_set(int argc, char *argv[])
{
	json_t *changes;
	char k[64];
	const char *val;
	int i;

	if (argc < 3)
		usage();
	checkname("binding", argv[1]);
	getconf();
	/* Check everything before asking: all or nothing. */
	changes = json_array();
	for (i = 2; i < argc; i++) {
		val = kv(argv[i], k, sizeof(k));
		if (strcmp(k, "magento") == 0)
			checkhost(val);
		else if (strcmp(k, "endpoint") == 0) {
			if (*val != '\0')
				checkendpoint(val);
		} else if (strncmp(k, "settings.", 9) == 0) {
			if (!fa_validname(k + 9, 48))
				errx(EX_DATAERR, "invalid setting name %s", k);
			if (strlen(val) > 1024 || strpbrk(val, "\n\r"))
				errx(EX_DATAERR, "value of %s too long or "
				    "multi-line", k);
		} else
			errx(EX_USAGE, "set: unknown key %s (magento, endpoint, "
			    "settings.NAME)", k);
		json_array_append_new(changes, json_string(argv[i]));
	}
	json_decref(ask("binding.set", json_pack("{s:s,s:o}", "binding",
	    argv[1], "changes", changes)));
	return finish();
}

static int
cmd_rm(int argc, char *argv[])
{
	if (argc != 2)
		usage();
	checkname("binding", argv[1]);
	json_decref(ask("binding.rm", json_pack("{s:s}", "binding", argv[1])));
	return finish();
}

/* ---- tokens ---- */

/* The new tokens of a bundle the keeper refused, revoked upstream by
 * fa-revoke -b, the bundle on a pipe: this program never loads libcurl.
 * 0, or -1 with what fa-revoke said in why. */
static int
revokebundle(const char *buf, size_t len, char *why, size_t whysz)
{
	char *argv[5], junk[256];
	int in[2], er[2], st = 0, i = 0;
	size_t off = 0, got = 0;
	ssize_t n;
	pid_t pid;

	argv[i++] = "fa-revoke";
	if (confpath != NULL) {
		argv[i++] = "-c";
		argv[i++] = (char *)confpath;
	}
	argv[i++] = "-b";
	argv[i] = NULL;
	snprintf(why, whysz, "fa-revoke could not start");
	if (pipe2(in, O_CLOEXEC) == -1)
		return -1;
	if (pipe2(er, O_CLOEXEC) == -1) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	pid = fa_spawn(argv, in[0], -1, er[1], -1);
	close(in[0]);
	close(er[1]);
	if (pid == -1) {
		close(in[1]);
		close(er[0]);
		return -1;
	}
	/* One that dies before it reads is told by its status, not by a
	 * SIGPIPE here. */
	signal(SIGPIPE, SIG_IGN);
	while (off < len && ((n = write(in[1], buf + off, len - off)) > 0 ||
	    (n == -1 && errno == EINTR)))
		off += n > 0 ? (size_t)n : 0;
	close(in[1]);
	/* Its message, the first whysz bytes; the rest read and dropped. */
	while ((n = read(er[0], got < whysz - 1 ? why + got : junk,
	    got < whysz - 1 ? whysz - 1 - got : sizeof(junk))) > 0 ||
	    (n == -1 && errno == EINTR))
		if (n > 0 && got < whysz - 1)
			got += (size_t)n;
	close(er[0]);
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR) {
			st = 1 << 8;
			break;
		}
	why[got] = '\0';
	why[strcspn(why, "\n")] = '\0';
	if (strncmp(why, "fa-revoke: ", 11) == 0)
		memmove(why, why + 11, strlen(why + 11) + 1);
	if (why[0] == '\0')
		snprintf(why, whysz, "fa-revoke exited %d", WIFEXITED(st) ?
		    WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int
cmd_store(int argc, char *argv[])
{
	struct fa_tokens *tok;
	const struct fa_endpoint *e;
	json_t *b, *args, *ans;
	char msg[512], why[512], *buf;
	size_t len;
	int r, st;

	(void)argv;
	if (argc != 1)
		usage();
	getconf();
	if ((tok = fa_secalloc(sizeof(*tok))) == NULL)
		errx(1, "out of secure memory");
	/* Checked here for a clear early error; the keeper checks again. */
	if ((b = fa_bundle_read(0, tok, &buf, &len)) == NULL)
		fa_die();
	fa_secfree(tok);
	e = fa_conf_endpoint(&conf, fa_jstr(b, "endpoint"));
	args = json_pack("{s:o}", "bundle", b);
	r = fa_ask(&conf, "token.store", args, &ans);
	json_decref(args);
	json_decref(ans);
	if (r == 0) {
		fa_secfree(buf);
		return finish();
	}
	if (fa_errstatus() != EX_NOPERM)
		fa_die();
	/* Refused (the company lock, a plan limit): the new tokens are not
	 * kept, so they must not live on upstream either. */
	st = fa_errstatus();
	snprintf(msg, sizeof(msg), "%s", fa_errmsg());
	if (e == NULL || e->revoke_url[0] == '\0')
		errx(st, "%s; remove the app in FreeAgent under Settings -> "
		    "Connected apps, for it still holds the new tokens", msg);
	r = revokebundle(buf, len, why, sizeof(why));
	fa_secfree(buf);
	if (r != 0)
		errx(st, "%s; and revoking the new tokens failed: %s", msg,
		    why);
	errx(st, "%s; the new tokens were revoked", msg);
}

static int
cmd_token(int argc, char *argv[])
{
	json_t *ans;
	int ch, force = 0;

	while ((ch = getopt(argc, argv, "f")) != -1) {
		switch (ch) {
		case 'f':
			force = 1;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1)
		usage();
	checkname("binding", argv[0]);
	if (!force && isatty(1))
		errx(EX_USAGE, "refusing to print tokens to a terminal (use -f)");
	ans = ask("token.get", json_pack("{s:s}", "binding", argv[0]));
	putline(ans);
	json_decref(ans);
	return finish();
}

/* ---- the audit log ---- */

/* Each record as it is stored, a line each. */
/* log --verify: the audit log's chains checked; the first record that
 * does not match is the exit's reason. */
static int
logverify(void)
{
	json_t *a = ask("audit.verify", NULL), *bad;

	printf("%lld records: %lld verified, %lld before the chain began, "
	    "%lld under a retired key\n",
	    (long long)json_integer_value(json_object_get(a, "records")),
	    (long long)json_integer_value(json_object_get(a, "verified")),
	    (long long)json_integer_value(json_object_get(a, "unsealed")),
	    (long long)json_integer_value(json_object_get(a, "retired")));
	if ((bad = json_object_get(a, "bad")) != NULL) {
		if (json_object_get(bad, "recno") != NULL)
			warnx("audit record %lld (binding %s) %s: changed, or a "
			    "record before it removed",
			    (long long)json_integer_value(json_object_get(bad,
			    "recno")), *fa_jstr(bad, "binding") ?
			    fa_jstr(bad, "binding") : "none",
			    fa_jstr(bad, "why"));
		else
			warnx("the chain of binding %s: %s",
			    *fa_jstr(bad, "binding") ? fa_jstr(bad, "binding") :
			    "none", fa_jstr(bad, "why"));
		json_decref(a);
		finish();
		return EX_DATAERR;
	}
	json_decref(a);
	return finish();
}

static int
cmd_log(int argc, char *argv[])
{
	json_t *ans, *a, *s;
	json_int_t damaged;
	size_t i;

	if (argc == 2 && strcmp(argv[1], "--verify") == 0)
		return logverify();
	if (argc > 2)
		usage();
	if (argc == 2)
		checkname("binding", argv[1]);
	ans = ask("audit.log", json_pack("{s:s?}", "binding",
	    argc == 2 ? argv[1] : NULL));
	a = json_object_get(ans, "records");
	for (i = 0; i < json_array_size(a); i++) {
		s = json_array_get(a, i);
		fwrite(json_string_value(s), 1, json_string_length(s), stdout);
		putchar('\n');
	}
	if ((damaged = json_integer_value(json_object_get(ans, "damaged"))))
		warnx("log: %lld damaged record%s not shown",
		    (long long)damaged, damaged == 1 ? "" : "s");
	json_decref(ans);
	return finish();
}

static const struct cmd {
	const char	*name;
	int		(*fn)(int, char *[]);
} cmds[] = {
	{ "init",	cmd_init },
	{ "keygen",	cmd_keygen },
	{ "rekey",	cmd_rekey },
	{ "verify",	cmd_verify },
	{ "backup",	cmd_backup },
	{ "repl",	cmd_repl },
	{ "metrics",	cmd_metrics },
	{ "tenant",	cmd_tenant },
	{ "add",	cmd_add },
	{ "ls",		cmd_ls },
	{ "show",	cmd_show },
	{ "set",	cmd_set },
	{ "rm",		cmd_rm },
	{ "store",	cmd_store },
	{ "token",	cmd_token },
	{ "log",	cmd_log },
	{ NULL, NULL }
};

int
main(int argc, char *argv[])
{
	const struct cmd *c;
	int ch;

	if (fa_secure_init() == -1)
		fa_die();
	while ((ch = getopt(argc, argv, "+c:")) != -1) {
		switch (ch) {
		case 'c':
			confpath = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	for (c = cmds; c->name != NULL; c++)
		if (strcmp(c->name, argv[0]) == 0)
			break;
	if (c->name == NULL)
		usage();
	/* Each verb reads its own options after its name, argv[0]. */
	optind = 1;
	return c->fn(argc, argv);
}
