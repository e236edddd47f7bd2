// SPDX-License-Identifier: GPL-2.0-only
/*
 * bench-sleepers N: start N child processes that each block in read() on one pipe, print
 * "ready N" on stdout once every child runs, and hold them until SIGTERM, SIGINT or EOF on
 * stdin; then close the pipe and reap them. Every child leaves the CPU at least once (when it
 * blocks), so each one is a process in rawtpd's map and in /proc.
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
#include <poll.h>
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
	while (syscall(SYS_read, hold[0], &c, 1) < 0)
		;
	syscall(SYS_exit, 0);
	return 0;
}

static void on_signal(int sig __attribute__((unused)))
{
	stop = 1;
}

int main(int argc, char **argv)
{
	long n, made = 0;
	char *stacks;

	if (argc != 2 || (n = strtol(argv[1], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: %s N\n", argv[0]);
		return 2;
	}
	if (pipe(hold) < 0 || pipe(ready) < 0)
		return 1;
	prctl(PR_SET_NAME, "bench-sleepers");
	stacks = malloc((size_t)n * CHILD_STACK);
	if (!stacks)
		return 1;
	for (; made < n; made++) {
		pid_t pid = clone(child, stacks + (made + 1) * CHILD_STACK, CLONE_VM | SIGCHLD, NULL);

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

	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	while (!stop) {
		struct pollfd pfd = {.fd = 0, .events = POLLIN};
		char buf[64];

		if (poll(&pfd, 1, -1) > 0 && read(0, buf, sizeof(buf)) <= 0)
			break;
	}
	close(hold[1]);
	while (wait(NULL) > 0 || errno == EINTR)
		;
	return made == n ? 0 : 1;
}
