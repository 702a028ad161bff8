/* ev.h - the event loop: epoll fd events, a timer heap, and tasks posted from other
 * threads (eventfd wake-up).
 *
 * Owns: the epoll instance, the timer heap, the posted-task queue.
 * Not owned: the fds it watches (callers close them after kite_ev_del()).
 * Threads: everything runs on the thread inside kite_ev_run(). kite_ev_post() and
 * kite_ev_stop() are the only calls that are safe from other threads. Callbacks may
 * add/remove fds and timers freely, including the one being dispatched. */
#ifndef KITE_NET_EV_H
#define KITE_NET_EV_H

#include <stdint.h>

#define KITE_EV_READ  0x1u
#define KITE_EV_WRITE 0x2u
#define KITE_EV_ERROR 0x4u /* reported only: EPOLLERR / EPOLLHUP */

typedef struct kite_ev kite_ev;
typedef struct kite_ev_timer kite_ev_timer;

typedef void (*kite_ev_fd_cb)(kite_ev *ev, int fd, uint32_t events, void *arg);
typedef void (*kite_ev_timer_cb)(kite_ev *ev, kite_ev_timer *t, void *arg);
typedef void (*kite_ev_task_cb)(void *arg);

kite_ev *kite_ev_new(void);
/* Frees the loop; pending timers are dropped, posted tasks are run once first. */
void kite_ev_free(kite_ev *ev);
/* Watches fd for events (KITE_EV_READ/WRITE); 0 or a kite_status. */
int kite_ev_add(kite_ev *ev, int fd, uint32_t events, kite_ev_fd_cb cb, void *arg);
/* Changes the events of a watched fd; 0, KITE_ENOTFOUND when fd is not watched, or
 * another kite_status. */
int kite_ev_mod(kite_ev *ev, int fd, uint32_t events);
void kite_ev_del(kite_ev *ev, int fd);
/* Runs cb after delay_ms, then every period_ms if period_ms > 0. The handle of a
 * one-shot timer is invalid once its callback has started. */
kite_ev_timer *kite_ev_timer_add(kite_ev *ev, int64_t delay_ms, int64_t period_ms,
                                 kite_ev_timer_cb cb, void *arg);
void kite_ev_timer_cancel(kite_ev *ev, kite_ev_timer *t);
/* Thread-safe: run cb(arg) on the loop thread soon. */
void kite_ev_post(kite_ev *ev, kite_ev_task_cb cb, void *arg);
/* Defers cb(arg) to the end of the current batch of posted tasks (loop thread only):
 * work that many tasks of one batch would each do - flushing a connection's output -
 * is done once. Outside a task batch it runs at the end of the current iteration. */
void kite_ev_defer(kite_ev *ev, kite_ev_task_cb cb, void *arg);
/* The pre-write hook (loop thread only): work to do before the answers of a batch are
 * written - the broker writes its staged store records there, which completes their
 * answers, so that a read's answers still leave in one write. kite_ev_prewrite_arm marks
 * it due; kite_ev_prewrite_run runs it once if due. Connections run it after the frames of
 * a read; the loop runs it after a batch of posted tasks and at the end of an iteration. */
void kite_ev_set_prewrite(kite_ev *ev, kite_ev_task_cb cb, void *arg);
void kite_ev_prewrite_arm(kite_ev *ev);
void kite_ev_prewrite_run(kite_ev *ev);
/* Turns (one loop iteration: its fd events, then the work below). kite_ev_next_turn
 * (loop thread only) runs cb(arg) in the next turn, after that turn's fd events, and makes
 * the poll before it non-blocking: work split over turns lets what became ready meanwhile
 * go first. kite_ev_turn_over is non-zero once the current turn has run longer than
 * KITE_EV_TURN_US: work that can be continued later yields then (after doing at least one
 * unit, so everyone progresses). */
#define KITE_EV_TURN_US 250
void kite_ev_next_turn(kite_ev *ev, kite_ev_task_cb cb, void *arg);
int kite_ev_turn_over(const kite_ev *ev);
/* Non-zero while the loop runs a batch of posted tasks. */
int kite_ev_batching(const kite_ev *ev);
/* Runs until kite_ev_stop(); returns 0, or a kite_status on an epoll failure. */
int kite_ev_run(kite_ev *ev);
void kite_ev_stop(kite_ev *ev); /* thread-safe */
int kite_ev_in_loop(const kite_ev *ev);
/* Cached monotonic time of the current iteration, in ms. */
int64_t kite_ev_now(const kite_ev *ev);

#endif
