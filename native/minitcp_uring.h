/* A TUN device's batches through io_uring: many reads or writes for one system call.
 *
 * Read verbatim by cffi's cdef() beside minitcp_native.h (native/build_native.py): declarations
 * only. Include <stddef.h>, <stdint.h> and minitcp_native.h before it.
 */

/* A ring bound to one non-blocking fd (opaque). */
struct mt_ring;

/* A ring of `entries` submission slots (a power of two, at most 4096) for fd, or NULL with *err
 * set to the errno io_uring_setup or mmap gave (EPERM: kernel.io_uring_disabled or a seccomp
 * filter; ENOSYS: no io_uring; EINVAL: a bad `entries`). */
struct mt_ring *mt_ring_open(int fd, uint32_t entries, int *err);
/* Unmap and close the ring; NULL is ignored. The fd stays open. */
void mt_ring_close(struct mt_ring *r);
/* io_uring_enter calls made so far (each submits a chunk of reads or writes and reaps them). */
uint64_t mt_ring_calls(const struct mt_ring *r);

/* mt_read_batch through the ring: the same packets in the same order, the same result, but each
 * read is offered a slot of frame bytes of its own (packet i at off[i] = a multiple of frame), so
 * cap must hold limit * frame bytes for a whole batch. Reads are submitted in chunks, the first
 * as large as the last batch read (plus one), doubling while every read of a chunk finds a
 * packet, at most 32 (minitcp_uring.c: CHUNK_MAX). */
long mt_ring_read_batch(struct mt_ring *r, char *buf, size_t cap, size_t frame, uint32_t limit,
                        uint32_t *off, uint32_t *len);

/* mt_write_batch through the ring: the SYN-ACK of each packet i < n with row[i] nonzero, written
 * in order, all of them before it returns; the number the device refused. */
long mt_ring_write_batch(struct mt_ring *r, const char *out, const uint32_t *olen, const uint8_t *row,
                         uint32_t n);
