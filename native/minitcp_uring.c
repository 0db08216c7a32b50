/* A TUN device's batches through io_uring; see minitcp_uring.h.
 *
 * Raw system calls (no liburing): io_uring_setup (425) makes the ring, two mmaps share its
 * submission and completion queues, io_uring_enter (426) submits a chunk and waits for its
 * completions. Every read and write carries RWF_NOWAIT: a TUN file supports IOCB_NOWAIT
 * (FMODE_NOWAIT), so io_uring ignores O_NONBLOCK for it and would arm a poll on an empty device
 * and wait (io_uring/rw.c io_rw_init_file: REQ_F_NOWAIT only for O_NONBLOCK files *without*
 * nowait support); with RWF_NOWAIT the read completes at once with -EAGAIN, as read() does.
 * Requests run in submission order, inline (io_submit_sqes: no IOSQE_ASYNC, nothing blocks),
 * so the device's order is kept both ways.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/fs.h>
#include <linux/io_uring.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "minitcp_native.h"
#include "minitcp_uring.h"

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter 426
#endif

/* Reads per chunk at most. A read past the device's last packet costs ~0.5 us (its -EAGAIN
 * completion), a chunk's io_uring_enter ~1 us: for a batch of n, chunks of c cost about n / c
 * calls and c / 2 wasted reads, least near c = 2 * sqrt(n), 32 for a batch of 256. */
#define CHUNK_MAX 32

struct mt_ring {
    int ring_fd;
    int fd;
    unsigned entries;
    unsigned *sq_tail, *sq_mask;
    unsigned *cq_head, *cq_tail, *cq_mask;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
    void *sq_map, *cq_map, *sqe_map;
    size_t sq_len, cq_len, sqe_len;
    uint32_t last_read;   /* packets the last batch read: the next one's first guess */
    int broken;           /* io_uring_enter failed, or the fd refused RWF_NOWAIT: plain calls from now on */
    uint64_t calls;
    int res[4096];        /* each request's result, by its user_data */
};

struct mt_ring *mt_ring_open(int fd, uint32_t entries, int *err)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    if (entries == 0 || entries > 4096 || (entries & (entries - 1))) {
        *err = EINVAL;
        return NULL;
    }
    const long rfd = syscall(__NR_io_uring_setup, entries, &p);
    if (rfd < 0) {
        *err = errno;
        return NULL;
    }
    struct mt_ring *r = calloc(1, sizeof *r);
    if (r == NULL) {
        *err = ENOMEM;
        close((int)rfd);
        return NULL;
    }
    r->ring_fd = (int)rfd;
    r->fd = fd;
    r->entries = p.sq_entries;
    r->sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    r->cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    const int single = (p.features & IORING_FEAT_SINGLE_MMAP) != 0;
    if (single && r->cq_len > r->sq_len)
        r->sq_len = r->cq_len;
    r->sq_map = mmap(NULL, r->sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->ring_fd,
                     IORING_OFF_SQ_RING);
    r->cq_map = single || r->sq_map == MAP_FAILED
                    ? r->sq_map
                    : mmap(NULL, r->cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->ring_fd,
                           IORING_OFF_CQ_RING);
    r->sqe_len = p.sq_entries * sizeof(struct io_uring_sqe);
    r->sqe_map = r->cq_map == MAP_FAILED
                     ? MAP_FAILED
                     : mmap(NULL, r->sqe_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->ring_fd,
                            IORING_OFF_SQES);
    if (r->sqe_map == MAP_FAILED) {
        *err = errno;
        if (r->cq_map != MAP_FAILED && r->cq_map != r->sq_map)
            munmap(r->cq_map, r->cq_len);
        if (r->sq_map != MAP_FAILED)
            munmap(r->sq_map, r->sq_len);
        close(r->ring_fd);
        free(r);
        return NULL;
    }
    char *sq = r->sq_map, *cq = r->cq_map;
    r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
    r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
    r->cq_head = (unsigned *)(cq + p.cq_off.head);
    r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
    r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    r->sqes = r->sqe_map;
    unsigned *array = (unsigned *)(sq + p.sq_off.array);
    for (unsigned i = 0; i < p.sq_entries; i++)
        array[i] = i; /* submission slot i is entry i, always */
    return r;
}

void mt_ring_close(struct mt_ring *r)
{
    if (r == NULL)
        return;
    munmap(r->sqe_map, r->sqe_len);
    if (r->cq_map != r->sq_map)
        munmap(r->cq_map, r->cq_len);
    munmap(r->sq_map, r->sq_len);
    close(r->ring_fd); /* the kernel cancels and frees anything still in flight */
    free(r);
}

uint64_t mt_ring_calls(const struct mt_ring *r)
{
    return r->calls;
}

static void queue(struct mt_ring *r, uint8_t op, void *buf, uint32_t len, uint32_t tag)
{
    const unsigned tail = *r->sq_tail;
    struct io_uring_sqe *s = &r->sqes[tail & *r->sq_mask];
    memset(s, 0, sizeof *s);
    s->opcode = op;
    s->fd = r->fd;
    s->addr = (uint64_t)(uintptr_t)buf;
    s->len = len;
    s->off = (uint64_t)-1; /* the file's position: a character device has none */
    s->rw_flags = RWF_NOWAIT;
    s->user_data = tag;
    __atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
}

#define NO_RESULT INT32_MIN /* no completion seen for the request */

/* Submit the k queued requests, wait for their k completions and file each result under its tag
 * (tags 0..k-1). 0, or -1 when io_uring_enter failed: the ring is then marked broken, *submitted
 * says how many the kernel took (they ran: the device's requests complete inline) and the results
 * not seen are NO_RESULT. */
static int run(struct mt_ring *r, unsigned k, unsigned *submitted)
{
    unsigned done = 0;
    int failed = 0;
    *submitted = 0;
    for (unsigned i = 0; i < k; i++)
        r->res[i] = NO_RESULT;
    while (done < k && !failed) {
        const long ret = syscall(__NR_io_uring_enter, r->ring_fd, k - *submitted, k - done,
                                 IORING_ENTER_GETEVENTS, NULL, 0);
        r->calls++;
        if (ret < 0 && errno != EINTR)
            failed = r->broken = 1;
        if (ret > 0)
            *submitted += (unsigned)ret;
        unsigned head = *r->cq_head;
        const unsigned tail = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
        for (; head != tail; head++, done++) {
            const struct io_uring_cqe *c = &r->cqes[head & *r->cq_mask];
            r->res[c->user_data] = c->res;
        }
        __atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
    }
    return failed ? -1 : 0;
}

long mt_ring_read_batch(struct mt_ring *r, char *buf, size_t cap, size_t frame, uint32_t limit,
                        uint32_t *off, uint32_t *len)
{
    uint32_t n = 0;
    size_t at = 0;
    unsigned chunk = r->last_read + 1 < CHUNK_MAX ? r->last_read + 1 : CHUNK_MAX;
    long error = 0;
    int more = 1;
    while (more && n < limit) {
        unsigned k = limit - n, submitted;
        if (k > chunk)
            k = chunk;
        if (k > r->entries)
            k = r->entries;
        if (k > (cap - at) / frame)
            k = (unsigned)((cap - at) / frame);
        if (k == 0 || r->broken)
            break;
        for (unsigned i = 0; i < k; i++)
            queue(r, IORING_OP_READ, buf + at + i * frame, (uint32_t)frame, i);
        if (run(r, k, &submitted) < 0)
            more = 0;
        for (unsigned i = 0; i < k; i++) {
            const int got = r->res[i];
            if (got == NO_RESULT)
                break;
            if (got == -EOPNOTSUPP) {
                /* RWF_NOWAIT on a file without IOCB_NOWAIT support (kiocb_set_rw_flags): nothing
                 * was read, and no read of this ring can be; plain reads from now on. */
                more = 0;
                r->broken = 1;
                continue;
            }
            if (got < 0) {
                /* EAGAIN: the device is empty. A later read of the chunk may still have found a
                 * packet that came meanwhile: it is kept, in its place. */
                more = 0;
                if (got != -EAGAIN && got != -EWOULDBLOCK && got != -EINTR && !error)
                    error = got;
                continue;
            }
            off[n] = (uint32_t)(at + i * frame);
            len[n] = (uint32_t)got;
            n++;
        }
        at += k * frame;
        if (chunk < CHUNK_MAX)
            chunk *= 2;
    }
    if (r->broken && n == 0 && !error)
        return mt_read_batch(r->fd, buf, cap, frame, limit, off, len);
    r->last_read = n;
    /* mt_read_batch: -errno only when nothing was read; a lasting error shows at the next read */
    return n == 0 && error ? error : (long)n;
}

long mt_ring_write_batch(struct mt_ring *r, const char *out, const uint32_t *olen, const uint8_t *row,
                         uint32_t n)
{
    long dropped = 0;
    uint32_t i = 0;
    uint32_t index[4096]; /* the packet of each request of a chunk */
    while (i < n) {
        if (r->broken)
            return dropped + mt_write_batch(r->fd, out + (size_t)i * MT_SYNACK_SLOT, olen + i, row + i, n - i);
        unsigned k = 0, submitted;
        for (; i < n && k < r->entries; i++)
            if (row[i]) {
                index[k] = i;
                queue(r, IORING_OP_WRITE, (char *)out + (size_t)i * MT_SYNACK_SLOT, olen[i], k++);
            }
        if (k == 0)
            break;
        if (run(r, k, &submitted) < 0 && submitted < k) {
            /* The kernel did not take the chunk's last requests: they go the plain way, once. */
            i = index[submitted];
            for (unsigned j = 0; j < submitted; j++)
                if (r->res[j] < 0 && r->res[j] != NO_RESULT)
                    dropped++;
            continue;
        }
        for (unsigned j = 0; j < k; j++) {
            if (r->res[j] == -EOPNOTSUPP) { /* as in mt_ring_read_batch: not written; plain from now on */
                r->broken = 1;
                dropped += mt_write_batch(r->fd, out + (size_t)index[j] * MT_SYNACK_SLOT, olen + index[j],
                                          row + index[j], 1);
            } else if (r->res[j] < 0 && r->res[j] != NO_RESULT) {
                dropped++; /* TunLink.send: EAGAIN (the device's buffer full) drops the packet */
            }
        }
    }
    return dropped;
}
