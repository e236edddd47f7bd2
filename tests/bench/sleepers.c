// SPDX-License-Identifier: GPL-2.0-only
/*
 * bench-sleepers N: start N child processes that each block in read() on one pipe, print
 * "ready N" on stdout once every child runs, and hold them until SIGTERM, SIGINT or EOF on
 * stdin; then close the pipe and reap them. Every child leaves the CPU at least once (when it
 * blocks), so each one is a process in rawtpd's map and in /proc. A line "poke" on stdin
 * wakes every child once (a signal interrupts its read; it blocks again at once), so that a
 * rawtpd started after them sees them all; "poked N" answers.
 *
 * The children are real processes (own pid, own /proc entry) made with clone(CLONE_VM): they
 * share the parent's memory, so there are no page tables to copy. A plain fork() took 3.7 ms
 * per child on the shared benchmark machine (10k children: over a minute); clone(CLONE_VM)
 * takes a fraction of that. A child touches nothing but its own small stack and raw system
 * calls.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* clone() */
#endif
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILD_STACK 16384

static volatile sig_atomic_t stop;
static int hold[2], ready[2];

/* Runs on its own stack in the parent's memory: raw system calls only (no errno, no stdio). */
static int child(void *arg __attribute__((unused)))
{
	char c;

	syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	syscall(SYS_prctl, PR_SET_NAME, "bench-sleeper", 0, 0, 0);
	/* its own copy of the descriptors: drop the ends that would keep the pipes open */
	syscall(SYS_close, hold[1]);
	syscall(SYS_close, ready[0]);
	/* tell the parent we run, then block until the parent closes the pipe or goes */
	syscall(SYS_write, ready[1], "x", 1);
	while (syscall(SYS_read, hold[0], &c, 1) < 0) /* EINTR: poked */
		;
	syscall(SYS_exit, 0);
	return 0;
}

static void on_signal(int sig __attribute__((unused)))
{
	stop = 1;
}

static void on_poke(int sig __attribute__((unused)))
{
}

int main(int argc, char **argv)
{
	struct sigaction poke = {.sa_handler = on_poke}; /* no SA_RESTART: read() returns */
	long n, made = 0;
	pid_t *pids;
	char *stacks;
	FILE *in;

	if (argc != 2 || (n = strtol(argv[1], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: %s N\n", argv[0]);
		return 2;
	}
	if (pipe(hold) < 0 || pipe(ready) < 0)
		return 1;
	prctl(PR_SET_NAME, "bench-sleepers");
	stacks = malloc((size_t)n * CHILD_STACK);
	pids = calloc(n, sizeof(*pids));
	if (!stacks || !pids)
		return 1;
	sigaction(SIGUSR1, &poke, NULL); /* the children get a copy */
	for (; made < n; made++) {
		pid_t pid =
			clone(child, stacks + (made + 1) * CHILD_STACK, CLONE_VM | SIGCHLD, NULL);

		pids[made] = pid;
		if (pid < 0) {
			fprintf(stderr, "bench-sleepers: clone %ld of %ld: %s\n", made + 1, n,
				strerror(errno));
			break;
		}
	}
	close(hold[0]);
	close(ready[1]);
	for (long got = 0; got < made;) {
		char buf[4096];
		ssize_t l = read(ready[0], buf, sizeof(buf));

		if (l <= 0)
			break;
		got += l;
	}
	close(ready[0]);
	printf("ready %ld\n", made);
	fflush(stdout);

	/* no SA_RESTART: a signal ends the wait for the next line */
	struct sigaction term = {.sa_handler = on_signal};

	sigaction(SIGTERM, &term, NULL);
	sigaction(SIGINT, &term, NULL);
	signal(SIGUSR1, SIG_IGN);
	in = fdopen(0, "r");
	while (!stop && in) {
		char line[64];

		if (!fgets(line, sizeof(line), in))
			break;
		if (strncmp(line, "poke", 4) == 0) {
			for (long i = 0; i < made; i++)
				kill(pids[i], SIGUSR1);
			printf("poked %ld\n", made);
			fflush(stdout);
		}
	}
	close(hold[1]);
	while (wait(NULL) > 0 || errno == EINTR)
		;
	return made == n ? 0 : 1;
}
