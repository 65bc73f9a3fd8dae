/*
 * t/model/lease.pml: the single-flight refresh lease of one binding, as
 * the code does it, for spin(1). Checked by t/0800-model.t, and with
 * larger budgets by `make prove`:
 *
 *	spin -a [-DMACRO ...] lease.pml
 *	cc -O2 -DSAFETY -DNOCLAIM -o pan pan.c && ./pan	(P1-P3, deadlock)
 *	cc -O2 -DNFAIR=3 -o pan pan.c && ./pan -a -f		(P4)
 *	spin -t -p -g [-DMACRO ...] lease.pml	(a trail pan wrote, step by
 *						 step; the same macros)
 *
 * Who is who:
 *   client(1..N)  fa-refresh -p/-H B: bin/fa-refresh.c:one -> fresh()
 *   client(SW)    the sweep's job for B: bin/fa-refresh.c:sweep ->
 *                 sweepnext() -> pump() -> sweepsink()
 *   keeper        fa-vaultd crashes (kill -9; a failed fsync,
 *                 bin/fa-vaultd.c:serve's _exit) and comes back (the
 *                 next request starts one, lib/vaultc.c:getconn, and
 *                 it recovers what was committed); with FAILOVER a
 *                 master failover
 *   clock         time: a lease's "until" passes; "retry_at" passes
 *   FreeAgent     its token endpoint: send() below
 *
 * Each keeper request is one transaction (lib/vault.c:fa_vault_txn), so
 * each is one atomic step here, with what the client does with the
 * answer. A crash falls between two steps (a request waits for the next
 * keeper, or gives up), or between a commit and its answer (the answer
 * is lost and the client sends the request again). What was committed
 * survives; a keeper keeps nothing else.
 *
 * Properties:
 *   P1  at most one refresh request in flight at FreeAgent (assert);
 *   P2  a refresh token is never sent twice (assert at the send), unless
 *       the token its first use brought was out of anyone's reach: the
 *       answer timed out after FreeAgent rotated, or its holder was
 *       killed, or stalled (stopped, swapped out) past its lease, or
 *       the holder reported it lost (fa-refresh.c:finish, j->lost) --
 *       no lease of bounded length can help those;
 *   P3  a rotated token that reached fa-refresh is committed or reported
 *       lost, never dropped in silence (assert where it is dropped);
 *   P4  every fa-refresh and the sweep end, with a token or a definite
 *       error: ltl live, <> (nfin == N + 1), checked with weak fairness
 *       (pan -a -f): a process that can move forever, moves;
 *   and no invalid end state (deadlock), pan's default.
 *
 * Macros:
 *   OLD_LEASE       the code before the fix this model found (see
 *                   LAPSE): a lease that ends while its holder still
 *                   sends FreeAgent's answer to a keeper that is down,
 *                   and a late answer, "busy", dropped in silence; spin
 *                   must find it (P2, P3)
 *   FAILOVER        replication: one master failover, and a commit a
 *                   quorum did not acknowledge
 *   NO_P2, NO_P3    leave those assertions out
 *   RATES, FORCED, CRASHES, DEATHS, STALLS, FAILOVERS, PERMFAILS:
 *                   budgets
 * Not modelled: the DUE path (a process without the client secret asks
 * the keeper's job refresh: another fa-refresh, as modelled here); the
 * sweep's window of held 401s (a longer lease, the same protocol);
 * fa-refresh -f (only the forced retake after a Retry-After); a binding
 * that falls due again (one refresh cycle, plus forced retakes);
 * replication sites (a lease names pid and site, and alive() is asked
 * only of one's own site's holders: one site here).
 * Mutations, each of which spin must catch:
 *   NO_REREAD       a waiter does not read the vault again when the
 *                   lease ends: it refreshes with what it read first
 *   NO_LEASE_CHECK  refresh.finish commits without holds()
 *   EXPIRE_EARLY    a lease can end before its request's timeout
 */

#ifndef N
#define N		3	/* fa-refresh processes of one binding */
#endif
#define SW		(N + 1)	/* the sweep's job */
#define NP		(N + 2)	/* process slots; 0 is nobody */
#ifndef CRASHES
#define CRASHES		1	/* keeper crashes */
#endif
#ifndef DEATHS
#define DEATHS		1	/* fa-refresh processes killed */
#endif
#ifndef STALLS
#define STALLS		1	/* holders stalled past their lease */
#endif
#ifndef FORCED
#define FORCED		1	/* retakes after a short Retry-After */
#endif
#ifndef RATES
#define RATES		0	/* refresh.take at the rate limit */
#endif
#ifndef FAILOVERS
#define FAILOVERS	1
#endif
#ifndef PERMFAILS
#define PERMFAILS	1	/* commits no quorum acknowledged */
#endif
/* A rotation needs the binding due, or a forced retake: FORCED + 1 at
 * most; an assertion at the send checks that the bound holds. */
#define MAXGEN		(FORCED + 3)

/* FreeAgent's answer to a grant (lib/oauth.c:fa_grant_res): FA_GRANT_OK
 * with rotated tokens; FA_GRANT_REFUSED (invalid_grant, 77); temporary
 * (5xx, 429, the network, a timeout: 75). */
mtype = { G_OK, G_REFUSED, G_TEMP };

/* A client's step (its program counter). */
#define P_DUE		1	/* the sweep: refresh.due */
#define P_TAKE		2	/* refresh.take */
#define P_WAIT		3	/* NO_REREAD only */
#define P_SEND		4	/* holds the lease: the grant, to send */
#define P_RECV		5	/* the grant at FreeAgent */
#define P_FIN		6	/* FreeAgent's answer in hand: refresh.finish */
#define P_END		7

/* The fate of the new token FreeAgent made from generation g. */
#define F_NONE		0
#define F_HELD		1	/* in a live fa-refresh, not committed yet */
#define F_COMMITTED	2
#define F_ORPHAN	3	/* nobody alive has it: a timeout after the
				 * rotation, or its holder was killed */
#define F_LOST		4	/* reported: finish() set j->lost */
#define F_DROPPED	5	/* gone, and nobody said so */

/* ---- the binding's record in the master's vault: committed state ---- */
bit	conn = 1;	/* "status" connected; 0: needs_reconnect */
byte	ver = 0;	/* "tokver": the stored refresh token's generation */
bit	due = 1;	/* the stored access token is within the margin */
byte	lease = 0;	/* "lease" {"pid", "site", "until"}: its holder */
byte	vby = 0;	/* whose result the stored tokens are (v_token.c:
			 * same() compares the tokens themselves) */
bit	lexp = 0;	/* ... whose "until" has passed */
bit	retry = 0;	/* "retry_at" is still to come */
bit	kept[NP];	/* reqs: an answer kept under the request id of a
			 * client's refresh.finish (bin/fa-vaultd.c:runverb) */
byte	kans[NP];	/* ... and which: 1 fresh, 2 busy, 3 done */

#ifdef FAILOVER
/* The replica: what a quorum acknowledged. Repmgr ships the log in
 * order, so it is a prefix of the master's commits. */
bit	r_conn = 1;
byte	r_ver = 0;
bit	r_due = 1;
byte	r_vby = 0;
byte	r_lease = 0;
bit	r_lexp = 0;
bit	r_retry = 0;
bit	r_kept[NP];
byte	r_kans[NP];
byte	failovers = 0;
byte	permfails = 0;
byte	ki;
#endif

bit	down = 0;	/* no keeper answers: crashed, restarting */
byte	crashes = 0;

/* ---- FreeAgent, and what the properties need to know ---- */
byte	fa_cur = 0;	/* the refresh token generation it takes */
bit	fa_rev = 0;	/* it refuses this binding's grants for good */
byte	inflight = 0;	/* refresh requests at FreeAgent */
byte	fate[MAXGEN];
byte	owner[MAXGEN];	/* who got the new token made from g */
bit	stalled[MAXGEN];	/* ... and stalled past its lease with it */

/* ---- the clients, seen from outside ---- */
byte	pc[NP];
bit	gone[NP];	/* exited or killed: kill(pid, 0) fails */
byte	deaths = 0;
byte	stalls = 0;
byte	rated = 0;
byte	forced = 0;
byte	nfin = 0;	/* clients that ended, or were killed */

/*
 * When a lease's "until" can pass while its holder lives.
 * bin/fa-refresh.c: leasesecs = 2 * http_timeout + FINISH_SECS + 10
 * (the sweep's 2 * http_timeout * 5 + FINISH_SECS + 10): the grant and
 * its probe, each bounded by http_timeout (lib/http.c:setup,
 * CURLOPT_TIMEOUT), then finish(), which sends refresh.finish for
 * FINISH_SECS (30 s) after the answer, each try bounded by what is left
 * (lib/vaultc.c: deadline, in getconn and SO_RCVTIMEO). So a keeper
 * that is down while a holder waits to commit makes the holder give up
 * (lost(), below) before its lease ends; only a holder that stalls
 * (the client's stall step) outlives it.
 * OLD_LEASE, the code before: leasesecs = 2 * http_timeout + 10 did not
 * cover finish(), and getconn waited up to 3 * vault_timeout + 30 s for
 * a keeper: a keeper down while a holder waited to commit could outlast
 * the lease.
 */
#ifdef EXPIRE_EARLY
#define EARLY(h)	(pc[h] == P_SEND || pc[h] == P_RECV)
#else
#define EARLY(h)	false
#endif
#ifdef OLD_LEASE
#define LAPSE(h)	(EARLY(h) || (pc[h] == P_FIN && down))
#else
#define LAPSE(h)	(EARLY(h))
#endif

#ifdef FAILOVER
/* A commit a quorum acknowledged: the replica has all so far. */
inline ACKED()
{
	r_conn = conn; r_ver = ver; r_due = due; r_lease = lease; r_vby = vby;
	r_lexp = lexp; r_retry = retry;
	for (ki : 1 .. SW) {
		r_kept[ki] = kept[ki]; r_kans[ki] = kans[ki]
	}
	ki = 0
}
/* A request id the client is done with: nobody asks for it again. */
#define KEPT0()	kept[me] = 0; kans[me] = 0; r_kept[me] = 0; r_kans[me] = 0
#else
#define KEPT0()	kept[me] = 0; kans[me] = 0
#endif

/* The client is gone: its locals are of no more interest. */
#ifndef NO_P3
#define P3END	assert(res != G_OK || owner[g] != me || \
		    fate[g] != F_HELD)					/* P3 */
#else
#define P3END	skip
#endif
#define END()	P3END; pc[me] = P_END; gone[me] = 1; nfin++; \
		g = 0; res = 0; st = 0; force = 0; again = 0

/* ---- refresh.take: lib/v_token.c:v_refresh_take, one transaction ----
 * It reads the binding (fa_binding_get, fa_tokens_get) and answers from
 * it; only a lease is written. st: 1 fresh, 2 busy, 3 leased, 4 done
 * (fa-refresh.c:taken). */
inline take_txn()
{
	g = ver;
	take_body();
#ifdef FAILOVER
	/* A read on a master that holds its leases is authoritative:
	 * what it read can no longer be rolled back (DB_REP_CONF_LEASE) */
	if
	:: st != 3 -> ACKED()
	:: else
	fi
#endif
}

inline take_body()
{
	if
	:: !conn -> st = 4		/* not connected, needs_reconnect: 77 */
	:: conn && force != 1 && !due ->
		st = 1			/* not due: the stored tokens */
	:: else ->
		if
		/* lease != NULL && !holds() && (another site's, or
		 * alive(holder)) && until > now */
		:: lease != 0 && lease != me && !gone[lease] && !lexp ->
			st = 2
		:: else ->
			if
			:: force != 1 && retry ->	/* retry_at > now */
				if
				:: force == 0 -> st = 1	/* good 30 s more: the stored one */
				:: force == 0 -> st = 4	/* 75 */
				:: force == 2 -> st = 4	/* 0: the sweep leaves it */
				fi
			:: else ->
				if
				:: rated < RATES -> rated++;	/* fa_rate_take: wait > 0 */
					if
					:: force == 0 -> st = 1
					:: true -> st = 4
					fi
				:: true ->
					lease = me; lexp = 0;	/* fa_putjson */
					st = 3;
#ifdef FAILOVER
					if
					/* committed here, not by a quorum:
					 * fa_vault_txn answers 75 */
					:: permfails < PERMFAILS ->
						permfails++; st = 4
					:: true -> ACKED()
					fi
#endif
				fi
			fi
		fi
	fi
}

/* ---- refresh.finish: lib/v_token.c:v_refresh_finish ----
 * Run by bin/fa-vaultd.c:runverb, which keeps a write's answer under its
 * request id in the same transaction: the same id again gets the same
 * answer. st: 1 fresh, 2 busy, 3 done, 5 the keeper's 75. */
inline finish_txn()
{
	if
	:: kept[me] -> st = kans[me];
#ifdef FAILOVER
		ACKED()		/* read under master leases */
#endif
	:: else ->
		if
#ifdef NO_LEASE_CHECK
		:: ver != g ->
#else
		/* ver != ver0 || !holds(): lapsed, taken, refreshed */
		:: ver != g || lease != me ->
#endif
			st = 2;
#ifndef OLD_LEASE
			/* ... unless the vault holds this very result:
			 * same(), fresh (its first answer was a 75) */
			if
			:: res == G_OK && ver == g + 1 && vby == me -> st = 1
			:: else
			fi
#else
			skip
#endif
		:: else ->
			lease = 0; lexp = 0;	/* json_object_del "lease" */
			if
			:: res == G_OK ->	/* fa_tokver_bump, fa_tokens_put */
				ver = g + 1; vby = me; due = 0; retry = 0;
				fate[g] = F_COMMITTED; st = 1
			:: res == G_REFUSED ->	/* rv 77: fa_status_set */
				conn = 0; st = 3
			:: res == G_TEMP ->	/* retry_at = now + ... */
				retry = 1; st = 3
			fi
		fi;
		kept[me] = 1; kans[me] = st;
#ifdef FAILOVER
		if
		:: permfails < PERMFAILS -> permfails++; st = 5
		:: true -> ACKED()
		fi
#endif
	fi
}

/* What fa-refresh.c:fresh (or, for the sweep, sweepsink) does with
 * finish()'s outcome: st 1 fresh, 2 busy, 3 done. */
inline settle()
{
	if
	:: st == 2 && me != SW -> force = 0; g = 0; pc[me] = P_TAKE
	/* A short Retry-After is waited out, once, then -f. */
	:: st == 3 && res == G_TEMP && !waited && me != SW &&
	    forced < FORCED ->
		forced++; waited = 1; force = 1; g = 0; pc[me] = P_TAKE
	:: st != 2 || me == SW -> END()
	fi;
	res = 0; st = 0
}

/* finish() gave up: r == -1; j->lost when the tokens were new. */
inline lost()
{
	KEPT0();
	if
	:: res == G_OK && fate[g] == F_HELD -> fate[g] = F_LOST
	:: else
	fi;
	st = 3; settle()
}

proctype client(byte me)
{
	byte	g;		/* j->tokver: the generation of j->tok */
	mtype	res;		/* j->rv: FreeAgent's answer */
	byte	st;		/* j->state */
	byte	force;		/* j->force: 0; 1 after a Retry-After; 2 the sweep */
	bit	waited;		/* fresh()'s */
	bit	again;		/* take's request sent a second time */

	atomic { force = (me == SW -> 2 : 0);
		 pc[me] = (me == SW -> P_DUE : P_TAKE) }
end:	do
	/* fa-refresh.c:sweep: refresh.due (v_refresh_due, fa_due_list):
	 * B is on the list if due; needs_reconnect is due at INT64_MAX */
	:: atomic { pc[me] == P_DUE && !down ->
		if
		:: conn && due -> pc[me] = P_TAKE
		:: else -> END()
		fi }

	/* fa-refresh.c:take -> vaultc.c:fa_ask("refresh.take"). Cut off,
	 * it is sent once more with the same id; refresh.take is not a
	 * kept write, so it runs again (retaking one's own lease is
	 * harmless); cut off again, fa_die(): 75. */
	:: atomic { pc[me] == P_TAKE && !down ->
		take_txn();
		if
		/* the keeper dies after the commit, before the answer */
		:: crashes < CRASHES -> crashes++; down = 1; st = 0;
			if
			:: !again -> again = 1; g = 0
			:: else -> END()
			fi
		:: true ->
			again = 0;
			if
			:: st == 1 || st == 4 -> END()	/* a token, or the status */
			:: st == 2 && me == SW -> END()	/* sweepnext: report() */
			:: st == 2 && me != SW ->
#ifdef NO_REREAD
				pc[me] = P_WAIT
#else
				/* fresh(): waitfor(), then take again,
				 * reading the vault again */
				force = 0; g = 0
#endif
			:: st == 3 -> pc[me] = P_SEND
			fi;
			st = 0
		fi }
	/* no keeper within 3 * vault_timeout + 30 s: fa_die(), 75 */
	:: atomic { (pc[me] == P_DUE || pc[me] == P_TAKE) && down -> END() }
#ifdef NO_REREAD
	/* waits for the lease to end, then takes it without reading the
	 * binding again: the tokens it read at first */
	:: atomic { pc[me] == P_WAIT && !down ->
		if
		:: conn && (lease == 0 || lexp || gone[lease]) ->
			lease = me; lexp = 0; pc[me] = P_SEND
		:: !conn -> END()
		fi }
#endif

	/* The grant: fa-refresh.c:pump -> prep (the form, with
	 * j->tok->refresh) -> lib/http.c:fa_http_stream. */
	:: atomic { pc[me] == P_SEND ->
		inflight++;
		assert(inflight == 1);					/* P1 */
		assert(g <= fa_cur && g + 2 < MAXGEN);
#ifndef NO_P2
		/* g was used: only its lost rotation excuses it */
		assert(g == fa_cur || fate[g] == F_ORPHAN ||
		    fate[g] == F_LOST || stalled[g]);			/* P2 */
#endif
		if
		:: g < fa_cur || fa_rev -> res = G_REFUSED	/* invalid_grant */
		:: else ->
			if
			:: fa_cur = g + 1; fate[g] = F_HELD; owner[g] = me;
				res = G_OK
			:: fa_rev = 1; res = G_REFUSED
			:: res = G_TEMP
			/* rotated, then the answer timed out (curl's
			 * CURLE_OPERATION_TIMEDOUT): fa_grant_res says 75 */
			:: fa_cur = g + 1; fate[g] = F_ORPHAN; res = G_TEMP
			fi
		fi;
		pc[me] = P_RECV }
	/* fa-refresh.c:pumpdone: the answer (fa_grant_res) -> settle() */
	:: atomic { pc[me] == P_RECV -> inflight--; pc[me] = P_FIN }

	/* fa-refresh.c:finish -> vaultc.c:fa_ask_until("refresh.finish"),
	 * keeper after keeper, until FINISH_SECS have passed. */
	:: atomic { pc[me] == P_FIN && !down ->
		finish_txn();
		if
		/* the keeper dies after the commit, before the answer:
		 * the same request id to the next keeper */
		:: crashes < CRASHES -> crashes++; down = 1; st = 0
		:: true ->
			KEPT0();	/* answered: that id is done with */
			if
			/* a keeper's 75: a new request id, or the deadline */
			:: st == 5 -> st = 0
			:: st == 5 -> lost()
			:: st == 1 -> END()			/* fresh */
			:: st == 2 ->
#ifdef OLD_LEASE
				/* "Our lease lapsed and another process
				 * refreshed meanwhile: its tokens are
				 * the newest." */
#ifndef NO_P3
				assert(res != G_OK ||
				    fate[g] == F_COMMITTED);		/* P3 */
#endif
				if
				:: res == G_OK && fate[g] == F_HELD ->
					fate[g] = F_DROPPED
				:: else
				fi;
				settle()
#else
				/* busy: the lease lapsed and another
				 * process took it over; rotated tokens
				 * are reported lost (j->lost, 75) */
				if
				:: res == G_OK -> lost()
				:: else -> settle()
				fi
#endif
			:: st == 3 -> assert(res != G_OK); settle()
			fi
		fi }
	/* Stopped or swapped out with FreeAgent's answer in hand, past its
	 * lease (bin/fa-refresh.c: leasesecs covers the requests and
	 * finish()'s FINISH_SECS; nothing covers a stall): another process
	 * may take the lease over. */
	:: atomic { pc[me] == P_FIN && lease == me && !lexp &&
	    stalls < STALLS -> stalls++; lexp = 1;
		if
		:: res == G_OK -> stalled[g] = 1
		:: else
		fi }
	/* No keeper took it before the deadline: r == -1, j->lost:
	 * "FreeAgent's new tokens could not be stored, so it may need a
	 * reconnect" (exit 75, or 1). */
	:: atomic { pc[me] == P_FIN && down -> lost() }

	/* kill -9: a new token in its memory, or in the answer it will
	 * not read, is nobody's now */
	:: atomic { pc[me] != P_END && deaths < DEATHS -> deaths++;
		if
		:: (pc[me] == P_RECV || pc[me] == P_FIN) && res == G_OK &&
		    fate[g] == F_HELD -> fate[g] = F_ORPHAN
		:: else
		fi;
		if
		:: pc[me] == P_RECV -> inflight--
		:: else
		fi;
		waited = 0; END() }
	od
}

proctype keeper()
{
end:	do
	:: atomic { crashes < CRASHES && !down -> crashes++; down = 1 }
	/* The next request starts a keeper; it recovers what was
	 * committed (DB_RECOVER). */
	:: atomic { down -> down = 0 }
#ifdef FAILOVER
	/* The master goes; a replica with what a quorum acknowledged is
	 * elected; requests on the way are cut off and sent again. */
	:: atomic { failovers < FAILOVERS -> failovers++;
		/* "until" is time: a lease that lapsed here lapsed there */
		lexp = (r_lease == lease -> lexp || r_lexp : r_lexp);
		conn = r_conn; due = r_due; lease = r_lease; retry = r_retry;
		for (ki : 1 .. SW) {
			kept[ki] = r_kept[ki]; kans[ki] = r_kans[ki]
		}
		/* A token committed only here is its holder's again, if
		 * it still tries to commit it; else nobody's. */
		for (ki : r_ver .. MAXGEN - 1) {
			if
			:: fate[ki] == F_COMMITTED ->
				fate[ki] = (!gone[owner[ki]] &&
				    pc[owner[ki]] == P_FIN -> F_HELD : F_ORPHAN)
			:: else
			fi
		}
		ki = 0; ver = r_ver; vby = r_vby;
		down = 1 }
#endif
	od
}

proctype clock()
{
end:	do
	:: atomic { lease != 0 && !lexp && LAPSE(lease) -> lexp = 1 }
	:: atomic { retry -> retry = 0 }
	od
}

init
{
	byte i;

	atomic {
		run keeper();
		run clock();
		for (i : 1 .. SW) {
			run client(i)
		}
	}
}

ltl live { <> (nfin == N + 1) }
