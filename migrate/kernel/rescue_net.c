// SPDX-License-Identifier: GPL-2.0
/*
 * Process rescue: IPv4 TCP and UDP sockets, AF_UNIX stream sockets (see
 * rescue.h).
 *
 * What TCP repair (TCP_REPAIR, used by criu restore --tcp-established) needs
 * to rebuild an established connection is read from the dead tcp_sock: the
 * sequence numbers, the windows, the options agreed with the peer, the
 * timestamp clock, and the bytes of its two queues.  The receive queue holds
 * what the peer sent and this side acknowledged but the process has not read
 * (copied_seq to rcv_nxt); the retransmit queue (an rbtree) and the write
 * queue hold what the process wrote and the peer has not acknowledged
 * (snd_una to write_seq).  Both must come out whole and in sequence, or the
 * socket is not carried: a hole would be a silent loss.
 *
 * Not carried (the socket stays an OTHER fd, and docs/failover.md says why):
 * connections in a listener's accept queue, a connection in any state but
 * ESTABLISHED or LISTEN, datagrams queued on a UDP socket, IPv6, anything
 * but TCP and UDP; AF_UNIX datagram and seqpacket sockets.  An AF_UNIX
 * stream socket with file descriptors in flight (SCM_RIGHTS) or out-of-band
 * data fails its process's rescue (the fds would be lost silently).
 */
#define pr_fmt(fmt) "orthros-rescue: " fmt

#include <linux/net.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <net/af_unix.h>
#include <net/inet_sock.h>
#include <net/sock.h>
#include <net/tcp.h>
#include <net/tcp_states.h>

#include "rescue.h"

#define RX_MAX_SKBS	16384		/* skbs of one queue */
#define RX_MAX_DEPTH	64		/* of the retransmit rbtree */

struct rx_q {
	struct rx_ctx *c;
	struct orthros_rx_sock *s;
	u32 queue;
	u32 cursor;			/* the next sequence number wanted */
	u32 end;			/* where the bytes end */
	u32 skbs;
	bool sent_seen;			/* a write-queue skb handed to the device */
	u32 sent_end;			/* ... the end of the last such */
	u32 prev_end;			/* the end_seq of the skb before */
	bool carried;			/* an skb of this queue gave bytes */
	bool locked;			/* the socket was locked: maybe mid-update */
};

/* len bytes at phys, as SKDATA records that each stay within one page. */
static int put_bytes(struct rx_q *q, u64 phys, u32 len)
{
	while (len) {
		u32 n = min_t(u32, len, PAGE_SIZE - offset_in_page(phys));
		struct orthros_rx_skdata *d;

		if (!orthros_dead_phys(&q->c->dm, phys, n))
			return rx_fail(q->c, -EFAULT, "socket data at %#llx is not the dead OS's RAM",
				       phys);
		d = rx_put(q->c, ORTHROS_RX_SKDATA, sizeof(*d));
		if (!d)
			return -ENOSPC;
		d->phys = phys;
		d->len = n;
		d->queue = q->queue;
		q->s->nr_data++;
		phys += n;
		len -= n;
	}
	return 0;
}

/*
 * Bytes [skip, skip + want) of the payload of the dead skb (a copy at skb):
 * the linear part, then the page fragments, then the skbs of its frag_list
 * (one level: GRO makes no deeper ones).
 */
static int skb_bytes(struct rx_q *q, const struct sk_buff *skb, u32 skip, u32 want, bool nested)
{
	struct skb_shared_info *sh;
	u64 off = (u64)skb->data - (u64)skb->head, phys;
	u32 head;
	int err = 0, i;

	/*
	 * The linear part ends at tail: skb_len_add() grows len a moment
	 * before data_len, and len - data_len would count page bytes as
	 * linear ones for that moment.
	 */
	if (skb->data_len > skb->len || (u64)skb->data < (u64)skb->head || off > skb->tail ||
	    skb->tail > skb->end)
		return rx_fail(q->c, -EFAULT, "an skb does not check (len %u, data_len %u)",
			       skb->len, skb->data_len);
	head = min_t(u64, skb->tail - off, skb->len);
	if (skip < head) {
		u32 n = min(head - skip, want);

		err = orthros_dead_va_phys(&q->c->dm, (u64)skb->data + skip, n, &phys);
		if (err)
			return rx_fail(q->c, err, "an skb's data does not check");
		err = put_bytes(q, phys, n);
		if (err)
			return err;
		want -= n;
		skip = 0;
	} else {
		skip -= head;
	}
	if (!want)
		return 0;
	sh = kmalloc(sizeof(*sh), GFP_KERNEL);
	if (!sh)
		return -ENOMEM;
	err = rx_read(q->c, (u64)skb->head + skb->end, sh, sizeof(*sh), "an skb's shared info");
	if (!err && sh->nr_frags > MAX_SKB_FRAGS)
		err = rx_fail(q->c, -EFAULT, "an skb has %u fragments", sh->nr_frags);
	for (i = 0; !err && want && i < sh->nr_frags; i++) {
		const skb_frag_t *fr = &sh->frags[i];
		u32 size = skb_frag_size(fr), n;

		if (skip >= size) {
			skip -= size;
			continue;
		}
		if (netmem_is_net_iov(skb_frag_netmem(fr))) {
			err = rx_fail(q->c, -EOPNOTSUPP, "an skb fragment is device memory");
			break;
		}
		err = orthros_dead_page_phys(&q->c->dm, (u64)skb_frag_page(fr), &phys);
		if (err) {
			err = rx_fail(q->c, err, "an skb fragment's page does not check");
			break;
		}
		n = min(size - skip, want);
		err = put_bytes(q, phys + skb_frag_off(fr) + skip, n);
		want -= n;
		skip = 0;
	}
	if (!err && want && sh->frag_list) {
		struct sk_buff *sub = kmalloc(sizeof(*sub), GFP_KERNEL);
		u64 va = (u64)sh->frag_list;
		int k;

		if (!sub)
			err = -ENOMEM;
		for (k = 0; !err && want && va && !nested; k++) {
			u32 n;

			if (k >= MAX_SKB_FRAGS * 4)
				err = rx_fail(q->c, -ELOOP, "an skb's frag_list is too long");
			else
				err = rx_read(q->c, va, sub, sizeof(*sub), "an skb of a frag_list");
			if (err)
				break;
			if (skip >= sub->len) {
				skip -= sub->len;
			} else {
				n = min(sub->len - skip, want);
				err = skb_bytes(q, sub, skip, n, true);
				want -= n;
				skip = 0;
			}
			va = (u64)sub->next;
		}
		kfree(sub);
	}
	kfree(sh);
	if (!err && want)
		err = rx_fail(q->c, -EFAULT, "an skb holds fewer bytes than its length says");
	return err;
}

/*
 * An skb that a stopped task held, in no queue: tcp_fragment() and
 * tso_fragment() cut an skb in two (its end_seq first, then its bytes) and
 * link the second half last; tcp_event_new_data_sent() unlinks an skb from
 * the write queue before it puts it in the retransmit tree; tcp_ofo_queue()
 * moves rcv_nxt past an skb before it queues it for reading.  A core stopped
 * in between leaves bytes that no queue names: a hole, or a queue that ends
 * short.  The task's live stack, or the registers its interrupt saved there,
 * point at the skb (c->hands).  Taken only if it fills the gap exactly: it
 * starts at the cursor, ends at upto, holds as many bytes as that, no SYN or
 * FIN.  The bytes at a sequence number of a connection never change, so an
 * skb that says it holds these holds them.
 */
static int held_skb(struct rx_q *q, u32 upto)
{
	struct rx_ctx *c = q->c;
	struct sk_buff *skb;
	const struct tcp_skb_cb *cb;
	int err = -ENOENT;
	u32 i;

	/*
	 * Only a socket locked at the moment of death can be mid-update, and
	 * never past the queue's end.  A gap in the receive queue before any
	 * queued skb may be bytes already consumed: __tcp_read_sock() (splice,
	 * sendfile) frees an skb before it moves copied_seq past it.
	 */
	if (!q->locked || !after(upto, q->cursor) || after(upto, q->end) ||
	    (!q->queue && !q->carried))
		return -ENOENT;
	skb = kmalloc(sizeof(*skb), GFP_KERNEL);
	if (!skb)
		return -ENOMEM;
	cb = TCP_SKB_CB(skb);
	for (i = 0; i < c->nr_hands && err == -ENOENT; i++) {
		if (orthros_dead_read(&c->dm, c->hands[i], skb, sizeof(*skb)) ||
		    cb->seq != q->cursor || cb->end_seq != upto || skb->len != upto - q->cursor ||
		    skb->data_len > skb->len || (cb->tcp_flags & (TCPHDR_SYN | TCPHDR_FIN)))
			continue;
		pr_info("a TCP %s queue's bytes %u..%u were in an skb a thread held (stopped between two updates of the queue): carried\n",
			q->queue ? "send" : "receive", q->cursor, upto);
		err = skb_bytes(q, skb, 0, skb->len, false);
		if (!err)
			q->cursor = upto;
	}
	kfree(skb);
	return err;
}

/*
 * One skb of a TCP queue: the bytes of it from the cursor on, in sequence.
 * An skb may be caught in the middle of an update.  In the send queues,
 * one that moves bytes out of its head (tcp_trim_head() for an acknowledged
 * part, tcp_shifted_skb() for a SACKed one) cuts its length before it moves
 * its seq: an skb holding fewer bytes than seq..end_seq holds the last of
 * them.  One holding more (its end_seq cut first by tcp_fragment(), its
 * length grown first by tcp_collapse_retrans()) holds them from seq on, and
 * the bytes past end_seq are the stream's own.  In the receive queue a new
 * skb of tcp_collapse() has its length grown before its bytes are copied
 * in, and end_seq moved after: only seq..end_seq is vouched for (the bytes
 * not yet copied are still in the next skb).
 */
static int tcp_skb(struct rx_q *q, const struct sk_buff *skb)
{
	const struct tcp_skb_cb *cb = TCP_SKB_CB(skb);
	u32 seq = cb->seq, len = skb->len, skip, n, span;
	int err;

	if (++q->skbs > RX_MAX_SKBS)
		return rx_fail(q->c, -E2BIG, "a socket queue has more than %u skbs", RX_MAX_SKBS);
	span = after(cb->end_seq, seq) ? cb->end_seq - seq : 0;
	if (span && (cb->tcp_flags & TCPHDR_FIN))
		span--;
	if (q->locked && q->queue && len < span)
		seq = cb->end_seq - (cb->tcp_flags & TCPHDR_FIN ? 1 : 0) - len;
	if (!q->queue && len > span)
		len = span;
	if (after(seq, q->cursor)) {
		/* filled, the cursor is at this skb: go on with it */
		err = held_skb(q, seq);
		if (err == -ENOENT)
			return rx_fail(q->c, -EFAULT,
				       "a TCP %s queue has a hole at %u (next skb at %u, %u bytes; the skb before ended at %u; the socket %s; %u words of stopped tasks' stacks looked at)",
				       q->queue ? "send" : "receive", q->cursor, seq, len,
				       q->prev_end, q->locked ? "locked" : "not locked",
				       q->c->nr_hands);
		if (err)
			return err;
	}
	q->prev_end = cb->end_seq;
	if (!after(seq + len, q->cursor) || !before(q->cursor, q->end))
		return 0;	/* all before the cursor (already read or acknowledged) */
	skip = q->cursor - seq;
	n = min(len - skip, q->end - q->cursor);
	err = skb_bytes(q, skb, skip, n, false);
	if (!err && n)
		q->carried = true;
	if (!err)
		q->cursor += n;
	return err;
}

/*
 * One skb of the write queue (not sent yet, as far as snd_nxt says).  But
 * tcp_write_xmit() hands an skb to the device (tcp_transmit_skb(), which
 * stamps its departure time in skb_mstamp_ns) before it advances snd_nxt
 * and moves it to the retransmit queue (tcp_event_new_data_sent()): a core
 * stopped in between leaves bytes on the wire that snd_nxt does not count.
 * Restored as unsent they would be sent again, but the peer's ACK of them
 * comes first and acknowledges "unsent data", which the new kernel discards
 * with the segment, every time: the connection stalls (seen once in a
 * clean-clone run: 600 KB queued, retransmitting with back-off, the peer's
 * data no longer accepted).  So such an skb counts as sent: restoring sent
 * bytes as sent is always safe, the retransmission carries them.
 */
static int tcp_wq_skb(struct rx_q *q, const struct sk_buff *skb)
{
	if (skb->skb_mstamp_ns) {
		q->sent_seen = true;
		q->sent_end = TCP_SKB_CB(skb)->end_seq;
	}
	return tcp_skb(q, skb);
}

/* The skbs of a dead sk_buff_head at head_va, in order, each given to one(). */
static int walk_list(struct rx_q *q, u64 head_va,
		     int (*one)(struct rx_q *q, const struct sk_buff *skb))
{
	struct sk_buff *skb = kmalloc(sizeof(*skb), GFP_KERNEL);
	struct sk_buff_head h;
	struct rx_brent b;
	u64 va;
	int err;

	if (!skb)
		return -ENOMEM;
	err = rx_read(q->c, head_va, &h, sizeof(h), "a socket queue");
	va = (u64)h.next;
	rx_brent_init(&b, va);
	while (!err && va != head_va) {
		err = rx_read(q->c, va, skb, sizeof(*skb), "an skb");
		if (!err)
			err = one(q, skb);
		va = (u64)skb->next;
		if (!err && rx_brent_loops(&b, va))
			err = rx_fail(q->c, -ELOOP, "a socket queue loops");
	}
	kfree(skb);
	return err;
}

/* The skbs of the dead retransmit rbtree, in order (an in-order walk with a stack). */
static int walk_rtx(struct rx_q *q, u64 root_va)
{
	struct sk_buff *skb = kmalloc(sizeof(*skb), GFP_KERNEL);
	u64 *stack = kmalloc_array(RX_MAX_DEPTH, sizeof(*stack), GFP_KERNEL);
	u32 depth = 0, seen = 0;
	u64 node;
	int err = 0;

	if (!skb || !stack) {
		err = -ENOMEM;
		goto out;
	}
	node = root_va;
	while (!err && (node || depth)) {
		while (node && !err) {
			if (depth == RX_MAX_DEPTH || ++seen > RX_MAX_SKBS) {
				err = rx_fail(q->c, -ELOOP, "the retransmit queue is too deep or too big");
				break;
			}
			stack[depth++] = node;
			err = rx_read(q->c, node - offsetof(struct sk_buff, rbnode), skb, sizeof(*skb),
				      "an skb of the retransmit queue");
			node = (u64)skb->rbnode.rb_left;
		}
		if (err || !depth)
			break;
		node = stack[--depth];
		err = rx_read(q->c, node - offsetof(struct sk_buff, rbnode), skb, sizeof(*skb),
			      "an skb of the retransmit queue");
		if (!err)
			err = tcp_skb(q, skb);
		node = (u64)skb->rbnode.rb_right;
	}
out:
	kfree(stack);
	kfree(skb);
	return err;
}

static int tcp_established(struct rx_ctx *c, u64 sk_va, const struct tcp_sock *tp,
			   struct orthros_rx_sock *s)
{
	const struct sock *sk = (const struct sock *)tp;
	struct rx_q q = { .c = c, .s = s };
	u64 now;
	int err;

	if (tp->repair || tp->fastopen_rsk)
		return rx_fail(c, -EOPNOTSUPP, "a TCP socket in repair or fast open");
	s->inq_seq = tp->rcv_nxt;
	s->inq_len = tp->rcv_nxt - tp->copied_seq;
	s->outq_seq = tp->write_seq;
	s->outq_len = tp->write_seq - tp->snd_una;
	s->unsq_len = tp->write_seq - tp->snd_nxt;
	if (s->inq_len > (u32)INT_MAX || s->outq_len > (u32)INT_MAX || s->unsq_len > s->outq_len)
		return rx_fail(c, -EFAULT, "a TCP socket's sequence numbers do not check");
	if (tp->rx_opt.tstamp_ok)
		s->opt_mask |= TCPI_OPT_TIMESTAMPS;
	if (tp->rx_opt.sack_ok)
		s->opt_mask |= TCPI_OPT_SACK;
	if (tp->rx_opt.wscale_ok)
		s->opt_mask |= TCPI_OPT_WSCALE;
	s->snd_wscale = tp->rx_opt.snd_wscale;
	s->rcv_wscale = tp->rx_opt.rcv_wscale;
	s->mss_clamp = tp->rx_opt.mss_clamp;
	/* the dead kernel's tcp_clock_ts() now, as getsockopt(TCP_TIMESTAMP) */
	now = tp->tcp_usec_ts ? div_u64(c->mono_ns, NSEC_PER_USEC) :
				div_u64(c->mono_ns, NSEC_PER_MSEC);
	s->timestamp = (u32)now + tp->tsoffset;
	s->timestamp = tp->tcp_usec_ts ? s->timestamp | 1 : s->timestamp & ~1U;
	s->snd_wl1 = tp->snd_wl1;
	s->snd_wnd = tp->snd_wnd;
	s->max_window = tp->max_window;
	s->rcv_wnd = tp->rcv_wnd;
	s->rcv_wup = tp->rcv_wup;

	/* a lock held: a task may have been stopped inside an update */
	q.locked = sk->sk_lock.owned || spin_is_locked((spinlock_t *)&sk->sk_lock.slock);
	/* received, not read: copied_seq .. rcv_nxt from the receive queue */
	q.queue = 0;
	q.cursor = tp->copied_seq;
	q.end = tp->rcv_nxt;
	err = walk_list(&q, sk_va + offsetof(struct sock, sk_receive_queue), tcp_skb);
	if (!err && q.cursor != q.end) {
		err = held_skb(&q, q.end);
		if (err == -ENOENT)
			err = rx_fail(c, -EFAULT, "the receive queue ends at %u, not at rcv_nxt %u",
				      q.cursor, q.end);
	}
	if (err)
		return err;
	/* written, not acknowledged: snd_una .. write_seq, retransmit then write queue */
	q.queue = 1;
	q.carried = false;
	q.cursor = tp->snd_una;
	q.end = tp->write_seq;
	q.skbs = 0;
	err = walk_rtx(&q, (u64)sk->tcp_rtx_queue.rb_node);
	if (!err)
		err = walk_list(&q, sk_va + offsetof(struct sock, sk_write_queue), tcp_wq_skb);
	if (!err && q.cursor != q.end) {
		err = held_skb(&q, q.end);
		if (err == -ENOENT)
			err = rx_fail(c, -EFAULT, "the send queues end at %u, not at write_seq %u",
				      q.cursor, q.end);
	}
	if (!err && q.sent_seen && after(q.sent_end, tp->snd_nxt) &&
	    !after(q.sent_end, tp->write_seq)) {
		pr_info("a TCP socket had sent %u bytes past snd_nxt %u: counted as sent\n",
			q.sent_end - tp->snd_nxt, tp->snd_nxt);
		s->unsq_len = tp->write_seq - q.sent_end;
	}
	return err;
}

/* One skb of an AF_UNIX stream socket's receive queue: its bytes not yet read. */
static int unix_skb(struct rx_q *q, const struct sk_buff *skb)
{
	const struct unix_skb_parms *cb = (const struct unix_skb_parms *)skb->cb;

	if (++q->skbs > RX_MAX_SKBS)
		return rx_fail(q->c, -E2BIG, "a socket queue has more than %u skbs", RX_MAX_SKBS);
	if (cb->fp)
		return rx_fail(q->c, -EOPNOTSUPP,
			       "a unix socket has file descriptors in flight (SCM_RIGHTS): not carried");
	if (cb->consumed > skb->len)
		return rx_fail(q->c, -EFAULT, "a unix socket's skb does not check (%u of %u read)",
			       cb->consumed, skb->len);
	q->cursor += skb->len - cb->consumed;
	return skb_bytes(q, skb, cb->consumed, skb->len - cb->consumed, false);
}

/* The inode number of the dead struct socket at sock_va (its socket_alloc's inode). */
static int socket_ino(struct rx_ctx *c, u64 sock_va, u64 *ino)
{
	unsigned long i_ino;
	int err;

	err = rx_read(c, sock_va - offsetof(struct socket_alloc, socket) +
		      offsetof(struct socket_alloc, vfs_inode) + offsetof(struct inode, i_ino),
		      &i_ino, sizeof(i_ino), "a socket's inode");
	*ino = i_ino;
	return err;
}

/*
 * An AF_UNIX stream socket: its name, its peer (by the peer socket's inode:
 * criu pairs the two ends of a socketpair by it, so both must be in the same
 * image set) and the bytes queued to it and not read (criu sends them again
 * from the peer at restore).  A peer whose process closed it (an orphan sock)
 * is not carried; a listener's pending connections are not carried.
 */
static int unix_stream(struct rx_ctx *c, u64 sk_va, const struct unix_sock *u,
		       struct orthros_rx_sock *s)
{
	struct rx_q q = { .c = c, .s = s };
	struct unix_address a;
	struct sock *peer;
	int err = 0;

#if IS_ENABLED(CONFIG_AF_UNIX_OOB)
	if (u->oob_skb)
		return rx_fail(c, -EOPNOTSUPP, "a unix socket has out-of-band data: not carried");
#endif
	if (u->addr) {
		err = rx_read(c, (u64)u->addr, &a, sizeof(a), "a unix socket's address");
		if (!err && (a.len < (int)offsetof(struct sockaddr_un, sun_path) ||
			     a.len > (int)sizeof(struct sockaddr_un)))
			err = rx_fail(c, -EFAULT, "a unix socket's address does not check");
		if (!err) {
			s->name_len = a.len - offsetof(struct sockaddr_un, sun_path);
			err = rx_read(c, (u64)u->addr + offsetof(struct unix_address, name) +
				      offsetof(struct sockaddr_un, sun_path), s->name, s->name_len,
				      "a unix socket's name");
		}
		if (err)
			return err;
	}
	if (u->sk.sk_state == TCP_LISTEN)
		return 0;
	if (u->sk.sk_state != TCP_ESTABLISHED || !u->peer)
		return rx_fail(c, -EOPNOTSUPP, "a unix stream socket neither connected nor listening");
	peer = kmalloc(sizeof(*peer), GFP_KERNEL);
	if (!peer)
		return -ENOMEM;
	err = rx_read(c, (u64)u->peer, peer, sizeof(*peer), "a unix socket's peer");
	if (!err && (peer->sk_family != AF_UNIX || !peer->sk_socket))
		err = rx_fail(c, -EOPNOTSUPP, "a unix socket's peer is closed or not a unix socket");
	if (!err)
		err = socket_ino(c, (u64)peer->sk_socket, &s->peer_ino);
	kfree(peer);
	if (!err)
		err = walk_list(&q, sk_va + offsetof(struct sock, sk_receive_queue), unix_skb);
	s->inq_len = q.cursor;
	return err;
}

/* What every carried socket records: kind, state, buffers, options. */
static void sock_common(struct orthros_rx_sock *s, const struct sock *sk,
			const struct orthros_rx_fd *r)
{
	s->family = sk->sk_family;
	s->type = sk->sk_type;
	s->protocol = sk->sk_family == AF_UNIX ? 0 : sk->sk_protocol;
	s->state = sk->sk_state;
	s->backlog = sk->sk_max_ack_backlog;
	s->sndbuf = sk->sk_sndbuf;
	s->rcvbuf = sk->sk_rcvbuf;
	s->shutdown = sk->sk_shutdown;
	s->ino = r->ino;
	if (sk->sk_reuse)
		s->flags |= ORTHROS_RXS_REUSEADDR;
	if (sk->sk_reuseport)
		s->flags |= ORTHROS_RXS_REUSEPORT;
	if (test_bit(SOCK_KEEPOPEN, &sk->sk_flags))
		s->flags |= ORTHROS_RXS_KEEPALIVE;
	if (sk->sk_userlocks & SOCK_SNDBUF_LOCK)
		s->flags |= ORTHROS_RXS_SNDBUF_LOCK;
	if (sk->sk_userlocks & SOCK_RCVBUF_LOCK)
		s->flags |= ORTHROS_RXS_RCVBUF_LOCK;
}

/*
 * The socket behind the open file f (a copy) at file_va: fill the SOCK
 * record, or return 0 with *carried false for a kind this version leaves.
 */
int rx_socket(struct rx_ctx *c, u64 file_va, const struct file *f, struct orthros_rx_fd *r,
	      bool *carried)
{
	struct socket sock;
	struct sock *sk;
	struct orthros_rx_sock *s;
	u64 sk_va;
	size_t size;
	int err;

	*carried = false;
	err = rx_read(c, (u64)f->private_data, &sock, sizeof(sock), "a socket");
	if (err)
		return err;
	if ((u64)sock.file != file_va)
		return rx_fail(c, -EFAULT, "a socket does not point back to its file");
	sk_va = (u64)sock.sk;
	sk = kmalloc(max(sizeof(struct tcp_sock), sizeof(struct unix_sock)), GFP_KERNEL);
	if (!sk)
		return -ENOMEM;
	err = rx_read(c, sk_va, sk, sizeof(struct sock), "a sock");
	if (err)
		goto out;
	if ((u64)sk->sk_socket != (u64)f->private_data) {
		err = rx_fail(c, -EFAULT, "a sock does not point back to its socket");
		goto out;
	}
	snprintf(r->path, sizeof(r->path), "a socket (family %u, type %u, protocol %u, state %u)",
		 sk->sk_family, sk->sk_type, sk->sk_protocol, sk->sk_state);
	if (sk->sk_family == AF_UNIX && sk->sk_type == SOCK_STREAM) {
		err = rx_read(c, sk_va, sk, sizeof(struct unix_sock), "a unix sock");
		s = err ? NULL : rx_put(c, ORTHROS_RX_SOCK, sizeof(*s));
		if (!err && !s)
			err = -ENOSPC;
		if (err)
			goto out;
		r->kind = ORTHROS_RXF_UNIX;
		sock_common(s, sk, r);
		err = unix_stream(c, sk_va, (const struct unix_sock *)sk, s);
		if (!err)
			*carried = true;
		goto out;
	}
	if (sk->sk_family != AF_INET ||
	    !((sk->sk_type == SOCK_STREAM && sk->sk_protocol == IPPROTO_TCP &&
	       (sk->sk_state == TCP_ESTABLISHED || sk->sk_state == TCP_LISTEN)) ||
	      (sk->sk_type == SOCK_DGRAM && sk->sk_protocol == IPPROTO_UDP)))
		goto out;	/* not carried: r->path says what it was */
	size = sk->sk_protocol == IPPROTO_TCP ? sizeof(struct tcp_sock) : sizeof(struct udp_sock);
	err = rx_read(c, sk_va, sk, size, "an inet sock");
	if (err)
		goto out;
	s = rx_put(c, ORTHROS_RX_SOCK, sizeof(*s));
	if (!s) {
		err = -ENOSPC;
		goto out;
	}
	r->kind = ORTHROS_RXF_INET;
	sock_common(s, sk, r);
	s->src_addr = sk->sk_rcv_saddr;
	s->dst_addr = sk->sk_daddr;
	s->src_port = sk->sk_num;
	s->dst_port = ntohs(sk->sk_dport);
	if (sk->sk_protocol == IPPROTO_TCP) {
		const struct tcp_sock *tp = (const struct tcp_sock *)sk;

		if (tp->nonagle & TCP_NAGLE_OFF)
			s->flags |= ORTHROS_RXS_NODELAY;
		if (tp->nonagle & TCP_NAGLE_CORK)
			s->flags |= ORTHROS_RXS_CORK;
		if (sk->sk_state == TCP_ESTABLISHED)
			err = tcp_established(c, sk_va, tp, s);
	}
	if (!err)
		*carried = true;
out:
	kfree(sk);
	return err;
}
