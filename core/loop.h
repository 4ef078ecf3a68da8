/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The event loop: one io_uring, one thread.
 *
 * Every SQE carries a pointer to a struct loop_op embedded in its owner;
 * the completion calls op->done, which finds the owner with container_of.
 * An owner with an op in flight is freed only from that op's final
 * completion. A user_data of 0 marks fire-and-forget SQEs whose
 * completions are dropped (cancels).
 *
 * Work that should happen once per turn (publishing used entries,
 * flushing display damage) is queued with loop_defer and runs after the
 * batch of completions, right before the loop submits and waits again.
 */
#ifndef CORE_LOOP_H
#define CORE_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <liburing.h>

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

struct loop_op;
typedef void loop_done_fn(struct loop_op *op, int res, unsigned cqe_flags);

struct loop_op {
	loop_done_fn *done;
	bool busy;	/* submitted and its final completion not yet seen */
};

struct loop_defer;
typedef void loop_defer_fn(struct loop_defer *d);

struct loop_defer {
	loop_defer_fn *fn;
	struct loop_defer *next;
	bool queued;
};

struct loop {
	struct io_uring ring;
	struct loop_defer *deferred;	/* run before the next wait */
	bool stop;
	unsigned inflight;		/* ops whose final completion is due */
	uint64_t turns;			/* times the loop woke up */
	uint64_t completions;
};

int loop_init(struct loop *l, unsigned entries);
void loop_finish(struct loop *l);

/* Run until loop_stop(). Returns 0 or -errno if io_uring itself failed. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

/*
 * At exit: cancel every op in flight and deliver the completions, so
 * that their owners can free themselves. Handlers must not re-arm on
 * -ECANCELED. Returns when nothing is in flight.
 */
void loop_drain(struct loop *l);

void loop_op_init(struct loop_op *op, loop_done_fn *done);

/* Queue d to run once before the loop next waits (no-op if queued). */
void loop_defer(struct loop *l, struct loop_defer *d, loop_defer_fn *fn);

/*
 * Submission helpers. Each takes an idle op (op->busy false) and marks it
 * busy until its completion is delivered; none can fail (a full SQ is
 * submitted to make room). The buffers must live until the completion.
 */
void loop_read(struct loop *l, struct loop_op *op, int fd, void *buf,
	       unsigned len);
void loop_recvmsg(struct loop *l, struct loop_op *op, int fd,
		  struct msghdr *msg, unsigned flags);
void loop_sendmsg(struct loop *l, struct loop_op *op, int fd,
		  const struct msghdr *msg, unsigned flags);
void loop_poll(struct loop *l, struct loop_op *op, int fd, unsigned events);
/* Completes once per readiness (IORING_CQE_F_MORE set) until cancelled or
 * an error ends it; op->busy stays true meanwhile. */
void loop_poll_multi(struct loop *l, struct loop_op *op, int fd,
		     unsigned events);
void loop_accept(struct loop *l, struct loop_op *op, int fd);

/* Ask for op to complete early (it completes with -ECANCELED or its
 * result). The completion still arrives and must be waited for. */
void loop_cancel(struct loop *l, struct loop_op *op);

#endif /* CORE_LOOP_H */
