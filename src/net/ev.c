/* ev.c - epoll event loop with a timer min-heap and a cross-thread task queue.
 *
 * fd registrations live in an array indexed by fd. Each registration carries a
 * generation number that is also stored in the epoll event, so an event that was
 * already fetched for an fd removed (and maybe reused) earlier in the same batch is
 * recognised as stale and dropped. Timers are heap nodes that remember their heap
 * index, so cancellation is O(log n). Posted tasks are a mutex-protected list drained
 * on the loop thread after an eventfd wake-up.
 * Turns: one iteration (epoll_wait, its fd events, next-turn tasks, posted tasks, timers,
 * deferred work) is a turn. Its start is stamped after epoll_wait; kite_ev_turn_over tells
 * work that can be continued later (more frames of a connection, more accepts) that the
 * turn has used its budget, and kite_ev_next_turn queues the continuation behind the next
 * poll (which then does not block), so whatever became ready meanwhile - a normal client's
 * request among thousands of hostile connections - is served first. */
#include "net/ev.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

typedef struct fd_reg {
    kite_ev_fd_cb cb;
    void *arg;
    uint32_t events;
    uint32_t gen;
    int active;
} fd_reg;

struct kite_ev_timer {
    int64_t when;
    int64_t period;
    uint64_t seq;
    size_t idx; /* position in the heap, SIZE_MAX when not queued */
    kite_ev_timer_cb cb;
    void *arg;
};

typedef struct task {
    struct task *next;
    kite_ev_task_cb cb;
    void *arg;
} task;

struct kite_ev {
    int epfd, wakefd;
    fd_reg *regs;
    size_t nregs;
    uint32_t gen;
    kite_ev_timer **heap;
    size_t nheap, capheap;
    uint64_t seq;
    pthread_mutex_t mu;
    task *tasks_head, *tasks_tail;
    atomic_int stop;
    pthread_t loop_thread;
    atomic_int running;
    int64_t now;
    int batching;                  /* running posted tasks */
    task *defer_head, *defer_tail; /* loop thread only */
    kite_ev_task_cb prewrite_cb;   /* loop thread only: the pre-write hook */
    void *prewrite_arg;
    int prewrite_due;
    task *next_head, *next_tail; /* loop thread only: kite_ev_next_turn */
    int64_t turn_start_us;       /* when this turn's epoll_wait returned */
};

kite_ev *kite_ev_new(void)
{
    kite_ev *ev = kite_xcalloc(1, sizeof *ev);
    ev->epfd = epoll_create1(EPOLL_CLOEXEC);
    ev->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ev->epfd < 0 || ev->wakefd < 0) {
        if (ev->epfd >= 0) close(ev->epfd);
        if (ev->wakefd >= 0) close(ev->wakefd);
        free(ev);
        return NULL;
    }
    pthread_mutex_init(&ev->mu, NULL);
    struct epoll_event e = { .events = EPOLLIN, .data.u64 = UINT64_MAX };
    epoll_ctl(ev->epfd, EPOLL_CTL_ADD, ev->wakefd, &e);
    ev->now = kite_mono_ms();
    return ev;
}

static void run_deferred(kite_ev *ev)
{
    while (ev->defer_head) {
        task *t = ev->defer_head;
        ev->defer_head = t->next;
        if (!ev->defer_head) ev->defer_tail = NULL;
        t->cb(t->arg);
        free(t);
    }
}

static task *new_task(kite_ev_task_cb cb, void *arg)
{
    task *t = kite_xmalloc(sizeof *t);
    t->next = NULL;
    t->cb = cb;
    t->arg = arg;
    return t;
}

/* Appends t to the list head..tail. */
static void append_task(task **head, task **tail, task *t)
{
    if (*tail)
        (*tail)->next = t;
    else
        *head = t;
    *tail = t;
}

void kite_ev_defer(kite_ev *ev, kite_ev_task_cb cb, void *arg)
{
    append_task(&ev->defer_head, &ev->defer_tail, new_task(cb, arg));
}

int kite_ev_batching(const kite_ev *ev) { return ev->batching; }

void kite_ev_next_turn(kite_ev *ev, kite_ev_task_cb cb, void *arg)
{
    append_task(&ev->next_head, &ev->next_tail, new_task(cb, arg));
}

int kite_ev_turn_over(const kite_ev *ev)
{
    return kite_mono_us() - ev->turn_start_us > KITE_EV_TURN_US;
}

static void run_list(task *t)
{
    while (t) {
        task *n = t->next;
        t->cb(t->arg);
        free(t);
        t = n;
    }
}

void kite_ev_set_prewrite(kite_ev *ev, kite_ev_task_cb cb, void *arg)
{
    ev->prewrite_cb = cb;
    ev->prewrite_arg = arg;
}

void kite_ev_prewrite_arm(kite_ev *ev) { ev->prewrite_due = 1; }

void kite_ev_prewrite_run(kite_ev *ev)
{
    if (!ev->prewrite_due) return;
    ev->prewrite_due = 0;
    if (ev->prewrite_cb) ev->prewrite_cb(ev->prewrite_arg);
}

static void run_tasks(kite_ev *ev)
{
    ev->batching = 1;
    for (;;) {
        pthread_mutex_lock(&ev->mu);
        task *t = ev->tasks_head;
        ev->tasks_head = ev->tasks_tail = NULL;
        pthread_mutex_unlock(&ev->mu);
        if (!t) break;
        run_list(t);
    }
    kite_ev_prewrite_run(ev); /* answers it completes are flushed with the batch's */
    ev->batching = 0;
    run_deferred(ev);
}

void kite_ev_free(kite_ev *ev)
{
    if (!ev) return;
    while (ev->next_head) { /* their callbacks find closed connections and let go */
        task *t = ev->next_head;
        ev->next_head = ev->next_tail = NULL;
        run_list(t);
    }
    run_tasks(ev);
    run_deferred(ev);
    for (size_t i = 0; i < ev->nheap; i++) free(ev->heap[i]);
    free(ev->heap);
    free(ev->regs);
    close(ev->epfd);
    close(ev->wakefd);
    pthread_mutex_destroy(&ev->mu);
    free(ev);
}

static uint32_t to_epoll(uint32_t ev)
{
    return ((ev & KITE_EV_READ) ? EPOLLIN | EPOLLRDHUP : 0) | ((ev & KITE_EV_WRITE) ? EPOLLOUT : 0);
}

int kite_ev_add(kite_ev *ev, int fd, uint32_t events, kite_ev_fd_cb cb, void *arg)
{
    if (fd < 0) return KITE_EINVAL;
    if ((size_t)fd >= ev->nregs) {
        size_t n = ev->nregs ? ev->nregs : 64;
        while (n <= (size_t)fd) n *= 2;
        fd_reg *r = kite_xreallocarray(ev->regs, n, sizeof *r);
        memset(r + ev->nregs, 0, (n - ev->nregs) * sizeof *r);
        ev->regs = r;
        ev->nregs = n;
    }
    fd_reg *r = &ev->regs[fd];
    r->cb = cb;
    r->arg = arg;
    r->events = events;
    r->gen = ++ev->gen;
    r->active = 1;
    struct epoll_event e = { .events = to_epoll(events),
                             .data.u64 = ((uint64_t)r->gen << 32) | (uint32_t)fd };
    if (epoll_ctl(ev->epfd, EPOLL_CTL_ADD, fd, &e) != 0) {
        r->active = 0;
        return kite_status_from_errno(errno);
    }
    return 0;
}

int kite_ev_mod(kite_ev *ev, int fd, uint32_t events)
{
    if (fd < 0 || (size_t)fd >= ev->nregs || !ev->regs[fd].active) return KITE_ENOTFOUND;
    fd_reg *r = &ev->regs[fd];
    if (r->events == events) return 0;
    r->events = events;
    struct epoll_event e = { .events = to_epoll(events),
                             .data.u64 = ((uint64_t)r->gen << 32) | (uint32_t)fd };
    return epoll_ctl(ev->epfd, EPOLL_CTL_MOD, fd, &e) == 0 ? 0 : kite_status_from_errno(errno);
}

void kite_ev_del(kite_ev *ev, int fd)
{
    if (fd < 0 || (size_t)fd >= ev->nregs || !ev->regs[fd].active) return;
    ev->regs[fd].active = 0;
    epoll_ctl(ev->epfd, EPOLL_CTL_DEL, fd, NULL);
}

/* ---- timer heap ---- */

static int t_less(const kite_ev_timer *a, const kite_ev_timer *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void heap_set(kite_ev *ev, size_t i, kite_ev_timer *t)
{
    ev->heap[i] = t;
    t->idx = i;
}

static void sift_up(kite_ev *ev, size_t i)
{
    kite_ev_timer *t = ev->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!t_less(t, ev->heap[p])) break;
        heap_set(ev, i, ev->heap[p]);
        i = p;
    }
    heap_set(ev, i, t);
}

static void sift_down(kite_ev *ev, size_t i)
{
    kite_ev_timer *t = ev->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        kite_ev_timer *best = t;
        if (l < ev->nheap && t_less(ev->heap[l], best)) {
            m = l;
            best = ev->heap[l];
        }
        if (l + 1 < ev->nheap && t_less(ev->heap[l + 1], best)) {
            m = l + 1;
            best = ev->heap[l + 1];
        }
        if (m == i) break;
        heap_set(ev, i, best);
        i = m;
    }
    heap_set(ev, i, t);
}

static void heap_push(kite_ev *ev, kite_ev_timer *t)
{
    ev->heap = kite_xgrow(ev->heap, &ev->capheap, ev->nheap + 1, sizeof *ev->heap, 64);
    t->seq = ++ev->seq;
    heap_set(ev, ev->nheap++, t);
    sift_up(ev, t->idx);
}

static void heap_remove(kite_ev *ev, kite_ev_timer *t)
{
    size_t i = t->idx;
    if (i == SIZE_MAX) return;
    t->idx = SIZE_MAX;
    ev->nheap--;
    if (i == ev->nheap) return;
    heap_set(ev, i, ev->heap[ev->nheap]);
    sift_down(ev, i);
    sift_up(ev, ev->heap[i]->idx);
}

kite_ev_timer *kite_ev_timer_add(kite_ev *ev, int64_t delay_ms, int64_t period_ms,
                                 kite_ev_timer_cb cb, void *arg)
{
    kite_ev_timer *t = kite_xcalloc(1, sizeof *t);
    t->when = kite_deadline_ms(delay_ms);
    t->period = period_ms;
    t->cb = cb;
    t->arg = arg;
    heap_push(ev, t);
    return t;
}

void kite_ev_timer_cancel(kite_ev *ev, kite_ev_timer *t)
{
    if (!t) return;
    if (t->idx != SIZE_MAX) {
        heap_remove(ev, t);
        free(t);
    } else {
        t->period = -1; /* being dispatched right now: the dispatcher frees it */
        t->cb = NULL;
    }
}

static void run_timers(kite_ev *ev)
{
    int64_t now = kite_mono_ms();
    ev->now = now;
    int budget = 10000; /* bound one iteration so fd events are never starved */
    while (ev->nheap && ev->heap[0]->when <= now && budget-- > 0) {
        kite_ev_timer *t = ev->heap[0];
        heap_remove(ev, t);
        if (t->cb) t->cb(ev, t, t->arg);
        if (t->period > 0 && t->cb) {
            t->when = now + t->period;
            heap_push(ev, t);
        } else {
            free(t);
        }
    }
}

void kite_ev_post(kite_ev *ev, kite_ev_task_cb cb, void *arg)
{
    task *t = new_task(cb, arg); /* allocated outside the lock */
    pthread_mutex_lock(&ev->mu);
    int was_empty = ev->tasks_head == NULL;
    append_task(&ev->tasks_head, &ev->tasks_tail, t);
    pthread_mutex_unlock(&ev->mu);
    /* A non-empty queue already has a wake-up pending (the loop takes the whole list
     * after reading the eventfd), so only the first post of a batch writes it. */
    if (was_empty) {
        uint64_t one = 1;
        ssize_t w = write(ev->wakefd, &one, sizeof one);
        (void)w;
    }
}

void kite_ev_stop(kite_ev *ev)
{
    atomic_store(&ev->stop, 1);
    uint64_t one = 1;
    ssize_t w = write(ev->wakefd, &one, sizeof one);
    (void)w;
}

int kite_ev_in_loop(const kite_ev *ev)
{
    return atomic_load(&((kite_ev *)ev)->running) && pthread_equal(ev->loop_thread, pthread_self());
}

int64_t kite_ev_now(const kite_ev *ev) { return ev->now; }

int kite_ev_run(kite_ev *ev)
{
    ev->loop_thread = pthread_self();
    atomic_store(&ev->running, 1);
    struct epoll_event evs[256];
    int rc = 0;
    while (!atomic_load(&ev->stop)) {
        int timeout = -1;
        if (ev->next_head) {
            timeout = 0; /* continuations wait: only what is ready now goes first */
        } else if (ev->nheap) {
            int64_t d = kite_deadline_left_ms(ev->heap[0]->when);
            timeout = d > 1000000 ? 1000000 : (int)d;
        }
        int n = epoll_wait(ev->epfd, evs, 256, timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            KLOG_ERROR("net", "epoll_wait failed: %s", strerror(errno));
            rc = kite_status_from_errno(errno);
            break;
        }
        ev->turn_start_us = kite_mono_us();
        ev->now = ev->turn_start_us / 1000;
        task *cont = ev->next_head; /* queued by earlier turns: run after this one's events */
        ev->next_head = ev->next_tail = NULL;
        for (int i = 0; i < n; i++) {
            uint64_t d = evs[i].data.u64;
            if (d == UINT64_MAX) {
                uint64_t v;
                ssize_t r = read(ev->wakefd, &v, sizeof v);
                (void)r;
                continue;
            }
            int fd = (int)(uint32_t)d;
            uint32_t gen = (uint32_t)(d >> 32);
            if ((size_t)fd >= ev->nregs) continue;
            fd_reg *r = &ev->regs[fd];
            if (!r->active || r->gen != gen) continue; /* removed earlier in this batch */
            uint32_t e = 0;
            if (evs[i].events & (EPOLLIN | EPOLLRDHUP)) e |= KITE_EV_READ;
            if (evs[i].events & EPOLLOUT) e |= KITE_EV_WRITE;
            if (evs[i].events & (EPOLLERR | EPOLLHUP)) e |= KITE_EV_ERROR | KITE_EV_READ;
            r->cb(ev, fd, e, r->arg);
        }
        run_list(cont);
        run_tasks(ev);
        run_timers(ev);
        kite_ev_prewrite_run(ev);
        run_deferred(ev);
    }
    run_tasks(ev);
    atomic_store(&ev->running, 0);
    atomic_store(&ev->stop, 0);
    return rc;
}
